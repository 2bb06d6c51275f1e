"""The model registry: the single source of truth about every architecture in the zoo.

Each public builder registers one `ModelInfo` (see `zoo.builder.zoo_model`). Tests, the README model
table and the command line all iterate `list_models()`, so a model exists for them the moment it is
registered.

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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.preprocessing import Preprocessing

__all__ = [
    "WEIGHTS_FORMATS",
    "FeatureTap",
    "ModelInfo",
    "WeightsSpec",
    "get_model",
    "list_models",
    "model_info",
    "models_markdown",
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
        converter: For ``format="torch"``: the `zoo.convert.TORCH_SPECS` entry that maps the
            checkpoint onto the model (``"resnet50"`` ...).
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
    converter: str | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    preprocessing: Preprocessing | None = None
    top1: float | None = None

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
