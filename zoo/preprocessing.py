"""The preprocessing each set of pretrained weights expects, as data, as a function and as a layer.

Weights are only as good as the input they are fed: keras.applications' VGG and ResNet v1 take BGR
images with Caffe's ImageNet mean subtracted, torchvision's networks RGB in [0, 1] normalised by
ImageNet's mean and standard deviation, Inception and the TF EfficientNets RGB scaled to about
[-1, 1]. Every `zoo.registry.WeightsSpec` therefore carries a `Preprocessing`, and

- `preprocess_input` ``(name, images, weights="imagenet")`` applies it to an array or tensor;
- ``zoo.<model>(weights=..., include_preprocessing=True)`` puts it inside the model as an
  `ImageNormalization` layer, so that the model takes raw RGB images with values in [0, 255]
  (uint8 arrays are fine).

All constants are expressed on the [0, 255] scale of the raw pixels: torchvision's mean 0.485 on
[0, 1] is ``0.485 * 255 = 123.675`` here, its standard deviation 0.229 is ``58.395``.

Example:
    >>> import numpy as np
    >>> images = np.full((1, 2, 2, 3), 255, dtype=np.uint8)
    >>> float(preprocess_input("resnet50_v2", images).max())
    1.0
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from zoo.layers import ImageNormalization, check_rgb

__all__ = [
    "CAFFE",
    "TF",
    "TORCH",
    "TORCH_INCEPTION",
    "ImageNormalization",
    "Preprocessing",
    "preprocess_input",
    "preprocessing_of",
]

CHANNEL_ORDERS = ("rgb", "bgr")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos3")


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
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation={self.interpolation!r} must be one of {INTERPOLATIONS}"
            )

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


def preprocessing_of(name: str, weights: str = "imagenet") -> Preprocessing:
    """The preprocessing of a model's registered weights set.

    Args:
        name: A registered model name.
        weights: Tag of the weights set.

    Returns:
        Its `Preprocessing`.

    Raises:
        ValueError: If the model is unknown, has no such weights or they state no preprocessing.

    Example:
        >>> preprocessing_of("vgg16").mode
        'caffe'
    """
    from zoo import registry  # The registry's specs hold Preprocessing objects of this module.

    info = registry.model_info(name)
    spec = info.weights_spec(weights)
    if spec is None:
        tags = ", ".join(repr(tag) for tag in info.weights_tags) or "none registered"
        raise ValueError(f"{weights!r} is not a weights tag of {name} (known tags: {tags})")
    if spec.preprocessing is None:
        raise ValueError(f"the {weights!r} weights of {name} state no preprocessing")
    return spec.preprocessing


def preprocess_input(name: str, images: Any, *, weights: str = "imagenet") -> Any:
    """Prepares RGB images in [0, 255] for a model's pretrained weights.

    The array path of ``include_preprocessing=True``: the same normalisation (channel order,
    mean, std) the weights were trained with. It does not resize; see `Preprocessing` for the
    publisher's resize and crop.

    Args:
        name: A registered model name (``"resnet50"`` ...).
        images: RGB images with values in [0, 255], channels last: a NumPy array (any dtype,
            e.g. uint8) or a tensor.
        weights: Tag of the weights set (models with several sets preprocess differently:
            ``zoo.resnet50``'s ``"imagenet"`` is Caffe-style BGR, its
            ``"imagenet_torchvision"`` torchvision's RGB).

    Returns:
        float32 NumPy array for NumPy input, else a tensor.

    Raises:
        ValueError: If the weights are unknown or the images do not have 3 channels last.

    Example:
        >>> x = preprocess_input("vgg16", np.zeros((1, 224, 224, 3), np.uint8))
        >>> [round(float(v), 3) for v in x[0, 0, 0]]
        [-103.939, -116.779, -123.68]
    """
    return preprocessing_of(name, weights)(images)
