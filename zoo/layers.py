"""Custom layers of the zoo; every one is registered so that `.keras` files load with safe_mode."""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras
from keras import ops

__all__ = [
    "AdaptiveAveragePooling2D",
    "AdaptiveMaxPooling2D",
    "CeilMaxPooling2D",
    "LocalResponseNormalization",
    "PadChannels",
    "ScaledResidual",
    "SpatialTransformer",
    "affine_grid",
    "bilinear_sample",
    "centre_tap_kernel",
    "localization_cnn",
]


def centre_tap_kernel(shape: Any, matrix: Any, *, owner: str) -> Any:
    """A convolution kernel that is ``matrix(in, out)`` at its centre tap and zero elsewhere.

    The identity-like part of the identity initializations (ResNet Init, Yu & Koltun's): a
    convolution with such a kernel maps each pixel's channels through the matrix alone.

    Args:
        shape: ``(rows, cols, in, out)`` with odd rows and cols, as Keras asks initializers for.
        matrix: ``matrix(in, out)`` returns the ``(in, out)`` matrix of the centre tap.
        owner: Who asks, named in the error.

    Returns:
        The kernel, in the matrix's dtype.

    Raises:
        ValueError: If `shape` is not that of a 2-D convolution kernel with odd rows and cols.

    Example:
        >>> kernel = centre_tap_kernel((3, 3, 2, 2), lambda i, o: ops.eye(i, o), owner="example")
        >>> float(kernel[1, 1, 0, 0]), float(kernel[0, 0, 0, 0])
        (1.0, 0.0)
    """
    if len(shape) != 4 or shape[0] % 2 == 0 or shape[1] % 2 == 0:
        raise ValueError(
            f"{owner} needs a 2-D convolution kernel (rows, cols, in, out) with odd rows and "
            f"cols, got shape {tuple(shape)}"
        )
    rows, cols, inputs, outputs = shape
    centre = [[rows // 2, rows // 2], [cols // 2, cols // 2], [0, 0], [0, 0]]
    return ops.pad(matrix(inputs, outputs)[None, None], centre)


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


def _adaptive_bin_edges(size: Any, bins: int) -> list[tuple[Any, Any]]:
    """``(start, end)`` of each of `bins` output cells over `size` inputs, as torch has them."""
    # ceil(a / b) as -(-a // b): works on Python ints and on the dynamic sizes of a graph.
    return [((i * size) // bins, -(-(i + 1) * size // bins)) for i in range(bins)]


@keras.saving.register_keras_serializable(package="kerazoo")
class AdaptiveMaxPooling2D(keras.layers.Layer):
    """Max pooling to a fixed output size, with the bins of ``torch.nn.AdaptiveMaxPool2d``.

    Output cell ``i`` takes the maximum of input rows ``floor(i * H / out)`` to
    ``ceil((i + 1) * H / out)`` (same for columns), for any input size -- also smaller than the
    output, where bins repeat input cells, and unknown (None) sizes; the bins of
    `AdaptiveAveragePooling2D`. Keras' own ``AdaptiveMaxPooling2D`` fails on a 1x1
    input, which the deepest block of a DCGAN discriminator gives at the smallest input size.
    Expects channels-last inputs.

    Args:
        output_size: ``(height, width)`` of the output, or one int for both.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        >>> np.asarray(AdaptiveMaxPooling2D(2)(x))[0, :, :, 0].tolist()
        [[5.0, 7.0], [13.0, 15.0]]
    """

    def __init__(self, output_size: int | tuple[int, int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(output_size, int):
            size = (output_size, output_size)
        else:  # a tuple, or the list a .keras file stores
            size = tuple(output_size) if isinstance(output_size, (tuple, list)) else ()
        if len(size) != 2 or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size
        ):
            raise ValueError(f"output_size={output_size!r} must be a positive int or two of them")
        self.output_size = size

    def call(self, inputs: Any) -> Any:
        """Pools `inputs` of shape ``(batch, height, width, channels)``."""
        shape = ops.shape(inputs)
        rows = [
            ops.max(inputs[:, start:end], axis=1, keepdims=True)
            for start, end in _adaptive_bin_edges(shape[1], self.output_size[0])
        ]
        x = ops.concatenate(rows, axis=1)
        cols = [
            ops.max(x[:, :, start:end], axis=2, keepdims=True)
            for start, end in _adaptive_bin_edges(shape[2], self.output_size[1])
        ]
        return ops.concatenate(cols, axis=2)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """``(batch, *output_size, channels)``."""
        return (input_shape[0], *self.output_size, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        """The layer's configuration, for serialization."""
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


def _compute_dtype(dtype: Any) -> str:
    """The float type of coordinate arithmetic: float32 at least (float16 grids are too coarse)."""
    dtype = keras.backend.standardize_dtype(dtype)
    return dtype if dtype in ("float32", "float64") else "float32"


def _normalised_coordinates(size: Any, dtype: str) -> Any:
    """Normalised coordinates of the pixel centres along one axis: -1 (first) ... +1 (last)."""
    index = ops.arange(size, dtype=dtype)
    last = ops.cast(size, dtype) - 1.0
    # A side of one pixel has its only centre at 0 (and -1 / 1 would both be that centre).
    return ops.where(last > 0, 2.0 * index / ops.maximum(last, 1.0) - 1.0, 0.0 * index)


def affine_grid(theta: Any, height: Any, width: Any) -> Any:
    """The sampling grid of an affine spatial transformer (Jaderberg et al., 2015, section 3.2).

    For each pixel ``(i, j)`` of a ``height x width`` output, its normalised target coordinates
    ``x_t = -1 + 2 j / (width - 1)`` (column) and ``y_t = -1 + 2 i / (height - 1)`` (row) are
    mapped to source coordinates in the input by the affine transform of equation (1) of the
    paper::

        [x_s, y_s] = theta @ [x_t, y_t, 1]    # theta: 2 x 3, rows (x_s, y_s)

    Coordinates are normalised so that -1 and +1 are the centres of the first and last pixel of
    a side, independently of its length -- PyTorch's ``align_corners=True`` convention. The
    identity ``theta = [[1, 0, 0], [0, 1, 0]]`` maps every output pixel centre onto the input
    pixel centre at the same relative position, so an output of the input's size reproduces the
    input. A side of length 1 has its one pixel centre at 0.

    Args:
        theta: Affine parameters, shape ``(batch, 2, 3)``, as the localisation network regresses
            them: ``theta[:, 0]`` gives ``x_s`` (horizontal), ``theta[:, 1]`` gives ``y_s``.
        height: Height of the output grid (an int, or a scalar tensor in graph mode).
        width: Width of the output grid.

    Returns:
        The grid, shape ``(batch, height, width, 2)``, with ``(x_s, y_s)`` in the last axis, in
        float32 (float64 if `theta` is float64); feed it to `bilinear_sample`.

    Raises:
        ValueError: If `theta` is not of shape ``(batch, 2, 3)``.

    Example:
        >>> theta = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], "float32")
        >>> grid = affine_grid(theta, 3, 5)
        >>> np.asarray(grid)[0, 0, :, 0].tolist()
        [-1.0, -0.5, 0.0, 0.5, 1.0]
    """
    theta = ops.convert_to_tensor(theta)
    if len(theta.shape) != 3 or tuple(theta.shape[1:]) != (2, 3):
        raise ValueError(f"theta must have shape (batch, 2, 3), got {tuple(theta.shape)}")
    dtype = _compute_dtype(theta.dtype)
    theta = ops.cast(theta, dtype)
    rows, cols = ops.meshgrid(
        _normalised_coordinates(height, dtype),
        _normalised_coordinates(width, dtype),
        indexing="ij",
    )
    target = ops.stack([cols, rows, ops.ones_like(cols)], axis=-1)  # (height, width, 3)
    target = ops.reshape(target, (-1, 3))
    source = ops.einsum("bkj,nj->bnk", theta, target)
    return ops.reshape(source, (-1, height, width, 2))


def bilinear_sample(images: Any, grid: Any) -> Any:
    """Samples `images` at the points of `grid` with the bilinear kernel, zero outside the image.

    The differentiable sampler of Jaderberg et al. (2015), equation (5): output pixel ``i`` of
    channel ``c`` is ``sum(U[n, m, c] * max(0, 1 - |x_i - m|) * max(0, 1 - |y_i - n|))`` over
    all input pixels ``(n, m)``, where ``(x_i, y_i)`` is the grid point in pixel coordinates:
    ``x_i = (x + 1) (W - 1) / 2`` and ``y_i = (y + 1) (H - 1) / 2`` for the normalised grid
    values ``(x, y)`` (see `affine_grid` for the convention). The input is padded with zeros: a
    point half a pixel outside the image blends the border pixel with zero, one pixel or more
    outside gives exactly 0 -- what ``scipy.ndimage.map_coordinates(..., order=1,
    mode="grid-constant", cval=0)`` computes. Gradients flow to `images` and to `grid`
    (sub-gradients at integer coordinates, as in the paper).

    Args:
        images: Channels-last batch, shape ``(batch, H, W, channels)``.
        grid: Normalised source coordinates, shape ``(batch, H', W', 2)``, ``(x, y)`` in the last
            axis, e.g. from `affine_grid`.

    Returns:
        The sampled batch, shape ``(batch, H', W', channels)``, in the dtype of `images`.

    Raises:
        ValueError: If the ranks or the last axis of `grid` are wrong.

    Example:
        >>> images = np.arange(12, dtype="float32").reshape(1, 3, 4, 1)
        >>> grid = np.zeros((1, 1, 1, 2), "float32")  # the image centre
        >>> float(bilinear_sample(images, grid)[0, 0, 0, 0])
        5.5
    """
    images = ops.convert_to_tensor(images)
    grid = ops.convert_to_tensor(grid)
    if len(images.shape) != 4:
        raise ValueError(f"images must have shape (batch, H, W, channels), got {images.shape}")
    if len(grid.shape) != 4 or grid.shape[-1] != 2:
        raise ValueError(f"grid must have shape (batch, H', W', 2), got {grid.shape}")
    dtype = _compute_dtype(grid.dtype)
    grid = ops.cast(grid, dtype)
    height, width = ops.shape(images)[1:3]
    x = (grid[..., 0] + 1.0) * (ops.cast(width, dtype) - 1.0) / 2.0
    y = (grid[..., 1] + 1.0) * (ops.cast(height, dtype) - 1.0) / 2.0
    return _interpolate(images, x, y)


def _interpolate(images: Any, x: Any, y: Any) -> Any:
    """Bilinear interpolation of `images` at pixel coordinates `x`, `y` (batch, H', W')."""
    batch, height, width, channels = ops.shape(images)
    out_height, out_width = ops.shape(x)[1:3]
    dtype = keras.backend.standardize_dtype(x.dtype)
    x0, y0 = ops.floor(x), ops.floor(y)
    wx1, wy1 = x - x0, y - y0
    # The four neighbours (top left, top right, bottom left, bottom right) stacked in front.
    cols = ops.stack([x0, x0 + 1.0, x0, x0 + 1.0])
    rows = ops.stack([y0, y0, y0 + 1.0, y0 + 1.0])
    weights = ops.stack(
        [(1.0 - wx1) * (1.0 - wy1), wx1 * (1.0 - wy1), (1.0 - wx1) * wy1, wx1 * wy1]
    )
    last_col, last_row = ops.cast(width - 1, dtype), ops.cast(height - 1, dtype)
    inside = (cols >= 0) & (cols <= last_col) & (rows >= 0) & (rows <= last_row)
    weights = ops.cast(ops.where(inside, weights, ops.zeros_like(weights)), images.dtype)
    # The pixels of all images stacked as rows: pixel (b, n, m) is row (b * H + n) * W + m.
    pixels = ops.reshape(images, (-1, channels))
    first_row = ops.reshape(ops.arange(batch, dtype="int32") * height * width, (-1, 1, 1))
    cols = ops.cast(ops.clip(cols, 0, last_col), "int32")
    rows = ops.cast(ops.clip(rows, 0, last_row), "int32")
    values = ops.take(pixels, first_row + rows * width + cols, axis=0)
    output = ops.sum(values * weights[..., None], axis=0)
    return ops.reshape(output, (-1, out_height, out_width, channels))


def _affine_pixel_coordinates(
    theta: Any, input_size: tuple[Any, Any], output_size: tuple[Any, Any]
) -> tuple[Any, Any]:
    """``affine_grid`` followed by the conversion to input pixels, folded into one affine map.

    The output pixel ``(i, j)`` maps to input pixel ``(n, m)`` with ``m = a j + b i + c``: the
    same values as ``bilinear_sample(images, affine_grid(theta, ...))`` converts to, but computed
    from the integer pixel indices, so the identity transform between equal sizes gives the
    pixel indices exactly (in float32, normalised coordinates are off by up to a few 1e-6 px).
    """
    dtype = _compute_dtype(theta.dtype)
    theta = ops.cast(theta, dtype)
    rows, cols = ops.meshgrid(
        ops.arange(output_size[0], dtype=dtype),
        ops.arange(output_size[1], dtype=dtype),
        indexing="ij",
    )
    # Normalised target coordinate = step * index + start; a side of one pixel sits at 0.
    spans = [ops.cast(size, dtype) - 1.0 for size in output_size]
    starts = [ops.where(span > 0, -1.0, 0.0) for span in spans]
    spans = [ops.maximum(span, 1.0) for span in spans]  # steps of a 1-pixel side are unused
    coordinates = []
    for axis in (1, 0):  # x (from theta's first row, input width), then y
        half_input = (ops.cast(input_size[axis], dtype) - 1.0) / 2.0
        t_x, t_y, shift = (theta[:, 1 - axis, k][:, None, None] for k in range(3))
        # Divide once per coefficient so that (W - 1) / (W' - 1) is exactly 1 for equal sizes.
        a = t_x * (2.0 * half_input) / spans[1]
        b = t_y * (2.0 * half_input) / spans[0]
        c = half_input * (t_x * starts[1] + t_y * starts[0] + shift + 1.0)
        coordinates.append(a * cols + b * rows + c)
    return coordinates[0], coordinates[1]


def localization_cnn(
    *,
    filters: tuple[int, ...] = (20, 20),
    kernel_size: int = 5,
    units: int = 20,
    pooled_size: int = 4,
    name: str = "localization",
) -> keras.Sequential:
    """The convolutional localisation network of the paper's ST-CNN for distorted MNIST.

    Jaderberg et al. (2015), appendix A.4: two ``filters``-filter ``kernel_size`` convolutions
    (stride 1, no padding) acting on a 2x max-pooled input with 2x2 max pooling between them, then
    a fully connected layer of `units` units, all ReLU. The last feature map is average-pooled to
    ``pooled_size x pooled_size`` (`AdaptiveAveragePooling2D`) before the fully connected layer so
    that the network takes any input size; for the paper's 42x42 inputs the map is already 4x4
    and the pooling is the identity. `SpatialTransformer` adds the final regression layer.

    Args:
        filters: Filters of each convolution.
        kernel_size: Side of the convolution kernels.
        units: Units of the fully connected layer.
        pooled_size: Side of the feature map fed to the fully connected layer.
        name: Name of the network.

    Returns:
        An unbuilt `keras.Sequential`; inputs need at least 28x28 pixels with the defaults.

    Example:
        >>> transformer = SpatialTransformer(localization_network=localization_cnn(units=32))
    """
    layers = [keras.layers.MaxPooling2D(2, name="downsample")]
    for index, width in enumerate(filters, start=1):
        if index > 1:
            layers.append(keras.layers.MaxPooling2D(2, name=f"pool{index - 1}"))
        layers.append(
            keras.layers.Conv2D(width, kernel_size, activation="relu", name=f"conv{index}")
        )
    layers += [
        AdaptiveAveragePooling2D(pooled_size, name="adaptive_pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(units, activation="relu", name="fc"),
    ]
    return keras.Sequential(layers, name=name)


# theta = [[1, 0, 0], [0, 1, 0]], flattened row by row: the regression layer's initial bias.
_IDENTITY_THETA = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@keras.saving.register_keras_serializable(package="kerazoo")
class SpatialTransformer(keras.layers.Layer):
    """An affine spatial transformer: localisation network, grid generator and bilinear sampler.

    Jaderberg, Simonyan, Zisserman & Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
    arXiv:1506.02025. The three parts of section 3: a localisation network regresses the six
    parameters ``theta`` of an affine transform from the input (3.1); `affine_grid` maps the
    pixel centres of the output to source coordinates in the input (3.2); `bilinear_sample`
    reads the input there, zero outside it (3.3). Every channel is warped the same way. The
    final regression layer (a Dense layer named ``theta`` on the flattened output of
    `localization_network`) starts at the identity transform -- zero kernel, bias
    ``[1, 0, 0, 0, 1, 0]`` -- so the untrained layer returns its input exactly when
    `output_size` is the input's size. See `affine_grid` for the coordinate convention.
    Expects channels-last inputs.

    Args:
        output_size: ``(height, width)`` of the output; None keeps the input's size. A smaller
            size downsamples (the paper warns that a bilinear kernel then aliases).
        localization_network: A Keras layer or model mapping the input batch to features of a
            static size (any rank; they are flattened); it is saved in the layer's config, so it
            must itself be serializable (no ``Lambda``). None uses `localization_cnn()`, the
            paper's ST-CNN localisation network.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> transformer = SpatialTransformer(output_size=(28, 28))
        >>> transformer(np.zeros((2, 42, 42, 1), "float32")).shape
        (2, 28, 28, 1)
        >>> transformer.compute_theta(np.zeros((2, 42, 42, 1), "float32")).shape
        (2, 2, 3)
    """

    def __init__(
        self,
        output_size: tuple[int, int] | None = None,
        localization_network: keras.layers.Layer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_size is not None:
            size = tuple(output_size) if isinstance(output_size, (tuple, list)) else None
            if (
                size is None
                or len(size) != 2
                or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size)
            ):
                raise ValueError(
                    f"output_size={output_size!r} must be None or (height, width), two "
                    "positive ints"
                )
            output_size = size
        if localization_network is None:
            localization_network = localization_cnn()
        if not isinstance(localization_network, keras.layers.Layer):
            raise TypeError(
                "localization_network must be a keras Layer or Model, got "
                f"{type(localization_network).__name__}"
            )
        self.output_size = output_size
        self.localization_network = localization_network
        self.regression = keras.layers.Dense(6, kernel_initializer="zeros", name="theta")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 4:
            raise ValueError(
                f"SpatialTransformer expects (batch, height, width, channels), got {input_shape}"
            )
        if not self.localization_network.built:
            self.localization_network.build(input_shape)
        features = self.localization_network.compute_output_shape(input_shape)
        if any(d is None for d in features[1:]):
            raise ValueError(
                f"the localization network maps {input_shape} to {features}: its output needs a "
                "static size for the regression layer (flatten or pool it to a fixed size)"
            )
        self.regression.build((input_shape[0], math.prod(features[1:])))
        self.regression.bias.assign(ops.convert_to_tensor(_IDENTITY_THETA, self.regression.dtype))
        self.built = True

    def compute_theta(self, inputs: Any) -> Any:
        """The affine parameters the localisation network predicts, shape ``(batch, 2, 3)``.

        Works on Keras tensors too: ``keras.Model(inputs, transformer.compute_theta(inputs))``
        exposes the transform, e.g. to visualise it or to feed it to later layers.
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        features = self.localization_network(inputs)
        features = ops.reshape(features, (-1, math.prod(features.shape[1:])))
        return ops.reshape(self.regression(features), (-1, 2, 3))

    def call(self, inputs: Any) -> Any:
        input_size = ops.shape(inputs)[1:3]
        # Equal to bilinear_sample(inputs, affine_grid(theta, *output_size)), but the identity
        # transform reproduces the input exactly (see _affine_pixel_coordinates).
        x, y = _affine_pixel_coordinates(
            self.compute_theta(inputs), input_size, self.output_size or input_size
        )
        return _interpolate(inputs, x, y)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        height, width = self.output_size or input_shape[1:3]
        return (input_shape[0], height, width, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "output_size": self.output_size,
            "localization_network": keras.saving.serialize_keras_object(self.localization_network),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SpatialTransformer:
        config = dict(config)
        network = config.pop("localization_network", None)
        if isinstance(network, dict):
            network = keras.saving.deserialize_keras_object(network)
        return cls(localization_network=network, **config)


@keras.saving.register_keras_serializable(package="kerazoo")
class CeilMaxPooling2D(keras.layers.Layer):
    """Max pooling without padding whose output size is rounded up, not down.

    ``out = ceil((n - pool_size) / strides) + 1``: the last window may run past the edge and
    takes the maximum of the pixels it covers. This is Caffe's pooling rule and torch's
    ``MaxPool2d(ceil_mode=True)``; Keras' ``padding="same"`` gives the same size only for some
    input sizes and places its windows differently for others.

    Args:
        pool_size: Window size (square).
        strides: Stride (default `pool_size`).
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:
        >>> CeilMaxPooling2D(3, 2)(np.zeros((1, 57, 57, 8), "float32")).shape
        (1, 28, 28, 8)
    """

    def __init__(self, pool_size: int, strides: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        strides = pool_size if strides is None else strides
        for label, value in (("pool_size", pool_size), ("strides", strides)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{label}={value!r} must be a positive int")
        if strides > pool_size:
            raise ValueError(f"strides={strides} larger than pool_size={pool_size} skips pixels")
        self.pool_size = pool_size
        self.strides = strides

    def call(self, inputs: Any) -> Any:
        """Pools `inputs` (channels last)."""
        # Padding strides - 1 cells of -inf at the bottom and right turns the floor of a valid
        # pooling into the ceiling; no window is all padding because strides <= pool_size.
        extra = self.strides - 1
        if extra:
            low = float("-inf")
            inputs = ops.pad(inputs, [[0, 0], [0, extra], [0, extra], [0, 0]], constant_values=low)
        return ops.max_pool(inputs, self.pool_size, self.strides, padding="valid")

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """``ceil((n - pool_size) / strides) + 1`` rows and columns."""

        def size(n: int | None) -> int | None:
            return None if n is None else -(-(n - self.pool_size) // self.strides) + 1

        batch, height, width, channels = input_shape
        return (batch, size(height), size(width), channels)

    def get_config(self) -> dict[str, Any]:
        """The arguments of `__init__`."""
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}
