import json
import subprocess
import sys

import zoo
from transfer.cli import main


def test_models_list_iterates_the_registry(capsys):
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == zoo.list_models()


def test_models_list_pattern_and_no_match(capsys):
    assert main(["models", "list", "vgg19*"]) == 0
    out = capsys.readouterr().out
    assert "143,667,240" in out and "vgg19_bn" in out and "vgg16" not in out
    assert main(["models", "list", "nothing*"]) == 1
    assert "no model matches" in capsys.readouterr().err


def test_models_info_text_and_json(capsys):
    assert main(["models", "info", "alexnet"]) == 0
    out = capsys.readouterr().out
    assert "params: 60965224" in out and "norm1" not in out and "pool5" in out
    assert main(["models", "info", "nin", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["min_size"] == 67 and info["feature_taps"][-1]["channels"] == 1024
    assert main(["models", "info", "vgg91"]) == 2
    assert "did you mean vgg19" in capsys.readouterr().err


def test_console_script_is_installed():
    bindir = __import__("pathlib").Path(sys.executable).parent
    result = subprocess.run(
        [bindir / "kerazoo", "models", "list", "lenet*"], capture_output=True, text=True, check=True
    )
    assert result.stdout.split()[6:] == ["lenet5", "lenet", "1998", "32x32x1", "61,706", "-"]
