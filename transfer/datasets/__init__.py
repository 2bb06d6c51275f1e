"""Small real image datasets that work offline: shipped with kerazoo or with installed packages.

- `fashion_mnist_subset`: 2,000 Fashion-MNIST images shipped as package data (the embedded real
  dataset of ``make demo``; MIT licence, see ``transfer/datasets/NOTICE.md``).
- `digits`: scikit-learn's 1,797 handwritten digits, 8x8 upscaled.
- `texture_patches`: patches of scikit-image's brick, grass and gravel photographs, split into
  train and test by image region so that overlapping patches never cross the split.

Each returns an `ArraySplit` of uint8 images in [0, 255], ``(N, H, W, C)``, with integer labels
and class names, for a model with ``include_preprocessing=True`` or, through
`ArraySplit.to_datasets`, as ``transfer.data`` datasets with tf.data pipelines.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import io
from typing import TYPE_CHECKING

import keras
import numpy as np

if TYPE_CHECKING:
    from transfer.data import Splits

__all__ = [
    "FASHION_MNIST_CLASSES",
    "TEXTURES",
    "ArraySplit",
    "digits",
    "fashion_mnist_subset",
    "texture_patches",
]

# Fashion-MNIST's label order (Xiao, Rasul & Vollgraf 2017, table 1).
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# scikit-image's bundled texture photographs (512x512 grey), the classes of `texture_patches`.
TEXTURES = ("brick", "grass", "gravel")


@dataclasses.dataclass(frozen=True)
class ArraySplit:
    """A dataset as arrays, split into train and test.

    Attributes:
        x_train: ``(N, H, W, C)`` uint8 images.
        y_train: ``(N,)`` int64 labels, indices into `class_names`.
        x_test: Test images, same layout.
        y_test: Test labels.
        class_names: Name of each label.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    def to_datasets(self) -> Splits:
        """The split as ``transfer.data`` datasets (``train`` and ``test``; ``val`` is None).

        Example:
            >>> train, _, test = digits().to_datasets()
            >>> train.counts["0"], len(test.class_names)
            (142, 10)
        """
        from transfer.data import Splits, from_arrays

        names = list(self.class_names)
        return Splits(
            train=from_arrays(self.x_train, self.y_train, class_names=names),
            test=from_arrays(self.x_test, self.y_test, class_names=names),
        )


def _grey_to(images: np.ndarray, channels: int) -> np.ndarray:
    """``(N, H, W)`` grey images as ``(N, H, W, channels)``: 1 keeps them, 3 repeats them."""
    if channels not in (1, 3):
        raise ValueError(f"channels={channels!r} must be 1 (grey) or 3 (RGB)")
    return np.repeat(images[..., None], channels, axis=-1)


def fashion_mnist_subset(*, channels: int = 1) -> ArraySplit:
    """2,000 Fashion-MNIST images (28x28): 160 per class for training, 40 per class for testing.

    A stratified, seeded subset of Zalando's Fashion-MNIST (Xiao, Rasul & Vollgraf 2017,
    arXiv:1708.07747; MIT licence), drawn from the original training and test sets by
    ``tools/make_fashion_mnist_subset.py``; it ships with kerazoo (885 KB), so no download.

    Args:
        channels: 1 for grey images, 3 to repeat them as RGB (for ImageNet backbones).

    Returns:
        The split; `ArraySplit.class_names` are `FASHION_MNIST_CLASSES`.

    Example:
        >>> data = fashion_mnist_subset()
        >>> data.x_train.shape, data.x_test.shape
        ((1600, 28, 28, 1), (400, 28, 28, 1))
    """
    resource = importlib.resources.files(__name__) / "fashion_mnist_subset.npz"
    with np.load(io.BytesIO(resource.read_bytes()), allow_pickle=False) as data:
        return ArraySplit(
            x_train=_grey_to(data["x_train"], channels),
            y_train=data["y_train"].astype(np.int64),
            x_test=_grey_to(data["x_test"], channels),
            y_test=data["y_test"].astype(np.int64),
            class_names=FASHION_MNIST_CLASSES,
        )


