"""Inception-v3 and Inception-ResNet-v2: factorized Inception blocks written as data.

Both networks share one stem and one block builder. A block is a tuple of branches, each a
sequence of `Conv` (convolution without bias + BatchNorm without scale + ReLU), `Pool` and `Fork`
steps; the branches' outputs are concatenated. Inception-ResNet blocks then project the
concatenation back to the input width with a 1x1 convolution and add it, scaled, to their input.

What equals keras.applications: ``inception_v3`` has the layers of ``InceptionV3`` and
``inception_resnet_v2`` those of ``InceptionResNetV2`` -- same classes (`ScaledResidual` in place of
keras' weightless ``CustomScaleLayer``), same order in ``model.layers``, same weight shapes, same
computation -- so keras' weights files (``.weights.h5`` and legacy ``.h5``) load and give identical
outputs. Every name keras sets keeps its value (``mixed0`` ... ``mixed10``, ``mixed9_0``,
``mixed_5b``, ``block35_1_conv``, ``block8_9_ac``, ``conv_7b``, ``avg_pool``, ``predictions`` ...).
Where keras leaves names to Keras' counters (``conv2d_17``, which change with every model built
in a session), the layers here get readable names:

- the stem: ``conv_1a``, ``conv_2a``, ``conv_2b``, ``pool_3a``, ``conv_3b``, ``conv_4a``,
  ``pool_5a``, after TF-slim's scopes (keras' ``conv_7b`` is the last of that series);
- inside block ``B``: ``B_branch{i}_conv{j}`` (the j-th convolution of branch i, branches counted
  from 0 as in TF-slim), ``B_branch{i}_pool``, ``B_branch{i}_conv{j}a``/``b`` and
  ``B_branch{i}_concat`` for a fork, ``B_residual`` for the scaled addition;
- each convolution unit ``U``: ``U`` (Conv2D), ``U_bn`` and ``U_ac``, keras' own convention for the
  units it names in InceptionResNetV2.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.heads import pooled_top
from zoo.layers import ScaledResidual

__all__ = [
    "INCEPTION_RESNET_V2_BLOCKS",
    "INCEPTION_V3_BLOCKS",
    "STEM",
    "Conv",
    "Fork",
    "Pool",
    "conv_bn",
    "inception_resnet_v2",
    "inception_v3",
]

# Keras' default, with which the keras.applications (TF-slim) weights were trained.
_BN_EPSILON = 1e-3


@dataclasses.dataclass(frozen=True)
class Conv:
    """A convolution without bias, then BatchNorm without scale and ReLU.

    Attributes:
        filters: Output channels.
        kernel: Kernel size, one int or ``(rows, cols)`` for the factorized 1xn / nx1 kernels.
        stride: Convolution stride.
        padding: ``"same"`` or ``"valid"``.
    """

    filters: int
    kernel: int | tuple[int, int]
    stride: int = 1
    padding: str = "same"


@dataclasses.dataclass(frozen=True)
class Pool:
    """3x3 pooling: ``"avg"`` with stride 1 and same padding, ``"max"`` with stride 2, valid.

    Attributes:
        kind: ``"avg"`` (inside a block) or ``"max"`` (grid-size reduction).
    """

    kind: str


@dataclasses.dataclass(frozen=True)
class Fork:
    """Ends a branch with two convolutions on the same input, concatenated.

    The expanded filter bank of Inception-v3 (Szegedy et al. 2015, figure 7): a 1x3 and a 3x1
    convolution side by side.

    Attributes:
        convs: The two convolutions.
        name: Name of the concatenation; None names it ``<branch>_concat``.
    """

    convs: tuple[Conv, Conv]
    name: str | None = None


Step = Conv | Pool | Fork
Block = tuple[tuple[Step, ...], ...]

# Every grid-size reduction is a stride-2 convolution or pooling without padding (35 -> 17 -> 8).
_REDUCE = {"stride": 2, "padding": "valid"}

# The stem of both networks, as in keras.applications and TF-slim (Inception-ResNet-v2 included,
# whose paper draws another stem in figure 3): 299 -> 149 -> 147 -> 147 -> 73 -> 73 -> 71 -> 35.
STEM: tuple[tuple[str, Step], ...] = (
    ("conv_1a", Conv(32, 3, **_REDUCE)),
    ("conv_2a", Conv(32, 3, padding="valid")),
    ("conv_2b", Conv(64, 3)),
    ("pool_3a", Pool("max")),
    ("conv_3b", Conv(80, 1, padding="valid")),
    ("conv_4a", Conv(192, 3, padding="valid")),
    ("pool_5a", Pool("max")),
)


def _block_35(pool_filters: int, *, branch0_filters: int = 64) -> Block:
    """35x35 block (figure 5, with TF-slim's 5x5 in place of the 3x3 of branch 1)."""
    return (
        (Conv(branch0_filters, 1),),
        (Conv(48, 1), Conv(64, 5)),
        (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
        (Pool("avg"), Conv(pool_filters, 1)),
    )


def _block_17(width: int) -> Block:
    """17x17 block with 7x7 convolutions factorized into 1x7 and 7x1 (figure 6)."""
    return (
        (Conv(192, 1),),
        (Conv(width, 1), Conv(width, (1, 7)), Conv(192, (7, 1))),
        (
            Conv(width, 1),
            Conv(width, (7, 1)),
            Conv(width, (1, 7)),
            Conv(width, (7, 1)),
            Conv(192, (1, 7)),
        ),
        (Pool("avg"), Conv(192, 1)),
    )


def _block_8(fork_name: str) -> Block:
    """8x8 block with expanded 1x3 / 3x1 filter banks (figure 7)."""
    fork = (Conv(384, (1, 3)), Conv(384, (3, 1)))
    return (
        (Conv(320, 1),),
        (Conv(384, 1), Fork(fork, name=fork_name)),
        (Conv(448, 1), Conv(384, 3), Fork(fork)),
        (Pool("avg"), Conv(192, 1)),
    )


# Szegedy et al. 2015, table 1, in keras.applications' (TF-slim's) widths. keras names the
# first fork of mixed9 and mixed10 "mixed9_0" and "mixed9_1".
INCEPTION_V3_BLOCKS: dict[str, Block] = {
    "mixed0": _block_35(32),
    "mixed1": _block_35(64),
    "mixed2": _block_35(64),
    "mixed3": (
        (Conv(384, 3, **_REDUCE),),
        (Conv(64, 1), Conv(96, 3), Conv(96, 3, **_REDUCE)),
        (Pool("max"),),
    ),
    "mixed4": _block_17(128),
    "mixed5": _block_17(160),
    "mixed6": _block_17(160),
    "mixed7": _block_17(192),
    "mixed8": (
        (Conv(192, 1), Conv(320, 3, **_REDUCE)),
        (Conv(192, 1), Conv(192, (1, 7)), Conv(192, (7, 1)), Conv(192, 3, **_REDUCE)),
        (Pool("max"),),
    ),
    "mixed9": _block_8("mixed9_0"),
    "mixed10": _block_8("mixed9_1"),
}

# Szegedy et al. 2016: block35, block17 and block8 are the residual branches of the
# Inception-ResNet-A, -B and -C blocks (figures 16, 17, 19), mixed_6a and mixed_7a the
# reductions (figure 7 with table 1's widths, figure 18); mixed_5b ends TF-slim's stem.
INCEPTION_RESNET_V2_BLOCKS: dict[str, Block] = {
    "mixed_5b": _block_35(64, branch0_filters=96),
    "block35": (
        (Conv(32, 1),),
        (Conv(32, 1), Conv(32, 3)),
        (Conv(32, 1), Conv(48, 3), Conv(64, 3)),
    ),
    "mixed_6a": (
        (Conv(384, 3, **_REDUCE),),
        (Conv(256, 1), Conv(256, 3), Conv(384, 3, **_REDUCE)),
        (Pool("max"),),
    ),
    "block17": (
        (Conv(192, 1),),
        (Conv(128, 1), Conv(160, (1, 7)), Conv(192, (7, 1))),
    ),
    "mixed_7a": (
        (Conv(256, 1), Conv(384, 3, **_REDUCE)),
        (Conv(256, 1), Conv(288, 3, **_REDUCE)),
        (Conv(256, 1), Conv(288, 3), Conv(320, 3, **_REDUCE)),
        (Pool("max"),),
    ),
    "block8": (
        (Conv(192, 1),),
        (Conv(192, 1), Conv(224, (1, 3)), Conv(256, (3, 1))),
    ),
}


def conv_bn(x: Any, conv: Conv, *, name: str) -> Any:
    """Convolution without bias, BatchNorm without scale (epsilon 1e-3) and ReLU.

    The unit of keras.applications' ``conv2d_bn`` in both Inception networks.

    Args:
        x: Input tensor (channels last).
        conv: The convolution.
        name: Name of the Conv2D layer; the others are ``<name>_bn`` and ``<name>_ac``.

    Returns:
        The activation.

    Example:
        >>> y = conv_bn(keras.Input((35, 35, 192)), Conv(64, 1), name="unit")
        >>> tuple(y.shape)
        (None, 35, 35, 64)
    """
    x = keras.layers.Conv2D(
        conv.filters,
        conv.kernel,
        strides=conv.stride,
        padding=conv.padding,
        use_bias=False,
        name=name,
    )(x)
    x = keras.layers.BatchNormalization(scale=False, epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_ac")(x)


def _pool(x: Any, pool: Pool, name: str) -> Any:
    if pool.kind == "avg":
        return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)
    if pool.kind == "max":
        return keras.layers.MaxPooling2D(3, strides=2, name=name)(x)
    raise ValueError(f"Pool kind {pool.kind!r} must be 'avg' or 'max'")


def _branch(x: Any, steps: tuple[Step, ...], prefix: str) -> Any:
    convs = 0
    for step in steps:
        if isinstance(step, Pool):
            x = _pool(x, step, f"{prefix}_pool")
            continue
        convs += 1
        if isinstance(step, Fork):
            halves = [
                conv_bn(x, conv, name=f"{prefix}_conv{convs}{half}")
                for half, conv in zip("ab", step.convs, strict=True)
            ]
            x = keras.layers.Concatenate(name=step.name or f"{prefix}_concat")(halves)
        else:
            x = conv_bn(x, step, name=f"{prefix}_conv{convs}")
    return x


def _branches(x: Any, block: Block, name: str) -> list[Any]:
    return [_branch(x, steps, f"{name}_branch{index}") for index, steps in enumerate(block)]


def _inception_block(x: Any, block: Block, name: str) -> Any:
    return keras.layers.Concatenate(name=name)(_branches(x, block, name))


def _residual_block(x: Any, block: Block, name: str, *, scale: float, relu: bool = True) -> Any:
    """``relu(x + scale * conv1x1(concat(branches(x))))``, the conv with bias and no BatchNorm."""
    mixed = keras.layers.Concatenate(name=f"{name}_mixed")(_branches(x, block, name))
    residual = keras.layers.Conv2D(x.shape[-1], 1, padding="same", name=f"{name}_conv")(mixed)
    x = ScaledResidual(scale, name=f"{name}_residual")([x, residual])
    return keras.layers.Activation("relu", name=f"{name}_ac")(x) if relu else x


def _stem(x: Any) -> Any:
    for name, step in STEM:
        x = _pool(x, step, name) if isinstance(step, Pool) else conv_bn(x, step, name=name)
    return x


def _inception_v3_features(x: Any) -> Any:
    x = _stem(x)
    for name, block in INCEPTION_V3_BLOCKS.items():
        x = _inception_block(x, block, name)
    return x


def _inception_resnet_v2_features(x: Any) -> Any:
    blocks = INCEPTION_RESNET_V2_BLOCKS
    x = _inception_block(_stem(x), blocks["mixed_5b"], "mixed_5b")
    for index in range(1, 11):
        x = _residual_block(x, blocks["block35"], f"block35_{index}", scale=0.17)
    x = _inception_block(x, blocks["mixed_6a"], "mixed_6a")
    for index in range(1, 21):
        x = _residual_block(x, blocks["block17"], f"block17_{index}", scale=0.1)
    x = _inception_block(x, blocks["mixed_7a"], "mixed_7a")
    for index in range(1, 10):
        x = _residual_block(x, blocks["block8"], f"block8_{index}", scale=0.2)
    # The last block is linear and unscaled, as in TF-slim and keras.
    x = _residual_block(x, blocks["block8"], "block8_10", scale=1.0, relu=False)
    return conv_bn(x, Conv(1536, 1), name="conv_7b")


@zoo_model(
    paper="Szegedy et al., Rethinking the Inception Architecture for Computer Vision",
    year=2015,
    default_size=(299, 299, 3),
    min_size=75,
    params=23_851_784,
    fixed_size_top=False,
    feature_taps=[
        ("conv_2b_ac", 2, 64),
        ("conv_4a_ac", 4, 192),
        ("mixed2", 8, 288),
        ("mixed7", 16, 768),
        ("mixed10", 32, 2048),
    ],
)
def inception_v3() -> Architecture:
    """Inception-v3 (Szegedy et al., CVPR 2016; arXiv:1512.00567, 2015), as in keras.

    A seven-layer stem takes 299x299 inputs to 35x35; three Inception blocks at 35x35, a
    grid-size reduction, four blocks at 17x17 whose 7x7 convolutions are factorized into 1x7 and
    7x1, a second reduction and two 8x8 blocks with expanded 1x3 / 3x1 filter banks; BatchNorm
    after every convolution, global average pooling and the classifier; 23,851,784 parameters.
    Layers, order and weights equal ``keras.applications.InceptionV3`` (the TF-slim model, without
    the auxiliary classifier), so its weights files load.
    """
    return Architecture(features=_inception_v3_features, top=pooled_top)


@zoo_model(
    paper=(
        "Szegedy et al., Inception-v4, Inception-ResNet and the Impact of Residual Connections "
        "on Learning"
    ),
    year=2016,
    default_size=(299, 299, 3),
    min_size=75,
    params=55_873_736,
    fixed_size_top=False,
    feature_taps=[
        ("conv_2b_ac", 2, 64),
        ("conv_4a_ac", 4, 192),
        ("block35_10_ac", 8, 320),
        ("block17_20_ac", 16, 1088),
        ("conv_7b_ac", 32, 1536),
    ],
)
def inception_resnet_v2() -> Architecture:
    """Inception-ResNet-v2 (Szegedy et al., AAAI 2017; arXiv:1602.07261, 2016), as in keras.

    Inception-v3's stem and a 35x35 Inception block (TF-slim's stem; the paper draws
    Inception-v4's, figure 3), then 10 Inception-ResNet-A blocks (35x35), a reduction, 20
    Inception-ResNet-B blocks (17x17), a reduction and 10 Inception-ResNet-C blocks (8x8), each
    adding its branches' 1x1 projection to its input scaled by 0.17, 0.1 and 0.2 (the paper's
    residual scaling; the last block adds unscaled, without ReLU); a 1x1 convolution to 1536
    channels, global average pooling and the classifier; 55,873,736 parameters. Layers, order and
    weights equal ``keras.applications.InceptionResNetV2`` (the TF-slim model), so its weights
    files load.
    """
    return Architecture(features=_inception_resnet_v2_features, top=pooled_top)
