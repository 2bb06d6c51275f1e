"""Reading PyTorch checkpoints (``torch.save`` files) into NumPy arrays, without importing torch.

Both on-disk formats of ``torch.save`` are understood:

* the zip format (torch >= 1.6): ``<archive>/data.pkl`` holds the pickled object, each tensor
  storage is the raw record ``<archive>/data/<key>``, and ``<archive>/byteorder`` says how they
  were written (``little`` when absent, as torch assumes);
* the legacy format (``_use_new_zipfile_serialization=False`` and torch < 1.6): pickles of a
  magic number, the protocol version and the writer's system info, then the pickled object, then
  the list of storage keys, then each storage as an 8-byte little-endian element count and its
  little-endian data (torch writes both little-endian whatever the machine).

Pickles are read by a restricted unpickler that admits only the globals a tensor state dict needs
(``collections.OrderedDict``, torch's tensor-rebuild functions, storage types and dtypes); none of
them is imported, each is replaced by a local stand-in. Anything else, e.g. ``os.system`` or a
pickled ``nn.Module`` class, raises `UnsafeCheckpointError` before it could run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import numpy as np

__all__ = ["WRAPPER_KEYS", "TorchCheckpointError", "UnsafeCheckpointError", "load_state_dict"]

# Keys that training scripts commonly wrap a state dict under, tried in this order.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_ZIP_MAGIC = b"PK\x03\x04"
# What reading a truncated or corrupt file raises, besides TorchCheckpointError.
_CORRUPT_FILE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    zipfile.BadZipFile,
    struct.error,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
)


class TorchCheckpointError(ValueError):
    """A file is not a torch checkpoint this reader understands, or it is truncated or corrupt."""


class UnsafeCheckpointError(TorchCheckpointError, pickle.UnpicklingError):
    """A checkpoint's pickle references a global that a tensor state dict never needs."""


@dataclasses.dataclass(frozen=True)
class _DType:
    """A torch dtype: its name and the NumPy code its bytes are read as (bfloat16's as uint16)."""

    name: str
    code: str

    @property
    def itemsize(self) -> int:
        return np.dtype(self.code).itemsize


_DTYPES = {
    dtype.name: dtype
    for dtype in (
        _DType("float64", "f8"),
        _DType("float32", "f4"),
        _DType("float16", "f2"),
        _DType("bfloat16", "u2"),
        _DType("complex128", "c16"),
        _DType("complex64", "c8"),
        _DType("int64", "i8"),
        _DType("int32", "i4"),
        _DType("int16", "i2"),
        _DType("int8", "i1"),
        _DType("uint64", "u8"),
        _DType("uint32", "u4"),
        _DType("uint16", "u2"),
        _DType("uint8", "u1"),
        _DType("bool", "b1"),
    )
}

# torch's legacy typed-storage classes, as pickled (``torch.FloatStorage`` ...).
_STORAGE_CLASSES = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


@dataclasses.dataclass(frozen=True)
class _StorageType:
    """Stand-in for a pickled storage class; untyped storages count bytes (dtype uint8)."""

    dtype: _DType


@dataclasses.dataclass(frozen=True)
class _Storage:
    """A storage the pickle refers to: ``numel`` elements of ``dtype`` from record ``key``.

    Legacy files may refer to a slice of a storage: ``view_offset`` and ``numel`` elements of it.
    """

    key: str
    dtype: _DType
    numel: int
    view_offset: int = 0


@dataclasses.dataclass(frozen=True)
class _Tensor:
    """Stand-in for a pickled tensor: where its elements lie in a storage, read after unpickling."""

    storage: _Storage
    dtype: _DType
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    conj: bool = False
    neg: bool = False


def _tensor(storage, offset, size, stride, dtype, metadata) -> _Tensor:
    if not isinstance(storage, _Storage):
        raise TypeError(f"a tensor's storage is {type(storage).__name__}, expected a storage")
    metadata = metadata or {}
    if not isinstance(metadata, dict) or set(metadata) - {"conj", "neg"}:
        raise TypeError(f"unknown tensor metadata {metadata!r}")
    return _Tensor(
        storage,
        dtype,
        offset,
        tuple(size),
        tuple(stride),
        conj=bool(metadata.get("conj")),
        neg=bool(metadata.get("neg")),
    )


