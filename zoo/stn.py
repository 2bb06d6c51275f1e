"""Spatial transformer networks: the ST-CNN of Jaderberg et al. (2015) for distorted MNIST.

The network rectifies its input with a `zoo.layers.SpatialTransformer` before a small CNN
classifies it. Layer sizes follow the paper's appendix A.4 for the rotated, translated and scaled
(RTS) digits on a 42x42 canvas: the transformer acts on the input, its output is average-pooled
by 2, then a 9x9 and a 7x7 convolution (stride 1, no padding), each followed by 2x2 max pooling,
and the softmax classifier -- three weight layers in the classification network. The
localisation network (`zoo.layers.localization_cnn`) has two 20-filter 5x5 convolutions on a 2x
max-pooled input with 2x2 max pooling between them and a 20-unit fully connected layer.
"""

from __future__ import annotations

import numbers
from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.heads import fc_top
from zoo.layers import SpatialTransformer

__all__ = ["ST_CNN_KERNELS", "st_cnn"]

# Kernel sides of the two convolutions of the classification network (appendix A.4).
ST_CNN_KERNELS = (9, 7)


def _check_filters(filters: Any) -> None:
    if (
        not isinstance(filters, (tuple, list))
        or len(filters) != len(ST_CNN_KERNELS)
        or not all(
            isinstance(f, numbers.Integral) and not isinstance(f, bool) and f >= 1 for f in filters
        )
    ):
        raise ValueError(f"filters={filters!r} must be two positive ints")


def _features(transformer_output_size: tuple[int, int] | None, filters: tuple[int, int]) -> Any:
    def features(x: Any) -> Any:
        x = SpatialTransformer(output_size=transformer_output_size, name="transformer")(x)
        # Appendix A.4: the transformer's output is downsampled by 2 for the RTS and TC tasks.
        x = keras.layers.AveragePooling2D(2, name="transformer_pool")(x)
        for block, (width, kernel) in enumerate(zip(filters, ST_CNN_KERNELS, strict=True), start=1):
            x = keras.layers.Conv2D(width, kernel, activation="relu", name=f"conv{block}")(x)
            # Ceil-mode pooling (a partial window at the border counts): with floor pooling the
            # paper's 42x42 inputs would leave the 7x7 convolution a 6x6 map.
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{block}")(x)
        return x

    return features


@zoo_model(
    paper="Jaderberg, Simonyan, Zisserman & Kavukcuoglu, Spatial Transformer Networks",
    year=2015,
    default_size=(42, 42, 1),
    min_size=42,
    # Computed from the layer sizes; the arithmetic is in tests/zoo/test_models.py (PUBLISHED).
    params=70_248,
    default_classes=10,
    fixed_size_top=True,
    feature_taps=[("transformer", 1, 1), ("pool1", 4, 32), ("pool2", 8, 32)],
)
def st_cnn(
    *,
    transformer_output_size: tuple[int, int] | None = None,
    filters: tuple[int, int] = (32, 32),
) -> Architecture:
    """ST-CNN for distorted MNIST (Jaderberg et al., NeurIPS 2015; arXiv:1506.02025, 2015).

    An affine spatial transformer at the input -- its localisation network regresses the six
    parameters of an affine warp, initialised to the identity -- followed by a CNN: 2x average
    pooling of the transformer's output, conv 9x9 - max pool 2x2 - conv 7x7 - max pool 2x2 (no
    padding, ReLU) and a softmax classifier. This is the paper's configuration for the rotated,
    translated and scaled digits (RTS, 42x42; section 4.1 and appendix A.4). The paper sizes the
    classification CNN between 32 and 64 filters per layer so that every model of an experiment
    has the same number of parameters; this uses 32, and max pooling counts partial windows
    (ceil mode), without which 42x42 inputs are too small for the second convolution. The layer
    ``transformer`` outputs the rectified input. 28x28 MNIST digits go in padded to 42x42 (e.g.
    ``keras.layers.ZeroPadding2D(7)``), the canvas of the paper's RTS digits.

    Args:
        transformer_output_size: ``(height, width)`` of the transformer's output; None keeps the
            input size (feature maps then scale with the input). A fixed size (at least 42x42)
            decouples the classification CNN from the input size, e.g. to read a 42x42 view
            out of larger images.
        filters: Filters of the two convolutions of the classification CNN.
    """
    _check_filters(filters)
    return Architecture(
        features=_features(transformer_output_size, tuple(filters)),
        top=fc_top(hidden=[], activation="relu", dropout=0.0),
    )
