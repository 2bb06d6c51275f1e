"""Residual networks: ResNet v1 (18-152), ResNet v2 (pre-activation, 50-152) and the CIFAR ResNets.

ResNet v1 comes in two conventions, selected by ``variant``, so that either published set of
ImageNet weights loads:

- ``"keras"``: keras.applications' ResNet50/101/152 -- convolutions with biases, BatchNorm
  epsilon 1.001e-5, the stride of a bottleneck on its first 1x1 convolution (as in the paper and
  the original Caffe models). Layer names equal keras.applications'.
- ``"torchvision"``: torchvision's ResNets ("ResNet v1.5") -- no convolution biases, epsilon 1e-5,
  the stride on the 3x3 convolution, with torch's symmetric padding.

ResNet v2 follows keras.applications' ResNet50V2/101V2/152V2 (layer names and weight order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.heads import pooled_top
from zoo.layers import PadChannels
from zoo.preprocessing import CAFFE, TF
from zoo.registry import TorchSpec, WeightsSpec
from zoo.weights import keras_applications_weights, torchvision_weights

__all__ = [
    "CIFAR_DEPTHS",
    "RESNET_CONFIGS",
    "RESNET_V2_CONFIGS",
    "cifar_resnet20",
    "cifar_resnet32",
    "cifar_resnet44",
    "cifar_resnet56",
    "cifar_resnet110",
    "cifar_resnet1202",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet50_v2",
    "resnet101",
    "resnet101_v2",
    "resnet152",
    "resnet152_v2",
]


@dataclasses.dataclass(frozen=True)
class _Convention:
    """How a published implementation builds its convolutions and BatchNorm layers."""

    use_bias: bool
    epsilon: float
    stride_on_3x3: bool


_CONVENTIONS = {
    "keras": _Convention(use_bias=True, epsilon=1.001e-5, stride_on_3x3=False),
    "torchvision": _Convention(use_bias=False, epsilon=1e-5, stride_on_3x3=True),
}
# He et al. 2015, table 1: block type and number of blocks per stage (conv2_x ... conv5_x).
RESNET_CONFIGS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
RESNET_V2_CONFIGS: dict[int, tuple[int, ...]] = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
# He et al. 2015, section 4.2: 6n + 2 layers on 32x32 images.
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)
_WIDTHS = (64, 128, 256, 512)


def _conv(x: Any, filters: int, kernel: int, stride: int, name: str, *, use_bias: bool) -> Any:
    """A convolution named ``{name}_conv``, padded symmetrically like torch when strided."""
    padding = "same" if kernel > 1 else "valid"
    if kernel > 1 and stride > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, use_bias=use_bias, name=f"{name}_conv"
    )(x)


def _conv_bn(
    x: Any, filters: int, kernel: int, stride: int, name: str, style: _Convention, relu: bool
) -> Any:
    x = _conv(x, filters, kernel, stride, name, use_bias=style.use_bias)
    x = keras.layers.BatchNormalization(epsilon=style.epsilon, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _stem_pool(x: Any) -> Any:
    """The stem's 3x3/2 max pooling with one pixel of padding (zero is safe after ReLU)."""
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return keras.layers.MaxPooling2D(3, 2, name="pool1_pool")(x)


def _residual_out(shortcut: Any, x: Any, name: str) -> Any:
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def _bottleneck(x: Any, filters: int, stride: int, name: str, style: _Convention) -> Any:
    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = _conv_bn(x, 4 * filters, 1, stride, f"{name}_0", style, relu=False)
    stride_1x1, stride_3x3 = (1, stride) if style.stride_on_3x3 else (stride, 1)
    x = _conv_bn(x, filters, 1, stride_1x1, f"{name}_1", style, relu=True)
    x = _conv_bn(x, filters, 3, stride_3x3, f"{name}_2", style, relu=True)
    x = _conv_bn(x, 4 * filters, 1, 1, f"{name}_3", style, relu=False)
    return _residual_out(shortcut, x, name)


