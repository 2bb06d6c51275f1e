"""Loading PyTorch state dicts (torchvision's and others') into zoo models, without torch.

A torch state dict -- ``{"features.0.weight": array, ...}``, e.g. from
`zoo.torch_checkpoint.load_state_dict` -- is mapped onto the layers of the zoo model that
reproduces the torch network. Each family is data (`TorchSpec`): rules that rename a
torch module path (``layer1.0.conv1``) to a Keras layer name (``conv2_block1_1_conv``), the
BatchNorm epsilon the network was trained with, and the heads a model may leave out. One loop then
converts every module by the type of its Keras layer:

- ``Conv2D``: weight ``(out, in / groups, kh, kw)`` -> kernel ``(kh, kw, in / groups, out)``;
- ``Dense``: weight ``(out, in)`` -> kernel ``(in, out)``; the first Dense after a ``Flatten``
  also reorders its inputs from torch's channels-first flattening (C, H, W) to Keras' (H, W, C);
- ``BatchNormalization``: weight, bias, running_mean, running_var -> gamma, beta, moving_mean,
  moving_variance (``num_batches_tracked`` is dropped), its epsilon checked against torchvision's.

Supported: ``alexnet`` (into `zoo.alexnet_onetower`), ``vgg11`` ... ``vgg19_bn`` (into the zoo
model of the same name), ``googlenet`` (with or without the auxiliary classifiers) and
``resnet18`` ... ``resnet152`` (into ``zoo.resnet*(variant="torchvision")``). torchvision's
``inception_v3`` is not: see `UNSUPPORTED`.

The zoo models compute what torchvision's compute from the same input; the preprocessing is the
caller's (torchvision's ImageNet mean/std on RGB in [0, 1]; its pretrained ``googlenet`` and
``inception_v3`` also set ``transform_input=True``, which the caller must apply to the input).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from zoo.resnet import RESNET_CONFIGS
from zoo.vgg import VGG_CONFIGS

__all__ = ["TORCH_SPECS", "UNSUPPORTED", "TorchSpec", "load_torch_weights"]


@dataclasses.dataclass(frozen=True)
class TorchSpec:
    """How one torchvision architecture maps onto a zoo model.

    Attributes:
        zoo_model: The zoo builder that reproduces it, as code to show in error messages.
        rename: ``(pattern, replacement)`` rules on torch module paths (a state-dict key without
            its last component); the first pattern that matches the whole path wins and
            `re.Match.expand`, with ``_`` for ``.``, gives the Keras layer name.
        bn_epsilon: BatchNorm epsilon of the torchvision model (None if it has no BatchNorm).
        heads: Patterns of the module paths of each head (classifier, auxiliary classifiers). A
            model without any layer of a head (``include_top=False``, ``aux_logits=False``)
            leaves that head's entries out, as torchvision's own loader drops the auxiliary ones.
    """

    zoo_model: str
    rename: tuple[tuple[str, str], ...]
    bn_epsilon: float | None = None
    heads: tuple[str, ...] = ()


# torch parameter name -> Keras weight name, by Keras layer type.
_WEIGHT_NAMES = {
    "Conv2D": {"weight": "kernel", "bias": "bias"},
    "Dense": {"weight": "kernel", "bias": "bias"},
    "BatchNormalization": {
        "weight": "gamma",
        "bias": "beta",
        "running_mean": "moving_mean",
        "running_var": "moving_variance",
    },
}
_DROPPED_PARAMETERS = ("num_batches_tracked",)


def _vgg_spec(depth: str, config: str, batch_norm: bool) -> TorchSpec:
    """The ``features`` Sequential of torchvision counts conv (+ bn) + relu and pooling modules."""
    rename, index, block, conv = [], 0, 1, 1
    for item in VGG_CONFIGS[config]:
        if item == "M":
            index, block, conv = index + 1, block + 1, 1
            continue
        rename.append((rf"features\.{index}", f"block{block}_conv{conv}"))
        if batch_norm:
            rename.append((rf"features\.{index + 1}", f"block{block}_conv{conv}_bn"))
        index, conv = index + (3 if batch_norm else 2), conv + 1
    rename += [
        (r"classifier\.0", "fc1"),
        (r"classifier\.3", "fc2"),
        (r"classifier\.6", "predictions"),
    ]
    suffix = "_bn" if batch_norm else ""
    return TorchSpec(
        zoo_model=f"zoo.vgg{depth}{suffix}()",
        rename=tuple(rename),
        bn_epsilon=1e-5 if batch_norm else None,
        heads=(r"classifier\..*",),
    )


def _resnet_spec(depth: int) -> TorchSpec:
    """The ``layer{s}.{b}`` of torchvision is the zoo's ``conv{s + 1}_block{b + 1}``."""
    rename = [(r"conv1", "conv1_conv"), (r"bn1", "conv1_bn"), (r"fc", "predictions")]
    for stage, blocks in enumerate(RESNET_CONFIGS[depth][1], start=1):
        for block in range(blocks):
            torch_block, zoo_block = rf"layer{stage}\.{block}", f"conv{stage + 1}_block{block + 1}"
            rename += [
                (rf"{torch_block}\.conv(\d)", rf"{zoo_block}_\1_conv"),
                (rf"{torch_block}\.bn(\d)", rf"{zoo_block}_\1_bn"),
                (rf"{torch_block}\.downsample\.0", f"{zoo_block}_0_conv"),
                (rf"{torch_block}\.downsample\.1", f"{zoo_block}_0_bn"),
            ]
    return TorchSpec(
        zoo_model=f'zoo.resnet{depth}(variant="torchvision")',
        rename=tuple(rename),
        bn_epsilon=1e-5,
        heads=(r"fc",),
    )


