"""The network under every transfer/ tool, resolved by the one convention of `transfer`.

`resolve_backbone` turns the arguments every public function of transfer/ shares -- ``model``,
``weights``, ``image_size``, ``preprocessing`` -- into a `Backbone`: which weights set the weights
are, the size images are resized to, and the preprocessing applied after the resize. Its
`Backbone.extractor` builds the network as one graph from raw pixels of any size to named
activations, so that features, exported models and fine-tuned models see images the same way.

Example:
    >>> backbone = resolve_backbone("efficientnet_lite0")
    >>> backbone.image_size, backbone.preprocessing.mode
    ((224, 224), 'tf_lite')
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import keras

import zoo
from transfer._checks import size_pair
from zoo.preprocessing import Preprocessing
from zoo.registry import WeightsSpec
from zoo.weights import matching_set

__all__ = ["AUTO", "Backbone", "resolve_backbone"]

# ``preprocessing=AUTO``: the registered weights set's preprocessing (its tag's, or the set a
# weights file belongs to).
AUTO = "auto"


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A network as transfer/ reads images with it, resolved but not built.

    Attributes:
        model: A zoo model name or a `keras.Model`.
        weights: For a zoo name: None, a tag or a weights file, as given.
        weights_spec: The registered set the weights are (a tag's, or the set a file belongs
            to), or None (random weights, a user's own file, a `keras.Model`).
        image_size: ``(height, width)`` every image is resized to.
        channels: Channels the network takes.
        preprocessing: What is applied to the resized pixels (in [0, 255]), or None.
    """

    model: str | keras.Model
    weights: str | os.PathLike | None
    weights_spec: WeightsSpec | None
    image_size: tuple[int, int]
    channels: int
    preprocessing: Preprocessing | None

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model if isinstance(self.model, str) else self.model.name

    def extractor(self, layers: Sequence[str]) -> keras.Model:
        """The network from raw images to ``{layer: activation}``, resize and preprocessing inside.

        Its input is ``(batch, any height, any width, channels)`` pixels in [0, 255] (uint8 or
        float; cast to float32), resized to `image_size` (bilinear, antialiased:
        ``keras.layers.Resizing``, the identity for images of that size already), then
        normalised by `preprocessing`.

        Args:
            layers: Names of the layers whose activations to return.

        Returns:
            A functional `keras.Model` sharing the weights of the network.
        """
        if isinstance(self.model, str):
            network = zoo.feature_extractor(
                self.model,
                layers=list(layers),
                weights=self.weights,
                input_shape=(*self.image_size, self.channels),
            )
        else:
            network = zoo.feature_extractor(self.model, layers=list(layers))
        images = keras.Input((None, None, self.channels), name="images")
        x = keras.layers.Resizing(*self.image_size, antialias=True, name="resize")(images)
        if self.preprocessing is not None:
            x = self.preprocessing.layer(name="preprocessing")(x)
        return keras.Model(images, network(x), name=network.name)


def _check_preprocessing(preprocessing: Any) -> None:
    if isinstance(preprocessing, str):
        if preprocessing != AUTO:
            raise ValueError(
                f"preprocessing={preprocessing!r} must be {AUTO!r}, None or a "
                "zoo.preprocessing.Preprocessing (e.g. zoo.preprocessing.CAFFE)"
            )
    elif preprocessing is not None and not isinstance(preprocessing, Preprocessing):
        raise TypeError(
            f"preprocessing must be {AUTO!r}, None or a zoo.preprocessing.Preprocessing, "
            f"got {type(preprocessing).__name__}"
        )


