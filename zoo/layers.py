"""Custom layers of the zoo; every one is registered so that `.keras` files load with safe_mode."""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras
from keras import ops

__all__ = [
    "AdaptiveAveragePooling2D",
    "LocalResponseNormalization",
    "PadChannels",
    "ScaledResidual",
]


@keras.saving.register_keras_serializable(package="kerazoo")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al., 2012, section 3.3).

    ``b[..., c] = a[..., c] / (k + alpha * sum(a[..., j] ** 2 for j in window(c))) ** beta``, the
    window covering `size` adjacent channels centred on ``c``. Equal to
    ``tf.nn.local_response_normalization(x, depth_radius=size // 2, bias=k, alpha=alpha,
    beta=beta)``. Note that `alpha` is used as in the paper and TensorFlow; Caffe divides it by
    `size`. Expects channels-last inputs. Computes in float32 at least: under mixed precision the
    sum of squares of activations in the hundreds overflows float16.

    Args:
        size: Number of adjacent channels summed over (``n`` in the paper); odd.
        alpha: Scale of the sum of squares.
        beta: Exponent.
        k: Additive bias.
        **kwargs: Base `keras.layers.Layer` arguments (``name``, ``dtype`` ...).

    Example:
        >>> lrn = LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=2.0)
        >>> lrn(np.ones((1, 4, 4, 8), "float32")).shape
        (1, 4, 4, 8)
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"size={size!r} must be a positive odd int (a centred window)")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def call(self, inputs: Any) -> Any:
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        x = ops.cast(inputs, "float32" if dtype in ("float16", "bfloat16") else dtype)
        channels = x.shape[-1]
        half = self.size // 2
        squares = ops.pad(ops.square(x), [[0, 0]] * (len(x.shape) - 1) + [[half, half]])
        window_sum = squares[..., :channels]
        for offset in range(1, self.size):
            window_sum = window_sum + squares[..., offset : offset + channels]
        return ops.cast(x / ops.power(self.k + self.alpha * window_sum, self.beta), inputs.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "size": self.size,
            "alpha": self.alpha,
            "beta": self.beta,
            "k": self.k,
        }


@keras.saving.register_keras_serializable(package="kerazoo")
class PadChannels(keras.layers.Layer):
    """Zero-pads the channel axis to `channels`, half before and half after the input's channels.

    The parameter-free shortcut of He et al. 2015 ("option A") when a residual stage widens: the
    identity plus extra zero entries. Expects channels-last inputs.

    Args:
        channels: Number of output channels; at least the input's.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> PadChannels(32)(np.ones((1, 8, 8, 16), "float32")).shape
        (1, 8, 8, 32)
    """

    def __init__(self, channels: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels={channels!r} must be a positive int")
        self.channels = channels

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if input_shape[-1] > self.channels:
            raise ValueError(
                f"PadChannels({self.channels}) cannot pad {input_shape[-1]} channels down"
            )
        self.built = True

    def call(self, inputs: Any) -> Any:
        extra = self.channels - inputs.shape[-1]
        before = extra // 2
        return ops.pad(inputs, [[0, 0]] * (len(inputs.shape) - 1) + [[before, extra - before]])

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels}


def _adaptive_bins(size: Any, bins: int) -> Any:
    """``(bins, size)`` matrix averaging the input positions of each output bin, as torch does."""
    size_f = ops.cast(size, "float32")
    index = ops.arange(bins, dtype="float32")
    start = ops.floor(index * size_f / bins)
    end = ops.ceil((index + 1.0) * size_f / bins)
    position = ops.arange(size, dtype="float32")
    inside = ops.logical_and(position[None, :] >= start[:, None], position[None, :] < end[:, None])
    return ops.cast(inside, "float32") / (end - start)[:, None]


@keras.saving.register_keras_serializable(package="kerazoo")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Average pooling to a fixed output size, with the bins of ``torch.nn.AdaptiveAvgPool2d``.

    Output cell ``i`` averages input rows ``floor(i * H / out)`` to ``ceil((i + 1) * H / out)``
    (same for columns), for any input size -- also smaller than the output, where bins repeat
    input cells, and unknown (None) sizes. Keras' own ``AdaptiveAveragePooling2D`` fails in graph
    mode when the input is smaller than the output, which torchvision's AlexNet meets at small
    inputs. Expects channels-last inputs.

    Args:
        output_size: ``(height, width)`` of the output, or one int for both.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> AdaptiveAveragePooling2D(6)(np.ones((1, 1, 1, 8), "float32")).shape
        (1, 6, 6, 8)
    """

    def __init__(self, output_size: int | tuple[int, int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        if len(size) != 2 or any(not isinstance(s, int) or s < 1 for s in size):
            raise ValueError(f"output_size={output_size!r} must be a positive int or two of them")
        self.output_size = size

    def call(self, inputs: Any) -> Any:
        shape = ops.shape(inputs)
        rows = ops.cast(_adaptive_bins(shape[1], self.output_size[0]), inputs.dtype)
        cols = ops.cast(_adaptive_bins(shape[2], self.output_size[1]), inputs.dtype)
        return ops.einsum("ih,bhwc,jw->bijc", rows, inputs, cols)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], *self.output_size, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "output_size": self.output_size}


@keras.saving.register_keras_serializable(package="kerazoo")
class ScaledResidual(keras.layers.Layer):
    """Adds a scaled residual to a shortcut: ``shortcut + residual * scale``.

    The residual scaling of Inception-ResNet (Szegedy et al., "Inception-v4, Inception-ResNet and
    the Impact of Residual Connections on Learning", AAAI 2017, section 3.3), which keeps very
    wide residual networks stable early in training. It has no weights and computes exactly what
    keras.applications' ``CustomScaleLayer`` computes, without the unsafe ``Lambda`` layer.

    Args:
        scale: Factor of the residual (0.1 to 0.3 in the paper).
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> x = np.ones((1, 2, 2, 4), "float32")
        >>> float(ScaledResidual(0.5)([x, 2 * x])[0, 0, 0, 0])
        2.0
    """

    def __init__(self, scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(scale, bool)
            or not isinstance(scale, numbers.Real)
            or not math.isfinite(scale)
        ):
            raise ValueError(f"scale={scale!r} must be a finite number")
        self.scale = float(scale)

    def call(self, inputs: Any) -> Any:
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}
