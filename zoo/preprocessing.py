"""The preprocessing each set of pretrained weights expects, as data, as a function and as a layer.

Weights are only as good as the input they are fed: keras.applications' VGG and ResNet v1 take BGR
images with Caffe's ImageNet mean subtracted, torchvision's networks RGB in [0, 1] normalised by
ImageNet's mean and standard deviation, Inception and the TF EfficientNets RGB scaled to about
[-1, 1]. Every `zoo.registry.WeightsSpec` therefore carries a `Preprocessing`, and

- ``zoo.preprocess_input(name, images, weights="imagenet")`` (`zoo.registry.preprocess_input`)
  applies it to an array or tensor;
- ``zoo.<model>(weights=..., include_preprocessing=True)`` puts it inside the model as an
  `ImageNormalization` layer, so that the model takes raw RGB images with values in [0, 255]
  (uint8 arrays are fine).

This module holds the dataclass, every publisher's convention (`CAFFE`, `TORCH`, `TF`,
`TORCH_INCEPTION`, `TF_LITE`), the layer and `INTERPOLATIONS`, the one list of resampling names
every resize in zoo/ and transfer/ accepts. It imports no other module of the zoo.

All constants are expressed on the [0, 255] scale of the raw pixels: torchvision's mean 0.485 on
[0, 1] is ``0.485 * 255 = 123.675`` here, its standard deviation 0.229 is ``58.395``.

Example:
    >>> import numpy as np
    >>> images = np.full((1, 2, 2, 3), 255, dtype=np.uint8)
    >>> float(TF(images).max())
    1.0
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

__all__ = [
    "CAFFE",
    "CHANNEL_ORDERS",
    "INTERPOLATIONS",
    "TF",
    "TF_LITE",
    "TORCH",
    "TORCH_INCEPTION",
    "ImageNormalization",
    "Preprocessing",
    "check_interpolation",
    "check_rgb",
]

CHANNEL_ORDERS = ("rgb", "bgr")
# tf.image.resize's and keras.layers.Resizing's names, the spelling used everywhere in kerazoo.
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos3", "lanczos5")


def check_interpolation(
    interpolation: Any, *, what: str = "interpolation", supported: tuple[str, ...] = INTERPOLATIONS
) -> str:
    """Returns `interpolation` if it is one of `supported`, else raises a ValueError naming it.

    Args:
        interpolation: The value to check.
        what: The argument's name, for the message.
        supported: The names the caller accepts (a subset of `INTERPOLATIONS`).

    Returns:
        `interpolation`.

    Raises:
        ValueError: If it is not one of `supported`.

    Example:
        >>> check_interpolation("bicubic")
        'bicubic'
    """
    if interpolation not in supported:
        raise ValueError(f"{what}={interpolation!r} must be one of {supported}")
    return interpolation


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How images must be prepared for a set of weights.

    The network's input is ``(reorder(x) - mean) / std`` for RGB images ``x`` with values in
    [0, 255], where ``reorder`` turns RGB into `channel_order`. For evaluation the publishers
    resize the shorter side to ``input size / crop_fraction`` (256 for 224 at 0.875) with
    `interpolation`, then crop the centre to the input size.

    Attributes:
        mode: Short name of the convention: ``"caffe"``, ``"torch"``, ``"tf"`` or a
            publisher's own (``"tf_lite"`` ...).
        mean: Per-channel mean subtracted, in the network's channel order, on the [0, 255] scale.
        std: Per-channel divisor, same order and scale.
        channel_order: ``"rgb"`` or ``"bgr"``: the channel order the network takes.
        crop_fraction: Fraction of the resized image kept by the evaluation centre crop.
        interpolation: Resampling used to resize (``"bilinear"``, ``"bicubic"`` ...).
        reference: Where the publisher states the convention.
    """

    mode: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: str = "rgb"
    crop_fraction: float = 0.875
    interpolation: str = "bilinear"
    reference: str = ""

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"mean {self.mean} and std {self.std} need one value per channel")
        if any(value <= 0 for value in self.std):
            raise ValueError(f"std {self.std} must be positive")
        if self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(
                f"channel_order={self.channel_order!r} must be one of {CHANNEL_ORDERS}"
            )
        if not 0 < self.crop_fraction <= 1:
            raise ValueError(f"crop_fraction={self.crop_fraction} must be in (0, 1]")
        check_interpolation(self.interpolation)

    def resize_size(self, input_size: int) -> int:
        """Shorter side to resize to before the centre crop of side `input_size`.

        Example:
            >>> TORCH.resize_size(224), TORCH.resize_size(299)
            (256, 342)
        """
        return round(input_size / self.crop_fraction)

    def layer(self, *, name: str = "preprocessing") -> ImageNormalization:
        """This preprocessing as a Keras layer (see `ImageNormalization`)."""
        return ImageNormalization(
            mean=self.mean,
            std=self.std,
            reverse_channels=self.channel_order == "bgr",
            name=name,
        )

    def __call__(self, images: Any) -> Any:
        """Applies it to RGB images in [0, 255]: NumPy in, float32 NumPy out, tensors stay."""
        if isinstance(images, (np.ndarray, list, tuple, int, float)):
            array = np.asarray(images, dtype=np.float32)
            check_rgb(array.shape, what="images")
            if self.channel_order == "bgr":
                array = array[..., ::-1]
            mean = np.asarray(self.mean, np.float32)
            return (array - mean) / np.asarray(self.std, np.float32)
        return self.layer()(images)