def _rebuild_tensor(storage, storage_offset, size, stride):
    """``torch._utils._rebuild_tensor`` (torch < 0.4)."""
    return _tensor(storage, storage_offset, size, stride, getattr(storage, "dtype", None), None)


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None
):
    """``torch._utils._rebuild_tensor_v2``: a tensor over a typed storage of its own dtype."""
    return _tensor(storage, storage_offset, size, stride, getattr(storage, "dtype", None), metadata)


def _rebuild_tensor_v3(
    storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None
):
    """``torch._utils._rebuild_tensor_v3``: a tensor of ``dtype`` over an untyped (byte) storage."""
    if not isinstance(dtype, _DType):
        raise TypeError(f"a tensor's dtype is {dtype!r}, expected a torch dtype")
    return _tensor(storage, storage_offset, size, stride, dtype, metadata)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    """``torch._utils._rebuild_parameter``: an ``nn.Parameter`` is read as its tensor."""
    if not isinstance(data, _Tensor):
        raise TypeError(f"a parameter holds {type(data).__name__}, expected a tensor")
    return data


def _allowed_globals() -> dict[str, Any]:
    allowed: dict[str, Any] = {
        "collections.OrderedDict": OrderedDict,
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch.UntypedStorage": _StorageType(_DTYPES["uint8"]),
        "torch.storage.UntypedStorage": _StorageType(_DTYPES["uint8"]),
    }
    for cls, dtype in _STORAGE_CLASSES.items():
        # Older torch pickled the storages of CUDA tensors as torch.cuda.<X>Storage.
        allowed[f"torch.{cls}"] = allowed[f"torch.cuda.{cls}"] = _StorageType(_DTYPES[dtype])
    for name, dtype in _DTYPES.items():
        allowed[f"torch.{name}"] = dtype
    return allowed


_ALLOWED_GLOBALS = _allowed_globals()


