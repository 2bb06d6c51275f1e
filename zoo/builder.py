"""The one builder contract of the zoo, validated here and nowhere else.

Every public builder (``zoo.vgg19``, ``zoo.lenet5`` ...) is made by the `zoo_model` decorator from a
family function that only describes the architecture. The decorator gives it the keras.applications
signature -- keyword-only ``include_top, weights, input_tensor, input_shape, pooling, classes,
classifier_activation, name`` plus the family's own options -- registers it, and routes every call
through `build_model`, which validates the arguments, makes the input, adds the classification top
or the global pooling, and loads weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras

from zoo import registry
from zoo import weights as weights_lib

__all__ = [
    "POOLINGS",
    "Architecture",
    "AuxiliaryTop",
    "build_model",
    "inference_model",
    "zoo_model",
]

POOLINGS = (None, "avg", "max")
# Keras maps a functional graph recursively, a few frames per layer: ResNet-1202's ~3,600 layers
# need more than Python's default limit of 1,000 frames.
_GRAPH_RECURSION_LIMIT = 20_000


@contextlib.contextmanager
def _recursion_limit(limit: int) -> Iterator[None]:
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


@dataclasses.dataclass(frozen=True)
class AuxiliaryTop:
    """An auxiliary classifier on an intermediate feature map, used only in training.

    GoogLeNet's side heads (Szegedy et al. 2014, section 5): their losses, weighted, are added to
    the main loss to push gradient into the lower layers; `inference_model` drops them.

    Attributes:
        name: Key of the auxiliary output in the model's output dict (``"aux1"`` ...).
        tap: Name of the backbone layer whose output the classifier reads.
        top: ``top(x, *, classes, classifier_activation)`` like `Architecture.top`; names its
            layers after `name`.
    """

    name: str
    tap: str
    top: Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What a family function returns: how to build the backbone and the classification top.

    Attributes:
        features: Maps the input tensor to the last feature map of the backbone.
        top: ``top(x, classes=..., classifier_activation=...)`` maps that feature map to the
            class scores.
        auxiliary_tops: Training-time side classifiers. With any, a model with the top returns a
            dict: ``"predictions"`` (the main top) and one entry per auxiliary classifier.
    """

    features: Callable[[Any], Any]
    top: Callable[..., Any]
    auxiliary_tops: tuple[AuxiliaryTop, ...] = ()


_CONTRACT_DOC = """\
    include_top: Whether to end with the classification top.
    weights: None (random initialisation), a registered weights tag ({tags}), or the
        path of a weights file saved from this architecture; a file of a registered set (by
        its published hash) counts as that set's tag.
    input_tensor: Optional Keras tensor to use as the model's input.
    input_shape: ``(height, width, channels)``; defaults to {default} with the top and to
        ``(None, None, {channels})`` without it. Height and width must be at least {min_size}.
    pooling: With ``include_top=False``: None returns the last feature map, ``"avg"`` or
        ``"max"`` adds global pooling and returns a 2-D tensor.
    classes: Number of classes of the top (default {classes}).
    classifier_activation: Activation of the top's output (default {activation}); None returns
        logits.
    include_preprocessing: Start the model with the weights' preprocessing (a
        `zoo.preprocessing.ImageNormalization` layer), so that it takes raw RGB images with
        values in [0, 255]; needs a registered weights tag.
    name: Name of the model (default ``"{name}"``).
"""

_TAIL_DOC = """
Returns:
    A `keras.Model`.

Raises:
    ValueError: If an argument breaks the contract (the message names the value and the rule),
        or if the weights file is missing or does not fit.
    TypeError: On a positional or unknown argument, or an `input_tensor` that is not a Keras
        tensor.

Example:
    >>> import zoo
    >>> backbone = zoo.{name}(include_top=False, pooling="avg")
"""

_CONTRACT_NAMES = (
    "include_top",
    "weights",
    "input_tensor",
    "input_shape",
    "pooling",
    "classes",
    "classifier_activation",
    "include_preprocessing",
    "name",
)


