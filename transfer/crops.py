"""Test-time crops and the pretrained weights' evaluation resize, for arrays and tensors.

`center_crop`, `five_crop`, `ten_crop` and `multi_scale_crops` make the views of test-time
augmentation and ensembles; `resize_shorter_side` and `resize_and_center_crop` are the evaluation
transform of the pretrained weights (`zoo.preprocessing.Preprocessing`). They take NumPy arrays
(NumPy out) or TensorFlow tensors (tensors out, usable inside ``tf.data``), a single image
``(H, W, C)`` or a batch ``(N, H, W, C)``. Sizes are an int (a square) or ``(height, width)``: a
size of the wrong type raises TypeError, a bad value ValueError, in every function here.

Example:
    >>> import numpy as np
    >>> ten_crop(np.zeros((8, 4, 4, 3)), 3).shape
    (10, 8, 3, 3, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from transfer._checks import positive_int, size_pair
from zoo.preprocessing import Preprocessing, check_interpolation

__all__ = [
    "center_crop",
    "five_crop",
    "multi_scale_crops",
    "resize_and_center_crop",
    "resize_shorter_side",
    "ten_crop",
]

DEFAULT_CROP_FRACTION = 0.875
# GoogLeNet's test scales (Szegedy et al., 2015, section 7): shorter side 256, 288, 320 and 352.
DEFAULT_SCALES = (256, 288, 320, 352)
PER_SCALE_VIEWS = ("center", "ten")


def _as_images(images: Any) -> Any:
    """NumPy or tf tensor of rank 3 or 4; lists become NumPy."""
    if not tf.is_tensor(images):
        images = np.asarray(images)
    rank = images.shape.rank if tf.is_tensor(images) else images.ndim
    if rank not in (3, 4):
        raise ValueError(
            f"expected an image (H, W, C) or a batch (N, H, W, C), got shape {tuple(images.shape)}"
        )
    return images


def _spatial(images: Any) -> tuple[Any, Any]:
    """(H, W): ints where known, else scalar tensors."""
    height, width = images.shape[-3], images.shape[-2]
    if height is None or width is None:
        dynamic = tf.shape(images)
        height = dynamic[-3] if height is None else height
        width = dynamic[-2] if width is None else width
    return height, width


def _stack(views: list[Any]) -> Any:
    return tf.stack(views) if tf.is_tensor(views[0]) else np.stack(views)


def _crop(images: Any, top: Any, left: Any, height: int, width: int) -> Any:
    return images[..., top : top + height, left : left + width, :]


def _check_fits(images: Any, crop: tuple[int, int]) -> tuple[Any, Any]:
    height, width = _spatial(images)
    if isinstance(height, int) and isinstance(width, int):
        if crop[0] > height or crop[1] > width:
            raise ValueError(f"crop {crop} is larger than the images {(height, width)}")
    else:
        tf.debugging.assert_greater_equal(height, crop[0], message=f"crop {crop} too large")
        tf.debugging.assert_greater_equal(width, crop[1], message=f"crop {crop} too large")
    return height, width


def center_crop(images: Any, size: int | tuple[int, int]) -> Any:
    """The centre ``size`` crop of an image or a batch.

    The crop starts at row ``(H - h) // 2`` and column ``(W - w) // 2``, as
    `keras.layers.CenterCrop` does (no resizing: the crop must fit).

    Args:
        images: ``(H, W, C)`` or ``(N, H, W, C)``, NumPy or tf tensor.
        size: Side of a square crop, or ``(height, width)``.

    Returns:
        The crop, same type and dtype.

    Raises:
        ValueError: If the crop is larger than the images or they are not of rank 3 or 4.

    Example:
        >>> center_crop(np.arange(16).reshape(4, 4, 1), 2)[..., 0].tolist()
        [[5, 6], [9, 10]]
    """
    images = _as_images(images)
    crop = size_pair(size, what="size")
    height, width = _check_fits(images, crop)
    return _crop(images, (height - crop[0]) // 2, (width - crop[1]) // 2, *crop)


def five_crop(images: Any, size: int | tuple[int, int]) -> Any:
    """The four corner crops and the centre crop, stacked on a new leading axis.

    Order (torchvision's ``five_crop``): top-left, top-right, bottom-left, bottom-right, centre.

    Args:
        images: ``(H, W, C)`` or ``(N, H, W, C)``, NumPy or tf tensor.
        size: Side of a square crop, or ``(height, width)``.

    Returns:
        ``(5, [N,] h, w, C)``, same type and dtype.

    Raises:
        ValueError: If the crop is larger than the images.

    Example:
        >>> five_crop(np.arange(9).reshape(3, 3, 1), 1)[:, 0, 0, 0].tolist()
        [0, 2, 6, 8, 4]
    """
    images = _as_images(images)
    crop = size_pair(size, what="size")
    height, width = _check_fits(images, crop)
    bottom, right = height - crop[0], width - crop[1]
    corners = [(0, 0), (0, right), (bottom, 0), (bottom, right)]
    views = [_crop(images, top, left, *crop) for top, left in corners]
    return _stack([*views, center_crop(images, crop)])


def ten_crop(images: Any, size: int | tuple[int, int]) -> Any:
    """`five_crop` of the images, then `five_crop` of their horizontal mirror.

    The ten views (Krizhevsky et al., NeurIPS 2012, section 4.1), in torchvision's order:
    top-left, top-right, bottom-left, bottom-right, centre of the image, then the same five of the
    left-right flipped image. View 5 (flipped top-left) is thus the mirror of view 1 (top-right);
    the flipped centre is the mirror of the centre when ``W - w`` is even.

    Args:
        images: ``(H, W, C)`` or ``(N, H, W, C)``, NumPy or tf tensor.
        size: Side of a square crop, or ``(height, width)``.

    Returns:
        ``(10, [N,] h, w, C)``, same type and dtype.

    Raises:
        ValueError: If the crop is larger than the images.

    Example:
        >>> ten_crop(np.arange(9).reshape(3, 3, 1), 1)[:, 0, 0, 0].tolist()
        [0, 2, 6, 8, 4, 2, 0, 8, 6, 4]
    """
    images = _as_images(images)
    flipped = images[..., ::-1, :]
    first, second = five_crop(images, size), five_crop(flipped, size)
    return tf.concat([first, second], 0) if tf.is_tensor(first) else np.concatenate([first, second])


def resize_shorter_side(images: Any, size: int, *, interpolation: str = "bilinear") -> Any:
    """Resizes so that the shorter side is `size`, keeping the aspect ratio.

    The longer side becomes ``int(size * longer / shorter)`` (truncated, as torchvision's
    ``Resize(size)``). Resampling is ``tf.image.resize`` with antialiasing, which matches the
    PIL resampling of the publishers' evaluation transforms when shrinking.

    Args:
        images: ``(H, W, C)`` or ``(N, H, W, C)``, NumPy or tf tensor, any real dtype.
        size: Target length of the shorter side.
        interpolation: One of `zoo.preprocessing.INTERPOLATIONS`.

    Returns:
        float32 images: NumPy for NumPy input, else a tensor.

    Raises:
        TypeError: If `size` is not an int.
        ValueError: If `interpolation` is unknown or `size` is not positive.

    Example:
        >>> resize_shorter_side(np.zeros((4, 8, 3)), 2).shape
        (2, 4, 3)
    """
    images = _as_images(images)
    size = positive_int(size, what="size")
    check_interpolation(interpolation)
    height, width = _spatial(images)
    if isinstance(height, int) and isinstance(width, int):
        shorter, longer = min(height, width), max(height, width)
        other = int(size * longer / shorter)
        target = (size, other) if height <= width else (other, size)
    else:
        dims = tf.cast(tf.stack([height, width]), tf.float64)
        scaled = tf.cast(float(size) * dims / tf.reduce_min(dims), tf.int32)
        target = tf.where(dims == tf.reduce_min(dims), size, scaled)
    resized = tf.image.resize(
        tf.cast(images, tf.float32), target, method=interpolation, antialias=True
    )
    return resized if tf.is_tensor(images) else resized.numpy()


def resize_and_center_crop(
    images: Any,
    size: int,
    *,
    crop_fraction: float | None = None,
    interpolation: str | None = None,
    preprocessing: Preprocessing | None = None,
) -> Any:
    """The pretrained weights' evaluation transform: resize, then centre crop to `size`.

    The shorter side goes to ``round(size / crop_fraction)`` (256 for 224 at 0.875), then the
    centre ``size x size`` is kept: the transform `zoo.preprocessing.Preprocessing` describes.
    It does not normalise; apply the `Preprocessing` itself (or build the model with
    ``include_preprocessing=True``) for that.

    Args:
        images: ``(H, W, C)`` or ``(N, H, W, C)`` RGB images, NumPy or tf tensor.
        size: Side of the square input of the network.
        crop_fraction: Fraction kept by the crop; 0.875 unless `preprocessing` is given.
        interpolation: Resampling; ``"bilinear"`` unless `preprocessing` is given.
        preprocessing: Take `crop_fraction` and `interpolation` from the weights' preprocessing
            (e.g. ``zoo.registry.preprocessing_of("resnet50")``).

    Returns:
        float32 ``([N,] size, size, C)``: NumPy for NumPy input, else a tensor.

    Raises:
        TypeError: If `size` is not an int.
        ValueError: If `preprocessing` is combined with `crop_fraction` or `interpolation`, or a
            value is out of range.

    Example:
        >>> resize_and_center_crop(np.zeros((300, 400, 3)), 224).shape
        (224, 224, 3)
    """
    if preprocessing is not None:
        if crop_fraction is not None or interpolation is not None:
            raise ValueError(
                "pass either preprocessing or crop_fraction/interpolation, not both "
                f"(got crop_fraction={crop_fraction!r}, interpolation={interpolation!r})"
            )
        crop_fraction, interpolation = preprocessing.crop_fraction, preprocessing.interpolation
    crop_fraction = DEFAULT_CROP_FRACTION if crop_fraction is None else crop_fraction
    interpolation = "bilinear" if interpolation is None else interpolation
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction={crop_fraction!r} must be in (0, 1]")
    size = positive_int(size, what="size")
    # Same rounding as Preprocessing.resize_size.
    resized = resize_shorter_side(images, round(size / crop_fraction), interpolation=interpolation)
    return center_crop(resized, size)


def multi_scale_crops(
    images: Any,
    sizes: tuple[int, ...] = DEFAULT_SCALES,
    crop: int | tuple[int, int] = 224,
    *,
    per_scale: str = "ten",
    interpolation: str = "bilinear",
) -> Any:
    """Crops of the images resized to several scales, stacked on a new leading axis.

    For each shorter side in `sizes` (GoogLeNet's 256, 288, 320, 352 by default; Szegedy et al.,
    CVPR 2015, section 7) the images are resized with `resize_shorter_side` and either
    `ten_crop` (``per_scale="ten"``, 10 views) or `center_crop` (``"center"``, 1 view) is taken.
    Views are ordered scale by scale, in the order of `sizes`.

    Args:
        images: ``(H, W, C)`` or ``(N, H, W, C)``, NumPy or tf tensor.
        sizes: Shorter sides, each at least the crop.
        crop: Side of a square crop, or ``(height, width)``.
        per_scale: ``"ten"`` or ``"center"``.
        interpolation: Resampling (see `resize_shorter_side`).

    Returns:
        float32 ``(len(sizes) * views, [N,] h, w, C)``: NumPy for NumPy input, else a tensor.

    Raises:
        ValueError: If `sizes` is empty, a size is smaller than the crop or `per_scale` unknown.

    Example:
        >>> multi_scale_crops(np.zeros((40, 50, 3)), (32, 40), 28).shape
        (20, 28, 28, 3)
    """
    crop_size = size_pair(crop, what="crop")
    if per_scale not in PER_SCALE_VIEWS:
        raise ValueError(f"per_scale={per_scale!r} must be one of {PER_SCALE_VIEWS}")
    if len(sizes) == 0 or any(size < max(crop_size) for size in sizes):
        raise ValueError(f"sizes {tuple(sizes)} must be non-empty and each >= the crop {crop_size}")
    views = []
    for size in sizes:
        resized = resize_shorter_side(images, size, interpolation=interpolation)
        if per_scale == "ten":
            views.append(ten_crop(resized, crop_size))
        else:
            views.append(center_crop(resized, crop_size)[None])
    return tf.concat(views, 0) if tf.is_tensor(views[0]) else np.concatenate(views)
