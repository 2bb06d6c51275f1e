"""GoogLeNet / Inception-v1 (Szegedy et al. 2014): the paper's network and torchvision's.

Both share table 1 of the paper: a stem of three convolutions and two max poolings, nine
Inception modules -- four parallel branches (1x1; 1x1 reduction then 3x3; 1x1 reduction then
5x5; 3x3 max pooling then a 1x1 projection) concatenated -- with max poolings between the groups
3, 4 and 5, global average pooling, dropout and the classifier. Max poolings round their output
size up (Caffe's rule, torch's ``ceil_mode=True``), as in both published models.

- ``googlenet_paper``: the paper as released in Caffe (BVLC GoogLeNet): convolutions with biases
  and ReLU, local response normalization after the first pooling and after the third
  convolution, 5x5 convolutions in the third branch, 3x3/2 pooling before group 5, dropout 0.4.
- ``googlenet``: torchvision's GoogLeNet, into which its ImageNet weights load: every convolution
  without bias, followed by BatchNorm (epsilon 1e-3) and ReLU, no LRN, a 3x3 convolution where the
  paper has the 5x5 (a bug of the original TF port, kept for its weights), 2x2/2 pooling before
  group 5, dropout 0.2.

``aux_logits=True`` adds the paper's two auxiliary classifiers on the outputs of ``inception4a``
and ``inception4d`` (section 5): the model then returns a dict with ``"predictions"``, ``"aux1"``
and ``"aux2"``. Train it with the auxiliary losses weighted by 0.3 (the paper's weight) and
deploy ``zoo.inference_model(model)``, which drops them.

Layer names follow torchvision's module paths with ``_`` for ``.``: a convolution unit ``U``
(``conv1``, ``inception3a_branch2_1`` for torchvision's ``inception3a.branch2.1``, ``aux1_conv``)
has the layers ``U_conv``, ``U_bn`` (torchvision variant) and ``U_relu``; module ``M``'s pooling
branch starts with ``M_branch4_0`` (the max pooling) and the concatenation is ``M``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from zoo.builder import Architecture, AuxiliaryTop, zoo_model
from zoo.heads import pooled_dropout_top
from zoo.layers import AdaptiveAveragePooling2D, CeilMaxPooling2D, LocalResponseNormalization
from zoo.preprocessing import TORCH_INCEPTION
from zoo.registry import TorchSpec
from zoo.weights import torchvision_weights

__all__ = [
    "INCEPTION_MODULES",
    "InceptionModule",
    "googlenet",
    "googlenet_paper",
]


@dataclasses.dataclass(frozen=True)
class InceptionModule:
    """Widths of one Inception module (a row of table 1 of the paper).

    Attributes:
        branch1: 1x1 convolutions.
        reduce3: 1x1 reductions before the 3x3 convolutions.
        branch3: 3x3 convolutions.
        reduce5: 1x1 reductions before the 5x5 convolutions.
        branch5: 5x5 convolutions (3x3 in torchvision's variant).
        pool_proj: 1x1 projections after the 3x3 max pooling.
    """

    branch1: int
    reduce3: int
    branch3: int
    reduce5: int
    branch5: int
    pool_proj: int

    @property
    def channels(self) -> int:
        """Output channels: the sum of the four branches'."""
        return self.branch1 + self.branch3 + self.branch5 + self.pool_proj


# Table 1 of the paper; None marks the max pooling (3x3/2 in the paper) between groups.
INCEPTION_MODULES: dict[str, InceptionModule] = {
    "inception3a": InceptionModule(64, 96, 128, 16, 32, 32),
    "inception3b": InceptionModule(128, 128, 192, 32, 96, 64),
    "inception4a": InceptionModule(192, 96, 208, 16, 48, 64),
    "inception4b": InceptionModule(160, 112, 224, 24, 64, 64),
    "inception4c": InceptionModule(128, 128, 256, 24, 64, 64),
    "inception4d": InceptionModule(112, 144, 288, 32, 64, 64),
    "inception4e": InceptionModule(256, 160, 320, 32, 128, 128),
    "inception5a": InceptionModule(256, 160, 320, 32, 128, 128),
    "inception5b": InceptionModule(384, 192, 384, 48, 128, 128),
}
_POOL_AFTER = {"inception3b": "maxpool3", "inception4e": "maxpool4"}


@dataclasses.dataclass(frozen=True)
class _Variant:
    batch_norm: bool  # conv without bias + BatchNorm, else conv with bias
    lrn: bool
    kernel5: int  # kernel of the third branch
    pool4: int  # window (and stride 2) of the pooling before group 5
    dropout: float


_PAPER = _Variant(batch_norm=False, lrn=True, kernel5=5, pool4=3, dropout=0.4)
_TORCHVISION = _Variant(batch_norm=True, lrn=False, kernel5=3, pool4=2, dropout=0.2)
# BVLC GoogLeNet's norm1/norm2: local_size 5, alpha 1e-4 (which Caffe divides by local_size),
# beta 0.75.
_LRN = {"size": 5, "alpha": 1e-4 / 5, "beta": 0.75, "k": 1.0}
# Smallest input whose inception4a/4d maps are 5x5, the paper's auxiliary pooling window.
_PAPER_AUX_MIN_SIZE = 79
# Batchnorm epsilon of torchvision's BasicConv2d, with which its weights were trained.
_BN_EPSILON = 1e-3


def _conv(x: Any, filters: int, kernel: int, name: str, variant: _Variant, stride: int = 1) -> Any:
    """A convolution unit: conv (+ BatchNorm) + ReLU, padded like torch's ``kernel // 2``."""
    if kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, use_bias=not variant.batch_norm, name=f"{name}_conv"
    )(x)
    if variant.batch_norm:
        x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def _inception(x: Any, module: InceptionModule, name: str, variant: _Variant) -> Any:
    branch1 = _conv(x, module.branch1, 1, f"{name}_branch1", variant)
    branch2 = _conv(x, module.reduce3, 1, f"{name}_branch2_0", variant)
    branch2 = _conv(branch2, module.branch3, 3, f"{name}_branch2_1", variant)
    branch3 = _conv(x, module.reduce5, 1, f"{name}_branch3_0", variant)
    branch3 = _conv(branch3, module.branch5, variant.kernel5, f"{name}_branch3_1", variant)
    branch4 = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_branch4_0")(x)
    branch4 = _conv(branch4, module.pool_proj, 1, f"{name}_branch4_1", variant)
    return keras.layers.Concatenate(name=name)([branch1, branch2, branch3, branch4])