def _contract_parameters(
    default_classes: int, default_activation: str | None
) -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    defaults = {
        "include_top": (True, bool),
        "weights": (None, "str | os.PathLike | None"),
        "input_tensor": (None, "keras.KerasTensor | None"),
        "input_shape": (None, "tuple[int | None, int | None, int] | None"),
        "pooling": (None, "str | None"),
        "classes": (default_classes, int),
        "classifier_activation": (default_activation, "str | Callable | None"),
        "include_preprocessing": (False, bool),
        "name": (None, "str | None"),
    }
    return [
        inspect.Parameter(arg, keyword, default=default, annotation=annotation)
        for arg, (default, annotation) in defaults.items()
    ]


def _docstring(info: registry.ModelInfo, doc: str) -> str:
    summary, _, family_args = doc.partition("\nArgs:\n")
    height, width, channels = info.default_size
    contract = _CONTRACT_DOC.format(
        tags=", ".join(repr(tag) for tag in info.weights_tags) or "none registered yet",
        default=f"``({height}, {width}, {channels})``",
        channels=channels,
        min_size=info.min_size,
        classes=info.default_classes,
        activation=repr(info.default_activation),
        name=info.name,
    )
    family = textwrap.indent(textwrap.dedent(family_args).strip("\n"), "    ")
    family = f"{family}\n" if family else ""
    return f"{summary.rstrip()}\n\nArgs:\n{contract}{family}{_TAIL_DOC.format(name=info.name)}"


def zoo_model(
    *,
    paper: str,
    year: int,
    default_size: tuple[int, int, int],
    min_size: int,
    params: int,
    feature_taps: Sequence[tuple[str, int, int]],
    fixed_size_top: bool,
    default_classes: int = 1000,
    default_activation: str | None = "softmax",
    weights: Sequence[registry.WeightsSpec] = (),
    name: str | None = None,
    doc: str | None = None,
) -> Callable[[Callable[..., Architecture]], Callable[..., keras.Model]]:
    """Turns a family function into a registered public builder with the zoo's contract.

    The family function takes only keyword-only family options (each with a default) and returns
    an `Architecture`; its docstring is a summary with the citation, then an ``Args:`` section for
    those options. The public builder has the same name and docstring, completed with the contract.
    A family that registers several variants from one template function passes `name` and `doc`.

    Args:
        paper: Citation of the paper.
        year: Year of the paper.
        default_size: Published ``(height, width, channels)``.
        min_size: Smallest height/width: the larger of the total stride and the smallest input
            the backbone can process.
        params: ``count_params()`` at the default size with the top and `default_classes`.
        feature_taps: ``(layer, stride, channels)`` for each stage output, shallow to deep.
        fixed_size_top: Whether the top flattens a feature map (fixed input size with the top).
        default_classes: Number of classes of the published top.
        default_activation: Default ``classifier_activation`` of the published top (``"sigmoid"``
            for a one-unit real/fake top, say).
        weights: Known weights sets.
        name: Registry and builder name; defaults to the family function's name.
        doc: Docstring in the family function's format; defaults to the function's own.

    Returns:
        A decorator.

    Example:
        >>> @zoo_model(paper="...", year=1998, default_size=(32, 32, 1), min_size=32,
        ...            params=61706, feature_taps=[("c5", 32, 120)], fixed_size_top=True,
        ...            default_classes=10)
        ... def my_net() -> Architecture: ...  # doctest: +SKIP
    """

    def decorate(architecture: Callable[..., Architecture]) -> Callable[..., keras.Model]:
        model_name = name or architecture.__name__
        model_doc = inspect.cleandoc(doc) if doc else inspect.getdoc(architecture)
        if not model_doc:
            raise TypeError(f"{model_name} needs a docstring that cites its paper")
        family_parameters = list(inspect.signature(architecture).parameters.values())
        family_names = {parameter.name for parameter in family_parameters}
        for spec in weights:
            if unknown := set(spec.options) - family_names:
                raise TypeError(
                    f"the {spec.tag!r} weights of {model_name} set options {sorted(unknown)} "
                    f"that are not family options ({sorted(family_names)})"
                )
        for parameter in family_parameters:
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY or parameter.default is (
                inspect.Parameter.empty
            ):
                raise TypeError(
                    f"family option {parameter.name!r} of {model_name} must be "
                    "keyword-only with a default"
                )
        signature = inspect.Signature(
            _contract_parameters(default_classes, default_activation) + family_parameters,
            return_annotation="keras.Model",
        )
        info = registry.ModelInfo(
            name=model_name,
            family=architecture.__module__.rpartition(".")[2],
            paper=paper,
            year=year,
            default_size=tuple(default_size),
            min_size=min_size,
            params=params,
            default_classes=default_classes,
            default_activation=default_activation,
            fixed_size_top=fixed_size_top,
            feature_taps=tuple(registry.FeatureTap(*tap) for tap in feature_taps),
            weights=tuple(weights),
            architecture=architecture,
        )

        def builder(*args: Any, **kwargs: Any) -> keras.Model:
            if args:
                raise TypeError(
                    f"{info.name}() takes keyword arguments only, got {len(args)} positional"
                )
            try:
                bound = signature.bind(**kwargs)
            except TypeError as error:
                accepted = ", ".join(signature.parameters)
                raise TypeError(f"{info.name}(): {error}; accepted: {accepted}") from None
            bound.apply_defaults()
            options = bound.arguments
            # Look the entry up again so that tests may swap in a variant with other weights.
            current = registry.model_info(info.name)
            family_options = _weights_options(
                current,
                options["weights"],
                {p.name: options[p.name] for p in family_parameters},
                explicit=kwargs,
            )
            contract = {arg: options[arg] for arg in _CONTRACT_NAMES}
            return build_model(current, architecture(**family_options), **contract)

        builder.__name__ = builder.__qualname__ = info.name
        builder.__module__ = architecture.__module__
        builder.__signature__ = signature
        builder.__doc__ = _docstring(info, model_doc)
        registry.register(dataclasses.replace(info, builder=builder))
        return builder

    return decorate


