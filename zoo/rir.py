"""ResNet in ResNet (RiR): generalized residual blocks with a residual and a transient stream.

Targ, Almeida & Lyman, "Resnet in Resnet: Generalizing Residual Architectures", ICLR 2016
workshop track, arXiv:1603.08029. A *generalized residual block* (the paper's figure 1b and
equation 1) carries two streams of equal width, a residual stream ``r`` with an identity shortcut
and a transient stream ``t`` without one; four convolutions mix them::

    r' = relu(bn(conv(r, W_rr) + conv(t, W_tr) + shortcut(r)))
    t' = relu(bn(conv(r, W_rt) + conv(t, W_tt)))

The same-stream and cross-stream sums are batch-normalized and rectified per stream (BatchNorm is
per channel, so one BatchNorm over both streams would be the same thing). A *RiR block*
(figure 1d) replaces each convolution of a two-layer ResNet block by a generalized residual block
and keeps the ResNet block's outer shortcut on the residual stream.

The building blocks work on the pair ``(r, t)`` (`generalized_residual_block`, `rir_block`) and on
the concatenation ``[r | t]`` (`resnet_init_block`, the paper's "ResNet Init": one convolution
whose kernel starts as random weights plus the identity from residual inputs to residual outputs,
which computes exactly a generalized residual block with an identity shortcut), so they fit into
other networks. `SplitStreams` turns any feature map into the two streams (the first half of the
channels is the residual stream) and ``keras.layers.Concatenate`` merges them.

Design choices where the paper leaves room (it describes its CIFAR network only as "18-layer +
wide"): the CIFAR network follows the two public re-implementations (nutszebra/resnet_in_resnet,
weiaicunzai/pytorch-cifar100): a 3x3 stem convolution per stream, then 8 RiR blocks of two
generalized residual blocks (2 blocks of 96 channels, 3 of 192, 3 of 384; 48/96/192 per stream),
downsampling by 2 in the first block of stages 2 and 3, i.e. 1 + 16 convolution layers + the
classifier = 18 layers. Where a block changes shape its shortcuts are projections (1x1
convolutions with the block's stride, He et al. 2015 option B), the outer one followed by
BatchNorm as it is added after the last block's ReLU. Convolutions have no bias (BatchNorm
follows) and He-normal ("MSR") initialization, as in the paper's training setup. The top is global
average pooling and a dense classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from zoo.builder import Architecture, zoo_model
from zoo.heads import pooled_top
from zoo.layers import centre_tap_kernel

__all__ = [
    "RIR_CIFAR_STAGES",
    "ResNetInit",
    "SplitStreams",
    "cifar_rir18",
    "generalized_residual_block",
    "resnet_init_block",
    "rir_block",
]

# The "18-layer + wide" CIFAR network: (channels of both streams together, RiR blocks) per stage.
RIR_CIFAR_STAGES: tuple[tuple[int, int], ...] = ((96, 2), (192, 3), (384, 3))
_BN_EPSILON = 1e-5
_INIT = "he_normal"


@keras.saving.register_keras_serializable(package="kerazoo")
class SplitStreams(keras.layers.Layer):
    """Splits a feature map ``[r | t]`` into the residual and the transient stream.

    The first half of the channels is the residual stream ``r``, the second the transient stream
    ``t``: the layout `resnet_init_block` and ``Concatenate()([r, t])`` use. Expects channels-last
    inputs with an even number of channels.

    Args:
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> r, t = SplitStreams()(np.ones((1, 4, 4, 6), "float32"))
        >>> r.shape, t.shape
        (TensorShape([1, 4, 4, 3]), TensorShape([1, 4, 4, 3]))
    """

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Checks that the channels split evenly."""
        if input_shape[-1] is None or input_shape[-1] % 2:
            raise ValueError(
                f"SplitStreams needs an even number of channels, got input shape {input_shape}"
            )
        self.built = True

    def call(self, inputs: Any) -> tuple[Any, Any]:
        """Returns ``(r, t)``."""
        half = inputs.shape[-1] // 2
        return inputs[..., :half], inputs[..., half:]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[tuple, tuple]:
        """Both streams have half the channels."""
        stream = (*input_shape[:-1], input_shape[-1] // 2)
        return stream, stream


@keras.saving.register_keras_serializable(package="kerazoo")
class ResNetInit(keras.initializers.Initializer):
    """The paper's "ResNet Init": a random kernel plus the identity on the residual stream.

    For a convolution kernel ``(rows, cols, in, out)`` whose input and output channels are laid
    out ``[r | t]`` (half and half), adds 1 at the centre tap from residual input channel ``i`` to
    residual output channel ``i`` for ``i < min(in, out) // 2``. A convolution so initialized,
    followed by BatchNorm and ReLU, starts out as a generalized residual block with an identity
    shortcut (where the widths differ, the identity with zero padding; with a stride, the
    identity subsampled); training then treats the identity as an ordinary weight, so that L2
    weight decay pulls it towards zero, which the explicit shortcut of
    `generalized_residual_block` avoids.

    Args:
        base: Initializer of the random part (name, config or instance); the paper uses
            He-normal ("MSR") initialization.

    Example:
        >>> conv = keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=ResNetInit())
    """

    def __init__(self, base: str | dict | keras.initializers.Initializer = _INIT) -> None:
        self.base = keras.initializers.get(base)

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        """Returns the base kernel plus the residual identity."""

        def residual_identity(inputs: int, outputs: int) -> Any:
            identity = ops.eye(inputs, outputs, dtype=dtype)
            residual = min(inputs, outputs) // 2
            return identity * ops.cast(ops.arange(inputs) < residual, identity.dtype)[:, None]

        centre = centre_tap_kernel(shape, residual_identity, owner="ResNetInit")
        return self.base(shape, dtype=dtype) + centre

    def get_config(self) -> dict[str, Any]:
        """The base initializer, serialized."""
        return {"base": keras.initializers.serialize(self.base)}


def _check_filters(filters: Any, label: str = "filters") -> None:
    if not isinstance(filters, int) or isinstance(filters, bool) or filters < 2 or filters % 2:
        raise ValueError(
            f"{label}={filters!r} must be a positive even int (half per stream, as in the paper)"
        )


def _padded(x: Any, stride: int, name: str) -> tuple[Any, str]:
    """Input and padding mode of a 3x3 convolution, padded symmetrically when strided."""
    if stride == 1:
        return x, "same"
    return keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x), "valid"


