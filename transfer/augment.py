"""The seeds' data augmentations as serializable Keras layers, and presets composed of them.

Keras' core already has most augmentations (``RandomFlip``, ``RandomCrop``,
``RandomTranslation``, ``RandomRotation``, ``RandomZoom``, ``RandomColorJitter``,
``RandomGrayscale``, ``RandAugment``, ``MixUp``, ``CutMix`` ...); this module adds the three the
papers used that it lacks and composes everything else:

- `ScaleJitter`: VGG's scale jittering (Simonyan & Zisserman, ICLR 2015, arXiv:1409.1556);
- `HSVJitter`: the HSV colour transformations of Dosovitskiy et al. (NIPS 2014, arXiv:1406.6909);
- `PCALighting`: AlexNet's "fancy PCA" lighting noise (Krizhevsky et al., NIPS 2012);
- `rotation_and_scale`: random rotation followed by random zoom (two core layers);
- `augmentation`: the ``"none" | "light" | "standard" | "heavy"`` presets.

Like Keras' own preprocessing layers, each layer is random only when called with
``training=True``, which is also the default of a bare call, so ``dataset.map(layer)``
augments; inside a model, ``predict``/``evaluate`` pass ``training=False`` and the layers are
the identity (`ScaleJitter` then resizes and centre-crops instead). Each takes a `seed` and
draws from its own ``keras.random.SeedGenerator``: two layers built with the same seed produce
the same sequence of augmentations. They accept one image ``(H, W, 3)`` or a batch
``(N, H, W, 3)`` (channels last) with values in `value_range`.

Example:
    >>> import numpy as np
    >>> augment = augmentation("standard", seed=0)
    >>> augment(np.zeros((2, 32, 32, 3), "float32")).shape
    TensorShape([2, 32, 32, 3])
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from transfer._checks import size_pair
from zoo.preprocessing import check_interpolation

__all__ = [
    "IMAGENET_EIGENVALUES",
    "IMAGENET_EIGENVECTORS",
    "PRESETS",
    "SCALE_JITTER_INTERPOLATIONS",
    "HSVJitter",
    "PCALighting",
    "ScaleJitter",
    "augmentation",
    "rotation_and_scale",
]

# The resampling kernels of keras.ops.image.scale_and_translate, in zoo.preprocessing's spelling.
SCALE_JITTER_INTERPOLATIONS = ("bilinear", "bicubic", "lanczos3", "lanczos5")
# The eigen-decomposition of the covariance of ImageNet's RGB pixels (values scaled to [0, 1])
# published with fb.resnet.torch (datasets/imagenet.lua, `pca`) and reused by mmpretrain and
# ClassyVision; AlexNet's paper gives none. Column j of the matrix is the eigenvector of the
# j-th eigenvalue; rows are R, G, B.
IMAGENET_EIGENVALUES = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGENVECTORS = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


def _pair(value: Any, *, what: str, low: float | None = None) -> tuple[float, float]:
    """``value`` as a ``(min, max)`` pair of floats, checked to be ordered and >= `low`."""
    try:
        pair = tuple(float(v) for v in value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or pair[0] > pair[1] or (low is not None and pair[0] < low):
        bound = "" if low is None else f" with min >= {low}"
        raise ValueError(f"{what}={value!r} must be a (min, max) pair with min <= max{bound}")
    return pair


class _RandomImageLayer(keras.layers.Layer):
    """Shared plumbing: seed, value range, unbatched inputs, the training switch."""

    def __init__(
        self, *, value_range: Sequence[float] = (0, 255), seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.value_range = _pair(value_range, what="value_range")
        if self.value_range[0] == self.value_range[1]:
            raise ValueError(f"value_range={value_range!r} must have min < max")
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool = True) -> Any:
        """Augments `images` when `training`, else applies `inference` (the identity)."""
        images = ops.cast(images, self.compute_dtype)
        unbatched = len(images.shape) == 3
        batch = images[None] if unbatched else images
        batch = self.augment(batch) if training else self.inference(batch)
        return batch[0] if unbatched else batch

    def augment(self, images: Any) -> Any:
        """Random transformation of a float batch ``(N, H, W, C)``."""
        raise NotImplementedError

    def inference(self, images: Any) -> Any:
        """What the layer does when not training: nothing."""
        return images

    def to_unit(self, images: Any) -> Any:
        """Maps `value_range` to [0, 1]."""
        low, high = self.value_range
        return (images - low) / (high - low)

    def from_unit(self, images: Any) -> Any:
        """Maps [0, 1] back to `value_range`."""
        low, high = self.value_range
        return images * (high - low) + low

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """Same shape as the input."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `.keras` files."""
        return {**super().get_config(), "value_range": self.value_range, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerazoo")
class ScaleJitter(_RandomImageLayer):
    """VGG's scale jittering: resize the shorter side to a random S, then crop at random.

    Training (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
    Recognition", ICLR 2015, arXiv:1409.1556, section 3.1): the shorter side is resized to an
    integer S drawn uniformly from `scale_range` (VGG: [256, 512]) keeping the aspect ratio,
    then a `crop_size` window (224) is cut at a random position. At inference the shorter side
    is resized to `eval_size` and the centre cropped. Images of any size map to `crop_size`.
    One S and one crop position are drawn per call: map the layer over single images in
    ``tf.data`` (before ``batch``) to jitter every image independently.

    Args:
        crop_size: ``(height, width)`` of the output, or one int for both.
        scale_range: ``(min, max)`` of S, inclusive; min must be at least the crop's sides.
        eval_size: Shorter side at inference. None: ``scale_range[0]`` (256 -> 224, the
            usual single-crop evaluation; VGG's own test scale Q = (min + max) / 2 was meant
            for dense evaluation of the whole image).
        interpolation: Antialiased resampling kernel (``keras.ops.image.scale_and_translate``),
            one of `SCALE_JITTER_INTERPOLATIONS`: ``"bilinear"``, ``"bicubic"``,
            ``"lanczos3"`` or ``"lanczos5"`` (`zoo.preprocessing.INTERPOLATIONS`' spelling).
        value_range: Range of the pixel values (kept; only stored for the shared interface).
        seed: Seed of the layer's random generator.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> jitter = ScaleJitter(crop_size=32, scale_range=(36, 64), seed=1)
        >>> jitter(np.zeros((40, 50, 3), "float32")).shape
        TensorShape([32, 32, 3])
    """

    def __init__(
        self,
        crop_size: int | Sequence[int] = 224,
        scale_range: Sequence[int] = (256, 512),
        eval_size: int | None = None,
        interpolation: str = "bilinear",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.crop_size = size_pair(crop_size, what="crop_size")
        low, high = _pair(scale_range, what="scale_range", low=max(self.crop_size))
        if low != int(low) or high != int(high):
            raise ValueError(f"scale_range={scale_range!r} must hold ints")
        self.scale_range = (int(low), int(high))
        self.eval_size = self.scale_range[0] if eval_size is None else eval_size
        if not isinstance(self.eval_size, int) or self.eval_size < max(self.crop_size):
            raise ValueError(
                f"eval_size={eval_size!r} must be an int >= the crop size {self.crop_size}"
            )
        self.interpolation = check_interpolation(
            interpolation, supported=SCALE_JITTER_INTERPOLATIONS
        )

    def _scaled_crop(self, images: Any, side: Any, *, centre: bool) -> Any:
        """Crop of the image resized to shorter side `side`, computed in one resampling.

        ``scale_and_translate`` samples only the window that is kept (antialiased), so the
        full-size resized image never exists and every size can be a tensor, as in tf.data.
        """
        shape = ops.shape(images)
        height = ops.cast(shape[1], "float32")
        width = ops.cast(shape[2], "float32")
        ratio = ops.cast(side, "float32") / ops.minimum(height, width)
        spare_rows = ops.round(height * ratio) - self.crop_size[0]
        spare_cols = ops.round(width * ratio) - self.crop_size[1]
        if centre:
            top, left = ops.floor(spare_rows / 2), ops.floor(spare_cols / 2)
        else:
            top = ops.floor(keras.random.uniform((), 0.0, spare_rows + 1, seed=self.generator))
            left = ops.floor(keras.random.uniform((), 0.0, spare_cols + 1, seed=self.generator))
        return ops.image.scale_and_translate(
            images,
            (1, *self.crop_size, 1),
            scale=ops.stack([ratio, ratio]),
            translation=ops.stack([-top, -left]),
            spatial_dims=(1, 2),
            method=self.interpolation,
        )

    def augment(self, images: Any) -> Any:
        """Random shorter side in `scale_range`, random crop."""
        low, high = self.scale_range
        side = keras.random.randint((), low, high + 1, seed=self.generator)
        return self._scaled_crop(images, side, centre=False)

    def inference(self, images: Any) -> Any:
        """Shorter side to `eval_size`, centre crop."""
        return self._scaled_crop(images, self.eval_size, centre=True)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The input's shape with the crop's height and width."""
        return (*input_shape[:-3], *self.crop_size, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `.keras` files."""
        return {
            **super().get_config(),
            "crop_size": self.crop_size,
            "scale_range": self.scale_range,
            "eval_size": self.eval_size,
            "interpolation": self.interpolation,
        }


@keras.saving.register_keras_serializable(package="kerazoo")
class HSVJitter(_RandomImageLayer):
    """Random colour changes in HSV space, as in Dosovitskiy et al.'s Exemplar CNNs.

    "Discriminative Unsupervised Feature Learning with Convolutional Neural Networks"
    (Dosovitskiy, Springenberg, Riedmiller & Brox, NIPS 2014, arXiv:1406.6909), section 2:
    per image, the saturation S and value V of every pixel (in [0, 1]) become
    ``clip(x ** power * scale + shift, 0, 1)``, and ``shift_hue`` is added to the hue modulo 1.
    S and V draw their own power, scale and shift; `power` is drawn log-uniformly (so that
    1/4 and 4 are equally likely), the others uniformly.

    Args:
        power_range: ``(min, max)`` of the power, positive (paper: [0.25, 4]).
        scale_range: ``(min, max)`` of the factor (paper: [0.7, 1.4]).
        shift_range: ``(min, max)`` of the added value (paper: [-0.1, 0.1]).
        hue_range: ``(min, max)`` of the hue shift, in turns (paper: [-0.1, 0.1]).
        value_range: Range of the RGB pixel values, e.g. ``(0, 255)`` or ``(0, 1)``.
        seed: Seed of the layer's random generator.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> HSVJitter(seed=0)(np.full((4, 4, 3), 128, "float32")).shape
        TensorShape([4, 4, 3])
    """

    def __init__(
        self,
        power_range: Sequence[float] = (0.25, 4.0),
        scale_range: Sequence[float] = (0.7, 1.4),
        shift_range: Sequence[float] = (-0.1, 0.1),
        hue_range: Sequence[float] = (-0.1, 0.1),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.power_range = _pair(power_range, what="power_range", low=1e-6)
        self.scale_range = _pair(scale_range, what="scale_range", low=0.0)
        self.shift_range = _pair(shift_range, what="shift_range")
        self.hue_range = _pair(hue_range, what="hue_range")

    def _uniform(self, batch: Any, bounds: tuple[float, float]) -> Any:
        return keras.random.uniform((batch, 1, 1), *bounds, seed=self.generator)

    def _jitter(self, channel: Any, batch: Any) -> Any:
        log_power = self._uniform(batch, tuple(float(np.log(p)) for p in self.power_range))
        scaled = ops.power(channel, ops.exp(log_power)) * self._uniform(batch, self.scale_range)
        return ops.clip(scaled + self._uniform(batch, self.shift_range), 0.0, 1.0)

    def augment(self, images: Any) -> Any:
        """Random power, factor and shift of S and V; random hue shift."""
        batch = ops.shape(images)[0]
        hsv = ops.image.rgb_to_hsv(ops.clip(self.to_unit(images), 0.0, 1.0))
        hue = ops.mod(hsv[..., 0] + self._uniform(batch, self.hue_range), 1.0)
        saturation = self._jitter(hsv[..., 1], batch)
        value = self._jitter(hsv[..., 2], batch)
        rgb = ops.image.hsv_to_rgb(ops.stack([hue, saturation, value], axis=-1))
        return self.from_unit(rgb)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `.keras` files."""
        return {
            **super().get_config(),
            "power_range": self.power_range,
            "scale_range": self.scale_range,
            "shift_range": self.shift_range,
            "hue_range": self.hue_range,
        }


@keras.saving.register_keras_serializable(package="kerazoo")
class PCALighting(_RandomImageLayer):
    """AlexNet's "fancy PCA" lighting noise along the principal components of RGB pixels.

    Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
    Networks", NIPS 2012, section 4.1: to every pixel of an image add
    ``eigenvectors @ (alpha * eigenvalues)`` with ``alpha ~ N(0, stddev**2)`` drawn once per
    image, where the eigen-decomposition is that of the 3x3 covariance of the training set's
    RGB values (scaled to [0, 1]; the offset is scaled back to `value_range`). Not clipped,
    as in the paper. Defaults to ImageNet's published decomposition (`IMAGENET_EIGENVALUES`,
    from fb.resnet.torch); fit your own with `from_images`.

    Args:
        eigenvalues: The three eigenvalues, for pixels in [0, 1].
        eigenvectors: 3x3 matrix whose column j is the eigenvector of ``eigenvalues[j]``.
        stddev: Standard deviation of ``alpha`` (paper: 0.1).
        value_range: Range of the pixel values, e.g. ``(0, 255)`` or ``(0, 1)``.
        seed: Seed of the layer's random generator.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> PCALighting(seed=0)(np.full((1, 4, 4, 3), 128, "float32")).shape
        TensorShape([1, 4, 4, 3])
    """

    def __init__(
        self,
        eigenvalues: Sequence[float] = IMAGENET_EIGENVALUES,
        eigenvectors: Sequence[Sequence[float]] = IMAGENET_EIGENVECTORS,
        stddev: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        values = np.asarray(eigenvalues, dtype=np.float64)
        vectors = np.asarray(eigenvectors, dtype=np.float64)
        if values.shape != (3,) or vectors.shape != (3, 3):
            raise ValueError(
                f"eigenvalues {values.shape} and eigenvectors {vectors.shape} must have shapes "
                "(3,) and (3, 3)"
            )
        if stddev < 0:
            raise ValueError(f"stddev={stddev!r} must be >= 0")
        self.eigenvalues = tuple(float(v) for v in values)
        self.eigenvectors = tuple(tuple(float(v) for v in row) for row in vectors)
        self.stddev = float(stddev)

    @classmethod
    def from_images(
        cls,
        images: np.ndarray | Iterable[Any],
        *,
        value_range: Sequence[float] = (0, 255),
        **kwargs: Any,
    ) -> PCALighting:
        """A `PCALighting` whose components are fit on the RGB pixels of training images.

        Args:
            images: An array ``(..., 3)`` of RGB pixels, or an iterable of such arrays or
                tensors (a ``tf.data.Dataset`` of image batches; of ``(images, labels)``
                tuples the images are used).
            value_range: Range of the pixel values.
            **kwargs: Further `PCALighting` arguments (``stddev``, ``seed`` ...).

        Returns:
            The layer, eigenvalues in decreasing order.

        Raises:
            ValueError: If the images are not RGB or hold fewer than two pixels.

        Example:
            >>> rgb = np.random.default_rng(0).uniform(0, 255, (10, 8, 8, 3))
            >>> len(PCALighting.from_images(rgb).eigenvalues)
            3
        """
        low, high = _pair(value_range, what="value_range")
        batches = [images] if isinstance(images, np.ndarray) else images
        count, total, outer = 0, np.zeros(3), np.zeros((3, 3))
        for batch in batches:
            batch = batch[0] if isinstance(batch, (tuple, list)) else batch
            pixels = np.asarray(batch, dtype=np.float64)
            if pixels.shape[-1:] != (3,):
                raise ValueError(f"images of shape {pixels.shape} must be RGB (..., 3)")
            pixels = (pixels.reshape(-1, 3) - low) / (high - low)
            count += len(pixels)
            total += pixels.sum(axis=0)
            outer += pixels.T @ pixels
        if count < 2:
            raise ValueError(f"need at least 2 pixels to fit a covariance, got {count}")
        mean = total / count
        covariance = (outer - count * np.outer(mean, mean)) / (count - 1)
        values, vectors = np.linalg.eigh(covariance)
        order = np.argsort(values)[::-1]
        return cls(
            eigenvalues=np.clip(values[order], 0.0, None),
            eigenvectors=vectors[:, order],
            value_range=value_range,
            **kwargs,
        )

    def augment(self, images: Any) -> Any:
        """Adds one random combination of the principal components to every pixel."""
        batch = ops.shape(images)[0]
        alpha = keras.random.normal((batch, 3), stddev=self.stddev, seed=self.generator)
        weights = alpha * ops.convert_to_tensor(self.eigenvalues, images.dtype)
        vectors = ops.convert_to_tensor(self.eigenvectors, images.dtype)
        offset = ops.matmul(weights, ops.transpose(vectors))
        low, high = self.value_range
        return images + (high - low) * offset[:, None, None, :]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for `.keras` files."""
        return {
            **super().get_config(),
            "eigenvalues": self.eigenvalues,
            "eigenvectors": self.eigenvectors,
            "stddev": self.stddev,
        }


def rotation_and_scale(
    *,
    rotation: float = 0.05,
    scale: float = 0.2,
    fill_mode: str = "reflect",
    seed: int | None = None,
    name: str = "rotation_and_scale",
) -> keras.Sequential:
    """Random rotation then random isotropic zoom: Keras' ``RandomRotation`` + ``RandomZoom``.

    Args:
        rotation: Largest rotation, as a fraction of a full turn (0.05 is 18 degrees).
        scale: Largest relative zoom in or out (0.2: the image is scaled by 0.8 to 1.2).
        fill_mode: How to fill pixels from outside the image (``"reflect"``, ``"constant"`` ...).
        seed: Seed of the first layer; the second gets ``seed + 1``.
        name: Name of the returned model.

    Returns:
        A ``keras.Sequential`` of the two layers.

    Example:
        >>> rotation_and_scale(seed=0)(np.zeros((1, 16, 16, 3), "float32")).shape
        TensorShape([1, 16, 16, 3])
    """
    if rotation < 0 or scale < 0:
        raise ValueError(f"rotation={rotation!r} and scale={scale!r} must be >= 0")
    return keras.Sequential(
        [
            keras.layers.RandomRotation(rotation, fill_mode=fill_mode, seed=seed),
            keras.layers.RandomZoom(
                (-scale, scale),
                fill_mode=fill_mode,
                seed=None if seed is None else seed + 1,
            ),
        ],
        name=name,
    )


def _light(value_range: tuple[float, float], seeds: Iterable[int | None]) -> list[Any]:
    seed = iter(seeds)
    return [
        keras.layers.RandomFlip("horizontal", seed=next(seed)),
        keras.layers.RandomTranslation(0.1, 0.1, seed=next(seed)),
    ]


def _standard(value_range: tuple[float, float], seeds: Iterable[int | None]) -> list[Any]:
    seed = iter(seeds)
    return [
        keras.layers.RandomFlip("horizontal", seed=next(seed)),
        rotation_and_scale(rotation=0.05, scale=0.15, seed=next(seed)),
        keras.layers.RandomTranslation(0.1, 0.1, seed=next(seed)),
        keras.layers.RandomColorJitter(
            value_range=value_range,
            brightness_factor=0.2,
            contrast_factor=0.2,
            saturation_factor=(0.4, 0.6),
            seed=next(seed),
        ),
        PCALighting(value_range=value_range, seed=next(seed)),
    ]


def _heavy(value_range: tuple[float, float], seeds: Iterable[int | None]) -> list[Any]:
    seed = iter(seeds)
    return [
        keras.layers.RandomFlip("horizontal", seed=next(seed)),
        rotation_and_scale(rotation=0.1, scale=0.25, seed=next(seed)),
        keras.layers.RandAugment(value_range=value_range, num_ops=2, seed=next(seed)),
        HSVJitter(value_range=value_range, seed=next(seed)),
        PCALighting(value_range=value_range, seed=next(seed)),
        keras.layers.RandomGrayscale(0.1, seed=next(seed)),
    ]


PRESETS = {"none": None, "light": _light, "standard": _standard, "heavy": _heavy}


def augmentation(
    preset: str = "standard",
    *,
    image_size: int | Sequence[int] | None = None,
    value_range: Sequence[float] = (0, 255),
    seed: int | None = None,
) -> keras.Sequential:
    """A preset augmentation pipeline of core Keras layers and this module's.

    Every preset keeps the image size, is random only with ``training=True`` and is the
    identity at inference, so it can sit at the front of a model or be mapped over a
    ``tf.data`` dataset. The presets:

    - ``"none"``: the identity.
    - ``"light"``: horizontal flip; translation by up to 10% of the height and width.
    - ``"standard"``: horizontal flip; rotation up to 18 degrees and zoom 0.85-1.15
      (`rotation_and_scale`); translation up to 10%; colour jitter (brightness and contrast
      +-20%, mild saturation); AlexNet's PCA lighting with ImageNet's components.
    - ``"heavy"``: horizontal flip; rotation up to 36 degrees and zoom 0.75-1.25;
      ``RandAugment`` (2 operations); `HSVJitter` with the paper's ranges; PCA lighting;
      greyscale with probability 0.1.

    Label-mixing augmentations (``keras.layers.MixUp``, ``keras.layers.CutMix``) need the
    labels and therefore act on ``{"images": ..., "labels": ...}`` batches of the dataset
    rather than in these image-only pipelines; `ScaleJitter` changes the image size and is
    used by the loaders before batching.

    Args:
        preset: One of `PRESETS`.
        image_size: ``(height, width)`` or one int: when given, the pipeline is built for
            ``(height, width, 3)`` inputs (so its summary and shapes are known).
        value_range: Range of the pixel values, e.g. ``(0, 255)`` or ``(0, 1)``.
        seed: Seed of the first random layer; the next ones get ``seed + 1``, ``seed + 2``...
            None: unseeded.

    Returns:
        A ``keras.Sequential`` named ``"augmentation_<preset>"``.

    Raises:
        ValueError: If `preset` is unknown.

    Example:
        >>> augment = augmentation("light", image_size=32, seed=0)
        >>> augment.output_shape
        (None, 32, 32, 3)
    """
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} must be one of {list(PRESETS)}")
    value_range = _pair(value_range, what="value_range")
    seeds = itertools.repeat(None) if seed is None else itertools.count(seed)
    layers = [keras.layers.Identity()] if preset == "none" else PRESETS[preset](value_range, seeds)
    if image_size is not None:
        layers.insert(0, keras.Input((*size_pair(image_size, what="image_size"), 3)))
    return keras.Sequential(layers, name=f"augmentation_{preset}")