def _weights_options(
    info: registry.ModelInfo,
    weights: Any,
    family_options: dict[str, Any],
    *,
    explicit: dict[str, Any],
) -> dict[str, Any]:
    """The family options, with those the requested weights need (a variant ...) filled in."""
    spec = info.weights_spec(weights) if isinstance(weights, str) else None
    if spec is None:
        return family_options
    for option, value in spec.options.items():
        if option in explicit and explicit[option] != value:
            raise ValueError(
                f"weights={weights!r} of {info.name} need {option}={value!r}, but "
                f"{option}={explicit[option]!r} was given; leave {option} out or pass {value!r}"
            )
        family_options[option] = value
    return family_options


def _check_input_shape(
    info: registry.ModelInfo, input_shape: Any, *, include_top: bool, spec: Any
) -> tuple[int | None, int | None, int]:
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            f"input_shape {input_shape!r} for {info.name} must be (height, width, channels)"
        )
    height, width, channels = input_shape
    for label, value in (("height", height), ("width", width), ("channels", channels)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"input_shape {tuple(input_shape)}: {label} must be an int or None")
    if channels is None or channels < 1:
        raise ValueError(
            f"input_shape {tuple(input_shape)} for {info.name} needs a positive channel count"
        )
    if any(side is not None and side < info.min_size for side in (height, width)):
        raise ValueError(
            f"input_shape {tuple(input_shape)} is smaller than the minimum "
            f"{info.min_size}x{info.min_size} for {info.name}"
        )
    if include_top and info.fixed_size_top and (height is None or width is None):
        raise ValueError(
            f"input_shape {tuple(input_shape)}: {info.name} with include_top=True flattens its "
            "last feature map, so height and width must be fixed"
        )
    if spec is not None:
        spec_height, spec_width, spec_channels = spec.input_shape
        if channels != spec_channels:
            raise ValueError(
                f"input_shape {tuple(input_shape)} has {channels} channels but the "
                f"{spec.tag!r} weights of {info.name} expect {spec_channels}"
            )
        if include_top and info.fixed_size_top and (height, width) != (spec_height, spec_width):
            raise ValueError(
                f"input_shape {tuple(input_shape)}: the {spec.tag!r} weights of {info.name} with "
                f"include_top=True need {spec_height}x{spec_width} inputs; use include_top=False "
                "for other sizes"
            )
    return height, width, channels


