"""Torch checkpoints written without torch, for tests: pickle opcodes and torch.save's zip format.

`save_state_dict` writes what ``torch.save(state_dict, path)`` writes for float32 tensors (an
``OrderedDict`` of ``_rebuild_tensor_v2`` calls over persistent storages, one ``data/<key>``
record each), so that the registered-weights path (download, hash, reader, converter) can be
tested end to end with seeded weights. The opcode helpers also build the hostile and unusual
pickles of test_torch_checkpoint.py; `load_fixture`, `draw` and `golden_input` read the golden
fixtures of tools/make_golden.py.
"""

import json
import struct
import zipfile
from pathlib import Path

import numpy as np

# Golden fixtures of tools/make_golden.py: no weights, but the seed, keys, shapes and scales from
# which torchvision's state dict was drawn with NumPy, the input's shape and torch's outputs.
GOLDEN = Path(__file__).parent / "data" / "golden"


def op_global(module, name):
    return f"c{module}\n{name}\n".encode()


def op_str(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def op_int(value):
    return b"J" + struct.pack("<i", value)


def op_tuple(*items):
    return b"(" + b"".join(items) + b"t"


def op_ordered_dict():
    return op_global("collections", "OrderedDict") + b")R"


def op_tensor(storage_pid, offset, size, stride):
    """``torch._utils._rebuild_tensor_v2(<storage>, offset, size, stride, False, {})``."""
    args = op_tuple(
        storage_pid + b"Q",  # BINPERSID
        op_int(offset),
        op_tuple(*map(op_int, size)),
        op_tuple(*map(op_int, stride)),
        b"\x89",  # False
        op_ordered_dict(),
    )
    return op_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def op_float_storage(key, numel):
    return op_tuple(
        op_str("storage"),
        op_global("torch", "FloatStorage"),
        op_str(key),
        op_str("cpu"),
        op_int(numel),
    )


def write_zip(path, data_pkl, records=None):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("any_name/data.pkl", data_pkl)
        archive.writestr("any_name/byteorder", "little")
        for key, data in (records or {}).items():
            archive.writestr(f"any_name/data/{key}", data)
    return path


def save_state_dict(path, state_dict):
    """Writes ``{name: float32 array}`` as torch.save does (zip format); returns `path`."""
    items, records = [], {}
    for index, (name, value) in enumerate(state_dict.items()):
        array = np.array(value, dtype="<f4", order="C")  # ascontiguousarray makes 0-d 1-d
        key = str(index)
        strides = tuple(step // array.itemsize for step in array.strides)
        pid = op_float_storage(key, array.size)
        items.append(op_str(name) + op_tensor(pid, 0, array.shape, strides))
        records[key] = array.tobytes()
    payload = b"\x80\x02" + op_ordered_dict() + b"(" + b"".join(items) + b"u."
    return write_zip(path, payload, records)


def load_fixture(case):
    with np.load(GOLDEN / f"{case}.npz", allow_pickle=False) as npz:
        fixture = {name: npz[name] for name in npz.files}
    fixture["entries"] = json.loads(str(fixture["entries"]))
    fixture["zoo"] = json.loads(str(fixture["zoo"]))
    fixture["input_shape"] = tuple(int(size) for size in fixture["input_shape"])
    return fixture


def draw(entries, seed):
    """The state dict as tools/make_golden.py draws it."""
    rng = np.random.default_rng(seed)
    return {
        key: np.asarray(
            rng.standard_normal(shape, dtype=np.float32) * np.float32(scale) + np.float32(offset)
        )
        for key, shape, scale, offset in entries
    }


def golden_input(fixture):
    shape = tuple(fixture["input_shape"])
    return np.random.default_rng(int(fixture["seed"]) + 1).standard_normal(shape, dtype=np.float32)