# keras.applications.imagenet_utils' three modes: the conventions of most ImageNet weights.
CAFFE = Preprocessing(
    mode="caffe",
    mean=(103.939, 116.779, 123.68),
    std=(1.0, 1.0, 1.0),
    channel_order="bgr",
    reference="keras.applications imagenet_utils, mode 'caffe' (VGG, ResNet v1)",
)
TORCH = Preprocessing(
    mode="torch",
    mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
    std=(0.229 * 255, 0.224 * 255, 0.225 * 255),
    reference="torchvision ImageClassification transforms (IMAGENET1K_V1 weights)",
)
TF = Preprocessing(
    mode="tf",
    mean=(127.5, 127.5, 127.5),
    std=(127.5, 127.5, 127.5),
    reference="keras.applications imagenet_utils, mode 'tf' (Inception, ResNet v2)",
)
# torchvision's pretrained GoogLeNet and Inception v3 (Google's TF-trained weights) are fed its
# ImageNet mean/std and then undo it in the model (transform_input=True): x_c * std_c / 0.5 +
# (mean_c - 0.5) / 0.5 of (p - mean_c) / std_c is (p - 0.5) / 0.5, the "tf" scaling.
TORCH_INCEPTION = dataclasses.replace(
    TF,
    reference="torchvision's ImageNet mean/std followed by the model's transform_input=True, "
    "which compose to (x / 255 - 0.5) / 0.5",
)
# The TF EfficientNet-Lite models (tensorflow/tpu efficientnet_lite_builder.py); their weights
# set the evaluation crop fraction from the resolution.
TF_LITE = Preprocessing(
    mode="tf_lite",
    mean=(127.0, 127.0, 127.0),
    std=(128.0, 128.0, 128.0),
    interpolation="bicubic",
    reference="tensorflow/tpu efficientnet_lite_builder.py MEAN_RGB = 127, STD_RGB = 128",
)


def check_rgb(shape: tuple[Any, ...], *, what: str) -> None:
    """Raises a ValueError naming `what` unless `shape` ends with 3 channels.

    Example:
        >>> check_rgb((2, 8, 8, 3), what="images")
    """
    if not shape or shape[-1] != 3:
        raise ValueError(
            f"{what} of shape {tuple(shape)} must be RGB images with 3 channels last "
            "(height, width, 3) or (batch, height, width, 3)"
        )


@keras.saving.register_keras_serializable(package="kerazoo")
class ImageNormalization(keras.layers.Layer):
    """``(reorder(x) - mean) / std``: the preprocessing of pretrained weights as a model's layer.

    It casts its input to the compute dtype, so that a model starting with it takes raw uint8
    RGB images; ``reverse_channels`` turns RGB into BGR first (Caffe-trained weights).

    Args:
        mean: Per-channel values subtracted (after the reordering), on the input's scale.
        std: Per-channel divisors.
        reverse_channels: Whether to reverse the channel axis first.
        **kwargs: Base layer arguments (``name`` ...).

    Example:
        >>> layer = ImageNormalization(mean=(127.5,) * 3, std=(127.5,) * 3)
        >>> [float(v) for v in layer(np.array([[[[0, 255, 127.5]]]]))[0, 0, 0]]
        [-1.0, 1.0, 0.0]
    """

    def __init__(
        self,
        *,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        reverse_channels: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(
                f"ImageNormalization needs 3 means and 3 positive stds, got {mean} and {std}"
            )
        self.reverse_channels = bool(reverse_channels)

    def build(self, input_shape: Any) -> None:
        check_rgb(tuple(input_shape), what=f"input of {self.name}")

    def call(self, inputs: Any) -> Any:
        x = keras.ops.cast(inputs, self.compute_dtype)
        if self.reverse_channels:
            x = keras.ops.flip(x, axis=-1)
        mean = keras.ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)
        std = keras.ops.convert_to_tensor(self.std, dtype=self.compute_dtype)
        return (x - mean) / std

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "mean": self.mean,
            "std": self.std,
            "reverse_channels": self.reverse_channels,
        }