def _basic(x: Any, filters: int, stride: int, name: str, style: _Convention) -> Any:
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, stride, f"{name}_0", style, relu=False)
    x = _conv_bn(x, filters, 3, stride, f"{name}_1", style, relu=True)
    x = _conv_bn(x, filters, 3, 1, f"{name}_2", style, relu=False)
    return _residual_out(shortcut, x, name)


def _resnet_v1(block: str, depths: Sequence[int], style: _Convention) -> Callable[[Any], Any]:
    block_fn = _bottleneck if block == "bottleneck" else _basic

    def features(x: Any) -> Any:
        x = _stem_pool(_conv_bn(x, 64, 7, 2, "conv1", style, relu=True))
        for stage, (width, blocks) in enumerate(zip(_WIDTHS, depths, strict=True), start=2):
            for index in range(1, blocks + 1):
                stride = 2 if index == 1 and stage > 2 else 1
                x = block_fn(x, width, stride, f"conv{stage}_block{index}", style)
        return x

    return features


def _block_v2(x: Any, filters: int, stride: int, conv_shortcut: bool, name: str) -> Any:
    """keras.applications' pre-activation bottleneck; its stride sits on the last block."""
    preact = keras.layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_preact_bn")(x)
    preact = keras.layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = keras.layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(
            preact
        )
    elif stride > 1:
        shortcut = keras.layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    else:
        shortcut = x
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = keras.layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_1_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_2_pad")(x)
    x = keras.layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_2_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = keras.layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return keras.layers.Add(name=f"{name}_out")([shortcut, x])


def _resnet_v2(depths: Sequence[int]) -> Callable[[Any], Any]:
    def features(x: Any) -> Any:
        x = _stem_pool(_conv(x, 64, 7, 2, "conv1", use_bias=True))
        for stage, (width, blocks) in enumerate(zip(_WIDTHS, depths, strict=True), start=2):
            for index in range(1, blocks + 1):
                stride = 2 if index == blocks and stage < 5 else 1
                name = f"conv{stage}_block{index}"
                x = _block_v2(x, width, stride, conv_shortcut=index == 1, name=name)
        x = keras.layers.BatchNormalization(epsilon=1.001e-5, name="post_bn")(x)
        return keras.layers.Activation("relu", name="post_relu")(x)

    return features


def _cifar_block(x: Any, filters: int, stride: int, name: str) -> Any:
    """Basic block whose shortcut is the paper's option A: subsample, then zero-pad channels."""
    shortcut = x
    if stride > 1:
        shortcut = keras.layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(shortcut)
    if x.shape[-1] != filters:
        shortcut = PadChannels(filters, name=f"{name}_0_pad")(shortcut)
    style = _CONVENTIONS["torchvision"]
    x = _conv_bn(x, filters, 3, stride, f"{name}_1", style, relu=True)
    x = _conv_bn(x, filters, 3, 1, f"{name}_2", style, relu=False)
    return _residual_out(shortcut, x, name)


def _cifar_resnet(blocks: int) -> Callable[[Any], Any]:
    def features(x: Any) -> Any:
        x = _conv_bn(x, 16, 3, 1, "conv1", _CONVENTIONS["torchvision"], relu=True)
        for stage, width in enumerate((16, 32, 64), start=2):
            for index in range(1, blocks + 1):
                stride = 2 if index == 1 and stage > 2 else 1
                x = _cifar_block(x, width, stride, f"conv{stage}_block{index}")
        return x

    return features


_V1_DOC = """ResNet-{depth} (He et al., "Deep Residual Learning for Image Recognition", 2015).

    {blocks} residual blocks in four stages of {widths} channels after a 7x7/2 convolution
    and 3x3/2 max pooling; global average pooling and a dense classifier.

    Args:
        variant: ``"keras"`` (keras.applications: conv biases, stride on the first 1x1) or
            ``"torchvision"`` (no conv biases, stride on the 3x3 -- "ResNet v1.5"). The default
            is the convention of the published weights this depth is usually taken from.
    """

