"""README.md tells the truth: its model table is the registry's; it opens with the two commands."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _update_readme_module():
    spec = importlib.util.spec_from_file_location(
        "update_readme", ROOT / "tools" / "update_readme.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_table_is_current():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _update_readme_module().render(text) == text, "README is stale: run `make readme`"


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["make demo", "make test"]
    assert text.index("```bash") < text.index("## ")
