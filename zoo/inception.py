"""Inception-v3, Inception-v4 and Inception-ResNet-v1/v2: factorized Inception blocks as data.

The four networks share one block builder. A block is a tuple of branches, each a sequence of
`Conv` (convolution without bias + BatchNorm + ReLU), `Pool` and `Fork` steps; the branches'
outputs are concatenated. Inception-ResNet blocks then project the concatenation back to the input
width with a 1x1 convolution and add it, scaled, to their input. The stems start with the same
three convolutions; Inception-v4's continues with blocks (a convolution beside a pooling, figure 3
of Szegedy et al. 2016), the others with single layers.

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
  Inception-ResNet-v1 ends it with ``conv_4b`` instead of ``pool_5a``;
- inside block ``B``: ``B_branch{i}_conv{j}`` (the j-th convolution of branch i, branches counted
  from 0 as in TF-slim), ``B_branch{i}_pool``, ``B_branch{i}_conv{j}a``/``b`` and
  ``B_branch{i}_concat`` for a fork, ``B_residual`` for the scaled addition;
- each convolution unit ``U``: ``U`` (Conv2D), ``U_bn`` and ``U_ac``, keras' own convention for the
  units it names in InceptionResNetV2.

``inception_v3`` comes in two conventions, selected by ``variant``: keras.applications' weights
files load into the first, torchvision's state dicts (through `zoo.convert`) into the second.

- ``"keras"``: keras.applications' ``InceptionV3`` (TF-slim) as above -- BatchNorm without scale,
  3x3/1 average pools that average only the pixels inside the input (TF's ``"same"`` padding).
- ``"torchvision"``: torchvision's ``inception_v3`` -- BatchNorm with scale (epsilon 1e-3 in
  both), 3x3/1 average pools that count their one pixel of zero padding in the mean (torch's
  ``F.avg_pool2d(x, 3, 1, 1)``, ``count_include_pad=True``; here ``B_branch{i}_pad`` and a valid
  ``B_branch{i}_pool``), dropout 0.5 (``predictions_dropout``) before the classifier. Every other
  layer, name and shape is that of the ``"keras"`` variant: torchvision's stem, branch order,
  pools and explicit paddings (each stride-1 convolution pads ``(k - 1) / 2``, as ``"same"`` does
  for odd kernels; every stride-2 one pads nothing) compute what TF-slim's do. The auxiliary
  classifier of both is left out.

``inception_v4`` and ``inception_resnet_v1`` follow the same scheme with TF-slim's scope names, so
that TF-slim, timm and facenet checkpoints map onto them scope by scope:

- Inception-v4 (TF-slim ``inception_v4``, timm ``inception_v4``): ``conv_1a``, ``conv_2a``,
  ``conv_2b``, then the blocks ``mixed_3a``, ``mixed_4a``, ``mixed_5a`` (rest of the stem),
  ``mixed_5b`` ... ``mixed_5e`` (Inception-A), ``mixed_6a`` (Reduction-A), ``mixed_6b`` ...
  ``mixed_6h`` (Inception-B), ``mixed_7a`` (Reduction-B), ``mixed_7b`` ... ``mixed_7d``
  (Inception-C); then ``avg_pool``, ``predictions_dropout`` and ``predictions``;
- Inception-ResNet-v1 (facenet's TF-slim ``inception_resnet_v1``): the stem, ``block35_1`` ...
  ``block35_5``, ``mixed_6a``, ``block17_1`` ... ``block17_10``, ``mixed_7a``, ``block8_1`` ...
  ``block8_6`` (the last one linear, its output is ``block8_6_residual``), then the same top.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.heads import pooled_dropout_top, pooled_top
from zoo.layers import ScaledResidual
from zoo.preprocessing import TF, TORCH_INCEPTION
from zoo.registry import TorchSpec
from zoo.weights import keras_applications_weights, torchvision_weights

__all__ = [
    "INCEPTION_RESNET_V1_BLOCKS",
    "INCEPTION_RESNET_V1_STEM",
    "INCEPTION_RESNET_V2_BLOCKS",
    "INCEPTION_V3_BLOCKS",
    "INCEPTION_V4_BLOCKS",
    "INCEPTION_V4_STEM",
    "STEM",
    "Conv",
    "Fork",
    "Pool",
    "conv_bn",
    "inception_resnet_v1",
    "inception_resnet_v2",
    "inception_v3",
    "inception_v4",
]

# Keras' default, with which the keras.applications (TF-slim) weights were trained; torchvision's
# Inception-v3 (its BasicConv2d) uses it too.
_BN_EPSILON = 1e-3


@dataclasses.dataclass(frozen=True)
class _Convention:
    """How a published implementation builds its convolution units, average pools and top.

    Attributes:
        bn_scale: Whether the BatchNorm layers learn a scale (gamma) besides their offset.
        pool_counts_padding: Whether the 3x3/1 average pools divide by 9 everywhere, counting the
            zero padding (torch's ``count_include_pad=True``), or average only the pixels inside
            the input (TF's ``"same"`` padding).
        dropout: Dropout rate before the classifier of ``inception_v3``.
    """

    bn_scale: bool
    pool_counts_padding: bool
    dropout: float = 0.0


# inception_v3's variants.
_CONVENTIONS = {
    "keras": _Convention(bn_scale=False, pool_counts_padding=False),
    "torchvision": _Convention(bn_scale=True, pool_counts_padding=True, dropout=0.5),
}
_KERAS = _CONVENTIONS["keras"]
# timm's Inception-v4 (TF-slim's layout with a BatchNorm scale); its dropout is an option.
_TIMM = _Convention(bn_scale=True, pool_counts_padding=False)


@dataclasses.dataclass(frozen=True)
class Conv:
    """A convolution without bias, then BatchNorm and ReLU (see `conv_bn`).

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

    Whether the zero padding of an average pool counts in the mean depends on the convention
    (``inception_v3``'s ``variant``).

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


def _reduction_a(k: int, l: int, m: int, n: int) -> Block:  # noqa: E741 (the paper's letters)
    """35x35 -> 17x17 reduction (Szegedy et al. 2016, figure 7, widths from its table 1)."""
    return (
        (Conv(n, 3, **_REDUCE),),
        (Conv(k, 1), Conv(l, 3), Conv(m, 3, **_REDUCE)),
        (Pool("max"),),
    )


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
    "mixed_6a": _reduction_a(k=256, l=256, m=384, n=384),
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

# Inception-v4's stem (Szegedy et al. 2016, figure 3): the first three convolutions of `STEM`,
# then the blocks mixed_3a, mixed_4a and mixed_5a of INCEPTION_V4_BLOCKS, each putting a
# convolution beside a pooling or another convolution: 147 -> 73 -> 71 -> 35 (384 channels).
INCEPTION_V4_STEM: tuple[tuple[str, Step], ...] = STEM[:3]

_INCEPTION_A: Block = (  # figure 4
    (Conv(96, 1),),
    (Conv(64, 1), Conv(96, 3)),
    (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
    (Pool("avg"), Conv(96, 1)),
)
_INCEPTION_B: Block = (  # figure 5
    (Conv(384, 1),),
    (Conv(192, 1), Conv(224, (1, 7)), Conv(256, (7, 1))),
    (
        Conv(192, 1),
        Conv(192, (7, 1)),
        Conv(224, (1, 7)),
        Conv(224, (7, 1)),
        Conv(256, (1, 7)),
    ),
    (Pool("avg"), Conv(128, 1)),
)
_INCEPTION_C_FORK = Fork((Conv(256, (1, 3)), Conv(256, (3, 1))))
_INCEPTION_C: Block = (  # figure 6
    (Conv(256, 1),),
    (Conv(384, 1), _INCEPTION_C_FORK),
    (Conv(384, 1), Conv(448, (3, 1)), Conv(512, (1, 3)), _INCEPTION_C_FORK),
    (Pool("avg"), Conv(256, 1)),
)

# Szegedy et al. 2016, figure 9, in the layout and widths of TF-slim's inception_v4 (and timm's
# port of it), keyed by TF-slim's scopes; each block runs once, in this order.
INCEPTION_V4_BLOCKS: dict[str, Block] = {
    "mixed_3a": ((Pool("max"),), (Conv(96, 3, **_REDUCE),)),
    "mixed_4a": (
        (Conv(64, 1), Conv(96, 3, padding="valid")),
        (Conv(64, 1), Conv(64, (1, 7)), Conv(64, (7, 1)), Conv(96, 3, padding="valid")),
    ),
    "mixed_5a": ((Conv(192, 3, **_REDUCE),), (Pool("max"),)),
    **dict.fromkeys(("mixed_5b", "mixed_5c", "mixed_5d", "mixed_5e"), _INCEPTION_A),
    "mixed_6a": _reduction_a(k=192, l=224, m=256, n=384),
    **dict.fromkeys([f"mixed_6{letter}" for letter in "bcdefgh"], _INCEPTION_B),
    "mixed_7a": (  # figure 8
        (Conv(192, 1), Conv(192, 3, **_REDUCE)),
        (Conv(256, 1), Conv(256, (1, 7)), Conv(320, (7, 1)), Conv(320, 3, **_REDUCE)),
        (Pool("max"),),
    ),
    **dict.fromkeys(("mixed_7b", "mixed_7c", "mixed_7d"), _INCEPTION_C),
}

# Inception-ResNet-v1's stem (figure 14): `STEM` with a 3x3/2 convolution to 256 channels in place
# of the last pooling: 71 -> 35.
INCEPTION_RESNET_V1_STEM: tuple[tuple[str, Step], ...] = (
    *STEM[:-1],
    ("conv_4b", Conv(256, 3, **_REDUCE)),
)

# Szegedy et al. 2016: the residual branches of the Inception-ResNet-A, -B and -C blocks
# (figures 10, 11, 13) and the reductions (figure 7 with table 1's widths, figure 12), as in
# facenet's TF-slim inception_resnet_v1.
INCEPTION_RESNET_V1_BLOCKS: dict[str, Block] = {
    "block35": (
        (Conv(32, 1),),
        (Conv(32, 1), Conv(32, 3)),
        (Conv(32, 1), Conv(32, 3), Conv(32, 3)),
    ),
    "mixed_6a": _reduction_a(k=192, l=192, m=256, n=384),
    "block17": (
        (Conv(128, 1),),
        (Conv(128, 1), Conv(128, (1, 7)), Conv(128, (7, 1))),
    ),
    "mixed_7a": (
        (Conv(256, 1), Conv(384, 3, **_REDUCE)),
        (Conv(256, 1), Conv(256, 3, **_REDUCE)),
        (Conv(256, 1), Conv(256, 3), Conv(256, 3, **_REDUCE)),
        (Pool("max"),),
    ),
    "block8": (
        (Conv(192, 1),),
        (Conv(192, 1), Conv(192, (1, 3)), Conv(192, (3, 1))),
    ),
}


def conv_bn(x: Any, conv: Conv, *, name: str, bn_scale: bool = False) -> Any:
    """Convolution without bias, BatchNorm (epsilon 1e-3) and ReLU.

    Without `bn_scale`, the unit of keras.applications' ``conv2d_bn`` in Inception-v3 and
    Inception-ResNet-v2 (and of TF-slim and facenet); with it, that of timm's ``ConvNormAct``,
    whose BatchNorm learns a scale, as in timm's Inception-v4.

    Args:
        x: Input tensor (channels last).
        conv: The convolution.
        name: Name of the Conv2D layer; the others are ``<name>_bn`` and ``<name>_ac``.
        bn_scale: Whether the BatchNorm learns a scale (gamma) besides its offset.

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
    x = keras.layers.BatchNormalization(scale=bn_scale, epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_ac")(x)


def _pool(x: Any, pool: Pool, name: str, style: _Convention) -> Any:
    if pool.kind == "avg" and style.pool_counts_padding:
        x = keras.layers.ZeroPadding2D(1, name=name.removesuffix("_pool") + "_pad")(x)
        return keras.layers.AveragePooling2D(3, strides=1, padding="valid", name=name)(x)
    if pool.kind == "avg":
        return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)
    if pool.kind == "max":
        return keras.layers.MaxPooling2D(3, strides=2, name=name)(x)
    raise ValueError(f"Pool kind {pool.kind!r} must be 'avg' or 'max'")


def _branch(x: Any, steps: tuple[Step, ...], prefix: str, style: _Convention) -> Any:
    convs = 0
    for step in steps:
        if isinstance(step, Pool):
            x = _pool(x, step, f"{prefix}_pool", style)
            continue
        convs += 1
        if isinstance(step, Fork):
            halves = [
                conv_bn(x, conv, name=f"{prefix}_conv{convs}{half}", bn_scale=style.bn_scale)
                for half, conv in zip("ab", step.convs, strict=True)
            ]
            x = keras.layers.Concatenate(name=step.name or f"{prefix}_concat")(halves)
        else:
            x = conv_bn(x, step, name=f"{prefix}_conv{convs}", bn_scale=style.bn_scale)
    return x


def _branches(x: Any, block: Block, name: str, style: _Convention) -> list[Any]:
    return [_branch(x, steps, f"{name}_branch{index}", style) for index, steps in enumerate(block)]


def _inception_block(x: Any, block: Block, name: str, style: _Convention = _KERAS) -> Any:
    return keras.layers.Concatenate(name=name)(_branches(x, block, name, style))


def _residual_block(x: Any, block: Block, name: str, *, scale: float, relu: bool = True) -> Any:
    """``relu(x + scale * conv1x1(concat(branches(x))))``, the conv with bias and no BatchNorm."""
    mixed = keras.layers.Concatenate(name=f"{name}_mixed")(_branches(x, block, name, _KERAS))
    residual = keras.layers.Conv2D(x.shape[-1], 1, padding="same", name=f"{name}_conv")(mixed)
    x = ScaledResidual(scale, name=f"{name}_residual")([x, residual])
    return keras.layers.Activation("relu", name=f"{name}_ac")(x) if relu else x


def _stem(x: Any, steps: tuple[tuple[str, Step], ...], style: _Convention = _KERAS) -> Any:
    for name, step in steps:
        if isinstance(step, Pool):
            x = _pool(x, step, name, style)
        else:
            x = conv_bn(x, step, name=name, bn_scale=style.bn_scale)
    return x


def _inception_v3_features(style: _Convention) -> Callable[[Any], Any]:
    def features(x: Any) -> Any:
        x = _stem(x, STEM, style)
        for name, block in INCEPTION_V3_BLOCKS.items():
            x = _inception_block(x, block, name, style)
        return x

    return features


def _inception_v4_features(x: Any) -> Any:
    x = _stem(x, INCEPTION_V4_STEM, _TIMM)
    for name, block in INCEPTION_V4_BLOCKS.items():
        x = _inception_block(x, block, name, _TIMM)
    return x


def _inception_resnet_stages(
    x: Any, blocks: dict[str, Block], repeats: tuple[int, int, int]
) -> Any:
    """The residual stages and the reductions between them, as in TF-slim.

    `repeats` counts the Inception-ResNet-A, -B and -C blocks; they scale their residuals by 0.17,
    0.1 and 0.2 (section 3.3), except the last block, which adds unscaled and without ReLU.
    """
    blocks_a, blocks_b, blocks_c = repeats
    for index in range(1, blocks_a + 1):
        x = _residual_block(x, blocks["block35"], f"block35_{index}", scale=0.17)
    x = _inception_block(x, blocks["mixed_6a"], "mixed_6a")
    for index in range(1, blocks_b + 1):
        x = _residual_block(x, blocks["block17"], f"block17_{index}", scale=0.1)
    x = _inception_block(x, blocks["mixed_7a"], "mixed_7a")
    for index in range(1, blocks_c):
        x = _residual_block(x, blocks["block8"], f"block8_{index}", scale=0.2)
    return _residual_block(x, blocks["block8"], f"block8_{blocks_c}", scale=1.0, relu=False)


def _inception_resnet_v1_features(x: Any) -> Any:
    # facenet's (TF-slim) layout: 5 and 10 blocks as in figure 15, then 5 scaled -C blocks and
    # a sixth, linear one.
    x = _stem(x, INCEPTION_RESNET_V1_STEM)
    return _inception_resnet_stages(x, INCEPTION_RESNET_V1_BLOCKS, (5, 10, 6))


def _inception_resnet_v2_features(x: Any) -> Any:
    blocks = INCEPTION_RESNET_V2_BLOCKS
    x = _inception_block(_stem(x, STEM), blocks["mixed_5b"], "mixed_5b")
    # TF-slim's and keras' 10, 20 and 10 blocks, twice figure 15's 5, 10 and 5.
    x = _inception_resnet_stages(x, blocks, (10, 20, 10))
    return conv_bn(x, Conv(1536, 1), name="conv_7b")


# What Inception-v4 and both Inception-ResNets share in the registry: the paper, the 299x299
# input and 75x75, the smallest input their valid-padded stems and reductions process.
_SZEGEDY_2016: dict[str, Any] = {
    "paper": (
        "Szegedy et al., Inception-v4, Inception-ResNet and the Impact of Residual Connections "
        "on Learning"
    ),
    "year": 2016,
    "default_size": (299, 299, 3),
    "min_size": 75,
    "fixed_size_top": False,
}


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


def _inception_v3_torch_spec() -> TorchSpec:
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
        name="inception_v3",
        zoo_model='zoo.inception_v3(variant="torchvision")',
        rename=(*rename, (r"fc", "predictions")),
        bn_epsilon=_BN_EPSILON,
        heads=(r"fc", r"AuxLogits\..*"),
    )


@zoo_model(
    paper="Szegedy et al., Rethinking the Inception Architecture for Computer Vision",
    year=2015,
    default_size=(299, 299, 3),
    min_size=75,
    params=23_851_784,
    # keras.applications' weights, converted from TF-slim's checkpoints (Apache-2.0; top-1 from
    # keras.io/api/applications), and torchvision's port of Google's weights (acc@1 from its
    # IMAGENET1K_V1 metadata; trained with transform_input=True, evaluated at 342 -> 299).
    weights=[
        keras_applications_weights(
            directory="inception_v3",
            stem="inception_v3",
            md5="9a0d58056eeedaa3f26cb7ebd46da564",
            md5_notop="bcbd6486424b2319ff4ef7d526e38f63",
            input_shape=(299, 299, 3),
            licence="Apache-2.0",
            preprocessing=TF,
            top1=77.9,
            options={"variant": "keras"},
        ),
        torchvision_weights(
            file="inception_v3_google-0cc3c7bd.pth",
            converter=_inception_v3_torch_spec(),
            top1=77.294,
            tag="imagenet_torchvision",
            input_shape=(299, 299, 3),
            preprocessing=TORCH_INCEPTION,
            options={"variant": "torchvision"},
        ),
    ],
    fixed_size_top=False,
    feature_taps=[
        ("conv_2b_ac", 2, 64),
        ("conv_4a_ac", 4, 192),
        ("mixed2", 8, 288),
        ("mixed7", 16, 768),
        ("mixed10", 32, 2048),
    ],
)
def inception_v3(*, variant: str = "keras") -> Architecture:
    """Inception-v3 (Szegedy et al., CVPR 2016; arXiv:1512.00567, 2015), as in keras or torchvision.

    A seven-layer stem takes 299x299 inputs to 35x35; three Inception blocks at 35x35, a
    grid-size reduction, four blocks at 17x17 whose 7x7 convolutions are factorized into 1x7 and
    7x1, a second reduction and two 8x8 blocks with expanded 1x3 / 3x1 filter banks; BatchNorm
    after every convolution, global average pooling and the classifier; 23,851,784 parameters.
    The ``"keras"`` variant's layers, order and weights equal ``keras.applications.InceptionV3``
    (the TF-slim model, without the auxiliary classifier), so its weights files load; the
    ``"torchvision"`` variant computes torchvision's ``inception_v3`` (without ``AuxLogits``),
    into which `zoo.convert.load_torch_weights` loads its state dicts: 23,834,568 trainable
    weights, 23,869,000 with the BatchNorm statistics.

    Args:
        variant: ``"keras"`` (keras.applications, TF-slim: BatchNorm without scale, average
            pools over the pixels inside the input only) or ``"torchvision"`` (BatchNorm with
            scale, average pools that count the zero padding, dropout 0.5 before the classifier).
    """
    if variant not in _CONVENTIONS:
        raise ValueError(f"variant={variant!r} must be one of {tuple(_CONVENTIONS)}")
    style = _CONVENTIONS[variant]
    return Architecture(
        features=_inception_v3_features(style), top=pooled_dropout_top(style.dropout)
    )


@zoo_model(
    **_SZEGEDY_2016,
    params=42_742_984,
    feature_taps=[
        ("conv_2b_ac", 2, 64),
        ("mixed_3a", 4, 160),
        ("mixed_5e", 8, 384),
        ("mixed_6h", 16, 1024),
        ("mixed_7d", 32, 1536),
    ],
)
def inception_v4(*, dropout: float = 0.2) -> Architecture:
    """Inception-v4 (Szegedy, Ioffe, Vanhoucke and Alemi, AAAI 2017; arXiv:1602.07261, 2016).

    Figure 9 of the paper: a stem of three convolutions and three blocks that each put a
    convolution beside a pooling or another convolution (figure 3; 299 -> 35x35x384), 4
    Inception-A blocks, Reduction-A (k=192, l=224, m=256, n=384; 17x17x1024), 7 Inception-B
    blocks with 1x7 / 7x1 convolutions, Reduction-B (8x8x1536) and 3 Inception-C blocks with
    expanded 1x3 / 3x1 filter banks; BatchNorm after every convolution, global average pooling,
    dropout and the classifier. Widths and padding are those of TF-slim's ``inception_v4`` as timm
    ports it; the BatchNorm learns a scale as in timm, whose count it matches: 42,679,816
    trainable weights (42,742,984 with the BatchNorm statistics).

    Args:
        dropout: Dropout rate before the classifier (the paper keeps 0.8 of the units).
    """
    return Architecture(features=_inception_v4_features, top=pooled_dropout_top(dropout))


@zoo_model(
    **_SZEGEDY_2016,
    params=24_371_384,
    feature_taps=[
        ("conv_2b_ac", 2, 64),
        ("conv_4a_ac", 4, 192),
        ("block35_5_ac", 8, 256),
        ("block17_10_ac", 16, 896),
        ("block8_6_residual", 32, 1792),
    ],
)
def inception_resnet_v1(*, dropout: float = 0.2) -> Architecture:
    """Inception-ResNet-v1 (Szegedy, Ioffe, Vanhoucke and Alemi, AAAI 2017; arXiv:1602.07261).

    Figure 15 of the paper with Inception-ResNet-v1's components: a stem of six convolutions and a
    pooling (figure 14; 299 -> 35x35x256), 5 Inception-ResNet-A blocks, Reduction-A (k=192,
    l=192, m=256, n=384; 17x17x896), 10 Inception-ResNet-B blocks, Reduction-B (8x8x1792) and
    Inception-ResNet-C blocks, each adding its branches' 1x1 projection to its input scaled by
    0.17, 0.1 and 0.2 (section 3.3); global average pooling, dropout and the classifier;
    24,371,384 parameters. The layout is that of facenet's TF-slim ``inception_resnet_v1`` (also
    facenet-pytorch's), whose weights its backbone fits: after the five scaled -C blocks of the
    figure, a sixth adds unscaled and without ReLU.

    Args:
        dropout: Dropout rate before the classifier (the paper keeps 0.8 of the units).
    """
    return Architecture(features=_inception_resnet_v1_features, top=pooled_dropout_top(dropout))


@zoo_model(
    **_SZEGEDY_2016,
    params=55_873_736,
    weights=[
        keras_applications_weights(
            directory="inception_resnet_v2",
            stem="inception_resnet_v2",
            md5="e693bd0210a403b3192acc6073ad2e96",
            md5_notop="d19885ff4a710c122648d3b5c3b684e4",
            input_shape=(299, 299, 3),
            licence="Apache-2.0",
            preprocessing=TF,
            top1=80.3,
        )
    ],
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
