"""Classification tops shared by several families."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from zoo.layers import AdaptiveAveragePooling2D

__all__ = ["DROPOUT_PLACEMENTS", "check_dropout", "fc_top", "pooled_dropout_top", "pooled_top"]

# Where the dropout layers of a fully connected top sit:
#   "after":      Dense -> Dropout for each hidden layer (AlexNet paper, VGG, torchvision VGG)
#   "before":     Dropout -> Dense for each hidden layer (torchvision AlexNet)
#   "before_all": Dropout -> Dense for each hidden layer and the output layer (Nielsen 2015)
DROPOUT_PLACEMENTS = ("after", "before", "before_all")


def check_dropout(dropout: float) -> None:
    """Raises `ValueError` unless `dropout` is a rate in ``[0, 1)``."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r} must be in [0, 1)")


def fc_top(
    *,
    hidden: Sequence[tuple[str, int]],
    activation: str,
    dropout: float,
    placement: str = "after",
    pool_to: int | None = None,
) -> Callable[..., Any]:
    """A flatten + fully connected classification top.

    Args:
        hidden: ``(layer name, units)`` of each hidden Dense layer; the output layer is
            ``"predictions"`` as in keras.applications.
        activation: Activation of the hidden layers.
        dropout: Dropout rate in ``[0, 1)``; 0 adds no dropout layers.
        placement: One of `DROPOUT_PLACEMENTS`.
        pool_to: If set, adaptive average pooling to ``pool_to x pool_to`` before flattening
            (torchvision's AlexNet), which frees the top from a fixed input size.

    Returns:
        ``top(x, *, classes, classifier_activation)`` for `zoo.builder.Architecture`.

    Example:
        >>> top = fc_top(hidden=[("fc1", 4096), ("fc2", 4096)], activation="relu", dropout=0.5)
    """
    check_dropout(dropout)
    if placement not in DROPOUT_PLACEMENTS:
        raise ValueError(f"placement={placement!r} must be one of {DROPOUT_PLACEMENTS}")

    def maybe_dropout(x: Any, layer_name: str) -> Any:
        return keras.layers.Dropout(dropout, name=f"{layer_name}_dropout")(x) if dropout else x

    def top(x: Any, *, classes: int, classifier_activation: Any) -> Any:
        if pool_to is not None:
            x = AdaptiveAveragePooling2D(pool_to, name="adaptive_pool")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for layer_name, units in hidden:
            if placement != "after":
                x = maybe_dropout(x, layer_name)
            x = keras.layers.Dense(units, activation=activation, name=layer_name)(x)
            if placement == "after":
                x = maybe_dropout(x, layer_name)
        if placement == "before_all":
            x = maybe_dropout(x, "predictions")
        return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)

    return top


def pooled_top(x: Any, *, classes: int, classifier_activation: Any) -> Any:
    """Global average pooling (``avg_pool``) and a dense classifier (``predictions``).

    The top of keras.applications' ResNets and most networks after NiN; it takes any input size.

    Args:
        x: The last feature map.
        classes: Number of classes.
        classifier_activation: Activation of the classifier; None for logits.

    Returns:
        The class scores.
    """
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def pooled_dropout_top(dropout: float) -> Callable[..., Any]:
    """`pooled_top` with dropout (``predictions_dropout``) before the classifier.

    The top of GoogLeNet (dropout 0.4) and Inception-v4 / Inception-ResNet (keep probability 0.8).

    Args:
        dropout: Dropout rate in ``[0, 1)``; 0 adds no dropout layer.

    Returns:
        ``top(x, *, classes, classifier_activation)`` for `zoo.builder.Architecture`.

    Example:
        >>> top = pooled_dropout_top(0.4)
    """
    check_dropout(dropout)

    def top(x: Any, *, classes: int, classifier_activation: Any) -> Any:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="predictions_dropout")(x)
        return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)

    return top