_V2_DOC = """ResNet-{depth} v2 (He et al., "Identity Mappings in Deep Residual Networks", 2016).

    Pre-activation bottleneck blocks (BatchNorm and ReLU before each convolution, clean identity
    shortcuts), as keras.applications' ResNet{depth}V2: downsampling on the last block of
    stages 2-4, a final BatchNorm + ReLU, global average pooling and a dense classifier.
    """

_CIFAR_DOC = """CIFAR ResNet-{depth} (He, Zhang, Ren & Sun, 2015, section 4.2 and table 6).

    A 3x3 convolution, then 3 stages of {blocks} basic blocks with 16, 32 and 64 filters on
    32x32, 16x16 and 8x8 maps ({depth} = 6 * {blocks} + 2 layers), global average pooling and a
    dense classifier. Shortcuts are the paper's option A: identity, subsampled and zero-padded
    in channels where the shape changes, so they add no parameters. ResNet-1202's graph is deeper
    than Python's default recursion limit allows Keras to load: raise it
    (``sys.setrecursionlimit(20_000)``) before ``keras.saving.load_model`` on its files.
    """


# keras.applications' ImageNet weights: (published MD5 with top, without top, top-1 from
# keras.io/api/applications). ResNet v1's come from the authors' Caffe models (MIT licence,
# KaimingHe/deep-residual-networks) and fit the "keras" variant; v2's are published by
# keras-applications (MIT) with no licence of their own.
_KERAS_V1 = {
    50: ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626", 74.9),
    101: ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21", 76.4),
    152: ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c", 76.6),
}
_KERAS_V2 = {
    50: ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917", 76.0),
    101: ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5", 77.2),
    152: ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33", 78.0),
}
# torchvision's IMAGENET1K_V1 checkpoints of the "torchvision" variant: (SHA-256 prefix, acc@1
# from its weights metadata); tagged "imagenet" where keras.applications has none.
_TORCHVISION = {
    18: ("f37072fd", 69.758),
    34: ("b627a593", 73.314),
    50: ("0676ba61", 76.13),
    101: ("63fe2227", 77.374),
    152: ("394f9c45", 78.312),
}


def _keras_weights(depth: int, *, v2: bool) -> WeightsSpec:
    md5, md5_notop, top1 = (_KERAS_V2 if v2 else _KERAS_V1)[depth]
    return keras_applications_weights(
        directory="resnet",
        stem=f"resnet{depth}{'v2' if v2 else ''}",
        md5=md5,
        md5_notop=md5_notop,
        input_shape=(224, 224, 3),
        licence="MIT (keras-applications)" if v2 else "MIT",
        # ResNet v1 takes Caffe's BGR mean-subtracted input, v2 the "tf" scaling to [-1, 1].
        preprocessing=TF if v2 else CAFFE,
        top1=top1,
        options={} if v2 else {"variant": "keras"},
    )


def _torch_spec(depth: int) -> TorchSpec:
    """Torchvision's ``layer{s}.{b}`` is the zoo's ``conv{s + 1}_block{b + 1}``."""
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
        name=f"resnet{depth}",
        zoo_model=f'zoo.resnet{depth}(variant="torchvision")',
        rename=tuple(rename),
        bn_epsilon=_CONVENTIONS["torchvision"].epsilon,
        heads=(r"fc",),
    )


def _v1_weights(depth: int) -> tuple[WeightsSpec, ...]:
    digest, top1 = _TORCHVISION[depth]
    keras_sets = (_keras_weights(depth, v2=False),) if depth in _KERAS_V1 else ()
    torchvision_set = torchvision_weights(
        file=f"resnet{depth}-{digest}.pth",
        converter=_torch_spec(depth),
        top1=top1,
        tag="imagenet_torchvision" if keras_sets else "imagenet",
        options={"variant": "torchvision"},
    )
    return (*keras_sets, torchvision_set)