# torchvision's AlexNet: (zoo conv number, index in its ``features`` Sequential).
_ALEXNET_CONVS = tuple(enumerate((0, 3, 6, 8, 10), start=1))


def _build_specs() -> dict[str, TorchSpec]:
    specs = {
        "alexnet": TorchSpec(
            zoo_model="zoo.alexnet_onetower()",
            rename=(
                *((rf"features\.{index}", f"conv{n}") for n, index in _ALEXNET_CONVS),
                (r"classifier\.1", "fc6"),
                (r"classifier\.4", "fc7"),
                (r"classifier\.6", "predictions"),
            ),
            heads=(r"classifier\..*",),
        ),
        # Module paths with "_" for "."; see zoo/googlenet.py.
        "googlenet": TorchSpec(
            zoo_model="zoo.googlenet()",
            rename=(
                (r"fc", "predictions"),
                (r"(aux\d)\.fc2", r"\1"),
                (r"(aux\d)\.fc1", r"\1_fc1"),
                (r".+", r"\g<0>"),
            ),
            bn_epsilon=1e-3,
            heads=(r"fc", r"aux1\..*", r"aux2\..*"),
        ),
    }
    for depth, config in (("11", "A"), ("13", "B"), ("16", "D"), ("19", "E")):
        specs[f"vgg{depth}"] = _vgg_spec(depth, config, batch_norm=False)
        specs[f"vgg{depth}_bn"] = _vgg_spec(depth, config, batch_norm=True)
    for depth in (18, 34, 50, 101, 152):
        specs[f"resnet{depth}"] = _resnet_spec(depth)
    return specs


TORCH_SPECS: dict[str, TorchSpec] = _build_specs()

# torchvision architectures that no zoo model computes exactly, and why.
UNSUPPORTED: dict[str, str] = {
    "inception_v3": (
        "zoo.inception_v3 follows keras.applications (TF-slim): its BatchNorm layers have no "
        "scale (gamma), which torchvision's BasicConv2d learns, and its 3x3 average poolings "
        "exclude the zero padding from the mean, where torchvision's F.avg_pool2d includes it "
        "(count_include_pad=True), so the border outputs differ"
    ),
}


def _layer_name(spec: TorchSpec, module: str) -> str | None:
    for pattern, replacement in spec.rename:
        match = re.fullmatch(pattern, module)
        if match:
            return match.expand(replacement).replace(".", "_")
    return None


def _flattened_shapes(model: keras.Model) -> dict[str, tuple[int, int, int]]:
    """Dense layers fed by a Flatten (through Dropout) -> the (H, W, C) map that it flattens."""
    shapes = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Dense):
            continue
        node_layer = _producer(model, layer)
        while isinstance(node_layer, keras.layers.Dropout):
            node_layer = _producer(model, node_layer)
        if isinstance(node_layer, keras.layers.Flatten):
            height, width, channels = node_layer.input.shape[1:]
            shapes[layer.name] = (height, width, channels)
    return shapes


def _producer(model: keras.Model, layer: keras.layers.Layer) -> keras.layers.Layer | None:
    """The layer whose output `layer` reads (single-input layers only)."""
    for candidate in model.layers:
        if candidate.output is layer.input:
            return candidate
    return None


def _convert(
    layer: keras.layers.Layer, parameter: str, value: np.ndarray, flat: tuple[int, int, int] | None
) -> np.ndarray:
    """A torch parameter in the layout of `layer`'s Keras weight."""
    if parameter != "weight" or isinstance(layer, keras.layers.BatchNormalization):
        return value
    if isinstance(layer, keras.layers.Conv2D):
        return value.transpose(2, 3, 1, 0) if value.ndim == 4 else value
    if flat is not None and value.ndim == 2 and value.shape[1] == int(np.prod(flat)):
        height, width, channels = flat
        # torch flattens (C, H, W), Keras (H, W, C): kernel[h, w, c, o] = weight[o, c, h, w].
        value = value.reshape(-1, channels, height, width).transpose(2, 3, 1, 0)
        return value.reshape(height * width * channels, -1)
    return value.T if value.ndim == 2 else value


def _listing(items: list[str], limit: int = 20) -> str:
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _head_of(spec: TorchSpec, module: str) -> str | None:
    return next((head for head in spec.heads if re.fullmatch(head, module)), None)


