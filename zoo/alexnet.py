"""AlexNet (the paper's two-tower network and torchvision's one-tower variant) and ZF Net.

The three share one shape -- five convolution stages, then three fully connected layers -- so each
is a list of `Stage` rows fed to one builder loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.heads import fc_top
from zoo.layers import LocalResponseNormalization
from zoo.registry import TorchSpec
from zoo.weights import torchvision_weights

__all__ = ["ALEXNET_CONFIGS", "Stage", "alexnet", "alexnet_onetower", "zfnet"]


@dataclasses.dataclass(frozen=True)
class Stage:
    """One convolution stage: conv + ReLU, then optional normalization and 3x3/2 max pooling.

    Attributes:
        filters: Output channels.
        kernel: Square kernel size.
        stride: Convolution stride.
        padding: Zero padding on each side before the convolution.
        groups: Channel groups (2 = the paper's split across two GPUs).
        pool: None, ``"valid"`` (floor) or ``"same"`` (Caffe's ceil mode for even inputs).
        lrn: None, ``"before_pool"`` (AlexNet) or ``"after_pool"`` (ZF Net).
    """

    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    pool: str | None = None
    lrn: str | None = None


ALEXNET_CONFIGS: dict[str, tuple[Stage, ...]] = {
    # Krizhevsky et al. 2012, figure 2: conv2/4/5 see only their own GPU's half of the channels.
    "alexnet": (
        Stage(96, 11, stride=4, pool="valid", lrn="before_pool"),
        Stage(256, 5, padding=2, groups=2, pool="valid", lrn="before_pool"),
        Stage(384, 3, padding=1),
        Stage(384, 3, padding=1, groups=2),
        Stage(256, 3, padding=1, groups=2, pool="valid"),
    ),
    # torchvision.models.alexnet, after Krizhevsky 2014 ("One weird trick ..."): one tower, no LRN.
    "alexnet_onetower": (
        Stage(64, 11, stride=4, padding=2, pool="valid"),
        Stage(192, 5, padding=2, pool="valid"),
        Stage(384, 3, padding=1),
        Stage(256, 3, padding=1),
        Stage(256, 3, padding=1, pool="valid"),
    ),
    # Zeiler & Fergus 2013, figure 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6.
    "zfnet": (
        Stage(96, 7, stride=2, padding=1, pool="same", lrn="after_pool"),
        Stage(256, 5, stride=2, pool="same", lrn="after_pool"),
        Stage(384, 3, padding=1),
        Stage(384, 3, padding=1),
        Stage(256, 3, padding=1, pool="valid"),
    ),
}


def _features(stages: Sequence[Stage]) -> Any:
    def features(x: Any) -> Any:
        for index, stage in enumerate(stages, start=1):
            same = stage.stride == 1 and stage.padding == (stage.kernel - 1) // 2
            if stage.padding and not same:
                x = keras.layers.ZeroPadding2D(stage.padding, name=f"conv{index}_pad")(x)
            x = keras.layers.Conv2D(
                stage.filters,
                stage.kernel,
                strides=stage.stride,
                padding="same" if same else "valid",
                groups=stage.groups,
                activation="relu",
                name=f"conv{index}",
            )(x)
            if stage.lrn == "before_pool":
                x = LocalResponseNormalization(name=f"norm{index}")(x)
            if stage.pool:
                x = keras.layers.MaxPooling2D(3, 2, padding=stage.pool, name=f"pool{index}")(x)
            if stage.lrn == "after_pool":
                x = LocalResponseNormalization(name=f"norm{index}")(x)
        return x

    return features


_FC = [("fc6", 4096), ("fc7", 4096)]


@zoo_model(
    paper="Krizhevsky et al., ImageNet Classification with Deep Convolutional Neural Networks",
    year=2012,
    default_size=(227, 227, 3),
    min_size=67,
    params=60_965_224,
    fixed_size_top=True,
    feature_taps=[
        ("pool1", 8, 96),
        ("pool2", 16, 256),
        ("conv3", 16, 384),
        ("conv4", 16, 384),
        ("pool5", 32, 256),
    ],
)
def alexnet(*, dropout: float = 0.5) -> Architecture:
    """AlexNet as in the paper (Krizhevsky, Sutskever & Hinton, NeurIPS 2012).

    227x227 input, 11x11/4 conv1, local response normalization (k=2, n=5, alpha=1e-4, beta=0.75)
    after conv1 and conv2, overlapping 3x3/2 max pooling, conv2/conv4/conv5 split into two channel
    groups as on the paper's two GPUs, and dropout after fc6 and fc7; 60,965,224 parameters.
    torchvision's one-tower network is `alexnet_onetower`.

    Args:
        dropout: Dropout rate after fc6 and fc7 (the paper uses 0.5).
    """
    return Architecture(
        features=_features(ALEXNET_CONFIGS["alexnet"]),
        top=fc_top(hidden=_FC, activation="relu", dropout=dropout),
    )


# torchvision's AlexNet: (zoo conv number, index in its ``features`` Sequential).
_TORCH_CONVS = tuple(enumerate((0, 3, 6, 8, 10), start=1))


@zoo_model(
    paper="Krizhevsky, One weird trick for parallelizing convolutional neural networks",
    year=2014,
    default_size=(224, 224, 3),
    min_size=63,
    params=61_100_840,
    fixed_size_top=False,
    feature_taps=[
        ("pool1", 8, 64),
        ("pool2", 16, 192),
        ("conv3", 16, 384),
        ("conv4", 16, 256),
        ("pool5", 32, 256),
    ],
    # torchvision's IMAGENET1K_V1 (acc@1 from its weights metadata).
    weights=[
        torchvision_weights(
            file="alexnet-owt-7be5be79.pth",
            converter=TorchSpec(
                name="alexnet",
                zoo_model="zoo.alexnet_onetower()",
                # torchvision's ``features`` Sequential: conv N sits at index 0, 3, 6, 8, 10.
                rename=(
                    *((rf"features\.{index}", f"conv{n}") for n, index in _TORCH_CONVS),
                    (r"classifier\.1", "fc6"),
                    (r"classifier\.4", "fc7"),
                    (r"classifier\.6", "predictions"),
                ),
                heads=(r"classifier\..*",),
            ),
            top1=56.522,
        )
    ],
)
def alexnet_onetower(*, dropout: float = 0.5) -> Architecture:
    """The one-tower AlexNet of torchvision (after Krizhevsky, arXiv:1404.5997, 2014).

    Channels 64-192-384-256-256, no normalization layers, adaptive average pooling to 6x6 before
    the fully connected layers (so the top accepts any input size), dropout before fc6 and fc7,
    exactly as ``torchvision.models.alexnet``; 61,100,840 parameters.

    Args:
        dropout: Dropout rate before fc6 and fc7 (torchvision uses 0.5).
    """
    return Architecture(
        features=_features(ALEXNET_CONFIGS["alexnet_onetower"]),
        top=fc_top(hidden=_FC, activation="relu", dropout=dropout, placement="before", pool_to=6),
    )


@zoo_model(
    paper="Zeiler & Fergus, Visualizing and Understanding Convolutional Networks",
    year=2013,
    default_size=(224, 224, 3),
    min_size=53,
    params=62_357_608,
    fixed_size_top=True,
    feature_taps=[
        ("norm1", 4, 96),
        ("norm2", 16, 256),
        ("conv3", 16, 384),
        ("conv4", 16, 384),
        ("pool5", 32, 256),
    ],
)
def zfnet(*, dropout: float = 0.5) -> Architecture:
    """ZF Net (Zeiler & Fergus, ECCV 2014; arXiv:1311.2901, 2013), the model of figure 3.

    AlexNet with a 7x7/2 conv1 and a 5x5/2 conv2 (keeping more resolution in the first layers),
    dense convolutions on one tower, and contrast normalization across feature maps after the
    first two pooling layers; 62,357,608 parameters. The first two poolings use Caffe's ceil
    rounding, which reproduces the paper's 55x55 and 13x13 maps.

    Args:
        dropout: Dropout rate after fc6 and fc7 (the paper uses 0.5).
    """
    return Architecture(
        features=_features(ALEXNET_CONFIGS["zfnet"]),
        top=fc_top(hidden=_FC, activation="relu", dropout=dropout),
    )
