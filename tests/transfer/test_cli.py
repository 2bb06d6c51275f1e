import dataclasses
import hashlib
import json
import re
import subprocess
import sys

import pytest

import zoo
from transfer.cli import main
from zoo import registry


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


def test_models_info_json_of_every_model_with_weights(capsys):
    for name in zoo.list_models():
        if zoo.model_info(name).weights:
            assert main(["models", "info", name, "--json"]) == 0
            assert json.loads(capsys.readouterr().out)["weights"][0]["tag"] == "imagenet"


@pytest.fixture
def vgg16_weights(tmp_path, monkeypatch):
    """vgg16's "imagenet" set with published hashes of two small files made here."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    top, notop = tmp_path / "top.h5", tmp_path / "notop.h5"
    top.write_bytes(b"with top")
    notop.write_bytes(b"without top")
    info = zoo.model_info("vgg16")
    spec = dataclasses.replace(
        info.weights_spec("imagenet"),
        url=top.as_uri(),
        md5=hashlib.md5(top.read_bytes()).hexdigest(),
        url_notop=None,
        md5_notop=hashlib.md5(notop.read_bytes()).hexdigest(),
    )
    monkeypatch.setitem(registry._REGISTRY, "vgg16", dataclasses.replace(info, weights=(spec,)))
    return spec, top, notop, tmp_path / "home" / "models"


def test_weights_list_shows_source_licence_and_cache(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache
    assert main(["weights", "list", "vgg*"]) == 0
    rows = [line.split("  ") for line in capsys.readouterr().out.splitlines()]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert cells[0] == [
        "model", "tag", "source", "licence", "format", "top-1", "preprocessing", "cached"
    ]  # fmt: skip
    listed = {(row[0], row[1]): row[2:] for row in cells[1:]}
    assert sorted(name for name, _ in listed) == [
        "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16", "vgg16_bn", "vgg19", "vgg19",
        "vgg19_bn",
    ]  # fmt: skip
    keras_set = ["keras.applications", "CC BY 4.0", "keras", "71.3%", "caffe", "0/2"]
    assert listed["vgg16", "imagenet"] == keras_set
    torch_set = ["torchvision", "BSD-3-Clause", "torch", "71.6%", "torch", "0/1"]
    assert listed["vgg16", "imagenet_torchvision"] == torch_set
    assert main(["weights", "list", "lenet*"]) == 1


def test_weights_import_verify_and_download(vgg16_weights, capsys):
    spec, top, notop, cache = vgg16_weights
    # A file that is no published file of the set is refused, naming the expected hashes.
    stray = top.with_name("stray.h5")
    stray.write_bytes(b"something else")
    assert main(["weights", "import", str(stray), "--model", "vgg16", "--tag", "imagenet"]) == 2
    assert spec.md5 in capsys.readouterr().err
    # The no-top file, obtained by hand, goes where the zoo looks for it.
    assert main(["weights", "import", str(notop), "--model", "vgg16", "--tag", "imagenet"]) == 0
    assert capsys.readouterr().out.strip() == str(cache / spec.file_notop)
    assert (cache / spec.file_notop).read_bytes() == b"without top"
    # The file with the top is downloaded from its (file://) URL and verified.
    assert main(["weights", "download", "vgg16"]) == 0
    assert (cache / spec.file).read_bytes() == b"with top"
    capsys.readouterr()
    assert main(["weights", "verify", "vgg16"]) == 0
    assert capsys.readouterr().out.count("ok ") == 2
    (cache / spec.file_notop).write_bytes(b"bit rot")
    assert main(["weights", "verify", "vgg16"]) == 1
    assert "corrupt" in capsys.readouterr().out
    assert main(["weights", "import", str(notop), "--model", "vgg16", "--tag", "nope"]) == 2
    assert "'nope' is not a weights tag of vgg16" in capsys.readouterr().err


def test_data_check_reports_counts_imbalance_and_bad_files(tmp_path, capsys):
    from PIL import Image

    for name, count in (("cats", 3), ("dogs", 1)):
        (tmp_path / name).mkdir()
        for index in range(count):
            Image.new("RGB", (8, 8), (index * 40, 0, 0)).save(tmp_path / name / f"{index}.png")
    assert main(["data", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"cats\s+3", out) and re.search(r"dogs\s+1", out)
    assert "imbalance ratio (max/min): 3.00" in out
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"not a jpeg")
    assert main(["data", "check", str(tmp_path)]) == 1
    assert "broken.jpg" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "missing")]) == 2
