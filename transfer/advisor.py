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

`probe_layers` answers the same question with data: it fits a quick linear probe on the features
of every feature tap of a network and returns a table of validation accuracy per layer;
`plot_layer_accuracy` draws it.

Example:
    >>> recommend(images_per_class=50, similar_to_imagenet=True).strategy
    'linear_classifier'
"""

from __future__ import annotations

import dataclasses
import os
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import zoo
from transfer.data import ImageDataset
from transfer.features import FeatureExtractor
from transfer.probes import LinearProbe

__all__ = [
    "FINE_TUNE_LR_FACTOR",
    "SIMILARITY_MARGIN",
    "SMALL_IMAGES_PER_CLASS",
    "STRATEGIES",
    "Recommendation",
    "plot_layer_accuracy",
    "probe_layers",
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


def _check_rule_inputs(images_per_class: Any, small_threshold: Any, model: Any) -> None:
    for name, value in (
        ("images_per_class", images_per_class),
        ("small_threshold", small_threshold),
    ):
        if value is None and name == "images_per_class":  # Measured in the empirical mode.
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive int")
    if not isinstance(model, str) or model not in zoo.list_models():
        raise ValueError(f"model={model!r} is not a registered zoo model; see zoo.list_models()")


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
    *,
    images_per_class: int | None = None,
    similar_to_imagenet: bool | None = None,
    model: str = "efficientnet_lite0",
    small_threshold: int = SMALL_IMAGES_PER_CLASS,
    train: Any = None,
    val: Any = None,
    weights: str | os.PathLike | None = "imagenet",
    image_size: tuple[int, int] | None = None,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
    classifier: str = "linear_svm",
    C: float | Sequence[float] | None = None,  # noqa: N803 (scikit-learn's name)
) -> Recommendation:
    """Which transfer strategy, layers and learning rate to use: by rule, or measured.

    **Rule of thumb** (`images_per_class` and `similar_to_imagenet` given; CS231n). Small
    (``images_per_class < small_threshold``) and similar: a linear classifier on the deepest
    features. Small and different: an SVM on the features of the tap before the deepest one,
    which is less specific to ImageNet (Yosinski et al., NeurIPS 2014, arXiv:1411.1792). Large
    and similar: fine-tune the last stage (from the second-deepest tap up) with the learning
    rate divided by 10. Large and different: fine-tune all layers with the learning rate
    divided by 10.

    **Empirical mode** (`train` and `val` given): `probe_layers` fits a quick linear probe on
    every feature tap of `model` and scores it on `val`; the table is returned as
    `Recommendation.table`. What was not given is measured: `images_per_class` is the
    smallest class of `train`, and the data count as similar to ImageNet when the deepest
    tap is within `SIMILARITY_MARGIN` of the best tap's accuracy (deep features win only on
    data like the network's own). The classifier strategies then take the best tap, not the
    rule's, and the reason quotes the accuracies.

    Args:
        images_per_class: Training images per class (the smallest class for an unbalanced
            set). Required without `train`; with it, None measures it.
        similar_to_imagenet: Whether the images look like ImageNet's (natural photographs of
            objects) rather than, say, medical scans, textures or drawings. Required without
            `train`; with it, None infers it from the probes.
        model: A zoo model name, whose registry feature taps name the layers.
        small_threshold: Images per class from which a dataset counts as large;
            `SMALL_IMAGES_PER_CLASS` by default (ImageNet's ~1,000 images per class).
        train: Training data for the empirical mode, in any form `probe_layers` takes.
        val: Validation data for the empirical mode, in any form `probe_layers` takes.
        weights: Weights of `model` for the probes (see `FeatureExtractor`).
        image_size: ``(height, width)`` the probes read the images at; None keeps arrays as
            they are and reads an `ImageDataset` at the model's size.
        batch_size: Images per forward pass of the probes.
        cache_dir: Feature cache folder for the probes (see `FeatureExtractor`).
        classifier: The probes' `LinearProbe` classifier.
        C: The probes' C: a value, a list to search by cross-validation, or None for
            `LinearProbe`'s default grid.

    Returns:
        The `Recommendation`.

    Raises:
        ValueError: If `images_per_class` or `small_threshold` is not a positive int, `model`
            is not a registered name, or the rule's inputs are missing without `train` and
            `val`; `probe_layers`' errors in the empirical mode.
        TypeError: If `similar_to_imagenet` is not a bool.

    Example:
        >>> advice = recommend(images_per_class=5000, similar_to_imagenet=True)
        >>> advice.strategy, advice.layers, advice.learning_rate_factor
        ('fine_tune_top', ('block5c_add', 'top_activation'), 0.1)
        >>> from transfer import datasets
        >>> data = datasets.fashion_mnist_subset(channels=3)
        >>> advice = recommend(train=(data.x_train, data.y_train),  # doctest: +SKIP
        ...                    val=(data.x_test, data.y_test), image_size=(64, 64))
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
    _check_rule_inputs(images_per_class, small_threshold, model)
    taps = tuple(tap.layer for tap in zoo.model_info(model).feature_taps)
    if train is None:
        return _rule(images_per_class, bool(similar_to_imagenet), taps, small_threshold)

    train, val = _probe_input(train, "train"), _probe_input(val, "val")
    if images_per_class is None:
        images_per_class = int(np.unique(train[1], return_counts=True)[1].min())
    table = _probe_layers(
        model,
        train,
        val,
        layers=taps,
        classifier=classifier,
        C=C,
        weights=weights,
        pooling="avg",
        image_size=image_size,
        batch_size=batch_size,
        cache_dir=cache_dir,
        random_state=0,
    )
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


def _probe_input(data: Any, what: str) -> tuple[Any, np.ndarray]:
    """`probe_layers`' input as what `FeatureExtractor` reads, and the labels as an array."""
    if isinstance(data, ImageDataset):
        if data.multi_label:
            raise ValueError(f"{what} has multi-hot labels; linear probes need one class each")
        return data, np.asarray(data.labels)
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise ValueError(f"{what} must be a dataset of (images, labels), got {spec}")
        batched = spec[0].shape.rank == 4
        if spec[0].shape.rank not in (3, 4) or spec[1].shape.rank != int(batched):
            raise ValueError(
                f"{what} must give images (h, w, c) with a class index, or batches of them, "
                f"got {spec}"
            )
        # One pass into memory: a dataset that reshuffles would pair features and labels wrongly
        # if it were read twice.
        pairs = list(data.as_numpy_iterator())
        if not pairs:
            raise ValueError(f"{what} is empty")
        stack = np.concatenate if batched else np.stack
        return stack([x for x, _ in pairs]), stack([y for _, y in pairs])
    return _split_arrays(data, what)


def _split_arrays(data: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ValueError(
            f"{what} must be an (images, labels) pair, an ImageDataset or a tf.data.Dataset "
            f"of (images, labels), got {type(data).__name__}"
        )
    images, labels = np.asarray(data[0]), np.asarray(data[1])
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(
            f"{what} must be (n, height, width, channels) images and n labels, got shapes "
            f"{images.shape} and {labels.shape}"
        )
    return images, labels


def _feature_dims(extractor: keras.Model, layers: Sequence[str], pooling: str | None) -> list[int]:
    """Columns each layer contributes to `FeatureExtractor`'s concatenated features."""
    dims = []
    for layer in layers:
        shape = extractor.output[layer].shape
        if pooling is not None and len(shape) == 4:
            dims.append(int(shape[-1]))
        elif any(size is None for size in shape[1:]):
            raise ValueError(
                f"pooling=None needs a fixed input size to flatten {layer!r} of shape {shape}; "
                "pass image_size"
            )
        else:
            dims.append(int(np.prod(shape[1:])))
    return dims


def probe_layers(
    model: str | keras.Model,
    train: Any,
    val: Any,
    *,
    layers: Sequence[str] | None = None,
    classifier: str = "linear_svm",
    C: float | Sequence[float] | None = None,  # noqa: N803 (scikit-learn's name)
    weights: str | os.PathLike | None = "imagenet",
    pooling: str | None = "avg",
    image_size: tuple[int, int] | None = None,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Validation accuracy of a linear probe on the features of each layer.

    The network runs once over each split (one `FeatureExtractor` for all `layers`, cached when
    `cache_dir` is set); then, for every layer, a `LinearProbe` (uncalibrated, as only its
    accuracy matters) is fitted on that layer's pooled training features and scored on the
    validation features.

    Args:
        model: A zoo model name or a `keras.Model` taking images in [0, 255].
        train: The training split: an ``(images, labels)`` pair of an ``(n, height, width,
            channels)`` array of pixels in [0, 255] and ``n`` class indices; an `ImageDataset`
            (single-label); or a `tf.data.Dataset` of ``(images, labels)``, batched or not,
            which is read once into memory.
        val: The split to score on, in the same forms.
        layers: Layer names; None takes all the registered feature taps of a named model.
        classifier: A `LinearProbe` classifier (see `transfer.probes.CLASSIFIERS`).
        C: `LinearProbe`'s C: a value, a list to search by cross-validation, or None for its
            default grid.
        weights: Weights of a named model (see `FeatureExtractor`).
        pooling: How feature maps become vectors (see `transfer.features.pool_features`).
        image_size: ``(height, width)`` to resize the images to; None keeps them.
        batch_size: Images per forward pass.
        cache_dir: Feature cache folder (see `FeatureExtractor`); None disables it.
        random_state: Seed of the probes.

    Returns:
        One row per layer, in the order given: ``layer``, ``accuracy`` (fraction of `val`
        classified correctly), ``feature_dim`` and ``seconds`` (fitting and scoring the probe).
        ``table.attrs["extract_seconds"]`` holds the time spent running the network.

    Raises:
        ValueError: For malformed splits, multi-hot labels, no layers for a model instance, or
            unknown layer names (the message lists the valid ones).

    Example:
        >>> from transfer import datasets
        >>> data = datasets.digits(size=32)
        >>> table = probe_layers("lenet5", (data.x_train, data.y_train),
        ...                      (data.x_test, data.y_test), weights=None, C=1.0)
        >>> list(table.columns)  # doctest: +SKIP
        ['layer', 'accuracy', 'feature_dim', 'seconds']
    """
    return _probe_layers(
        model,
        _probe_input(train, "train"),
        _probe_input(val, "val"),
        layers=layers,
        classifier=classifier,
        C=C,
        weights=weights,
        pooling=pooling,
        image_size=image_size,
        batch_size=batch_size,
        cache_dir=cache_dir,
        random_state=random_state,
    )


def _probe_layers(
    model: str | keras.Model,
    train: tuple[Any, np.ndarray],
    val: tuple[Any, np.ndarray],
    *,
    layers: Sequence[str] | None,
    classifier: str,
    C: float | Sequence[float] | None,  # noqa: N803 (scikit-learn's name)
    weights: str | os.PathLike | None,
    pooling: str | None,
    image_size: tuple[int, int] | None,
    batch_size: int,
    cache_dir: str | os.PathLike | None,
    random_state: int | None,
) -> pd.DataFrame:
    """`probe_layers` on inputs `_probe_input` has checked."""
    (x_train, y_train), (x_val, y_val) = train, val
    if layers is None:
        if not isinstance(model, str):
            raise ValueError("layers must be given for a keras.Model; only zoo names have taps")
        layers = [tap.layer for tap in zoo.model_info(model).feature_taps]
    if isinstance(layers, str) or not layers:
        raise ValueError(f"layers={layers!r} must be a non-empty list of layer names")
    extractor = FeatureExtractor(
        model,
        weights=weights,
        layers=list(layers),
        pooling=pooling,
        batch_size=batch_size,
        cache_dir=cache_dir,
        image_size=image_size,
        progress=False,
    )
    start = time.perf_counter()
    f_train = extractor.fit_transform(x_train)
    f_val = extractor.transform(x_val)
    extract_seconds = time.perf_counter() - start
    dims = _feature_dims(extractor.extractor_, layers, pooling)
    bounds = np.cumsum([0, *dims])
    rows = []
    for layer, begin, end in zip(layers, bounds[:-1], bounds[1:], strict=True):
        start = time.perf_counter()
        probe = LinearProbe(classifier, C=C, calibrate=False, random_state=random_state)
        probe.fit(f_train[:, begin:end], y_train)
        accuracy = float(probe.score(f_val[:, begin:end], y_val))
        seconds = time.perf_counter() - start
        rows.append(
            {
                "layer": layer,
                "accuracy": accuracy,
                "feature_dim": int(end - begin),
                "seconds": seconds,
            }
        )
    table = pd.DataFrame(rows, columns=["layer", "accuracy", "feature_dim", "seconds"])
    table.attrs["extract_seconds"] = extract_seconds
    return table


def plot_layer_accuracy(
    table: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None
) -> Path:
    """Writes a PNG bar chart of `probe_layers`' accuracy per layer, the best bar highlighted.

    Uses Matplotlib's Agg canvas directly (no pyplot, no display needed).

    Args:
        table: A `probe_layers` table (columns ``layer`` and ``accuracy`` at least).
        path: The PNG file to write; its folder must exist.
        title: Title of the chart; None: "Linear probe accuracy per layer".

    Returns:
        The path written.

    Raises:
        ValueError: If `table` is empty or lacks the ``layer`` or ``accuracy`` column.

    Example:
        >>> table = pd.DataFrame({"layer": ["s2", "s4"], "accuracy": [0.5, 0.8]})
        >>> plot_layer_accuracy(table, "probe.png").suffix  # doctest: +SKIP
        '.png'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    missing = {"layer", "accuracy"} - set(table.columns)
    if missing or table.empty:
        raise ValueError(
            f"table must be a non-empty probe_layers table with columns 'layer' and 'accuracy'; "
            f"missing {sorted(missing)}, {len(table)} rows"
        )
    path = Path(path)
    width = max(4.0, 1.2 * len(table))
    figure = Figure(figsize=(width, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    accuracy = table["accuracy"].to_numpy(dtype=float)
    colors = ["tab:orange" if i == accuracy.argmax() else "tab:blue" for i in range(len(table))]
    bars = axes.bar(table["layer"].astype(str), accuracy, color=colors)
    axes.bar_label(bars, labels=[f"{a:.1%}" for a in accuracy], fontsize=8)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("layer (shallow to deep)")
    axes.set_ylabel("validation accuracy")
    # About 9 title characters fit an inch (measured); wrapping at 8 never cuts a long title.
    axes.set_title(textwrap.fill(title or "Linear probe accuracy per layer", int(width * 8)))
    axes.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.savefig(path, format="png", dpi=100)
    return path
