"""Writes the torch checkpoint fixtures that tests/zoo/test_torch_checkpoint.py reads.

Developer script, not run in CI or by the tests: it needs torch, which kerazoo never imports. The
committed files were made with torch 2.14.1 on a little-endian machine:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 numpy
    /tmp/tv/bin/python tools/make_torch_fixtures.py            # from the repository root

It writes, into tests/zoo/data/ (a few KB each; values fixed by the seed, bytes not reproducible
because torch records serialization ids and memory addresses):

    torch_tiny_zip.pt             a tiny model's state dict plus tensors of every dtype and view
                                  layout, in torch's zip format (the default since torch 1.6)
    torch_tiny_legacy.pt          the same but uint16 (torch 2.14 cannot load the UntypedStorage it
                                  writes for it there), with _use_new_zipfile_serialization=False
    torch_tiny_bigendian.pt       part of it as a big-endian machine writes it: byteorder "big" and
                                  byteswapped storages; checked by loading it back with torch
    torch_tiny_wrapped.pt         {"epoch", "state_dict": the nn.Parameter objects, "optimizer": SGD
                                  state with momentum tensors, "best_acc1"}: a training checkpoint
    torch_tiny_expected.npz       every entry as tensor.numpy() (tensor.float() for bfloat16)
    torch_malicious_os_system.pt  a zip checkpoint whose data.pkl calls os.system("touch
                                  kerazoo_pwned_marker"); its bytes are written directly and never
                                  unpickled here

and checks each file by loading it back with torch (weights_only=True), except the malicious one,
whose pickle it only disassembles.
"""

from __future__ import annotations

import pickletools
import struct
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from torch import nn

DATA = Path(__file__).resolve().parents[1] / "tests" / "zoo" / "data"
SEED = 0
# Entries of the tiny state dict also written big-endian. uint16 is left out: torch byteswaps
# uint16/uint32/uint64 storages (saved untyped, with _rebuild_tensor_v3) as bytes, i.e. not at all.
BIG_ENDIAN_KEYS = (
    "conv.weight",
    "bn.num_batches_tracked",
    "views.base",
    "views.transposed",
    "views.slice",
    "dtypes.float64",
    "dtypes.float16",
    "dtypes.bfloat16",
    "dtypes.int32",
    "dtypes.int16",
    "dtypes.complex64",
)
# torch.load fails on the legacy file's uint16 entry ("UntypedStorage has no attribute dtype").
LEGACY_LEFT_OUT = ("dtypes.uint16",)
MARKER = "kerazoo_pwned_marker"


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


def trained_tiny() -> tuple[Tiny, torch.optim.Optimizer]:
    """Three SGD steps: BatchNorm running stats move, num_batches_tracked is 3, momentum exists."""
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        loss = model(torch.randn(2, 3, 5, 5)).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, optimizer