def _resolve_input_shape(
    info: registry.ModelInfo,
    input_shape: Any,
    input_tensor: Any,
    *,
    include_top: bool,
    spec: Any,
) -> tuple[int | None, int | None, int]:
    if input_tensor is not None:
        if not keras.utils.is_keras_tensor(input_tensor):
            raise TypeError(
                f"input_tensor for {info.name} must be a Keras tensor (keras.Input(...) or a "
                f"Keras layer's output), got {type(input_tensor).__name__}"
            )
        tensor_shape = tuple(input_tensor.shape)
        if len(tensor_shape) != 4:
            raise ValueError(
                f"input_tensor of shape {tensor_shape} for {info.name} must be a batch of images "
                "(batch, height, width, channels)"
            )
        if input_shape is not None and tuple(input_shape) != tensor_shape[1:]:
            raise ValueError(
                f"input_shape {tuple(input_shape)} disagrees with input_tensor's shape "
                f"{tensor_shape[1:]}; pass one of them"
            )
        input_shape = tensor_shape[1:]
    if input_shape is None:
        default = spec.input_shape if spec is not None else info.default_size
        input_shape = default if include_top else (None, None, default[2])
    return _check_input_shape(info, input_shape, include_top=include_top, spec=spec)


def _check_options(
    info: registry.ModelInfo,
    *,
    include_top: Any,
    pooling: Any,
    classes: Any,
    classifier_activation: Any,
    name: Any,
) -> None:
    if not isinstance(include_top, bool):
        raise ValueError(f"include_top={include_top!r} for {info.name} must be True or False")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r} for {info.name} must be one of {POOLINGS}")
    if include_top and pooling is not None:
        raise ValueError(
            f"pooling={pooling!r} applies only with include_top=False; {info.name}'s top does "
            "its own pooling"
        )
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"classes={classes!r} for {info.name} must be a positive int")
    if include_top and classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except (ValueError, TypeError):
            raise ValueError(
                f"classifier_activation={classifier_activation!r} for {info.name} is not a Keras "
                "activation (e.g. 'softmax', 'sigmoid' or None for logits)"
            ) from None
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name={name!r} must be a non-empty string")


def _add_auxiliary_tops(
    inputs: Any, predictions: Any, architecture: Architecture, **top_options: Any
) -> dict[str, Any]:
    # The taps are found by layer name in the graph built so far.
    graph = keras.Model(inputs, predictions)
    outputs = {"predictions": predictions}
    for auxiliary in architecture.auxiliary_tops:
        tap = graph.get_layer(auxiliary.tap).output
        outputs[auxiliary.name] = auxiliary.top(tap, **top_options)
    return outputs


