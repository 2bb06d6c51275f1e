"""Network-in-Network: mlpconv blocks and a global-average-pooling classifier without FC layers."""

from __future__ import annotations

from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.heads import check_dropout

__all__ = ["NIN_CONFIG", "nin"]

# (filters, kernel, stride) of each mlpconv block of the ImageNet model; each block is the
# convolution followed by two 1x1 convolutions (the "micro network") of the same width.
NIN_CONFIG = ((96, 11, 4), (256, 5, 1), (384, 3, 1))
_LAST_BLOCK_FILTERS = 1024


def _mlpconv(x: Any, block: int, filters: int, kernel: int, stride: int, depth: int) -> Any:
    padding = "valid" if stride > 1 else "same"
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=padding,
        activation="relu",
        name=f"block{block}_conv",
    )(x)
    for mlp in range(1, depth + 1):
        x = keras.layers.Conv2D(filters, 1, activation="relu", name=f"block{block}_mlp{mlp}")(x)
    return x


def _features(dropout: float) -> Any:
    def features(x: Any) -> Any:
        for block, (filters, kernel, stride) in enumerate(NIN_CONFIG, start=1):
            x = _mlpconv(x, block, filters, kernel, stride, depth=2)
            x = keras.layers.MaxPooling2D(3, 2, name=f"block{block}_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="block3_dropout")(x)
        # The fourth block's last 1x1 convolution has one map per class: it belongs to the top.
        return _mlpconv(x, 4, _LAST_BLOCK_FILTERS, 3, 1, depth=1)

    return features


def _top(x: Any, *, classes: int, classifier_activation: Any) -> Any:
    x = keras.layers.Conv2D(classes, 1, activation="relu", name="block4_mlp2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.layers.Activation(classifier_activation or "linear", name="predictions")(x)


@zoo_model(
    paper="Lin, Chen & Yan, Network In Network",
    year=2013,
    default_size=(224, 224, 3),
    min_size=67,
    params=7_595_176,
    fixed_size_top=False,
    feature_taps=[
        ("block1_pool", 8, 96),
        ("block2_pool", 16, 256),
        ("block3_pool", 32, 384),
        ("block4_mlp1", 32, 1024),
    ],
)
def nin(*, dropout: float = 0.5) -> Architecture:
    """Network-in-Network for ImageNet (Lin, Chen & Yan, ICLR 2014; arXiv:1312.4400, 2013).

    Four mlpconv blocks -- a convolution followed by two 1x1 convolutions, all ReLU -- with 3x3/2
    max pooling between them, and no fully connected layer: the last 1x1 convolution has one map
    per class and global average pooling turns the maps into class scores. Widths follow the
    authors' ImageNet model (96-256-384-1024, about 7.6M parameters), including its ReLU before
    the global average pooling and dropout after the third block. Pooling rounds down.

    Args:
        dropout: Dropout rate after the third mlpconv block (the authors' model uses 0.5).
    """
    check_dropout(dropout)
    return Architecture(features=_features(dropout), top=_top)
