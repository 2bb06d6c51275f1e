"""The dilated-convolution context module of Yu & Koltun for dense prediction.

Yu & Koltun, "Multi-Scale Context Aggregation by Dilated Convolutions", ICLR 2016,
arXiv:1511.07122, section 3 and table 1. The module maps C feature maps (class scores, say) to C
feature maps of the same size through seven 3x3 convolutions with dilations 1, 1, 2, 4, 8, 16, 1
and a final 1x1 convolution; each 3x3 layer is followed by the pointwise truncation
``max(., 0)``, the 1x1 layer is not (table 1, "Truncation"). Every output pixel then sees a 67x67
window of the input. The *basic* module keeps C channels throughout (64 C^2 weights + 8 C
biases); the *large* one widens to 2C, 2C, 4C, 8C, 16C, 32C, 32C and back to C.

Both start as the identity (`GroupedIdentity`, the paper's equations 4 and 5), so that an
untrained module passes its input through -- for the inputs it is meant for, which are
non-negative (a backbone's ReLU output or class scores after truncation): the first layer's
truncation zeroes negative values, so at initialization the module computes ``max(x, 0)``.

Padding: the paper describes valid convolutions on an input padded beforehand; here each layer
pads with zeros ("same", ``dilation`` pixels on each side, as the authors' Caffe definition
``pad = dilation`` does), so the module keeps any feature map's height and width and fits any
backbone.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from zoo.layers import centre_tap_kernel

__all__ = [
    "CONTEXT_DILATIONS",
    "CONTEXT_RECEPTIVE_FIELDS",
    "CONTEXT_WIDTHS",
    "ContextModule",
    "GroupedIdentity",
]

# Table 1: dilation of the seven 3x3 layers (the eighth layer is 1x1), the receptive field after
# each of the eight layers, and the output channels of each layer in multiples of C.
CONTEXT_DILATIONS: tuple[int, ...] = (1, 1, 2, 4, 8, 16, 1)
CONTEXT_RECEPTIVE_FIELDS: tuple[int, ...] = (3, 5, 9, 17, 33, 65, 67, 67)
CONTEXT_WIDTHS: dict[str, tuple[int, ...]] = {
    "basic": (1, 1, 1, 1, 1, 1, 1, 1),
    "large": (2, 2, 4, 8, 16, 32, 32, 1),
}
# Standard deviation of the symmetry-breaking noise of equation 5 for the large module; the paper
# asks only for sigma << C / c_{i+1}, which is at least 1/32 here.
_LARGE_NOISE = 1e-3


def _check_stddev(stddev: Any, label: str) -> float:
    if (
        isinstance(stddev, bool)
        or not isinstance(stddev, numbers.Real)
        or not math.isfinite(stddev)
        or stddev < 0
    ):
        raise ValueError(f"{label}={stddev!r} must be a finite number >= 0")
    return float(stddev)


@keras.saving.register_keras_serializable(package="kerazoo")
class GroupedIdentity(keras.initializers.Initializer):
    """Identity initialization of a convolution between widths that are multiples of `groups`.

    Yu & Koltun 2016, equations 4 and 5. Input channel ``a`` of ``c_in`` and output channel
    ``b`` of ``c_out`` belong to the same group when ``floor(a * groups / c_in) == floor(b *
    groups / c_out)``; the kernel is ``groups / c_out`` at the centre tap between channels of a
    group and ``N(0, stddev^2)`` noise elsewhere. With ``c_in == c_out == groups`` and
    ``stddev=0`` this is equation 4, the identity; a chain of such layers from C to C channels
    computes the identity as well (each channel of a wide layer carries its group's value,
    scaled by C / width). The noise breaks the symmetry between the channels of a group.

    Args:
        groups: C, the number of groups; it must divide the input and output channels.
        stddev: Standard deviation of the noise (0 for none).
        seed: Seed of the noise.

    Example:
        >>> kernel = GroupedIdentity(2)((3, 3, 2, 4))
        >>> float(kernel[1, 1, 0, 1]), float(kernel[1, 1, 0, 2])
        (0.5, 0.0)
    """

    def __init__(self, groups: int, stddev: float = 0.0, seed: int | None = None) -> None:
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            raise ValueError(f"groups={groups!r} must be a positive int")
        self.groups = groups
        self.stddev = _check_stddev(stddev, "stddev")
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        """Returns the kernel of equation 5."""

        def same_group(inputs: int, outputs: int) -> Any:
            if inputs % self.groups or outputs % self.groups:
                raise ValueError(
                    f"groups={self.groups} must divide the input and output channels of the "
                    f"kernel shape {tuple(shape)}"
                )
            group_in = ops.arange(inputs) * self.groups // inputs
            group_out = ops.arange(outputs) * self.groups // outputs
            return ops.cast(ops.equal(group_in[:, None], group_out[None, :]), "float32")

        mask = centre_tap_kernel(shape, same_group, owner="GroupedIdentity")
        kernel = mask * (self.groups / shape[3])
        if self.stddev:
            noise = keras.random.normal(shape, stddev=self.stddev, seed=self.seed)
            kernel = kernel + (1.0 - mask) * noise
        return ops.cast(kernel, dtype or keras.config.floatx())

    def get_config(self) -> dict[str, Any]:
        """The arguments of `__init__`."""
        return {"groups": self.groups, "stddev": self.stddev, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerazoo")
class ContextModule(keras.layers.Layer):
    """The context module of Yu & Koltun (ICLR 2016, arXiv:1511.07122, section 3, table 1).

    Eight convolutions on a C-channel feature map: 3x3 with dilations 1, 1, 2, 4, 8, 16, 1, each
    followed by ReLU, then a linear 1x1 back to C channels; the output has the input's shape and
    each output pixel sees a 67x67 input window. Initialized to the identity (equations 4 and 5),
    so an untrained module returns ``max(x, 0)`` -- its input, for the non-negative feature maps
    it is meant for -- and fine-tuning starts from the backbone's own prediction. Padding is
    "same" (zeros, as in the authors' Caffe definition), so any backbone's feature map fits.
    The sub-layers ``conv1`` ... ``conv8`` are created when the module is built, C being the
    input's channels.

    Args:
        variant: ``"basic"`` (C channels in every layer, 64 C^2 + 8 C parameters) or
            ``"large"`` (2C, 2C, 4C, 8C, 16C, 32C, 32C, C).
        noise_stddev: Standard deviation of the symmetry-breaking noise of equation 5; None
            takes 0 for the basic module (equation 4, exact identity) and 1e-3 for the large one.
        seed: Seed of that noise (layer ``i`` uses ``seed + i``); None draws a fresh one.
        **kwargs: Base `keras.layers.Layer` arguments (``name``, ``dtype`` ...).

    Example:
        >>> import zoo
        >>> backbone = zoo.vgg16(include_top=False, input_shape=(224, 224, 3))
        >>> scores = keras.layers.Conv2D(21, 1, activation="relu")(backbone.output)
        >>> context = ContextModule()(scores)  # same shape as scores: (None, 7, 7, 21)
    """

    def __init__(
        self,
        variant: str = "basic",
        *,
        noise_stddev: float | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if variant not in CONTEXT_WIDTHS:
            raise ValueError(f"variant={variant!r} must be one of {tuple(CONTEXT_WIDTHS)}")
        if noise_stddev is not None:
            noise_stddev = _check_stddev(noise_stddev, "noise_stddev")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"seed={seed!r} must be an int or None")
        self.variant = variant
        self.noise_stddev = noise_stddev
        self.seed = seed
        self.convs: list[keras.layers.Conv2D] = []

    def _stddev(self) -> float:
        if self.noise_stddev is not None:
            return self.noise_stddev
        return _LARGE_NOISE if self.variant == "large" else 0.0

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Creates and builds the eight convolutions for C = the input's channels."""
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                f"ContextModule expects (batch, height, width, channels) with known channels, "
                f"got input shape {tuple(input_shape)}"
            )
        channels = input_shape[-1]
        dilations = (*CONTEXT_DILATIONS, 1)
        shape = tuple(input_shape)
        for index, (dilation, multiple) in enumerate(
            zip(dilations, CONTEXT_WIDTHS[self.variant], strict=True), start=1
        ):
            last = index == len(dilations)
            conv = keras.layers.Conv2D(
                channels * multiple,
                1 if last else 3,
                padding="same",
                dilation_rate=dilation,
                activation=None if last else "relu",
                kernel_initializer=GroupedIdentity(
                    channels,
                    self._stddev(),
                    seed=None if self.seed is None else self.seed + index,
                ),
                bias_initializer="zeros",
                dtype=self.dtype_policy,
                name=f"conv{index}",
            )
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            self.convs.append(conv)
        self.built = True

    def call(self, inputs: Any) -> Any:
        """Applies the eight convolutions."""
        x = inputs
        for conv in self.convs:
            x = conv(x)
        return x

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The input's shape."""
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        """The arguments of `__init__`."""
        return {
            **super().get_config(),
            "variant": self.variant,
            "noise_stddev": self.noise_stddev,
            "seed": self.seed,
        }