def _features(variant: _Variant) -> Any:
    def features(x: Any) -> Any:
        x = _conv(x, 64, 7, "conv1", variant, stride=2)
        x = CeilMaxPooling2D(3, 2, name="maxpool1")(x)
        if variant.lrn:
            x = LocalResponseNormalization(**_LRN, name="norm1")(x)
        x = _conv(x, 64, 1, "conv2", variant)
        x = _conv(x, 192, 3, "conv3", variant)
        if variant.lrn:
            x = LocalResponseNormalization(**_LRN, name="norm2")(x)
        x = CeilMaxPooling2D(3, 2, name="maxpool2")(x)
        for name, module in INCEPTION_MODULES.items():
            x = _inception(x, module, name, variant)
            if name == "inception3b":
                x = CeilMaxPooling2D(3, 2, name="maxpool3")(x)
            elif name == "inception4e":
                x = CeilMaxPooling2D(variant.pool4, 2, name="maxpool4")(x)
        return x

    return features


def _auxiliary_top(name: str, tap: str, variant: _Variant) -> AuxiliaryTop:
    """Section 5 of the paper: 5x5/3 average pooling, 1x1 conv, FC 1024, dropout 0.7, classifier.

    torchvision pools adaptively to 4x4 instead (the paper's output size at 224x224), so its
    auxiliary classifiers take any input size.
    """

    def top(x: Any, *, classes: int, classifier_activation: Any) -> Any:
        if variant.batch_norm:
            x = AdaptiveAveragePooling2D(4, name=f"{name}_pool")(x)
        else:
            height, width = x.shape[1:3]
            if height is None or width is None or min(height, width) < 5:
                raise ValueError(
                    f"the paper's auxiliary classifier {name} pools {tap}'s map with 5x5 windows, "
                    f"which is {height}x{width} here: pass a fixed input_shape of at least "
                    f"{_PAPER_AUX_MIN_SIZE}x{_PAPER_AUX_MIN_SIZE}"
                )
            x = keras.layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
        x = _conv(x, 128, 1, f"{name}_conv", variant)
        x = keras.layers.Flatten(name=f"{name}_flatten")(x)
        x = keras.layers.Dense(1024, activation="relu", name=f"{name}_fc1")(x)
        x = keras.layers.Dropout(0.7, name=f"{name}_dropout")(x)
        return keras.layers.Dense(classes, activation=classifier_activation, name=name)(x)

    return AuxiliaryTop(name, tap, top)


