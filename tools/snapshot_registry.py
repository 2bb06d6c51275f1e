"""Writes tests/zoo/data/registry_snapshot.json: every registered model and weights set, as data.

tests/zoo/test_registry.py checks that each entry recorded there is still registered unchanged
(`zoo.registry.ModelInfo.to_dict`), so a refactoring cannot silently change a model's sizes,
parameter count, feature taps or a weights set's files, hashes, URLs or preprocessing. A new model
needs no new entry; rerun this script (from the repository root) only to record a deliberate
change:

    .venv/bin/python tools/snapshot_registry.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "zoo" / "data" / "registry_snapshot.json"


def snapshot() -> dict[str, Any]:
    """Every registered model, by name, as JSON data."""
    import zoo

    records = {name: zoo.model_info(name).to_dict() for name in zoo.list_models()}
    return json.loads(json.dumps(records))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    SNAPSHOT.write_text(json.dumps(snapshot(), indent=1, sort_keys=True) + "\n")
    print(f"{SNAPSHOT}: {len(json.loads(SNAPSHOT.read_text()))} models")
