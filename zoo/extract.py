"""Models that return named intermediate activations, for the transfer toolkit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from zoo import registry

__all__ = ["feature_extractor"]


def _layer_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def feature_extractor(
    model_or_name: str | keras.Model,
    *,
    layers: Sequence[str] | None = None,
    **build_options: Any,
) -> keras.Model:
    """A functional model mapping the input to a dict of named intermediate activations.

    Args:
        model_or_name: A built model, or a registered name to build with `build_options`.
        layers: Names of the layers whose outputs to return; None takes the registered feature
            taps of a named model. A name may refer to the top (``"fc2"``): a named model is then
            built with its top unless `build_options` says otherwise.
        **build_options: Options of the builder when `model_or_name` is a name, e.g.
            ``weights=``, ``input_shape=``. ``include_top`` defaults to False.

    Returns:
        A `keras.Model` whose output is ``{layer name: activation}``, sharing the weights of the
        source model.

    Raises:
        ValueError: If a layer name is unknown (the message lists the valid ones), if `layers` is
            empty, or if no layers are given for a model that is not from the registry.

    Example:
        >>> import zoo
        >>> extractor = zoo.feature_extractor("vgg16", layers=["block3_pool", "block5_pool"])
        >>> sorted(extractor.output)
        ['block3_pool', 'block5_pool']
    """
    if isinstance(model_or_name, str):
        info = registry.model_info(model_or_name)
        if layers is None:
            layers = [tap.layer for tap in info.feature_taps]
        model = info.builder(**{"include_top": False, **build_options})
        missing = set(layers) - set(_layer_names(model))
        if missing and "include_top" not in build_options:
            model = info.builder(**{**build_options, "include_top": True})
    elif isinstance(model_or_name, keras.Model):
        if build_options:
            raise TypeError(
                f"build options {sorted(build_options)} apply only when a model name is given"
            )
        if layers is None:
            raise ValueError("layers must be given when extracting from a model instance")
        model = model_or_name
    else:
        raise TypeError(
            f"model_or_name must be a registered name or a keras.Model, got {model_or_name!r}"
        )
    if isinstance(layers, str) or not layers:
        raise ValueError(f"layers={layers!r} must be a non-empty list of layer names")
    valid = _layer_names(model)
    unknown = [name for name in layers if name not in valid]
    if unknown:
        raise ValueError(
            f"unknown layer(s) {unknown} in {model.name}; valid layer names: {', '.join(valid)}"
        )
    outputs = {name: model.get_layer(name).output for name in layers}
    return keras.Model(model.inputs, outputs, name=f"{model.name}_features")
