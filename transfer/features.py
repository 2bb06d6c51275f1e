"""Frozen CNN features as a scikit-learn transformer, with a disk cache.

`FeatureExtractor` runs a pretrained network (a zoo name or any `keras.Model`) over images and
returns one row of pooled activations per image, so that a linear model or an SVM can be trained
on top (``make_pipeline(FeatureExtractor("efficientnet_lite0"), LinearProbe("linear_svm"))``).
It follows the convention of `transfer`: images of any size are resized inside the network's graph
to the weights' training resolution unless ``image_size`` says otherwise.

Feature maps are pooled to vectors by `pool_features`: average, max, GeM (Radenović, Tolias and
Chum, "Fine-tuning CNN Image Retrieval with No Human Annotation", TPAMI 2018, arXiv:1711.02512)
or R-MAC (Tolias, Sicre and Jégou, "Particular object retrieval with integral max-pooling of CNN
activations", ICLR 2016, arXiv:1511.05879).

With ``cache_dir`` set, features are stored as ``.npy`` files keyed by everything that changes
them: the model and the identity of its weights, the layers, the pooling, the preprocessing, the
image size and a fingerprint of the input images. A second `transform` of the same data loads the
file (memory-mapped) instead of running the network. Files are written with `zoo.files.atomic_path`
(a temporary name, then `os.replace`), so two processes filling the same cache never leave a torn
file.

Example:
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> probe = make_pipeline(FeatureExtractor("efficientnet_lite0"), LogisticRegression())
    >>> probe.fit(images, labels)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from sklearn.base import BaseEstimator, TransformerMixin

from transfer._checks import positive_int
from transfer.backbone import AUTO, Backbone, resolve_backbone
from transfer.data import ImageDataset, to_channels
from zoo.builder import POOLINGS
from zoo.extract import layer_names
from zoo.files import atomic_path, sha256sum
from zoo.preprocessing import Preprocessing

__all__ = [
    "FEATURE_POOLINGS",
    "GEM_EPS",
    "GEM_P",
    "FeatureExtractor",
    "generalized_mean",
    "pool_features",
    "rmac_regions",
]

# The zoo builders' poolings (None, "avg", "max"; None flattens here) and two retrieval ones.
FEATURE_POOLINGS = (*POOLINGS, "gem", "rmac")
GEM_P = 3.0
# Activations are clamped from below to this before GeM's power.
GEM_EPS = 1e-6
RMAC_LEVELS = 3
_EPS = 1e-6
# Bumped when the stored layout or the pooling arithmetic changes, to invalidate old files.
_CACHE_VERSION = 2


def rmac_regions(height: int, width: int, *, levels: int = RMAC_LEVELS) -> list[tuple[int, ...]]:
    """The square regions R-MAC max-pools over, as ``(top, left, size)``.

    Tolias et al. (ICLR 2016, arXiv:1511.05879, section 3): at scale ``l = 1..levels`` the
    regions have side ``floor(2 * min(H, W) / (l + 1))`` and are spread uniformly over the map,
    ``l`` per dimension plus ``m`` more along the longer one, where ``m`` (0 to 5) makes
    neighbouring scale-1 regions overlap by the closest to 40%. The grid arithmetic follows the
    authors' released code (as in Radenović's cirtorch ``rmac``), without its extra
    whole-map region.

    Args:
        height: Height of the feature map.
        width: Width of the feature map.
        levels: Number of scales ``L``.

    Returns:
        The regions, scale by scale, row by row.

    Example:
        >>> rmac_regions(2, 3, levels=1)
        [(0, 0, 2), (0, 1, 2)]
    """
    short = min(height, width)
    extra = 0
    if height != width:
        steps = np.arange(2, 8)
        gaps = (max(height, width) - short) / (steps - 1)
        # Overlap of two neighbouring scale-1 regions of side `short` for 2..7 of them.
        extra = int(np.argmin(np.abs((short**2 - short * gaps) / short**2 - 0.4))) + 1
    extra_w, extra_h = (extra, 0) if width > height else (0, extra)
    regions = []
    for level in range(1, levels + 1):
        side = math.floor(2 * short / (level + 1))
        if side == 0:
            continue
        half = math.floor(side / 2 - 1)

        def starts(length: int, count: int, side: int = side, half: int = half) -> list[int]:
            step = 0 if count == 1 else (length - side) / (count - 1)
            return [int(math.floor(half + i * step) - half) for i in range(count)]

        for top in starts(height, level + extra_h):
            for left in starts(width, level + extra_w):
                regions.append((top, left, side))
    return regions


def _l2_normalize(x: Any) -> Any:
    return x / (keras.ops.sqrt(keras.ops.sum(x * x, axis=-1, keepdims=True)) + _EPS)


def generalized_mean(maps: Any, *, p: float = GEM_P, eps: float = GEM_EPS) -> Any:
    """GeM pooling of ``(batch, height, width, channels)`` maps to ``(batch, channels)``.

    ``mean(max(x, eps) ** p) ** (1 / p)`` per channel (Radenović, Tolias and Chum, TPAMI 2018,
    arXiv:1711.02512); the one formula behind `pool_features`'s ``"gem"`` and
    `transfer.export.GeMPooling2D`.

    Example:
        >>> tuple(generalized_mean(np.full((1, 2, 2, 3), 2.0, "float32"), p=1.0).shape)
        (1, 3)
    """
    powers = keras.ops.power(keras.ops.maximum(maps, eps), p)
    return keras.ops.power(keras.ops.mean(powers, axis=(1, 2)), 1.0 / p)


def pool_features(maps: Any, pooling: str | None) -> np.ndarray:
    """Pools a batch of activations to one float32 vector per example.

    Rank-4 ``(batch, height, width, channels)`` maps are pooled; other activations (a dense
    layer's ``(batch, units)``) are flattened whatever `pooling` says.

    Args:
        maps: The activations.
        pooling: ``"avg"``; ``"max"``; ``"gem"``: ``mean(max(x, 1e-6) ** 3) ** (1 / 3)`` per
            channel (Radenović et al., TPAMI 2018, arXiv:1711.02512); ``"rmac"``: the
            max-pooled, L2-normalised `rmac_regions` summed and L2-normalised (Tolias et al.,
            ICLR 2016, arXiv:1511.05879; the paper's per-region PCA-whitening is left out, as
            it has to be learnt); None: flatten.

    Returns:
        A ``(batch, features)`` float32 array.

    Raises:
        ValueError: If `pooling` is not one of `FEATURE_POOLINGS`.

    Example:
        >>> pool_features(np.arange(8.0).reshape(1, 2, 2, 2), "avg")
        array([[3., 4.]], dtype=float32)
    """
    if pooling not in FEATURE_POOLINGS:
        raise ValueError(f"pooling={pooling!r} must be one of {FEATURE_POOLINGS}")
    x = keras.ops.cast(keras.ops.convert_to_tensor(maps), "float32")
    if len(x.shape) != 4 or pooling is None:
        pooled = keras.ops.reshape(x, (x.shape[0], -1))
    elif pooling == "avg":
        pooled = keras.ops.mean(x, axis=(1, 2))
    elif pooling == "max":
        pooled = keras.ops.max(x, axis=(1, 2))
    elif pooling == "gem":
        pooled = generalized_mean(x)
    else:
        total = 0.0
        for top, left, side in rmac_regions(x.shape[1], x.shape[2]):
            region = x[:, top : top + side, left : left + side, :]
            total = total + _l2_normalize(keras.ops.max(region, axis=(1, 2)))
        pooled = _l2_normalize(total)
    return np.asarray(keras.ops.convert_to_numpy(pooled), dtype=np.float32)


def _array_digest(array: Any, digest: Any) -> None:
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """Frozen activations of a network as a scikit-learn transformer.

    `fit` does nothing (the network is not trained); `transform` maps images to a
    ``(n_images, n_features)`` float32 matrix: each layer's activations pooled by
    `pool_features`, the layers concatenated in the order given. The network's graph starts with
    the resize to the image size and the weights' preprocessing, so arrays, tf.data datasets and
    `ImageDataset` objects of any image size and 1 or 3 channels are read alike, and
    `transfer.export.export_probe` reuses the very same graph.

    Args:
        model: A zoo model name or a `keras.Model` taking images in [0, 255].
        weights: For a zoo name: a weights tag, a weights file or None (random weights). A
            `keras.Model` carries its own.
        layers: A layer name or a list of them; None is the deepest registered feature tap of a
            zoo name (a `keras.Model`'s last layer), ``"taps"`` all of its taps.
        image_size: ``(height, width)`` or one int, the size every image is resized to; None is
            the weights' training resolution (see `transfer.backbone.resolve_backbone`).
        preprocessing: ``"auto"`` (the registered weights set's), a
            `zoo.preprocessing.Preprocessing`, or None for raw pixels.
        pooling: One of `FEATURE_POOLINGS`; see `pool_features`.
        batch_size: Images per forward pass.
        cache_dir: Folder for cached features (``~`` expanded); None disables the cache.
        progress: Show a Keras progress bar while the network runs.

    Attributes:
        extractor_: The `keras.Model` from raw images to the activations, built on first use.
        backbone_: The resolved `transfer.backbone.Backbone` (weights set, size, preprocessing).
        layers_: The names of the layers whose activations make the features, in order.

    Example:
        >>> extractor = FeatureExtractor("lenet5", weights=None, layers="s4", pooling="max")
        >>> extractor.fit_transform(np.zeros((2, 32, 32, 1), np.uint8)).shape  # doctest: +SKIP
        (2, 16)
    """

    def __init__(
        self,
        model: str | keras.Model = "efficientnet_lite0",
        *,
        weights: str | os.PathLike | None = "imagenet",
        layers: str | Sequence[str] | None = None,
        image_size: int | Sequence[int] | None = None,
        preprocessing: Preprocessing | str | None = AUTO,
        pooling: str | None = "avg",
        batch_size: int = 32,
        cache_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ):
        self.model = model
        self.weights = weights
        self.layers = layers
        self.image_size = image_size
        self.preprocessing = preprocessing
        self.pooling = pooling
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.progress = progress

    def __sklearn_clone__(self) -> FeatureExtractor:
        # The default clone deep-copies parameters; a network is shared, never copied.
        return type(self)(**self.get_params(deep=False))

    def fit(self, X: Any = None, y: Any = None) -> FeatureExtractor:  # noqa: N803 (sklearn API)
        """Checks the parameters, builds the network and returns self; nothing is learnt.

        Example:
            >>> FeatureExtractor("lenet5", weights=None).fit(None) is not None
            True
        """
        self._build()
        return self

    def transform(self, X: Any) -> np.ndarray:  # noqa: N803 (sklearn API)
        """Features of the images in `X`.

        Args:
            X: An `ImageDataset`; a `tf.data.Dataset` of image batches or of
                ``(images, labels)`` batches (unbatched elements are batched); or an
                ``(n, height, width, channels)`` array of pixels in [0, 255]. Any image size;
                1 or 3 channels (grey is repeated to RGB, RGB turned to luma, as the network
                needs).

        Returns:
            The ``(n, n_features)`` float32 matrix (memory-mapped when read from the cache).

        Raises:
            ValueError: For bad parameters, unknown layer names or images of the wrong rank.
            TypeError: If `X` or a parameter has the wrong type.

        Example:
            >>> FeatureExtractor("lenet5", weights=None, pooling="avg").transform(
            ...     np.zeros((3, 32, 32, 1), np.uint8)).shape  # doctest: +SKIP
            (3, 120)
        """
        self._build()
        batches, count = self._batches(X)
        if self.cache_dir is None:
            return self._run(batches, count)
        key = self._cache_key(X, batches)
        path = Path(self.cache_dir).expanduser() / f"{key['digest']}.npy"
        if path.exists():
            return np.load(path, mmap_mode="r")
        features = self._run(batches, count)
        _atomic_save(path, features, key)
        return features

    def _check_params(self) -> None:
        if self.pooling not in FEATURE_POOLINGS:
            raise ValueError(f"pooling={self.pooling!r} must be one of {FEATURE_POOLINGS}")
        positive_int(self.batch_size, what="batch_size")
        if self.cache_dir is not None and not isinstance(self.cache_dir, str | os.PathLike):
            raise TypeError(f"cache_dir must be a folder path or None, got {self.cache_dir!r}")

    def _build(self) -> None:
        """Builds `extractor_` and the part of the cache key that describes the network."""
        if getattr(self, "extractor_", None) is not None:
            return
        self._check_params()
        backbone = resolve_backbone(
            self.model,
            weights=self.weights,
            image_size=self.image_size,
            preprocessing=self.preprocessing,
        )
        layers = layer_names(self.model, self.layers)
        if layers is None:  # a keras.Model's last layer
            layers = [self.model.layers[-1].name]
        self.backbone_ = backbone
        self.layers_ = layers
        self.extractor_ = backbone.extractor(layers)
        self._model_key = _model_key(backbone, self.extractor_)

    def _batches(self, X: Any) -> tuple[tf.data.Dataset | np.ndarray, int | None]:  # noqa: N803
        """The input as batches (a dataset or an array) and their number, if known."""
        if isinstance(X, ImageDataset):
            dataset = X.to_tf_dataset(
                image_size=self.backbone_.image_size,
                batch_size=self.batch_size,
                channels=self.backbone_.channels,
                cache=False,
            )
            return dataset.map(lambda images, labels: images), math.ceil(len(X) / self.batch_size)
        if isinstance(X, tf.data.Dataset):
            spec = X.element_spec
            if isinstance(spec, tuple):
                X = X.map(lambda images, *rest: images)  # noqa: N806
                spec = spec[0]
            if spec.shape.rank == 3:
                X = X.batch(self.batch_size)  # noqa: N806
            elif spec.shape.rank != 4:
                raise ValueError(
                    f"dataset elements of shape {spec.shape} must be images (h, w, c) or "
                    "batches of them (n, h, w, c)"
                )
            cardinality = int(X.cardinality())
            return X, cardinality if cardinality >= 0 else None
        if isinstance(X, np.ndarray):
            if X.ndim != 4:
                raise ValueError(
                    f"an image array must be (n, height, width, channels), got {X.shape}"
                )
            return X, math.ceil(len(X) / self.batch_size)
        raise TypeError(
            "X must be an ImageDataset, a tf.data.Dataset or a (n, h, w, c) NumPy array, "
            f"got {type(X).__name__}"
        )

    def _iterate(self, batches: tf.data.Dataset | np.ndarray) -> Iterator[np.ndarray]:
        if isinstance(batches, np.ndarray):
            for start in range(0, len(batches), self.batch_size):
                yield batches[start : start + self.batch_size]
        else:
            for batch in batches:
                yield np.asarray(batch)

    def _run(self, batches: tf.data.Dataset | np.ndarray, count: int | None) -> np.ndarray:
        bar = keras.utils.Progbar(count, unit_name="batch") if self.progress else None
        channels = self.backbone_.channels
        rows = []
        for step, images in enumerate(self._iterate(batches), start=1):
            images = to_channels(images, channels)  # float32, the network's channels
            outputs = self.extractor_(images, training=False)
            rows.append(
                np.concatenate(
                    [pool_features(outputs[name], self.pooling) for name in self.layers_],
                    axis=1,
                )
            )
            if bar is not None:
                bar.update(step)
        if not rows:
            raise ValueError("no images to extract features from")
        return np.concatenate(rows, axis=0)

    def _cache_key(self, X: Any, batches: Any) -> dict[str, Any]:  # noqa: N803
        key = {
            "version": _CACHE_VERSION,
            **self._model_key,
            "layers": self.layers_,
            "pooling": self.pooling,
            "image_size": list(self.backbone_.image_size),
            "data": _fingerprint(X, batches, self),
        }
        text = json.dumps(key, sort_keys=True, default=str).encode()
        key["digest"] = hashlib.sha256(text).hexdigest()
        return key


# The fields of a `zoo.registry.WeightsSpec` that identify its weights.
_SPEC_IDENTITY = ("tag", "file", "file_notop", "sha256", "sha256_notop", "md5", "md5_notop")
_SPEC_IDENTITY += ("sha256_prefix",)


def _model_key(backbone: Backbone, extractor: keras.Model) -> dict[str, Any]:
    """What identifies the network in the cache key: name, weights and preprocessing."""
    spec, weights = backbone.weights_spec, backbone.weights
    architecture = None
    if not isinstance(backbone.model, str):
        identity = {"weights_sha256": _weights_sha256(extractor)}
        # Whatever preprocessing the model holds is in its configuration.
        architecture = _architecture_sha256(backbone.model)
    elif weights is None:
        identity = {"random_weights_sha256": _weights_sha256(extractor)}
    elif spec is not None:  # a tag, or a file of the set (its bytes are the set's): one key
        identity = {field: getattr(spec, field) for field in _SPEC_IDENTITY}
    else:
        identity = {"file_sha256": sha256sum(os.path.expanduser(weights))}
    preprocessing = backbone.preprocessing
    return {
        "model": backbone.name,
        "weights": identity,
        "architecture_sha256": architecture,
        "preprocessing": dataclasses.asdict(preprocessing) if preprocessing else None,
    }


def _weights_sha256(model: keras.Model) -> str:
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.path.encode())
        _array_digest(keras.ops.convert_to_numpy(weight), digest)
    return digest.hexdigest()


def _architecture_sha256(model: keras.Model) -> str:
    try:
        text = model.to_json()
    except (NotImplementedError, TypeError):  # A subclassed model without get_config.
        text = repr([(layer.name, type(layer).__name__) for layer in model.layers])
    return hashlib.sha256(text.encode()).hexdigest()


def _fingerprint(X: Any, batches: Any, extractor: FeatureExtractor) -> dict[str, Any]:  # noqa: N803
    """Identifies the input images: file names, sizes and mtimes, or the pixels' bytes."""
    digest = hashlib.sha256()
    if isinstance(X, ImageDataset) and X.files is not None:
        for file in X.files:
            stat = os.stat(file)
            digest.update(f"{os.path.abspath(file)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return {"files_sha256": digest.hexdigest()}
    if isinstance(X, ImageDataset):
        for image in X.images if isinstance(X.images, list) else [X.images]:
            _array_digest(image, digest)
        return {"pixels_sha256": digest.hexdigest()}
    # Arrays, and tf.data datasets (read once more here: cheaper than the network).
    for batch in extractor._iterate(batches):
        _array_digest(batch, digest)
    return {"pixels_sha256": digest.hexdigest()}


def _atomic_save(path: Path, features: np.ndarray, key: dict[str, Any]) -> None:
    """Writes the key (for people) and then `features`, each with `zoo.files.atomic_path`."""
    with atomic_path(path.with_suffix(".json")) as temporary:
        temporary.write_text(json.dumps(key, indent=2))
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.save(handle, features)
