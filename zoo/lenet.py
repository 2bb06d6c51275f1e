"""LeNet-5 and the MNIST network of Nielsen's book: small CNNs for 1-channel digit images."""

from __future__ import annotations

from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.heads import fc_top

__all__ = ["lenet5", "nielsen_cnn"]


def _lenet5_features(x: Any) -> Any:
    x = keras.layers.Conv2D(6, 5, activation="tanh", name="c1")(x)
    x = keras.layers.AveragePooling2D(2, name="s2")(x)
    x = keras.layers.Conv2D(16, 5, activation="tanh", name="c3")(x)
    x = keras.layers.AveragePooling2D(2, name="s4")(x)
    return keras.layers.Conv2D(120, 5, activation="tanh", name="c5")(x)


@zoo_model(
    paper="LeCun et al., Gradient-Based Learning Applied to Document Recognition",
    year=1998,
    default_size=(32, 32, 1),
    min_size=32,
    params=61_706,
    default_classes=10,
    fixed_size_top=True,
    feature_taps=[("s2", 2, 6), ("s4", 4, 16), ("c5", 4, 120)],
)
def lenet5() -> Architecture:
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner, Proc. IEEE 86(11), 1998).

    C1 (6@5x5) - S2 - C3 (16@5x5) - S4 - C5 (120@5x5) - F6 (84) - output, tanh activations.
    As in common modern reimplementations, subsampling is 2x2 average pooling without the paper's
    trainable coefficients, C3 connects to all six S2 maps (the paper's table 1 connects each to a
    subset), and the output layer is a dense layer instead of Euclidean RBF units; 61,706
    parameters for 10 classes.
    """
    return Architecture(
        features=_lenet5_features,
        top=fc_top(hidden=[("f6", 84)], activation="tanh", dropout=0.0),
    )


def _nielsen_features(x: Any) -> Any:
    for block, filters in enumerate((20, 40), start=1):
        x = keras.layers.Conv2D(filters, 5, activation="relu", name=f"conv{block}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{block}")(x)
    return x


@zoo_model(
    paper="Nielsen, Neural Networks and Deep Learning, chapter 6",
    year=2015,
    default_size=(28, 28, 1),
    min_size=16,
    params=1_672_570,
    default_classes=10,
    fixed_size_top=True,
    feature_taps=[("pool1", 2, 20), ("pool2", 4, 40)],
)
def nielsen_cnn(*, dropout: float = 0.5) -> Architecture:
    """The final MNIST network of Nielsen's "Neural Networks and Deep Learning" (2015), chapter 6.

    Two convolution (5x5, 20 then 40 filters) + 2x2 max-pooling layers, two fully connected layers
    of 1000 ReLU units and a softmax layer; dropout on the input of each of the three fully
    connected layers, as in the book's ``network3.py`` (99.6% on MNIST with expanded data).

    Args:
        dropout: Dropout rate before each fully connected layer (the book uses 0.5).
    """
    return Architecture(
        features=_nielsen_features,
        top=fc_top(
            hidden=[("fc1", 1000), ("fc2", 1000)],
            activation="relu",
            dropout=dropout,
            placement="before_all",
        ),
    )