def _architecture(variant: _Variant, *, aux_logits: bool, dropout: float | None) -> Architecture:
    if not isinstance(aux_logits, bool):
        raise ValueError(f"aux_logits={aux_logits!r} must be True or False")
    dropout = variant.dropout if dropout is None else dropout
    auxiliary = (
        (
            _auxiliary_top("aux1", "inception4a", variant),
            _auxiliary_top("aux2", "inception4d", variant),
        )
        if aux_logits
        else ()
    )
    return Architecture(
        features=_features(variant), top=pooled_dropout_top(dropout), auxiliary_tops=auxiliary
    )


_TAPS = [
    ("conv1_relu", 2, 64),
    ("conv3_relu", 4, 192),
    ("inception3b", 8, 480),
    ("inception4e", 16, 832),
    ("inception5b", 32, 1024),
]


@zoo_model(
    paper="Szegedy et al., Going Deeper with Convolutions",
    year=2014,
    default_size=(224, 224, 3),
    min_size=32,
    params=6_639_464,
    fixed_size_top=False,
    feature_taps=_TAPS,
    # torchvision's IMAGENET1K_V1, trained with transform_input=True (acc@1 from its metadata).
    weights=[
        torchvision_weights(
            file="googlenet-1378be20.pth",
            # The layers are named after torchvision's module paths, "_" for ".".
            converter=TorchSpec(
                name="googlenet",
                zoo_model="zoo.googlenet()",
                rename=(
                    (r"fc", "predictions"),
                    (r"(aux\d)\.fc2", r"\1"),
                    (r"(aux\d)\.fc1", r"\1_fc1"),
                    (r".+", r"\g<0>"),
                ),
                bn_epsilon=_BN_EPSILON,
                heads=(r"fc", r"aux1\..*", r"aux2\..*"),
            ),
            top1=69.778,
            preprocessing=TORCH_INCEPTION,
        )
    ],
)
def googlenet(*, aux_logits: bool = False, dropout: float | None = None) -> Architecture:
    """GoogLeNet (Szegedy et al., CVPR 2015; arXiv:1409.4842, 2014), torchvision's variant.

    The nine Inception modules of table 1 with BatchNorm after every bias-free convolution and,
    as in torchvision (whose ImageNet weights this variant takes), a 3x3 convolution in place of
    the 5x5 branch and 2x2 pooling before group 5; 6,624,904 trainable parameters. The paper's
    network is ``googlenet_paper``. ``weights="imagenet"`` loads torchvision's checkpoint; its
    auxiliary classifiers are not trained (torchvision warns the same), so train them before
    relying on them.

    Args:
        aux_logits: Add the two auxiliary classifiers; the model then returns a dict with
            ``"predictions"``, ``"aux1"`` and ``"aux2"`` (see `zoo.inference_model`).
        dropout: Dropout rate before the classifier; None for torchvision's 0.2.
    """
    return _architecture(_TORCHVISION, aux_logits=aux_logits, dropout=dropout)


@zoo_model(
    paper="Szegedy et al., Going Deeper with Convolutions",
    year=2014,
    default_size=(224, 224, 3),
    min_size=32,
    params=6_998_552,
    fixed_size_top=False,
    feature_taps=_TAPS,
)
def googlenet_paper(*, aux_logits: bool = False, dropout: float | None = None) -> Architecture:
    """GoogLeNet (Szegedy et al., CVPR 2015; arXiv:1409.4842, 2014), as in the paper.

    Table 1 as released in Caffe (BVLC GoogLeNet): convolutions with biases, local response
    normalization after the first pooling and the third convolution, 5x5 convolutions in the
    third branch of every Inception module, 3x3/2 pooling before group 5.

    Args:
        aux_logits: Add the two auxiliary classifiers (5x5/3 average pooling, so they need a
            fixed input of at least 79x79); the model then returns a dict with ``"predictions"``,
            ``"aux1"`` and ``"aux2"`` (see `zoo.inference_model`).
        dropout: Dropout rate before the classifier; None for the paper's 0.4.
    """
    return _architecture(_PAPER, aux_logits=aux_logits, dropout=dropout)