def inference_model(model: keras.Model) -> keras.Model:
    """Returns `model` without its auxiliary classifiers: the main ``predictions`` only.

    The result shares its layers, and so its weights, with `model`. A model without auxiliary
    outputs is returned as it is.

    Args:
        model: A zoo model, e.g. ``zoo.googlenet(aux_logits=True)`` after training, or such a
            model loaded from a ``.keras`` file.

    Returns:
        A model with one output, the main classifier's.

    Raises:
        ValueError: If `model` has several outputs but no layer named ``"predictions"``.

    Example:
        >>> trained = zoo.googlenet(aux_logits=True, classes=10)
        >>> deployed = zoo.inference_model(trained)
        >>> deployed.output_shape
        (None, 10)
    """
    if len(model.outputs) == 1:
        return model
    try:
        predictions = model.get_layer("predictions").output
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has {len(model.outputs)} outputs but no 'predictions' layer "
            "to keep; inference_model expects a zoo model built with auxiliary classifiers"
        ) from None
    return keras.Model(model.inputs, predictions, name=model.name)


def build_model(
    info: registry.ModelInfo,
    architecture: Architecture,
    *,
    include_top: bool,
    weights: str | os.PathLike | None,
    include_preprocessing: bool,
    input_tensor: Any,
    input_shape: tuple[int | None, int | None, int] | None,
    pooling: str | None,
    classes: int,
    classifier_activation: str | Callable | None,
    name: str | None,
) -> keras.Model:
    """Validates the contract, builds the model and loads its weights.

    Args:
        info: Registry entry of the model.
        architecture: Backbone and top of the model, as its family function returned them.
        include_top: See any public builder, e.g. `zoo.vgg19`.
        weights: See any public builder.
        include_preprocessing: See any public builder.
        input_tensor: See any public builder.
        input_shape: See any public builder.
        pooling: See any public builder.
        classes: See any public builder.
        classifier_activation: See any public builder.
        name: See any public builder.

    Returns:
        The model.

    Raises:
        ValueError: On any argument that breaks the contract.
        TypeError: If `input_tensor` is not a Keras tensor.

    Example:
        >>> info = registry.model_info("lenet5")
        >>> model = build_model(info, info.architecture(), include_top=True, weights=None,
        ...     include_preprocessing=False, input_tensor=None, input_shape=None, pooling=None,
        ...     classes=10, classifier_activation="softmax", name=None)  # doctest: +SKIP
    """
    _check_options(
        info,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
    )
    if not isinstance(include_preprocessing, bool):
        raise ValueError(
            f"include_preprocessing={include_preprocessing!r} for {info.name} must be True or False"
        )
    source = weights_lib.resolve(info, weights, include_top=include_top)
    spec = source.spec if source is not None else None
    if include_preprocessing and (spec is None or spec.preprocessing is None):
        tags = ", ".join(repr(s.tag) for s in info.weights if s.preprocessing) or "none"
        raise ValueError(
            f"include_preprocessing=True takes the preprocessing of registered weights, but "
            f"{info.name} got weights={weights!r}, which is neither a tag ({tags}) nor a file of "
            "a registered set"
        )
    if spec is not None and include_top and classes != spec.classes:
        raise ValueError(
            f"classes={classes} but the {spec.tag!r} weights of {info.name} have a "
            f"{spec.classes}-class top; use include_top=False to put your own top on the backbone"
        )
    if architecture.auxiliary_tops and not include_top:
        raise ValueError(
            f"{info.name}'s auxiliary classifiers need include_top=True; they are a training aid "
            "of the classification model"
        )
    shape = _resolve_input_shape(
        info, input_shape, input_tensor, include_top=include_top, spec=spec
    )

    if input_tensor is None:
        inputs = x = keras.Input(shape=shape, name="input")
    else:
        inputs, x = keras.utils.get_source_inputs(input_tensor), input_tensor
    if include_preprocessing:
        x = spec.preprocessing.layer()(x)
    x = architecture.features(x)
    if include_top:
        top_options = {"classes": classes, "classifier_activation": classifier_activation}
        x = architecture.top(x, **top_options)
        if architecture.auxiliary_tops:
            x = _add_auxiliary_tops(inputs, x, architecture, **top_options)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    with _recursion_limit(_GRAPH_RECURSION_LIMIT):
        model = keras.Model(inputs, x, name=name or info.name)
    if source is not None:
        weights_lib.load_into(model, source)
    return model