def _conv(x: Any, filters: int, kernel: int, stride: int, padding: str, name: str) -> Any:
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer=_INIT,
        name=name,
    )(x)


def _bn_relu(x: Any, name: str) -> Any:
    x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def generalized_residual_block(
    streams: tuple[Any, Any], filters: int, *, stride: int = 1, name: str
) -> tuple[Any, Any]:
    """One generalized residual block (Targ et al. 2016, equation 1 and figure 1b).

    ``r' = relu(bn(conv(r, W_rr) + conv(t, W_tr) + shortcut(r)))`` and
    ``t' = relu(bn(conv(r, W_rt) + conv(t, W_tt)))`` with 3x3 convolutions. The shortcut is the
    identity, or a 1x1 projection with the block's stride where the shape changes.

    Layers: ``{name}_rr_conv``, ``{name}_tr_conv`` (into ``r``), ``{name}_rt_conv``,
    ``{name}_tt_conv`` (into ``t``), ``{name}_shortcut`` (projection), ``{name}_r_sum`` /
    ``{name}_t_sum``, ``{name}_r_bn`` / ``{name}_t_bn``, ``{name}_r_relu`` / ``{name}_t_relu``.

    Args:
        streams: ``(r, t)``, two channels-last tensors of the same shape.
        filters: Channels of both output streams together; each stream gets half.
        stride: Stride of the convolutions (1 or 2).
        name: Prefix of the layer names.

    Returns:
        ``(r', t')``.

    Example:
        >>> r, t = keras.Input((32, 32, 48)), keras.Input((32, 32, 48))
        >>> r, t = generalized_residual_block((r, t), 192, stride=2, name="block")
        >>> r.shape
        (None, 16, 16, 96)
    """
    _check_filters(filters)
    r, t = streams
    if tuple(r.shape[1:]) != tuple(t.shape[1:]):
        raise ValueError(
            f"the streams of {name} must have equal shapes, got r {r.shape} and t {t.shape}"
        )
    half = filters // 2
    r_in, padding = _padded(r, stride, f"{name}_r")
    t_in, _ = _padded(t, stride, f"{name}_t")
    shortcut = r
    if stride != 1 or r.shape[-1] != half:
        shortcut = _conv(r, half, 1, stride, "valid", f"{name}_shortcut")
    r_sum = keras.layers.Add(name=f"{name}_r_sum")(
        [
            _conv(r_in, half, 3, stride, padding, f"{name}_rr_conv"),
            _conv(t_in, half, 3, stride, padding, f"{name}_tr_conv"),
            shortcut,
        ]
    )
    t_sum = keras.layers.Add(name=f"{name}_t_sum")(
        [
            _conv(r_in, half, 3, stride, padding, f"{name}_rt_conv"),
            _conv(t_in, half, 3, stride, padding, f"{name}_tt_conv"),
        ]
    )
    return _bn_relu(r_sum, f"{name}_r"), _bn_relu(t_sum, f"{name}_t")