def digits(
    *, size: int = 32, channels: int = 1, test_size: float = 0.2, seed: int = 0
) -> ArraySplit:
    """scikit-learn's handwritten digits (UCI optdigits, 8x8, 16 grey levels), upscaled.

    The 0-16 levels are scaled to 0-255 and resized bilinearly to ``size x size``; the split is
    stratified and seeded.

    Args:
        size: Side of the upscaled images (at least 8).
        channels: 1 for grey images, 3 to repeat them as RGB.
        test_size: Fraction held out for testing.
        seed: Seed of the split.

    Returns:
        The split; class names ``"0"`` ... ``"9"``.

    Example:
        >>> data = digits(size=32)
        >>> data.x_train.shape
        (1437, 32, 32, 1)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size={size!r} must be an int of at least 8 (the digits are 8x8)")
    bunch = load_digits()
    grey = bunch.images.astype("float32") * (255.0 / 16.0)
    resized = keras.ops.image.resize(grey[..., None], (size, size), interpolation="bilinear")
    images = np.clip(np.rint(keras.ops.convert_to_numpy(resized)[..., 0]), 0, 255).astype(np.uint8)
    train, test = train_test_split(
        np.arange(len(images)), test_size=test_size, stratify=bunch.target, random_state=seed
    )
    labels = bunch.target.astype(np.int64)
    return ArraySplit(
        x_train=_grey_to(images[train], channels),
        y_train=labels[train],
        x_test=_grey_to(images[test], channels),
        y_test=labels[test],
        class_names=tuple(str(digit) for digit in range(10)),
    )


def _patches(image: np.ndarray, rows: slice, patch: int, stride: int) -> np.ndarray:
    region = image[rows]
    return np.stack(
        [
            region[top : top + patch, left : left + patch]
            for top in range(0, region.shape[0] - patch + 1, stride)
            for left in range(0, region.shape[1] - patch + 1, stride)
        ]
    )


def texture_patches(
    *, patch: int = 32, stride: int = 16, test_fraction: float = 0.25, channels: int = 1
) -> ArraySplit:
    """Patches of scikit-image's brick, grass and gravel photographs, split by image region.

    Each 512x512 photograph is cut into a training region (its top rows) and a test region (its
    bottom ``test_fraction`` of rows); patches of ``patch x patch`` pixels are taken every
    `stride` pixels inside each region only, so overlapping patches never leak across the split.
    Raw pixels separate these textures poorly, which makes them a test of learned features.

    Args:
        patch: Side of a patch.
        stride: Step between patches (less than `patch` makes them overlap, within a region).
        test_fraction: Fraction of each photograph's rows kept for the test patches.
        channels: 1 for grey patches, 3 to repeat them as RGB.

    Returns:
        The split; class names `TEXTURES`.

    Raises:
        ValueError: If a region is smaller than a patch, or an argument is out of range.

    Example:
        >>> data = texture_patches(patch=32, stride=32)
        >>> data.x_train.shape, data.x_test.shape
        ((576, 32, 32, 1), (192, 32, 32, 1))
    """
    try:
        import skimage.data
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "texture_patches reads scikit-image's bundled photographs: pip install scikit-image"
        ) from None
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction!r} must be in (0, 1)")
    if patch < 1 or stride < 1:
        raise ValueError(f"patch={patch!r} and stride={stride!r} must be positive")
    splits: dict[str, list[np.ndarray]] = {"x_train": [], "y_train": [], "x_test": [], "y_test": []}
    for label, name in enumerate(TEXTURES):
        image = getattr(skimage.data, name)()
        boundary = round(image.shape[0] * (1 - test_fraction))
        for split, rows in (("train", slice(0, boundary)), ("test", slice(boundary, None))):
            height = image[rows].shape[0]
            if height < patch:
                raise ValueError(
                    f"the {split} region of {name} has {height} rows, fewer than patch={patch}"
                )
            patches = _patches(image, rows, patch, stride)
            splits[f"x_{split}"].append(patches)
            splits[f"y_{split}"].append(np.full(len(patches), label, np.int64))
    return ArraySplit(
        x_train=_grey_to(np.concatenate(splits["x_train"]), channels),
        y_train=np.concatenate(splits["y_train"]),
        x_test=_grey_to(np.concatenate(splits["x_test"]), channels),
        y_test=np.concatenate(splits["y_test"]),
        class_names=TEXTURES,
    )
