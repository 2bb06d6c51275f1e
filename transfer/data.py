"""Image datasets for transfer learning: loaders, validation of bad files, splits and tf.data.

Every loader returns one `ImageDataset`: class names in a stable (sorted) order, one integer label
(or multi-hot row) per example, the source file of each example, and the files that were rejected
with the reason. `ImageDataset.split` makes reproducible stratified splits and
`ImageDataset.to_tf_dataset` the input pipeline: decode in parallel, resize by a policy, grey/RGB
to the model's channels, float32 pixels in [0, 255] (the model's own preprocessing, e.g. zoo's
``include_preprocessing=True``, does the rest), cache and prefetch.

Bad input never crashes an epoch. Every file is opened with Pillow before training (verify, then a
full decode, with ``PIL.Image.MAX_IMAGE_PIXELS`` as the decompression-bomb limit);
``on_error="raise"`` raises one `BadDataError` that lists every bad file and why,
``on_error="skip"`` drops them, logs a warning and writes a JSON or CSV report.

Files are decoded by Pillow inside tf.data (``tf.numpy_function``), not by ``tf.io.decode_image``:
TensorFlow's decoders ignore EXIF orientation, reject CMYK JPEGs and 16-bit PNGs and give GIFs a
frame axis, so decoding with the same function that validated the file is the only way to be sure
that what passed validation decodes, and decodes the same way, during training.

Labels: a label column holds either strings or integers (integral floats such as ``2.0`` count as
integers). Mixing them (``"cat"`` beside ``3``) is a `TypeError` rather than a silent
stringification, because ``3`` and ``"3"`` would otherwise become one class or two depending on how
the table was read. Class names are strings in one order on every machine: names that are
integers first, numerically (``"2"`` before ``"10"``), then the others by code point.

Example:
    >>> data = from_directory("photos")  # doctest: +SKIP
    >>> splits = data.split(val=0.1, test=0.1, seed=0)  # doctest: +SKIP
    >>> train = splits.train.to_tf_dataset(image_size=(224, 224), batch_size=32)  # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import hashlib
import json
import logging
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError
from sklearn.model_selection import train_test_split

from transfer._checks import positive_int, size_pair

__all__ = [
    "IMAGE_EXTENSIONS",
    "RESIZE_POLICIES",
    "BadDataError",
    "BadFile",
    "DataReport",
    "ImageDataset",
    "Splits",
    "check_directory",
    "check_image",
    "from_arrays",
    "from_csv",
    "from_dataframe",
    "from_directory",
    "from_tfds",
    "read_image",
    "to_channels",
]

_LOG = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
RESIZE_POLICIES = ("stretch", "crop", "pad")
ON_ERROR = ("raise", "skip")
SPLIT_NAMES = ("train", "val", "test")
# Folder names accepted for each split of a ``train/ val/ test/`` root.
_SPLIT_FOLDERS = {"train": "train", "val": "val", "validation": "val", "test": "test"}


@dataclasses.dataclass(frozen=True)
class BadFile:
    """A file (or table row) that was rejected, and why.

    Attributes:
        path: The file's path as given or found.
        reason: What is wrong with it, e.g. ``"empty file (0 bytes)"``.
    """

    path: str
    reason: str


class BadDataError(ValueError):
    """Raised by ``on_error="raise"``: every problem found in the data, in one message.

    Attributes:
        bad_files: The rejected files.
        problems: The other problems (empty class folders, a single class ...).
    """

    def __init__(self, source: str, bad_files: Sequence[BadFile], problems: Sequence[str] = ()):
        self.bad_files = tuple(bad_files)
        self.problems = tuple(problems)
        lines = [
            f"{len(self.bad_files)} bad file(s) and {len(self.problems)} problem(s) in {source}"
        ]
        lines += [f"  {problem}" for problem in self.problems]
        lines += [f"  {bad.path}: {bad.reason}" for bad in self.bad_files]
        lines.append('Fix them, or pass on_error="skip" to drop them and write a report.')
        super().__init__("\n".join(lines))


class Splits(NamedTuple):
    """Train, validation and test datasets; a split that was not asked for is None."""

    train: ImageDataset
    val: ImageDataset | None = None
    test: ImageDataset | None = None


def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} must be one of {tuple(choices)}")


def _to_uint8(image: Image.Image) -> Image.Image:
    """Scales 16/32-bit integer and float greyscale images to 8-bit ``L``."""
    array = np.asarray(image)
    if image.mode == "F":
        scaled = np.clip(array, 0, 255)
    else:  # I;16*, I: 16-bit PNGs open as one of these, full scale 65535.
        scaled = np.clip(array.astype(np.float64) / 257.0, 0, 255)
    return Image.fromarray(np.round(scaled).astype(np.uint8))


def read_image(path: str | os.PathLike, *, channels: int = 3) -> np.ndarray:
    """Reads an image file as uint8 pixels the way the data pipeline does.

    EXIF orientation is applied, animated images give their first frame, CMYK is converted to RGB,
    16-bit images are scaled to 8 bits, palette and alpha images are converted (alpha is dropped).

    Args:
        path: The image file.
        channels: 3 for RGB, 1 for greyscale.

    Returns:
        A ``(height, width, channels)`` uint8 array.

    Raises:
        ValueError: If `channels` is not 1 or 3.
        OSError: If Pillow cannot read the file (``PIL.UnidentifiedImageError`` is one).

    Example:
        >>> read_image("cat.jpg").shape  # doctest: +SKIP
        (375, 500, 3)
    """
    _check_choice("channels", channels, (1, 3))
    with Image.open(path) as opened:
        opened.seek(0)
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            image = _to_uint8(image)
        elif image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")  # Pillow asks for it: transparency given as bytes.
        image = image.convert("RGB" if channels == 3 else "L")
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels.reshape(pixels.shape[0], pixels.shape[1], channels)


def check_image(path: str | os.PathLike) -> str | None:
    """Why Pillow cannot be trusted to decode a file, or None if it decodes.

    The file is verified (structure, PNG checksums), checked against ``PIL.Image.MAX_IMAGE_PIXELS``
    (the decompression-bomb limit) and decoded in full with `read_image`.

    Args:
        path: The file.

    Returns:
        The reason the file is bad, or None.

    Example:
        >>> check_image("empty.png")  # doctest: +SKIP
        'empty file (0 bytes)'
    """
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            width, height = image.size
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and width * height > limit:
                return (
                    f"{width}x{height} pixels exceed the decompression-bomb limit of {limit} "
                    "(PIL.Image.MAX_IMAGE_PIXELS)"
                )
            image.verify()
        read_image(path)
    except FileNotFoundError:
        return "file not found"
    except Image.DecompressionBombError as error:
        return f"decompression bomb: {error}"
    except UnidentifiedImageError:
        return "not an image Pillow can identify"
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # Pillow signals truncated or corrupt data with all of these.
        return f"corrupt image: {error}"
    return None


def _check_files(paths: Sequence[str]) -> list[str | None]:
    # Pillow releases the GIL while decoding, so threads overlap the checks.
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(check_image, paths))


def _default_report_path(source: str) -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    digest = hashlib.sha256(os.path.abspath(source).encode()).hexdigest()[:12]
    return Path(home) / "kerazoo_data" / f"{Path(source).name or 'data'}-{digest}-bad_files.json"


def _write_report(
    path: str | os.PathLike, source: str, bad_files: Sequence[BadFile], problems: Sequence[str]
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "reason"])
            writer.writerows([bad.path, bad.reason] for bad in bad_files)
            writer.writerows(["", problem] for problem in problems)
    else:
        payload = {
            "source": source,
            "bad_files": [dataclasses.asdict(bad) for bad in bad_files],
            "problems": list(problems),
        }
        path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path


def _handle_errors(
    source: str,
    bad_files: Sequence[BadFile],
    problems: Sequence[str],
    *,
    on_error: str,
    report: str | os.PathLike | None,
) -> None:
    """Raises one error for everything found, or logs it and writes the report."""
    if not bad_files and not problems:
        return
    if on_error == "raise":
        raise BadDataError(source, bad_files, problems)
    written = _write_report(report or _default_report_path(source), source, bad_files, problems)
    _LOG.warning(
        "%s: skipped %d bad file(s); %d problem(s); report written to %s",
        source,
        len(bad_files),
        len(problems),
        written,
    )


def _require_two_classes(class_names: Sequence[str], source: str) -> None:
    if len(class_names) < 2:
        raise ValueError(
            f"a classifier needs at least 2 classes, found {len(class_names)} "
            f"({list(class_names)}) in {source}"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class ImageDataset:
    """Labelled images: from files (`files`) or held in memory (`images`).

    Build it with a loader (`from_directory`, `from_csv`, `from_dataframe`, `from_arrays`,
    `from_tfds`) rather than directly.

    Attributes:
        class_names: Class names; label ``i`` is ``class_names[i]``.
        labels: ``(n,)`` int64 class indices, or ``(n, classes)`` uint8 multi-hot rows.
        files: The source file of each example, or None for in-memory images.
        images: ``(n, height, width, channels)`` pixels (or a list of ``(h, w, c)`` arrays of
            different sizes), or None for files.
        bad_files: The files the loader rejected (kept for the report; not in the dataset).
        source: Where the data came from, for messages.

    Example:
        >>> data = from_arrays(np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 1])
        >>> data.counts
        {'0': 2, '1': 2}
    """

    class_names: tuple[str, ...]
    labels: np.ndarray
    files: tuple[str, ...] | None = None
    images: Any = None
    bad_files: tuple[BadFile, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if (self.files is None) == (self.images is None):
            raise ValueError("an ImageDataset holds either files or images, exactly one of them")
        size = len(self.files) if self.files is not None else len(self.images)
        if len(self.labels) != size:
            raise ValueError(f"{len(self.labels)} labels for {size} examples")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def multi_label(self) -> bool:
        """Whether labels are multi-hot rows rather than class indices."""
        return self.labels.ndim == 2

    @property
    def counts(self) -> dict[str, int]:
        """Examples per class, in `class_names` order."""
        if self.multi_label:
            totals = self.labels.sum(axis=0)
        else:
            totals = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(count) for name, count in zip(self.class_names, totals, strict=True)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageDataset:
        """The examples at `indices`, with the same class names.

        Example:
            >>> from_arrays(np.zeros((4, 8, 8)), [0, 1, 0, 1]).subset([0, 1]).counts
            {'0': 1, '1': 1}
        """
        indices = np.asarray(indices, dtype=np.int64)
        files = None if self.files is None else tuple(self.files[i] for i in indices)
        if self.images is None:
            images = None
        elif isinstance(self.images, np.ndarray):
            images = self.images[indices]
        else:
            images = [self.images[i] for i in indices]
        return dataclasses.replace(self, labels=self.labels[indices], files=files, images=images)

    def split(self, *, val: float = 0.1, test: float = 0.0, seed: int = 0) -> Splits:
        """Reproducible train/val/test split, stratified by class.

        Multi-label datasets are split at random (scikit-learn cannot stratify multi-hot rows).

        Args:
            val: Fraction of the examples for validation (0 for none).
            test: Fraction for test (0 for none).
            seed: Random seed; the same seed gives the same split on every machine.

        Returns:
            `Splits`; `val`/`test` are None when their fraction is 0.

        Raises:
            ValueError: If the fractions are not in [0, 1) with a sum below 1, or a class has too
                few examples to be represented in every split.

        Example:
            >>> data = from_arrays(np.zeros((10, 8, 8)), [0, 1] * 5)
            >>> splits = data.split(val=0.2, seed=0)
            >>> len(splits.train), len(splits.val), splits.test
            (8, 2, None)
        """
        if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
            raise ValueError(f"val={val} and test={test} must be in [0, 1) with a sum below 1")
        rest = np.arange(len(self))
        parts: dict[str, np.ndarray | None] = {"val": None, "test": None}
        for name, fraction in (("test", test), ("val", val)):
            if fraction == 0:
                continue
            # A count, not a fraction of what is left, so that rounding cannot drift.
            count = max(1, round(fraction * len(self)))
            stratify = None if self.multi_label else self.labels[rest]
            try:
                rest, parts[name] = train_test_split(
                    rest, test_size=count, random_state=seed, stratify=stratify
                )
            except ValueError as error:
                raise ValueError(
                    f"cannot split {len(rest)} examples of {self.source or 'the dataset'} with "
                    f"{name}={fraction} stratified by class ({self.counts}): {error}"
                ) from error
        return Splits(
            train=self.subset(np.sort(rest)),
            val=None if parts["val"] is None else self.subset(np.sort(parts["val"])),
            test=None if parts["test"] is None else self.subset(np.sort(parts["test"])),
        )

    def to_tf_dataset(
        self,
        *,
        image_size: int | tuple[int, int],
        batch_size: int | None = 32,
        channels: int = 3,
        resize: str = "stretch",
        shuffle: bool = False,
        seed: int | None = None,
        cache: bool | str = True,
    ) -> tf.data.Dataset:
        """The tf.data input pipeline of ``(image, label)`` pairs.

        Images are float32 in [0, 255] of shape ``(*image_size, channels)``; labels int32 class
        indices, or float32 multi-hot rows. Files are decoded in parallel with `read_image`;
        a file that stops decoding after the loader validated it (changed on disk) is dropped
        with a warning instead of ending the epoch.

        Args:
            image_size: ``(height, width)`` of the model's input, or one int for a square.
            batch_size: Examples per batch, or None for unbatched examples.
            channels: 3 (RGB) or 1 (greyscale); grey sources are repeated to RGB, RGB sources
                converted to luma (ITU-R 601-2).
            resize: ``"stretch"`` (ignore the aspect ratio), ``"crop"`` (scale the shorter side
                to fit, then crop the centre) or ``"pad"`` (scale the longer side to fit, then
                pad with zeros).
            shuffle: Shuffle the examples anew each epoch: the file list before decoding when
                nothing is cached, else the cached examples.
            seed: Shuffle seed.
            cache: True to cache decoded, resized images in memory, a file path to cache them
                on disk, False not to cache.

        Returns:
            The dataset, prefetched.

        Raises:
            ValueError: For an unknown `resize` policy, bad `channels`, `image_size` or
                `batch_size`.
            TypeError: If `image_size` or `batch_size` is not made of ints.

        Example:
            >>> data = from_arrays(np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 1])
            >>> images, labels = next(iter(data.to_tf_dataset(image_size=(4, 6), batch_size=4)))
            >>> tuple(images.shape), images.dtype.name, labels.dtype.name
            ((4, 4, 6, 3), 'float32', 'int32')
        """
        _check_choice("resize", resize, RESIZE_POLICIES)
        _check_choice("channels", channels, (1, 3))
        size = size_pair(image_size, what="image_size")
        if batch_size is not None:
            positive_int(batch_size, what="batch_size")
        labels = self.labels.astype(np.float32 if self.multi_label else np.int32)
        # Without a cache, shuffle the (path, label) pairs before decoding: a buffer of paths is
        # cheap, a buffer of decoded images the size of the dataset is not.
        shuffle_early = shuffle and cache is False and self.files is not None
        if self.files is not None:
            dataset = tf.data.Dataset.from_tensor_slices((list(self.files), labels))
            if shuffle_early:
                dataset = dataset.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
            dataset = dataset.map(
                lambda path, label: (_decode_file(path, channels), label),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            dataset = dataset.ignore_errors(log_warning=True)
        else:
            dataset = _memory_dataset(self.images, labels)
            dataset = dataset.map(
                lambda image, label: (to_channels(image, channels), label),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        dataset = dataset.map(
            lambda image, label: (_resize(image, size, resize), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        if cache is not False:
            dataset = dataset.cache("" if cache is True else str(cache))
        if shuffle and not shuffle_early:
            dataset = dataset.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
        if batch_size is not None:
            dataset = dataset.batch(batch_size)
        return dataset.prefetch(tf.data.AUTOTUNE)


def _decode_file(path: tf.Tensor, channels: int) -> tf.Tensor:
    def decode(raw_path: bytes) -> np.ndarray:
        return read_image(raw_path.decode("utf-8"), channels=channels)

    image = tf.numpy_function(decode, [path], tf.uint8, stateful=False)
    image.set_shape([None, None, channels])
    return image


def _memory_dataset(images: Any, labels: np.ndarray) -> tf.data.Dataset:
    if isinstance(images, np.ndarray):
        return tf.data.Dataset.from_tensor_slices((images, labels))
    # Images of different sizes (e.g. from tfds) cannot be stacked into one tensor.
    first = np.asarray(images[0])
    signature = (
        tf.TensorSpec((None, None, *first.shape[2:]), tf.as_dtype(first.dtype)),
        tf.TensorSpec(labels.shape[1:], tf.as_dtype(labels.dtype)),
    )
    return tf.data.Dataset.from_generator(
        lambda: zip(images, labels, strict=True), output_signature=signature
    )


def to_channels(images: Any, channels: int) -> tf.Tensor:
    """Pixels with 1 or 3 channels as float32 with `channels`, keeping the [0, 255] scale.

    Grey is repeated to RGB; RGB becomes luma (ITU-R 601-2, ``tf.image.rgb_to_grayscale``), as
    Pillow's ``convert("L")`` does for files.

    Args:
        images: One image ``(h, w)``, or images ``(..., h, w, 1)`` or ``(..., h, w, 3)``.
        channels: 1 or 3.

    Returns:
        A float32 tensor ``(..., h, w, channels)``.

    Raises:
        ValueError: If the images have another number of channels.

    Example:
        >>> tuple(to_channels(np.zeros((2, 4, 4, 1), np.uint8), 3).shape)
        (2, 4, 4, 3)
    """
    images = tf.cast(images, tf.float32)
    if images.shape.rank == 2:
        images = images[..., None]
    if images.shape[-1] == channels:
        return images
    if images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images of shape {tuple(images.shape)} must have 1 or 3 channels (last axis)"
        )
    if channels == 3:
        return tf.image.grayscale_to_rgb(images)
    return tf.image.rgb_to_grayscale(images)


def _resize(image: tf.Tensor, size: tuple[int, int], policy: str) -> tf.Tensor:
    image = tf.cast(image, tf.float32)
    height, width = size
    if policy == "stretch":
        resized = tf.image.resize(image, size, antialias=True)
    elif policy == "pad":
        resized = tf.image.resize_with_pad(image, height, width, antialias=True)
    else:  # crop: cover the target, then cut its centre.
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = tf.maximum(height / shape[0], width / shape[1])
        covering = tf.cast(tf.math.ceil(shape * scale), tf.int32)
        covering = tf.maximum(covering, [height, width])
        resized = tf.image.resize(image, covering, antialias=True)
        resized = tf.image.resize_with_crop_or_pad(resized, height, width)
    return tf.clip_by_value(resized, 0.0, 255.0)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _class_order(name: str) -> tuple[int, int, str]:
    """Sort key of class names: integers numerically ("2" before "10"), then by code point."""
    try:
        return (0, int(name), "")
    except ValueError:
        return (1, 0, name)


def _label_names(values: Sequence[Any], source: str) -> list[str]:
    """Each label as a class name; labels must be all strings or all integers."""
    strings = [value for value in values if isinstance(value, str)]
    integral = [
        value
        for value in values
        if isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and float(value) == int(value)
    ]
    if len(strings) == len(values):
        return list(strings)
    if len(integral) == len(values):
        return [str(int(value)) for value in values]
    kinds = sorted({type(value).__name__ for value in values})
    odd = [value for value in values if not isinstance(value, str)][:3]
    raise TypeError(
        f"labels in {source} must be all strings or all integers, got types {kinds} "
        f"(e.g. {odd}); convert the column, e.g. df[column].astype(str)"
    )


def _build(
    source: str,
    files: list[str],
    names: list[str] | list[list[str]],
    bad_files: list[BadFile],
    problems: list[str],
    *,
    on_error: str,
    report: str | os.PathLike | None,
    class_names: Sequence[str] | None = None,
) -> ImageDataset:
    """Validates `files`, reports every problem at once, and labels the good files.

    Without `class_names` the classes are those with at least one good file, in `_class_order`.
    """
    reasons = _check_files(files)
    bad_files = bad_files + [
        BadFile(path, reason) for path, reason in zip(files, reasons, strict=True) if reason
    ]
    keep = [i for i, reason in enumerate(reasons) if reason is None]
    multi_label = bool(names) and isinstance(names[0], list)
    if class_names is None:

        def classes(rows: Sequence[Any]) -> set[str]:
            return {name for row in rows for name in row} if multi_label else set(rows)

        class_names = sorted(classes([names[i] for i in keep]), key=_class_order)
        emptied = sorted(classes(names) - set(class_names), key=_class_order)
        problems = problems + [
            f"class {name!r} has no valid image left in {source}" for name in emptied
        ]
    _handle_errors(source, bad_files, problems, on_error=on_error, report=report)
    _require_two_classes(class_names, source)
    index = {name: i for i, name in enumerate(class_names)}
    if multi_label:
        labels = np.zeros((len(keep), len(class_names)), np.uint8)
        for row, i in enumerate(keep):
            labels[row, [index[name] for name in names[i]]] = 1
    else:
        labels = np.asarray([index[names[i]] for i in keep], dtype=np.int64)
    return ImageDataset(
        class_names=tuple(class_names),
        labels=labels,
        files=tuple(files[i] for i in keep),
        bad_files=tuple(bad_files),
        source=source,
    )


def _image_files(folder: Path, extensions: Sequence[str]) -> list[str]:
    suffixes = {extension.lower() for extension in extensions}
    return sorted(
        str(path)
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in suffixes
    )


def _scan_classes(root: Path, extensions: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Image files per class folder (sorted), and the empty class folders."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    folders = sorted(
        path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")
    )
    files = {folder.name: _image_files(folder, extensions) for folder in folders}
    empty = [name for name, found in files.items() if not found]
    return files, empty


def _split_folders(root: Path) -> dict[str, Path] | None:
    """The ``train/ val/ test/`` folders of a split root, or None for a folder of classes."""
    folders = [path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")]
    names = {path.name for path in folders}
    if "train" not in names or not names <= set(_SPLIT_FOLDERS):
        return None
    return {_SPLIT_FOLDERS[path.name]: path for path in folders}


def _from_class_folders(
    root: Path,
    *,
    extensions: Sequence[str],
    on_error: str,
    report: str | os.PathLike | None,
    class_names: Sequence[str] | None = None,
) -> ImageDataset:
    """One folder per class; with `class_names` (val/test of a split root) only those classes."""
    per_class, empty = _scan_classes(root, extensions)
    if class_names is None:
        problems = [f"class folder {root / name} has no image files" for name in empty]
    else:
        problems = [
            f"class folder {root / name} is not a class of train/ ({list(class_names)})"
            for name in per_class
            if name not in class_names
        ]
        per_class = {name: per_class.get(name, []) for name in class_names}
    files = [path for found in per_class.values() for path in found]
    names = [name for name, found in per_class.items() for _ in found]
    return _build(
        str(root),
        files,
        names,
        [],
        problems,
        on_error=on_error,
        report=report,
        class_names=class_names,
    )


def from_directory(
    path: str | os.PathLike,
    *,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    on_error: str = "raise",
    report: str | os.PathLike | None = None,
) -> ImageDataset | Splits:
    """Images in one sub-folder per class, or in ``train/ val/ test/`` folders of those.

    Class names are the sub-folder names, sorted. Files are found recursively; other extensions
    (``.txt``, ``.DS_Store`` ...) are ignored. An empty class folder is an error with
    ``on_error="raise"`` and is dropped with a warning otherwise; so is a class whose every
    file is bad. In a split root the classes are those of ``train/`` (a ``validation/`` folder
    counts as ``val/``), and a class may be absent from ``val/`` or ``test/``.

    Args:
        path: The root folder.
        extensions: File extensions taken as images (case-insensitive).
        on_error: ``"raise"`` to raise one `BadDataError` listing every bad file; ``"skip"`` to
            drop them and write a report.
        report: Where ``"skip"`` writes the report (``.csv`` or ``.json``); by default
            ``$KERAS_HOME/kerazoo_data/<folder>-<hash>-bad_files.json``. A split root writes one
            report per split, named ``<stem>-<split><suffix>``.

    Returns:
        An `ImageDataset`, or `Splits` for a split root.

    Raises:
        FileNotFoundError: If `path` is not a folder.
        BadDataError: With ``on_error="raise"``, for bad files or empty class folders.
        ValueError: If fewer than 2 classes have images.

    Example:
        >>> data = from_directory("flowers", on_error="skip", report="bad.csv")  # doctest: +SKIP
        >>> data.class_names  # doctest: +SKIP
        ('daisy', 'rose', 'tulip')
    """
    _check_choice("on_error", on_error, ON_ERROR)
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    splits = _split_folders(root)
    if splits is None:
        return _from_class_folders(root, extensions=extensions, on_error=on_error, report=report)
    loaded: dict[str, ImageDataset] = {}
    errors: list[BadDataError] = []
    train_classes: Sequence[str] | None = None
    for name in SPLIT_NAMES:
        if name not in splits:
            continue
        split_report = None
        if report is not None:
            report_path = Path(report)
            split_report = report_path.with_name(f"{report_path.stem}-{name}{report_path.suffix}")
        try:
            loaded[name] = _from_class_folders(
                splits[name],
                extensions=extensions,
                on_error=on_error,
                report=split_report,
                class_names=train_classes,
            )
        except BadDataError as error:  # Check the other splits too: one error for everything.
            errors.append(error)
        if name == "train":
            # val/ and test/ are labelled with train/'s classes; if train/ failed, with its
            # non-empty folders, only to find their problems too.
            per_class, _ = _scan_classes(splits["train"], extensions)
            fallback = sorted(
                (label for label, found in per_class.items() if found), key=_class_order
            )
            train_classes = loaded["train"].class_names if "train" in loaded else fallback
    if errors:
        raise BadDataError(
            str(root),
            [bad for error in errors for bad in error.bad_files],
            [problem for error in errors for problem in error.problems],
        )
    return Splits(**loaded)


def from_dataframe(
    frame: pd.DataFrame,
    *,
    root: str | os.PathLike | None = None,
    path_column: str = "path",
    label_column: str = "label",
    label_separator: str | None = None,
    on_error: str = "raise",
    report: str | os.PathLike | None = None,
) -> ImageDataset:
    """Images listed in a DataFrame: one row per image, a path column and a label column.

    Args:
        frame: The table.
        root: Folder that relative paths are relative to (default: the working directory).
        path_column: Column of image paths.
        label_column: Column of labels: all strings or all integers (see the module's notes).
        label_separator: For multi-label data, the separator of the labels in one cell
            (``"cat|dog"`` with ``"|"``); labels become multi-hot rows.
        on_error: ``"raise"`` or ``"skip"``, as in `from_directory`. Rows whose file is missing
            or whose label is empty are bad rows.
        report: Where ``"skip"`` writes the report, as in `from_directory`.

    Returns:
        The `ImageDataset`.

    Raises:
        KeyError: If a column is missing.
        TypeError: If labels mix strings and numbers, or numbers are not integers.
        BadDataError: With ``on_error="raise"``, for bad rows.
        ValueError: If fewer than 2 classes remain.

    Example:
        >>> table = pd.DataFrame({"path": ["a.png", "b.png"], "label": ["cat", "dog"]})
        >>> data = from_dataframe(table, root="images")  # doctest: +SKIP
    """
    _check_choice("on_error", on_error, ON_ERROR)
    for column in (path_column, label_column):
        if column not in frame.columns:
            raise KeyError(f"column {column!r} not in the table's columns {list(frame.columns)}")
    base = Path(root) if root is not None else Path.cwd()
    source = str(base)
    files: list[str] = []
    raw_labels: list[Any] = []
    bad_files: list[BadFile] = []
    for row, (file, label) in enumerate(
        zip(frame[path_column].tolist(), frame[label_column].tolist(), strict=True)
    ):
        where = f"row {row}"
        if _is_missing(file) or _is_missing(label) or label == "":
            bad_files.append(BadFile(str(file), f"empty path or label ({where})"))
            continue
        full = base / str(file)
        if not full.is_file():
            bad_files.append(BadFile(str(full), f"file not found ({where})"))
            continue
        files.append(str(full))
        raw_labels.append(label)
    if label_separator is not None:
        cells = [str(value).split(label_separator) for value in raw_labels]
        names: list[Any] = [sorted({part.strip() for part in row if part.strip()}) for row in cells]
    else:
        names = _label_names(raw_labels, source)
    return _build(source, files, names, bad_files, [], on_error=on_error, report=report)


def from_csv(
    path: str | os.PathLike,
    *,
    path_column: str = "path",
    label_column: str = "label",
    label_separator: str | None = None,
    on_error: str = "raise",
    report: str | os.PathLike | None = None,
) -> ImageDataset:
    """Images listed in a CSV file, paths relative to the CSV's folder (see `from_dataframe`).

    Args:
        path: The CSV file, with a header row.
        path_column: Column of image paths.
        label_column: Column of labels.
        label_separator: Separator of multiple labels in one cell, for multi-label data.
        on_error: ``"raise"`` or ``"skip"``.
        report: Where ``"skip"`` writes the report.

    Returns:
        The `ImageDataset`.

    Example:
        >>> data = from_csv("labels.csv", label_column="species")  # doctest: +SKIP
    """
    path = Path(path)
    frame = pd.read_csv(path)
    return from_dataframe(
        frame,
        root=path.parent,
        path_column=path_column,
        label_column=label_column,
        label_separator=label_separator,
        on_error=on_error,
        report=report,
    )


def from_arrays(
    images: Any, labels: Sequence[Any] | np.ndarray, *, class_names: Sequence[str] | None = None
) -> ImageDataset:
    """Images held in memory.

    Args:
        images: ``(n, h, w)``, ``(n, h, w, 1)`` or ``(n, h, w, 3)`` pixels on the [0, 255] scale,
            or a list of ``(h, w[, c])`` arrays of different sizes.
        labels: ``n`` class indices (ints) or class names (strings, mapped in sorted order).
        class_names: Names of the class indices (default: ``"0"``, ``"1"`` ...).

    Returns:
        The `ImageDataset`.

    Raises:
        ValueError: If lengths differ, indices fall outside `class_names` or there are fewer
            than 2 classes.

    Example:
        >>> from_arrays(np.zeros((2, 8, 8)), ["cat", "dog"]).class_names
        ('cat', 'dog')
    """
    if not isinstance(images, np.ndarray | list):
        images = np.asarray(images)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    values = list(np.asarray(labels).tolist())
    if values and isinstance(values[0], str):
        if class_names is None:
            class_names = sorted(set(values), key=_class_order)
        index = {name: i for i, name in enumerate(class_names)}
        unknown = sorted(set(values) - set(index))
        if unknown:
            raise ValueError(f"labels {unknown} are not in class_names {list(class_names)}")
        indices = np.asarray([index[value] for value in values], dtype=np.int64)
    else:
        indices = np.asarray(values, dtype=np.int64).reshape(-1)
        if class_names is None:
            class_names = [str(i) for i in range(int(indices.max(initial=-1)) + 1)]
        if indices.size and (indices.min() < 0 or indices.max() >= len(class_names)):
            raise ValueError(
                f"labels span [{indices.min()}, {indices.max()}], outside the "
                f"{len(class_names)} class_names {list(class_names)}"
            )
    _require_two_classes(class_names, "the arrays")
    return ImageDataset(
        class_names=tuple(str(name) for name in class_names),
        labels=indices,
        images=images,
        source="arrays",
    )


def from_tfds(
    name: str,
    *,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    image_key: str = "image",
    label_key: str = "label",
) -> ImageDataset:
    """A TensorFlow Datasets image-classification split, loaded into memory.

    Args:
        name: The tfds name (``"mnist"``, ``"tf_flowers"`` ...).
        split: The split (tfds slicing such as ``"train[:10%]"`` works).
        data_dir: Where tfds keeps its data (default: tfds' own).
        download: Download and prepare the data if it is not there yet.
        image_key: Feature holding the image.
        label_key: Feature holding the class label (a ``ClassLabel``).

    Returns:
        The `ImageDataset`, class names from the ``ClassLabel``.

    Raises:
        ImportError: If tensorflow-datasets is not installed.
        ValueError: If the dataset has fewer than 2 classes.

    Example:
        >>> data = from_tfds("tf_flowers", split="train[:80%]")  # doctest: +SKIP
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError(
            'from_tfds needs tensorflow-datasets: pip install "kerazoo[tfds]"'
        ) from error
    builder = tfds.builder(name, data_dir=None if data_dir is None else str(data_dir))
    if download:
        builder.download_and_prepare()
    class_names = builder.info.features[label_key].names
    images, labels = [], []
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
        images.append(example[image_key])
        labels.append(int(example[label_key]))
    shapes = {image.shape for image in images}
    stacked = np.stack(images) if len(shapes) == 1 else images
    dataset = from_arrays(stacked, labels, class_names=class_names)
    return dataclasses.replace(dataset, source=f"tfds:{name}[{split}]")


@dataclasses.dataclass(frozen=True)
class DataReport:
    """What `check_directory` found in one folder of classes.

    Attributes:
        root: The folder.
        counts: Valid images per class, classes sorted.
        bad_files: The files that do not decode, and why.
        empty_classes: Class folders without image files.
    """

    root: str
    counts: dict[str, int]
    bad_files: tuple[BadFile, ...]
    empty_classes: tuple[str, ...]

    @property
    def imbalance_ratio(self) -> float:
        """Largest class count over the smallest non-empty one (inf if a class is empty)."""
        counts = list(self.counts.values())
        if not counts:
            return math.nan
        return max(counts) / min(counts) if min(counts) else math.inf

    @property
    def ok(self) -> bool:
        """No bad files, no empty classes, and at least 2 classes."""
        return not self.bad_files and not self.empty_classes and len(self.counts) >= 2


def _check_class_folders(root: Path, extensions: Sequence[str]) -> DataReport:
    per_class, empty = _scan_classes(root, extensions)
    files = [path for found in per_class.values() for path in found]
    reasons = dict(zip(files, _check_files(files), strict=True))
    counts = {
        name: sum(reasons[path] is None for path in found) for name, found in per_class.items()
    }
    bad = tuple(BadFile(path, reason) for path, reason in reasons.items() if reason)
    return DataReport(str(root), counts, bad, tuple(empty))


def check_directory(
    path: str | os.PathLike, *, extensions: Sequence[str] = IMAGE_EXTENSIONS
) -> dict[str, DataReport]:
    """Checks a `from_directory` folder without loading it: counts, bad files, empty classes.

    Args:
        path: A one-folder-per-class root, or a ``train/ val/ test/`` root.
        extensions: File extensions taken as images.

    Returns:
        One `DataReport` per split (``"train"``, ``"val"``, ``"test"``), or ``{"all": report}``
        for a one-folder-per-class root.

    Raises:
        FileNotFoundError: If `path` is not a folder.

    Example:
        >>> check_directory("flowers")["all"].imbalance_ratio  # doctest: +SKIP
        1.5
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    splits = _split_folders(root)
    if splits is None:
        return {"all": _check_class_folders(root, extensions)}
    return {
        name: _check_class_folders(splits[name], extensions)
        for name in SPLIT_NAMES
        if name in splits
    }
