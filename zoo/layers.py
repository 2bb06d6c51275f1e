"""Custom layers of the zoo; every one is registered so that `.keras` files load with safe_mode."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = ["LocalResponseNormalization"]


@keras.saving.register_keras_serializable(package="kerazoo")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al., 2012, section 3.3).

    ``b[..., c] = a[..., c] / (k + alpha * sum(a[..., j] ** 2 for j in window(c))) ** beta``, the
    window covering `size` adjacent channels centred on ``c``. Equal to
    ``tf.nn.local_response_normalization(x, depth_radius=size // 2, bias=k, alpha=alpha,
    beta=beta)``. Note that `alpha` is used as in the paper and TensorFlow; Caffe divides it by
    `size`. Expects channels-last inputs.

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
        channels = inputs.shape[-1]
        half = self.size // 2
        squares = ops.pad(ops.square(inputs), [[0, 0]] * (len(inputs.shape) - 1) + [[half, half]])
        window_sum = squares[..., :channels]
        for offset in range(1, self.size):
            window_sum = window_sum + squares[..., offset : offset + channels]
        return inputs / ops.power(self.k + self.alpha * window_sum, self.beta)

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