def load_torch_weights(
    model: keras.Model,
    state_dict: Mapping[str, np.ndarray],
    *,
    architecture: str | None = None,
) -> keras.Model:
    """Sets a zoo model's weights from a torchvision state dict.

    Every entry must land in a layer (except ``num_batches_tracked`` and the entries of a head
    the model was built without, see `TorchSpec.heads`) and every weight of every layer
    that holds weights must be set; otherwise nothing is assigned and the error lists the missing
    and unexpected entries and the shape mismatches.

    Args:
        model: The zoo model that reproduces `architecture`, e.g. ``zoo.resnet50(weights=None,
            variant="torchvision")``; any input size, classes and ``include_top``.
        state_dict: torch parameter and buffer names to arrays, as
            `zoo.torch_checkpoint.load_state_dict` returns them.
        architecture: torchvision's name of the network (``"resnet50"``, ``"vgg16_bn"``, one of
            `TORCH_SPECS`); None takes ``model.name``.

    Returns:
        `model`, its weights set.

    Raises:
        ValueError: The architecture is unknown or not convertible, the model's BatchNorm epsilon
            differs from torchvision's, or the state dict does not fit the model.

    Example:
        >>> state_dict = load_state_dict("resnet18-f37072fd.pth")  # doctest: +SKIP
        >>> model = zoo.resnet18(weights=None, variant="torchvision")  # doctest: +SKIP
        >>> load_torch_weights(model, state_dict, architecture="resnet18")  # doctest: +SKIP
    """
    architecture = model.name if architecture is None else architecture
    if architecture in UNSUPPORTED:
        raise ValueError(
            f"torchvision's {architecture} cannot be converted: {UNSUPPORTED[architecture]}"
        )
    if architecture not in TORCH_SPECS:
        raise ValueError(
            f"architecture={architecture!r} is not a torchvision network this converter knows; "
            f"expected one of {sorted(TORCH_SPECS)} (pass architecture= if the model's "
            "name is not torchvision's)"
        )
    spec = TORCH_SPECS[architecture]
    layers = {layer.name: layer for layer in model.layers}
    flattened = _flattened_shapes(model)

    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state_dict.items():
        module, _, parameter = key.rpartition(".")
        if parameter not in _DROPPED_PARAMETERS:
            modules.setdefault(module, {})[parameter] = np.asarray(value)
    targets = {module: _layer_name(spec, module) for module in modules}
    # A head is loaded only if the model has at least one of its layers.
    present_heads = {
        _head_of(spec, module) for module, name in targets.items() if name in layers
    } - {None}

    assignments: list[tuple[Any, np.ndarray]] = []
    assigned: set[int] = set()
    unexpected, mismatched = [], []
    for module, parameters in modules.items():
        name = targets[module]
        head = _head_of(spec, module)
        if name not in layers:
            if head is None or head in present_heads:
                why = "matches no rule" if name is None else f"no layer {name!r}"
                unexpected += [f"{module}.{p} ({why})" for p in parameters]
            continue
        layer = layers[name]
        names = _WEIGHT_NAMES.get(type(layer).__name__)
        if names is None:
            unexpected += [
                f"{module}.{p} (layer {name!r} is a {type(layer).__name__})" for p in parameters
            ]
            continue
        weights = {weight.name: weight for weight in layer.weights}
        for parameter, value in parameters.items():
            weight = weights.get(names.get(parameter, ""))
            if weight is None:
                unexpected.append(f"{module}.{parameter} (layer {name!r} has no such weight)")
                continue
            value = _convert(layer, parameter, value, flattened.get(name))
            if tuple(value.shape) != tuple(weight.shape):
                mismatched.append(
                    f"{module}.{parameter} {tuple(parameters[parameter].shape)} -> "
                    f"{weight.path} {tuple(weight.shape)}"
                )
                continue
            assignments.append((weight, value))
            assigned.add(id(weight))

    missing = [
        weight.path
        for layer in model.layers
        for weight in layer.weights
        if id(weight) not in assigned
    ]
    epsilons = [
        f"{layer.name} has {layer.epsilon}"
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        and spec.bn_epsilon is not None
        and not np.isclose(layer.epsilon, spec.bn_epsilon, rtol=1e-6, atol=0.0)
    ]
    problems = [
        f"{what}: {_listing(items)}"
        for what, items in (
            ("weights of the model that no entry sets", missing),
            ("state-dict entries that fit no weight", unexpected),
            ("shape mismatches (torch -> Keras)", mismatched),
            (f"BatchNorm epsilon must be torchvision's {spec.bn_epsilon}, but", epsilons),
        )
        if items
    ]
    if problems:
        raise ValueError(
            f"the state dict does not fit {model.name!r} as torchvision's {architecture} "
            f"(build it as {spec.zoo_model}): " + "; ".join(problems)
        )
    for weight, value in assignments:
        weight.assign(value.astype(weight.dtype, copy=False))
    return model