def _text(value: Any) -> Any:
    # Python 2 pickles give bytes where Python 3 ones give str.
    return value.decode("ascii") if isinstance(value, bytes) else value


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that maps the admitted torch globals to stand-ins and refuses all other globals."""

    def __init__(
        self, file: BinaryIO, source: str, persistent_load: Callable[[Any], Any] | None = None
    ):
        super().__init__(file, encoding="utf-8")
        self._source = source
        self._persistent_load = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED_GLOBALS.get(f"{module}.{name}")
        if target is None:
            raise UnsafeCheckpointError(
                f"refusing to load global '{module}.{name}' from {self._source}: not a tensor "
                "state dict (only OrderedDict, torch tensors and storages are admitted; save "
                "model.state_dict() rather than the model)"
            )
        return target

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent_load is None:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return self._persistent_load(pid)


def _zip_storage(pid: Any) -> _Storage:
    # torch >= 1.6: ("storage", storage_type, key, location, numel)
    if not (isinstance(pid, tuple) and len(pid) == 5 and _text(pid[0]) == "storage"):
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
    storage_type, key, _location, numel = pid[1:]
    if not isinstance(storage_type, _StorageType):
        raise pickle.UnpicklingError(f"persistent id {pid!r} has no storage type")
    return _Storage(str(_text(key)), storage_type.dtype, numel)


def _legacy_storage(pid: Any) -> _Storage:
    # ("storage", storage_type, root_key, location, numel, view_metadata), where view_metadata is
    # None or (view_key, offset, numel) for a slice of the root storage (torch < 0.4).
    if not (isinstance(pid, tuple) and len(pid) == 6 and _text(pid[0]) == "storage"):
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
    storage_type, key, _location, numel, view = pid[1:]
    if not isinstance(storage_type, _StorageType):
        raise pickle.UnpicklingError(f"persistent id {pid!r} has no storage type")
    if view is None:
        return _Storage(str(_text(key)), storage_type.dtype, numel)
    _view_key, view_offset, view_numel = view
    return _Storage(str(_text(key)), storage_type.dtype, view_numel, view_offset)


def _read_zip(path: str, stack: contextlib.ExitStack) -> tuple[Any, Callable[[str], bytes], str]:
    archive = stack.enter_context(zipfile.ZipFile(path))
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise TorchCheckpointError(
            f"{path} is a zip archive without exactly one <archive>/data.pkl "
            f"(found {pickles}): not a torch.save checkpoint"
        )
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = "little"
    if f"{prefix}byteorder" in archive.namelist():
        byteorder = archive.read(f"{prefix}byteorder").decode("ascii", "replace")
        if byteorder not in ("little", "big"):
            raise TorchCheckpointError(f"{path} has an unknown byte order {byteorder!r}")
    with archive.open(pickles[0]) as handle:
        obj = _RestrictedUnpickler(handle, path, _zip_storage).load()
    return obj, lambda key: archive.read(f"{prefix}data/{key}"), byteorder


def _read_legacy(path: str) -> tuple[Any, Callable[[str], bytes], str]:
    with open(path, "rb") as handle:
        magic = _RestrictedUnpickler(handle, path).load()
        if magic != _LEGACY_MAGIC:
            raise TorchCheckpointError(f"{path} does not start with torch's magic number")
        protocol = _RestrictedUnpickler(handle, path).load()
        if protocol != _LEGACY_PROTOCOL:
            raise TorchCheckpointError(
                f"{path} has legacy protocol version {protocol!r}, expected {_LEGACY_PROTOCOL}"
            )
        _RestrictedUnpickler(handle, path).load()  # the writer's sys_info: nothing we need
        storages: dict[str, _DType] = {}

        def persistent_load(pid: Any) -> _Storage:
            storage = _legacy_storage(pid)
            storages.setdefault(storage.key, storage.dtype)
            return storage

        obj = _RestrictedUnpickler(handle, path, persistent_load).load()
        keys = _RestrictedUnpickler(handle, path).load()
        data: dict[str, bytes] = {}
        for key in keys:
            key = str(_text(key))
            if key not in storages:
                raise TorchCheckpointError(f"{path} stores storage {key!r} that nothing refers to")
            header = handle.read(8)
            # Element counts and data are little-endian whatever machine wrote them.
            count = struct.unpack("<q", header)[0] if len(header) == 8 else -1
            nbytes = count * storages[key].itemsize
            data[key] = handle.read(nbytes) if count >= 0 else b""
            if count < 0 or len(data[key]) != nbytes:
                raise TorchCheckpointError(f"{path} is truncated: storage {key!r} is incomplete")
    return obj, data.__getitem__, "little"


def _select_state_dict(obj: Any, key: str | None, path: str) -> Mapping[str, _Tensor]:
    def is_state_dict(value: Any) -> bool:
        return isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, _Tensor) for k, v in value.items()
        )

    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            keys = sorted(map(str, obj)) if isinstance(obj, Mapping) else type(obj).__name__
            raise TorchCheckpointError(f"{path} has no key {key!r}; its top level holds {keys}")
        if not is_state_dict(obj[key]):
            raise TorchCheckpointError(
                f"{path}[{key!r}] is not a mapping of names to tensors" + _non_tensors(obj[key])
            )
        return obj[key]
    if is_state_dict(obj):
        return obj
    if isinstance(obj, Mapping):
        for wrapper in WRAPPER_KEYS:
            if wrapper in obj and is_state_dict(obj[wrapper]):
                return obj[wrapper]
        candidates = [str(k) for k, v in obj.items() if is_state_dict(v)]
        raise TorchCheckpointError(
            f"{path} is not a state dict and has none under {list(WRAPPER_KEYS)}; pass key= "
            f"naming one of its state dicts {candidates}"
        )
    raise TorchCheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict")


def _non_tensors(value: Any) -> str:
    if not isinstance(value, Mapping):
        return f" (it is a {type(value).__name__})"
    bad = [f"{k!r}: {type(v).__name__}" for k, v in value.items() if not isinstance(v, _Tensor)]
    return f" (entries that are not tensors: {', '.join(bad[:5])})"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and value >= 0


def _to_array(tensor: _Tensor, raw: bytes, byteorder: str) -> np.ndarray:
    """Copies a tensor's elements, wherever its offset and strides put them, into a new array."""
    storage, dtype = tensor.storage, tensor.dtype
    if not isinstance(dtype, _DType):
        raise TypeError(f"unknown dtype {dtype!r}")
    counts = (storage.numel, storage.view_offset, tensor.offset, *tensor.size, *tensor.stride)
    if not all(map(_is_count, counts)) or len(tensor.size) != len(tensor.stride):
        raise ValueError(
            f"invalid layout: offset {tensor.offset!r}, size {tensor.size!r}, "
            f"stride {tensor.stride!r}"
        )
    start = storage.view_offset * storage.dtype.itemsize
    end = start + storage.numel * storage.dtype.itemsize
    if end > len(raw):
        raise ValueError(f"its storage needs {end} bytes but the record has {len(raw)}")
    order = "<" if byteorder == "little" else ">"
    nbytes = (end - start) // dtype.itemsize * dtype.itemsize
    elements = np.frombuffer(raw, np.dtype(order + dtype.code), nbytes // dtype.itemsize, start)
    native = np.dtype(dtype.code)
    if 0 in tensor.size:
        array = np.zeros(tensor.size, native)
    else:
        last = tensor.offset + sum(
            (n - 1) * s for n, s in zip(tensor.size, tensor.stride, strict=True)
        )
        if last >= elements.size:
            raise ValueError(
                f"its layout reaches element {last} of a storage of {elements.size} {dtype.name}"
            )
        view = np.lib.stride_tricks.as_strided(
            elements[tensor.offset :],
            shape=tensor.size,
            strides=[s * dtype.itemsize for s in tensor.stride],
            writeable=False,
        )
        array = view.astype(native, order="C")
    if dtype.name == "bfloat16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    if tensor.conj:
        array = np.conj(array)
    if tensor.neg:
        array = np.negative(array)
    return array


def load_state_dict(path: str | os.PathLike, *, key: str | None = None) -> dict[str, np.ndarray]:
    """Reads the tensors of a ``torch.save`` checkpoint into NumPy arrays, without torch.

    Both torch's zip format and its legacy format are read. The state dict is chosen by this rule:
    the ``key`` entry of the checkpoint when ``key`` is given; otherwise the checkpoint itself when
    it maps names to tensors (``torch.save(model.state_dict(), path)``); otherwise the first entry
    of `WRAPPER_KEYS` (``"state_dict"``, ``"model_state_dict"``, ``"model"``, ``"net"``) that maps
    names to tensors (``torch.save({"epoch": 3, "state_dict": ...}, path)``).

    Every array is a new C-contiguous copy, whatever the tensor's storage offset and strides, with
    the tensor's dtype in native byte order; bfloat16 becomes float32 (exactly, as torch's
    ``tensor.float()``). Saved ``nn.Parameter`` objects are read as their tensors.

    Args:
        path: The checkpoint file.
        key: The checkpoint entry that holds the state dict, for checkpoints that wrap it under a
            key the rule above does not find.

    Returns:
        The state dict, in the checkpoint's order, as ``{name: array}``.

    Raises:
        UnsafeCheckpointError: The pickle references a global a state dict never needs
            (e.g. ``os.system``); nothing it references is imported or called.
        TorchCheckpointError: The file is not a torch checkpoint, is truncated or corrupt, or holds
            no state dict (or none under ``key``).

    Example:
        >>> from zoo.torch_checkpoint import load_state_dict
        >>> weights = load_state_dict("resnet18-f37072fd.pth")  # doctest: +SKIP
        >>> weights["conv1.weight"].shape  # doctest: +SKIP
        (64, 3, 7, 7)
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        head = handle.read(4)
    with contextlib.ExitStack() as stack:
        try:
            if head == _ZIP_MAGIC:
                obj, read_storage, byteorder = _read_zip(path, stack)
            elif head[:1] == b"\x80":  # a pickle's PROTO opcode
                obj, read_storage, byteorder = _read_legacy(path)
            else:
                raise TorchCheckpointError(
                    f"{path} is neither a zip archive nor a pickle: not a torch checkpoint"
                )
        except TorchCheckpointError:
            raise
        except _CORRUPT_FILE_ERRORS as error:
            raise TorchCheckpointError(
                f"{path} is truncated or not a torch checkpoint: {type(error).__name__}: {error}"
            ) from error
        storages: dict[str, bytes] = {}
        arrays = {}
        for name, tensor in _select_state_dict(obj, key, path).items():
            try:
                if tensor.storage.key not in storages:
                    storages[tensor.storage.key] = read_storage(tensor.storage.key)
                arrays[name] = _to_array(tensor, storages[tensor.storage.key], byteorder)
            except _CORRUPT_FILE_ERRORS as error:
                raise TorchCheckpointError(
                    f"cannot read tensor {name!r} from {path}: {type(error).__name__}: {error}"
                ) from error
    return arrays
