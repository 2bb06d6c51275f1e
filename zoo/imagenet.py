"""The 1000 ImageNet-1k classes, shipped with the package, and an offline `decode_predictions`.

The classes of the ILSVRC 2012 classification task (Russakovsky et al., "ImageNet Large Scale
Visual Recognition Challenge", IJCV 2015, arXiv:1409.0575) in the standard order, which is the
order of their sorted WordNet ids: index 0 is ``n01440764`` "tench", index 999 ``n15075141``
"toilet_tissue". ``name`` is the short name keras.applications' ``decode_predictions`` returns;
``label`` is torchvision's human-readable name, which tells the two "crane" (134 the bird, 517 the
machine) and the two "maillot" (638, 639) apart. ``zoo/data/README.md`` gives the data's origin.

Unlike ``keras.applications.imagenet_utils.decode_predictions``, which downloads
``imagenet_class_index.json`` the first time it is called, everything here reads package data.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
from typing import Any

import keras
import numpy as np

__all__ = ["NUM_CLASSES", "ImageNetClass", "decode_predictions", "imagenet_classes"]

NUM_CLASSES = 1000
_DATA_FILE = "imagenet_class_index.json"


@dataclasses.dataclass(frozen=True)
class ImageNetClass:
    """One ImageNet-1k class.

    Attributes:
        index: Position in the model output, 0 to 999.
        wnid: WordNet id of the synset, e.g. ``"n02123045"``.
        name: keras.applications' short name, e.g. ``"tabby"`` (not unique: "crane", "maillot").
        label: torchvision's human-readable name, e.g. ``"tabby"``; unique.

    Example:
        >>> imagenet_classes()[134]
        ImageNetClass(index=134, wnid='n02012849', name='crane', label='crane bird')
    """

    index: int
    wnid: str
    name: str
    label: str


@functools.cache
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """The 1000 ImageNet-1k classes in model-output order, read once from the package data.

    Returns:
        A tuple of 1000 `ImageNetClass`, the one at position ``i`` having ``index == i``.

    Example:
        >>> classes = imagenet_classes()
        >>> classes[285].wnid, classes[285].name
        ('n02124075', 'Egyptian_cat')
    """
    resource = importlib.resources.files("zoo") / "data" / _DATA_FILE
    index = json.loads(resource.read_text(encoding="utf-8"))
    return tuple(ImageNetClass(i, *index[str(i)]) for i in range(NUM_CLASSES))


def decode_predictions(predictions: Any, *, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """The ``top`` most likely ImageNet classes of each prediction, as keras.applications has it.

    The same contract as ``keras.applications.imagenet_utils.decode_predictions``, offline: for
    each row, ``(wnid, name, score)`` tuples by decreasing score (equal scores by class index).

    Args:
        predictions: Array or tensor of shape ``(batch, 1000)``: probabilities or logits.
        top: How many classes to return per row, 1 to 1000.

    Returns:
        One list of ``top`` ``(wnid, name, score)`` tuples per row, with ``score`` a float.

    Raises:
        ValueError: If ``predictions`` is not of shape ``(batch, 1000)`` or ``top`` is not in
            1..1000.
        TypeError: If ``top`` is not an integer.

    Example:
        >>> scores = np.zeros((1, 1000))
        >>> scores[0, 281], scores[0, 285] = 0.7, 0.2
        >>> decode_predictions(scores, top=2)
        [[('n02123045', 'tabby', 0.7), ('n02124075', 'Egyptian_cat', 0.2)]]
    """
    if isinstance(top, bool) or not isinstance(top, int | np.integer):
        raise TypeError(f"top={top!r} must be an integer in 1..{NUM_CLASSES}")
    if not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"top={top} must be in 1..{NUM_CLASSES}")
    scores = np.asarray(keras.ops.convert_to_numpy(predictions))
    if scores.ndim != 2 or scores.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"predictions of shape {scores.shape} must have shape (batch, {NUM_CLASSES}), "
            f"one row of {NUM_CLASSES} ImageNet class scores per image"
        )
    classes = imagenet_classes()
    best = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [
        [(classes[i].wnid, classes[i].name, float(row[i])) for i in indices]
        for row, indices in zip(scores, best, strict=True)
    ]
