"""Models that return named intermediate activations, for the transfer toolkit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from zoo import registry

__all__ = ["TAPS", "feature_extractor", "layer_names"]

# ``layers=TAPS`` takes every registered feature tap of a zoo model, shallow to deep.
TAPS = "taps"


def _layer_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def layer_names(model: str | keras.Model, layers: str | Sequence[str] | None) -> list[str] | None:
    """The layer names a ``layers=`` argument asks for, by kerazoo's one convention.

    A name or a list of names is taken as it is; None is the deepest registered feature tap of
    a zoo model (None for a `keras.Model`: its caller picks the last layer); `TAPS` (``"taps"``)
    is every registered feature tap, shallow to deep.

    Args:
        model: A zoo model name or a `keras.Model`.
        layers: The argument.

    Returns:
        The names, or None where only a built model can say.

    Raises:
        TypeError: If `layers` is not None, a string or a sequence of strings.
        ValueError: If it is empty, or `TAPS` for a `keras.Model` (only zoo names have taps).

    Example:
        >>> layer_names("vgg16", None), layer_names("vgg16", "block3_pool")
        (['block5_pool'], ['block3_pool'])
    """
    if layers == TAPS or layers is None:
        if not isinstance(model, str):
            if layers is None:
                return None
            raise ValueError(
                f'layers="{TAPS}" needs a zoo model name; {model.name!r} is a keras.Model, '
                "whose layers must be named"
            )
        taps = [tap.layer for tap in registry.model_info(model).feature_taps]
        return taps if layers == TAPS else taps[-1:]
    if isinstance(layers, str):
        return [layers]
    if not isinstance(layers, Sequence) or not all(isinstance(name, str) for name in layers):
        raise TypeError(f"layers={layers!r} must be a layer name, a list of them, None or 'taps'")
    if not layers:
        raise ValueError("layers=[] must name at least one layer")
    return list(layers)


def feature_extractor(
    model: str | keras.Model,
    *,
    layers: str | Sequence[str] | None = None,
    **build_options: Any,
) -> keras.Model:
    """A functional model mapping the input to a dict of named intermediate activations.

    Args:
        model: A built model, or a registered name to build with `build_options`.
        layers: A layer name or a list of them; None takes the deepest registered feature tap of
            a named model and `TAPS` (``"taps"``) all of them, shallow to deep. A name may
            refer to the top (``"fc2"``): a named model is then built with its top unless
            `build_options` says otherwise.
        **build_options: Options of the builder when `model` is a name, e.g. ``weights=``,
            ``input_shape=``. ``include_top`` defaults to False.

    Returns:
        A `keras.Model` whose output is ``{layer name: activation}``, sharing the weights of the
        source model.

    Raises:
        ValueError: If a layer name is unknown (the message lists the valid ones), if `layers` is
            empty, or if no layers are given for a model that is not from the registry.
        TypeError: If `model` is neither a name nor a `keras.Model`, or build options are given
            with a built model.

    Example:
        >>> import zoo
        >>> extractor = zoo.feature_extractor("vgg16", layers=["block3_pool", "block5_pool"])
        >>> sorted(extractor.output)
        ['block3_pool', 'block5_pool']
    """
    if isinstance(model, str):
        info = registry.model_info(model)
        names = layer_names(model, layers)
        network = info.builder(**{"include_top": False, **build_options})
        missing = set(names) - set(_layer_names(network))
        if missing and "include_top" not in build_options:
            network = info.builder(**{**build_options, "include_top": True})
    elif isinstance(model, keras.Model):
        if build_options:
            raise TypeError(
                f"build options {sorted(build_options)} apply only when a model name is given"
            )
        names = layer_names(model, layers)
        if names is None:
            raise ValueError("layers must be given when extracting from a model instance")
        network = model
    else:
        raise TypeError(f"model must be a registered name or a keras.Model, got {model!r}")
    valid = _layer_names(network)
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(
            f"unknown layer(s) {unknown} in {network.name}; valid layer names: {', '.join(valid)}"
        )
    outputs = {name: network.get_layer(name).output for name in names}
    return keras.Model(network.inputs, outputs, name=f"{network.name}_features")
