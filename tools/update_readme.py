"""Regenerates the model table in README.md from the registry (`make readme`)."""

import sys
from pathlib import Path

from zoo.registry import models_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- models:start -->", "<!-- models:end -->"


def render(text: str) -> str:
    head, found_start, rest = text.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found_start and found_end):
        raise SystemExit(f"{README} lacks the {START} ... {END} markers")
    return f"{head}{START}\n{models_markdown()}{END}{tail}"


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    README.write_text(render(text), encoding="utf-8")
    print(f"updated the model table in {README}", file=sys.stderr)