def rir_block(
    streams: tuple[Any, Any], filters: int, *, stride: int = 1, depth: int = 2, name: str
) -> tuple[Any, Any]:
    """A RiR block: generalized residual blocks inside a ResNet block's shortcut (figure 1d).

    `depth` generalized residual blocks (the first with the stride), then the outer shortcut --
    the identity, or where the shape changes a 1x1 projection with the stride and BatchNorm --
    is added to the residual stream: ``r_out = r_depth + shortcut(r_in)``; the transient
    stream leaves the block as the last generalized block made it.

    Layers: ``{name}_g1_...`` ... ``{name}_g{depth}_...`` (see `generalized_residual_block`),
    ``{name}_shortcut_conv``, ``{name}_shortcut_bn`` and ``{name}_add`` (the residual stream's
    output).

    Args:
        streams: ``(r, t)``.
        filters: Channels of both output streams together.
        stride: Stride of the first generalized residual block (1 or 2).
        depth: Number of generalized residual blocks (2 in the paper, as in a ResNet block).
        name: Prefix of the layer names.

    Returns:
        ``(r_out, t_out)``.

    Example:
        >>> r, t = keras.Input((8, 8, 16)), keras.Input((8, 8, 16))
        >>> r, t = rir_block((r, t), 32, name="rir1")
        >>> r.shape, t.shape
        ((None, 8, 8, 16), (None, 8, 8, 16))
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth={depth!r} must be a positive int")
    r_in = streams[0]
    for index in range(1, depth + 1):
        streams = generalized_residual_block(
            streams, filters, stride=stride if index == 1 else 1, name=f"{name}_g{index}"
        )
    r, t = streams
    shortcut = r_in
    if stride != 1 or r_in.shape[-1] != r.shape[-1]:
        shortcut = _conv(r_in, r.shape[-1], 1, stride, "valid", f"{name}_shortcut_conv")
        shortcut = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_shortcut_bn")(
            shortcut
        )
    return keras.layers.Add(name=f"{name}_add")([r, shortcut]), t


def resnet_init_block(x: Any, filters: int, *, stride: int = 1, name: str) -> Any:
    """A generalized residual block as one convolution with `ResNetInit` ("ResNet Init").

    Works on the concatenation ``[r | t]``: a 3x3 convolution ``{name}_conv`` whose kernel is
    ``[[W_rr, W_rt], [W_tr, W_tt]]`` plus the residual identity, then ``{name}_bn`` and
    ``{name}_relu``. With equal input and output widths and stride 1 it computes exactly what
    `generalized_residual_block` computes on ``(r, t)`` with the four kernels, and costs what
    one plain convolution costs; a drop-in for a Conv-BN-ReLU unit of any network.

    Args:
        x: A channels-last tensor ``[r | t]``.
        filters: Output channels (both streams); even.
        stride: Convolution stride (1 or 2).
        name: Prefix of the layer names.

    Returns:
        The output ``[r' | t']``.

    Example:
        >>> x = resnet_init_block(keras.Input((16, 16, 32)), 32, name="layer1")
    """
    _check_filters(filters)
    x, padding = _padded(x, stride, name)
    x = keras.layers.Conv2D(
        filters,
        3,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer=ResNetInit(),
        name=f"{name}_conv",
    )(x)
    return _bn_relu(x, name)


def _stem(x: Any, filters: int) -> tuple[Any, Any]:
    """One 3x3 convolution + BatchNorm + ReLU per stream, both reading the image."""
    half = filters // 2
    r = _bn_relu(_conv(x, half, 3, 1, "same", "stem_r_conv"), "stem_r")
    t = _bn_relu(_conv(x, half, 3, 1, "same", "stem_t_conv"), "stem_t")
    return r, t


def _rir_cifar(stages: Sequence[tuple[int, int]]) -> Any:
    def features(x: Any) -> Any:
        streams = _stem(x, stages[0][0])
        for stage, (filters, blocks) in enumerate(stages, start=1):
            if stage > 1:
                # Stage outputs are single tensors so that they can be tapped; split them again.
                streams = SplitStreams(name=f"stage{stage}_split")(x)
            for index in range(1, blocks + 1):
                stride = 2 if index == 1 and stage > 1 else 1
                streams = rir_block(
                    streams, filters, stride=stride, name=f"stage{stage}_block{index}"
                )
            x = keras.layers.Concatenate(name=f"stage{stage}_out")(list(streams))
        return x

    return features


def _stages(width: int) -> tuple[tuple[int, int], ...]:
    scale = RIR_CIFAR_STAGES[0][0]
    return tuple((filters * width // scale, blocks) for filters, blocks in RIR_CIFAR_STAGES)


@zoo_model(
    paper="Targ, Almeida & Lyman, Resnet in Resnet: Generalizing Residual Architectures",
    year=2016,
    default_size=(32, 32, 3),
    min_size=4,
    # Computed from the layer sizes (no published count fits this reading of the paper; see
    # tests/zoo/test_models.py): 9,458,208 conv weights + 46,080 projection weights + 16,896
    # BatchNorm entries + 3,850 in the classifier.
    params=9_525_034,
    default_classes=10,
    fixed_size_top=False,
    feature_taps=[("stage1_out", 1, 96), ("stage2_out", 2, 192), ("stage3_out", 4, 384)],
)
def cifar_rir18(*, width: int = 96) -> Architecture:
    """The 18-layer + wide RiR of Targ, Almeida & Lyman (ICLR 2016 workshop, arXiv:1603.08029).

    ResNet in ResNet for 32x32 images: a 3x3 convolution per stream, then 8 RiR blocks -- each
    two generalized residual blocks (a residual and a transient stream of equal width, four
    3x3 convolutions mixing them) inside a ResNet shortcut -- in 3 stages of 2, 3 and 3 blocks
    on 32x32, 16x16 and 8x8 maps, global average pooling and a dense classifier. The paper
    reports 94.99% on CIFAR-10 and 77.10% on CIFAR-100 with it.

    Args:
        width: Channels of the first stage, both streams together (96 is the paper's "wide"
            network); the stages have ``width``, ``2 * width`` and ``4 * width`` channels. A
            positive multiple of 2.
    """
    _check_filters(width, "width")
    return Architecture(features=_rir_cifar(_stages(width)), top=pooled_top)