def _register_v1(depth: int, params: int, default_variant: str) -> Any:
    block, depths = RESNET_CONFIGS[depth]
    expansion = 4 if block == "bottleneck" else 1

    def architecture(*, variant: str = default_variant) -> Architecture:
        if variant not in _CONVENTIONS:
            raise ValueError(f"variant={variant!r} must be one of {tuple(_CONVENTIONS)}")
        return Architecture(
            features=_resnet_v1(block, depths, _CONVENTIONS[variant]), top=pooled_top
        )

    doc = _V1_DOC.format(
        depth=depth,
        blocks=f"{sum(depths)} {block}",
        widths="/".join(str(w * expansion) for w in _WIDTHS),
    )
    taps = [("conv1_relu", 2, 64)] + [
        (f"conv{stage}_block{blocks}_out", 2 ** min(stage, 5), width * expansion)
        for stage, width, blocks in zip(range(2, 6), _WIDTHS, depths, strict=True)
    ]
    return zoo_model(
        paper="He et al., Deep Residual Learning for Image Recognition",
        year=2015,
        default_size=(224, 224, 3),
        min_size=32,
        params=params,
        fixed_size_top=False,
        feature_taps=taps,
        weights=_v1_weights(depth),
        name=f"resnet{depth}",
        doc=doc,
    )(architecture)


def _register_v2(depth: int, params: int) -> Any:
    depths = RESNET_V2_CONFIGS[depth]

    def architecture() -> Architecture:
        return Architecture(features=_resnet_v2(depths), top=pooled_top)

    # Stage outputs before each downsampling block (the stride sits on a stage's last block).
    taps = [
        (f"conv{stage}_block{blocks - 1}_out", 2**stage, width * 4)
        for stage, width, blocks in zip(range(2, 5), _WIDTHS[:3], depths[:3], strict=True)
    ] + [("post_relu", 32, 2048)]
    return zoo_model(
        paper="He et al., Identity Mappings in Deep Residual Networks",
        year=2016,
        default_size=(224, 224, 3),
        min_size=32,
        params=params,
        fixed_size_top=False,
        feature_taps=taps,
        weights=(_keras_weights(depth, v2=True),),
        name=f"resnet{depth}_v2",
        doc=_V2_DOC.format(depth=depth),
    )(architecture)


def _register_cifar(depth: int, params: int) -> Any:
    blocks = (depth - 2) // 6

    def architecture() -> Architecture:
        return Architecture(features=_cifar_resnet(blocks), top=pooled_top)

    taps = [
        (f"conv{stage}_block{blocks}_out", 2 ** (stage - 2), 16 * 2 ** (stage - 2))
        for stage in (2, 3, 4)
    ]
    return zoo_model(
        paper="He et al., Deep Residual Learning for Image Recognition (CIFAR-10)",
        year=2015,
        default_size=(32, 32, 3),
        min_size=4,
        params=params,
        default_classes=10,
        fixed_size_top=False,
        feature_taps=taps,
        name=f"cifar_resnet{depth}",
        doc=_CIFAR_DOC.format(depth=depth, blocks=blocks),
    )(architecture)


resnet18 = _register_v1(18, 11_699_112, "torchvision")
resnet34 = _register_v1(34, 21_814_696, "torchvision")
resnet50 = _register_v1(50, 25_636_712, "keras")
resnet101 = _register_v1(101, 44_707_176, "keras")
resnet152 = _register_v1(152, 60_419_944, "keras")
resnet50_v2 = _register_v2(50, 25_613_800)
resnet101_v2 = _register_v2(101, 44_675_560)
resnet152_v2 = _register_v2(152, 60_380_648)
cifar_resnet20 = _register_cifar(20, 271_098)
cifar_resnet32 = _register_cifar(32, 466_426)
cifar_resnet44 = _register_cifar(44, 661_754)
cifar_resnet56 = _register_cifar(56, 857_082)
cifar_resnet110 = _register_cifar(110, 1_736_058)
cifar_resnet1202 = _register_cifar(1202, 19_510_906)