def extra_tensors() -> dict[str, torch.Tensor]:
    """Views that share a storage with offsets and strides, and one tensor of every dtype."""
    base = torch.randn(4, 6)
    complex_base = torch.randn(3, dtype=torch.complex64)
    return {
        "views.base": base,
        "views.transposed": base.t(),  # stride (1, 6)
        "views.slice": base[1:3, ::2],  # offset 6, stride (12, 2)
        "views.expanded": torch.randn(3, 1).expand(3, 4),  # stride (1, 0)
        "views.empty": torch.empty(0, 3),
        "views.bfloat16_transposed": torch.randn(2, 3).to(torch.bfloat16).t(),
        "dtypes.float64": torch.randn(3, dtype=torch.float64),
        "dtypes.float16": torch.randn(2, 3).half(),
        "dtypes.bfloat16": torch.randn(5).to(torch.bfloat16),
        "dtypes.int64": torch.arange(-3, 3, dtype=torch.int64).reshape(2, 3),
        "dtypes.int32": torch.tensor([-(2**31), 7, 2**31 - 1], dtype=torch.int32),
        "dtypes.int16": torch.tensor([-300, 2], dtype=torch.int16),
        "dtypes.int8": torch.tensor([-128, 5, 127], dtype=torch.int8),
        "dtypes.uint8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "dtypes.bool": torch.tensor([True, False, True]),
        "dtypes.uint16": torch.tensor([1, 40000, 65535], dtype=torch.int32).to(torch.uint16),
        "dtypes.complex64": complex_base,
        # Lazily conjugated / negated views: torch pickles the bits as metadata, not the values.
        "dtypes.conj": complex_base.conj(),
        "dtypes.neg": torch.randn(3, dtype=torch.complex64).conj().imag,
        "dtypes.float32_scalar": torch.tensor(1.5),
    }


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.resolve_conj().resolve_neg()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def byteswapped(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copies whose storages hold big-endian bytes, views still sharing their base's storage."""
    swapped_storages = {}
    result = {}
    for name, tensor in tensors.items():
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in swapped_storages:
            raw = np.frombuffer(bytes(storage), np.uint8).copy()
            # Complex numbers are swapped per component, as torch's storage.byteswap does.
            size = tensor.element_size() // (2 if tensor.is_complex() else 1)
            raw = raw.reshape(-1, size)[:, ::-1].copy().reshape(-1)
            swapped_storages[storage.data_ptr()] = torch.UntypedStorage.from_buffer(
                raw.tobytes(), dtype=torch.uint8
            )
        copy = torch.empty(0, dtype=tensor.dtype)
        copy.set_(
            swapped_storages[storage.data_ptr()],
            tensor.storage_offset(),
            tensor.size(),
            tensor.stride(),
        )
        result[name] = copy
    return result


def malicious_pickle(command: str) -> bytes:
    """``{"weight": os.system(command)}`` as protocol-2 pickle opcodes, built without pickling."""
    command_bytes = command.encode()
    return b"".join(
        [
            b"\x80\x02}",  # PROTO 2, EMPTY_DICT
            b"X" + struct.pack("<I", 6) + b"weight",  # BINUNICODE
            b"cos\nsystem\n",  # GLOBAL os.system
            b"X" + struct.pack("<I", len(command_bytes)) + command_bytes,
            b"\x85R",  # TUPLE1, REDUCE: the call
            b"s.",  # SETITEM, STOP
        ]
    )


def write_malicious(path: Path) -> None:
    payload = malicious_pickle(f"touch {MARKER}")
    globals_used = {arg for op, arg, _ in pickletools.genops(payload) if "GLOBAL" in op.name}
    assert globals_used == {"os system"}, globals_used
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{path.stem}/data.pkl", payload)
        archive.writestr(f"{path.stem}/byteorder", "little")
        archive.writestr(f"{path.stem}/version", "3\n")


def assert_same(loaded: dict, expected: dict) -> None:
    assert list(loaded) == list(expected), (list(loaded), list(expected))
    for name, tensor in expected.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert torch.equal(loaded[name].resolve_conj().resolve_neg(), tensor.resolve_conj()), name


def main() -> None:
    torch.manual_seed(SEED)
    DATA.mkdir(parents=True, exist_ok=True)
    model, optimizer = trained_tiny()
    state = model.state_dict()
    assert state["bn.num_batches_tracked"].item() == 3
    state.update(extra_tensors())

    legacy = {name: tensor for name, tensor in state.items() if name not in LEGACY_LEFT_OUT}
    files = {
        "torch_tiny_zip.pt": (state, {}),
        "torch_tiny_legacy.pt": (legacy, {"_use_new_zipfile_serialization": False}),
    }
    for name, (obj, options) in files.items():
        torch.save(obj, DATA / name, **options)
        assert_same(torch.load(DATA / name, weights_only=True), obj)

    big = {name: state[name] for name in BIG_ENDIAN_KEYS}
    with mock.patch.object(sys, "byteorder", "big"):
        torch.save(byteswapped(big), DATA / "torch_tiny_bigendian.pt")
    with zipfile.ZipFile(DATA / "torch_tiny_bigendian.pt") as archive:
        assert archive.read("torch_tiny_bigendian/byteorder") == b"big"
    assert_same(torch.load(DATA / "torch_tiny_bigendian.pt", weights_only=True), big)

    wrapped = {
        "epoch": 3,
        "state_dict": OrderedDict(model.named_parameters()),
        "optimizer": optimizer.state_dict(),
        "best_acc1": 0.25,
    }
    torch.save(wrapped, DATA / "torch_tiny_wrapped.pt")
    loaded = torch.load(DATA / "torch_tiny_wrapped.pt", weights_only=True)
    assert_same(loaded["state_dict"], wrapped["state_dict"])
    assert isinstance(loaded["state_dict"]["conv.weight"], nn.Parameter)

    np.savez(DATA / "torch_tiny_expected.npz", **{k: as_numpy(v) for k, v in state.items()})
    write_malicious(DATA / "torch_malicious_os_system.pt")
    for path in sorted(DATA.glob("torch_*")):
        print(f"{path.stat().st_size:>7} bytes  {path.relative_to(DATA.parents[2])}")


if __name__ == "__main__":
    main()
