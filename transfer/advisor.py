"""Which transfer strategy to use: the rule of thumb, and an empirical probe of every depth.

`recommend` applies the 2x2 rule of the CS231n "Transfer Learning" notes (Karpathy et al.,
Stanford CS231n, https://cs231n.github.io/transfer-learning/), which rest on the layer
transferability results of Yosinski, Clune, Bengio and Lipson ("How transferable are features in
deep neural networks?", NeurIPS 2014, arXiv:1411.1792): early layers are generic, deep layers are
specific to the original task.

- small (< 1000 images per class), similar to ImageNet: a linear classifier on top-layer features;
- small, different: an SVM on the features of an earlier layer;
- large, similar: fine-tune the top layers with a tenth of the original learning rate;
- large, different: fine-tune more or all layers, also with a tenth of the learning rate.

Given data, `recommend` answers the same question by measuring: `transfer.probes.probe_layers`
fits a quick linear probe on the features of every feature tap of the network, and the advice rests
on its table of validation accuracy per layer.

Example:
    >>> recommend(images_per_class=50, similar_to_imagenet=True).strategy
    'linear_classifier'
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

import zoo
from transfer.backbone import AUTO
from transfer.probes import probe_layers
from zoo.preprocessing import Preprocessing

__all__ = [
    "FINE_TUNE_LR_FACTOR",
    "SIMILARITY_MARGIN",
    "SMALL_IMAGES_PER_CLASS",
    "STRATEGIES",
    "Recommendation",
    "recommend",
]

# "Small" means fewer images per class than ImageNet-1k, the data the backbones were trained on
# (732 to 1,300 training images per class, about 1,000 on average: Russakovsky et al., IJCV 2015,
# arXiv:1409.0575). Below that, training more than a classifier overfits more than it adapts.
SMALL_IMAGES_PER_CLASS = 1000
# CS231n: fine-tuned weights get a smaller learning rate than the new classifier; the usual choice
# is a tenth of the rate the network was originally trained with.
FINE_TUNE_LR_FACTOR = 0.1
# Empirical mode: the data count as similar to ImageNet when the deepest tap's probe is within
# this much validation accuracy of the best tap's. Deep features are the most specific to the
# original task (Yosinski et al., 2014), so they come out on top only on data like ImageNet's.
SIMILARITY_MARGIN = 0.01
STRATEGIES = ("linear_classifier", "svm_earlier_layer", "fine_tune_top", "fine_tune_all")


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """A transfer strategy with its layers and learning-rate advice.

    Attributes:
        strategy: One of `STRATEGIES`.
        layers: Feature taps of the model (registry ``feature_taps`` names, shallow to deep): the
            layer(s) to take features from for the classifier strategies, the stage outputs
            whose stages are unfrozen for the fine-tuning ones.
        learning_rate_factor: Fraction of the original training learning rate for the
            fine-tuned weights, or None when the network stays frozen.
        learning_rate: The learning-rate advice in words.
        reason: Why this strategy, for the given data.
        table: In the empirical mode (`recommend` given `train` and `val`), the `probe_layers`
            table the advice rests on; None for the rule of thumb alone.
    """

    strategy: str
    layers: tuple[str, ...]
    learning_rate_factor: float | None
    learning_rate: str
    reason: str
    table: pd.DataFrame | None = dataclasses.field(default=None, compare=False, repr=False)


def _check_rule_inputs(model: Any, images_per_class: Any, small_threshold: Any) -> None:
    if not isinstance(model, str):
        raise TypeError(f"model must be a zoo model name (its taps name the layers), got {model!r}")
    zoo.model_info(model)  # ValueError naming close names for an unknown model
    for name, value in (
        ("images_per_class", images_per_class),
        ("small_threshold", small_threshold),
    ):
        if value is None and name == "images_per_class":  # Measured in the empirical mode.
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name}={value!r} must be a positive int")
        if value < 1:
            raise ValueError(f"{name}={value!r} must be a positive int")


def _rule(
    images_per_class: int, similar: bool, taps: tuple[str, ...], small_threshold: int
) -> Recommendation:
    """The 2x2 rule for taps ``taps`` (shallow to deep)."""
    small = images_per_class < small_threshold
    size = (
        f"{images_per_class} images per class is {'fewer' if small else 'no fewer'} than "
        f"{small_threshold}"
    )
    tuned = f"{FINE_TUNE_LR_FACTOR:g} x the original learning rate for the pretrained layers"
    if small and similar:
        return Recommendation(
            "linear_classifier",
            taps[-1:],
            None,
            "no fine-tuning: the network stays frozen",
            f"{size}: fine-tuning would overfit; the data resemble ImageNet, so the deepest, "
            "most ImageNet-specific features already separate the classes: train a linear "
            "classifier on them.",
        )
    if small:
        return Recommendation(
            "svm_earlier_layer",
            taps[-2:-1] or taps[-1:],
            None,
            "no fine-tuning: the network stays frozen",
            f"{size}: fine-tuning would overfit; the data differ from ImageNet, whose "
            "specifics the deepest layer encodes, so train an SVM on the more generic features "
            "of an earlier layer (compare the depths with probe_layers).",
        )
    if similar:
        return Recommendation(
            "fine_tune_top",
            taps[-2:],
            FINE_TUNE_LR_FACTOR,
            tuned,
            f"{size}: enough data to fine-tune without overfitting; the data resemble "
            "ImageNet, so only the top layers need to adapt: unfreeze the last stage, with a "
            "small learning rate so the pretrained weights move little.",
        )
    return Recommendation(
        "fine_tune_all",
        taps,
        FINE_TUNE_LR_FACTOR,
        tuned,
        f"{size}: enough data to fine-tune without overfitting; the data differ from "
        "ImageNet, so features at every depth need to adapt: fine-tune all layers, starting "
        "from the pretrained weights.",
    )


def recommend(
    model: str = "efficientnet_lite0",
    *,
    images_per_class: int | None = None,
    similar_to_imagenet: bool | None = None,
    train: Any = None,
    val: Any = None,
    weights: str | os.PathLike | None = "imagenet",
    image_size: int | Sequence[int] | None = None,
    preprocessing: Preprocessing | str | None = AUTO,
    small_threshold: int = SMALL_IMAGES_PER_CLASS,
    classifier: str = "linear_svm",
    C: float | Sequence[float] | None = None,  # noqa: N803 (scikit-learn's name)
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
) -> Recommendation:
    """Which transfer strategy, layers and learning rate to use: by rule, or measured.

    **Rule of thumb** (`images_per_class` and `similar_to_imagenet` given; CS231n). Small
    (``images_per_class < small_threshold``) and similar: a linear classifier on the deepest
    features. Small and different: an SVM on the features of the tap before the deepest one,
    which is less specific to ImageNet (Yosinski et al., NeurIPS 2014, arXiv:1411.1792). Large
    and similar: fine-tune the last stage (from the second-deepest tap up) with the learning
    rate divided by 10. Large and different: fine-tune all layers with the learning rate
    divided by 10.

    **Empirical mode** (`train` and `val` given): `transfer.probes.probe_layers` fits a quick
    linear probe on every feature tap of `model` and scores it on `val`; the table is returned
    as `Recommendation.table`. What was not given is measured: `images_per_class` is the
    smallest class of `train`, and the data count as similar to ImageNet when the deepest
    tap is within `SIMILARITY_MARGIN` of the best tap's accuracy (deep features win only on
    data like the network's own). The classifier strategies then take the best tap, not the
    rule's, and the reason quotes the accuracies.

    Args:
        model: A zoo model name, whose registry feature taps name the layers.
        images_per_class: Training images per class (the smallest class for an unbalanced
            set). Required without `train`; with it, None measures it.
        similar_to_imagenet: Whether the images look like ImageNet's (natural photographs of
            objects) rather than, say, medical scans, textures or drawings. Required without
            `train`; with it, None infers it from the probes.
        train: Training data for the empirical mode, in any form `probe_layers` takes.
        val: Validation data for the empirical mode, in any form `probe_layers` takes.
        weights: Weights of `model` for the probes (see `transfer.features.FeatureExtractor`).
        image_size: ``(height, width)`` or one int the probes resize the images to; None is the
            weights' training resolution.
        preprocessing: ``"auto"``, a `zoo.preprocessing.Preprocessing` or None (see
            `transfer.features.FeatureExtractor`).
        small_threshold: Images per class from which a dataset counts as large;
            `SMALL_IMAGES_PER_CLASS` by default (ImageNet's ~1,000 images per class).
        classifier: The probes' `LinearProbe` classifier.
        C: The probes' C: a value, a list to search by cross-validation, or None for
            `LinearProbe`'s default grid.
        batch_size: Images per forward pass of the probes.
        cache_dir: Feature cache folder for the probes (see `FeatureExtractor`).

    Returns:
        The `Recommendation`.

    Raises:
        ValueError: If `model` is not a registered name, `images_per_class` or
            `small_threshold` is not positive, or the rule's inputs are missing without `train`
            and `val`; `probe_layers`' errors in the empirical mode.
        TypeError: If `model` is not a name, `similar_to_imagenet` not a bool or a count not
            an int.

    Example:
        >>> advice = recommend(images_per_class=5000, similar_to_imagenet=True)
        >>> advice.strategy, advice.layers, advice.learning_rate_factor
        ('fine_tune_top', ('block5c_add', 'top_activation'), 0.1)
        >>> from transfer import datasets
        >>> data = datasets.fashion_mnist_subset(channels=3)
        >>> advice = recommend(train=(data.x_train, data.y_train),  # doctest: +SKIP
        ...                    val=(data.x_test, data.y_test), image_size=64)
        >>> advice.strategy, advice.layers  # doctest: +SKIP
        ('svm_earlier_layer', ('block5c_add',))
    """
    if similar_to_imagenet is not None and not isinstance(similar_to_imagenet, bool | np.bool_):
        raise TypeError(f"similar_to_imagenet={similar_to_imagenet!r} must be a bool")
    if (train is None) != (val is None):
        raise ValueError("the empirical mode needs both train and val")
    if train is None and (images_per_class is None or similar_to_imagenet is None):
        raise ValueError(
            "pass images_per_class and similar_to_imagenet for the rule of thumb, or "
            "train and val to measure them"
        )
    _check_rule_inputs(model, images_per_class, small_threshold)
    taps = tuple(tap.layer for tap in zoo.model_info(model).feature_taps)
    if train is None:
        return _rule(images_per_class, bool(similar_to_imagenet), taps, small_threshold)

    table = probe_layers(
        model,
        train,
        val,
        weights=weights,
        layers="taps",
        image_size=image_size,
        preprocessing=preprocessing,
        classifier=classifier,
        C=C,
        batch_size=batch_size,
        cache_dir=cache_dir,
        random_state=0,
    )
    if images_per_class is None:
        images_per_class = table.attrs["images_per_class"]
    best = table.loc[table["accuracy"].idxmax()]
    deepest = table.iloc[-1]
    measured = (
        f"Measured ({classifier} probes, validation accuracy): best {best['layer']} "
        f"{best['accuracy']:.1%}, deepest {deepest['layer']} {deepest['accuracy']:.1%}"
    )
    if similar_to_imagenet is None:
        gap = float(best["accuracy"] - deepest["accuracy"])
        similar_to_imagenet = gap <= SIMILARITY_MARGIN
        measured += (
            f"; the deepest tap trails the best by {100 * gap:.1f} points ("
            f"{'within' if similar_to_imagenet else 'beyond'} the {100 * SIMILARITY_MARGIN:g}"
            "-point margin): ImageNet's most specific features "
            + (
                "lose nothing here, so the data count as similar"
                if similar_to_imagenet
                else "fit these data worse than earlier ones, so the data count as different"
            )
        )
    advice = _rule(images_per_class, bool(similar_to_imagenet), taps, small_threshold)
    layers = (str(best["layer"]),) if advice.learning_rate_factor is None else advice.layers
    return dataclasses.replace(
        advice, layers=layers, reason=f"{advice.reason} {measured}.", table=table
    )