def _zoo_backbone(
    name: str, weights: Any, image_size: tuple[int, int] | None, preprocessing: Any
) -> Backbone:
    info = zoo.model_info(name)
    if weights is not None and not isinstance(weights, str | os.PathLike):
        raise TypeError(f"weights must be None, a tag or a file path, got {weights!r}")
    spec = info.weights_spec(weights) if isinstance(weights, str) else None
    if weights is not None and spec is None:
        path = os.path.expanduser(weights)
        if not os.path.isfile(path):
            tags = ", ".join(repr(tag) for tag in info.weights_tags) or "none registered"
            raise ValueError(
                f"weights={weights!r} is neither a weights tag of {name} ({tags}) nor a file; "
                "weights=None builds it with random weights"
            )
        spec = matching_set(info, path)
    if preprocessing == AUTO:
        if spec is not None:
            preprocessing = spec.preprocessing
        elif weights is not None:
            raise ValueError(
                f"weights file {weights} is not a file of a registered weights set of {name}, "
                "so its preprocessing is unknown: pass preprocessing= (a "
                "zoo.preprocessing.Preprocessing such as zoo.preprocessing.TORCH, or None for "
                "raw pixels in [0, 255])"
            )
        else:
            preprocessing = None  # random weights: nothing was trained on any preprocessing
    shape = spec.input_shape if spec is not None else info.default_size
    return Backbone(
        model=name,
        weights=weights,
        weights_spec=spec,
        image_size=image_size or tuple(shape[:2]),
        channels=shape[2],
        preprocessing=preprocessing,
    )


def _keras_backbone(
    model: keras.Model, weights: Any, image_size: tuple[int, int] | None, preprocessing: Any
) -> Backbone:
    if weights != "imagenet":  # the convention's default: left as it is
        raise ValueError(
            f"weights={weights!r} applies to zoo model names; {model.name!r} is a keras.Model, "
            "which carries its own weights (leave weights at its default)"
        )
    shape = model.input_shape[0] if isinstance(model.input_shape, list) else model.input_shape
    height, width, channels = shape[1:]
    if image_size is None:
        if height is None or width is None:
            raise ValueError(
                f"model {model.name!r} takes any input size and has no registered training "
                "resolution: pass image_size=(height, width)"
            )
        image_size = (height, width)
    return Backbone(
        model=model,
        weights=None,
        weights_spec=None,
        image_size=image_size,
        channels=channels,
        preprocessing=None if preprocessing == AUTO else preprocessing,
    )


def resolve_backbone(
    model: str | keras.Model = "efficientnet_lite0",
    *,
    weights: str | os.PathLike | None = "imagenet",
    image_size: int | Sequence[int] | None = None,
    preprocessing: Preprocessing | str | None = AUTO,
) -> Backbone:
    """Resolves the network arguments of transfer/ by its convention (see `transfer`).

    Args:
        model: A zoo model name or a `keras.Model` taking images in [0, 255] (or in the range
            `preprocessing` expects).
        weights: For a zoo name: a weights tag (``"imagenet"``), a weights file, or None for
            random weights. A `keras.Model` carries its own: leave the default.
        image_size: ``(height, width)`` or one int for a square; None takes the weights'
            training resolution (the registered set's input size; the model's registered default
            size without weights; a `keras.Model`'s fixed input size).
        preprocessing: `AUTO` takes the registered set's (for a tag, or a file that belongs to a
            set by its published hash); a `zoo.preprocessing.Preprocessing` is applied as
            given; None feeds the resized pixels in [0, 255].

    Returns:
        The `Backbone`.

    Raises:
        ValueError: For an unknown model or tag, a missing weights file, a file of no registered
            set with ``preprocessing="auto"``, bad sizes, weights given with a `keras.Model`, a
            `keras.Model` of variable input size without `image_size`, or an RGB preprocessing
            for a network of another channel count.
        TypeError: If an argument has the wrong type.

    Example:
        >>> resolve_backbone("vgg16", weights=None, image_size=64).image_size
        (64, 64)
    """
    _check_preprocessing(preprocessing)
    size = None if image_size is None else size_pair(image_size, what="image_size")
    if isinstance(model, str):
        backbone = _zoo_backbone(model, weights, size, preprocessing)
    elif isinstance(model, keras.Model):
        backbone = _keras_backbone(model, weights, size, preprocessing)
    else:
        raise TypeError(f"model must be a zoo model name or a keras.Model, got {model!r}")
    if backbone.preprocessing is not None and backbone.channels != 3:
        raise ValueError(
            f"preprocessing {backbone.preprocessing.mode!r} normalises RGB images, but "
            f"{backbone.name} takes {backbone.channels} channel(s): pass preprocessing=None"
        )
    return backbone
