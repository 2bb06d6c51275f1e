"""Preprocessing fitted on training images: zero-centering, normalisation and whitening.

scikit-learn transformers fitted on a training set of images ``(N, H, W, C)``: `ZeroCenter`
(per-pixel or per-channel mean), `ChannelNormalizer` (per-channel mean and standard deviation),
`PCAWhitening` and `ZCAWhitening` (on whole flattened images, or for ZCA on ``p x p`` patches).
They follow the estimator contract (``clone``, ``get_params``, pickling, `Pipeline`); the
per-channel ones also export themselves as a Keras layer with `as_layer` so a model can carry the
normalisation it was trained with. The crops used at test time are `transfer.crops`'.

Example:
    >>> import numpy as np
    >>> images = np.random.default_rng(0).uniform(0, 255, (8, 4, 4, 3))
    >>> normalizer = ChannelNormalizer().fit(images)
    >>> bool(np.abs(normalizer.transform(images).mean(axis=(0, 1, 2))).max() < 1e-4)
    True
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["ChannelNormalizer", "PCAWhitening", "ZCAWhitening", "ZeroCenter"]


def _images(value: Any, *, owner: str) -> np.ndarray:
    """`value` as a finite real array of shape (N, H, W, C), or a ValueError naming its shape."""
    array = np.asarray(value)
    if array.ndim != 4:
        raise ValueError(
            f"{owner} expects images of shape (N, H, W, C), got an array of shape {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{owner} expects real numeric images, got dtype {array.dtype}")
    if array.shape[0] == 0:
        raise ValueError(f"{owner} got no images (shape {array.shape})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{owner} got images containing NaN or infinity")
    return array


def _check_shape(array: np.ndarray, expected: tuple[int, ...], *, owner: str, what: str) -> None:
    if array.shape[-len(expected) :] != expected:
        raise ValueError(
            f"{owner} was fitted on {what} {expected}, got images of shape {array.shape}"
        )


class ZeroCenter(TransformerMixin, BaseEstimator):
    """Subtracts the training set's mean image or mean colour.

    ``per="pixel"`` subtracts the mean of every pixel and channel over the training images (the
    mean image of AlexNet, Krizhevsky et al., NeurIPS 2012, section 2); it fixes the image size.
    ``per="channel"`` subtracts one mean per channel (VGG, Simonyan & Zisserman, ICLR 2015,
    section 2.1) and accepts any image size.

    Args:
        per: ``"channel"`` or ``"pixel"``.

    Attributes:
        mean_: The mean, of shape ``(C,)`` or ``(H, W, C)``.

    Example:
        >>> images = np.stack([np.zeros((2, 2, 3)), np.full((2, 2, 3), 2.0)])
        >>> ZeroCenter().fit(images).transform(images)[1, 0, 0].tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, *, per: str = "channel") -> None:
        self.per = per

    def fit(self, images: Any, y: Any = None) -> ZeroCenter:
        """Computes the mean of the training `images` of shape (N, H, W, C)."""
        if self.per not in ("channel", "pixel"):
            raise ValueError(f"per={self.per!r} must be 'channel' or 'pixel'")
        images = _images(images, owner="ZeroCenter.fit")
        axes = (0, 1, 2) if self.per == "channel" else 0
        self.mean_ = images.mean(axis=axes, dtype=np.float64)
        return self

    def _checked(self, images: Any, method: str) -> np.ndarray:
        check_is_fitted(self)
        images = _images(images, owner=f"ZeroCenter.{method}")
        what = "channels" if self.per == "channel" else "images of shape"
        _check_shape(images, self.mean_.shape, owner="ZeroCenter", what=what)
        return images

    def transform(self, images: Any) -> np.ndarray:
        """``images - mean_`` as float32."""
        return (self._checked(images, "transform") - self.mean_).astype(np.float32)

    def inverse_transform(self, images: Any) -> np.ndarray:
        """``images + mean_`` as float32."""
        return (self._checked(images, "inverse_transform") + self.mean_).astype(np.float32)

    def as_layer(self, *, name: str = "zero_center") -> keras.layers.Normalization:
        """The fitted transform as a `keras.layers.Normalization` layer (unit variance).

        A ``per="pixel"`` layer normalises the last three axes and so needs inputs of the
        training image size.

        Example:
            >>> layer = ZeroCenter().fit(np.ones((2, 4, 4, 3))).as_layer()
            >>> float(layer(np.ones((1, 4, 4, 3))).numpy().max())
            0.0
        """
        check_is_fitted(self)
        axis = -1 if self.per == "channel" else (1, 2, 3)
        return keras.layers.Normalization(
            axis=axis, mean=self.mean_, variance=np.ones_like(self.mean_), name=name
        )


class ChannelNormalizer(TransformerMixin, BaseEstimator):
    """Per-channel standardisation ``(x - mean_c) / std_c`` fitted on training images.

    The statistics are those of all pixels of all training images, like the ImageNet mean and
    standard deviation of torchvision's weights. A channel with zero variance is only centred
    (its scale is 1), as in scikit-learn's ``StandardScaler``.

    Attributes:
        mean_: Per-channel mean, shape ``(C,)``.
        scale_: Per-channel standard deviation, 1 where it is zero, shape ``(C,)``.

    Example:
        >>> images = np.stack([np.zeros((2, 2, 1)), np.full((2, 2, 1), 4.0)])
        >>> ChannelNormalizer().fit(images).transform(images)[:, 0, 0, 0].tolist()
        [-1.0, 1.0]
    """

    def fit(self, images: Any, y: Any = None) -> ChannelNormalizer:
        """Computes the per-channel mean and standard deviation of `images` (N, H, W, C)."""
        images = _images(images, owner="ChannelNormalizer.fit")
        self.mean_ = images.mean(axis=(0, 1, 2), dtype=np.float64)
        std = images.std(axis=(0, 1, 2), dtype=np.float64)
        self.scale_ = np.where(std > 10 * np.finfo(np.float64).eps * np.abs(self.mean_), std, 1.0)
        return self

    def _checked(self, images: Any, method: str) -> np.ndarray:
        check_is_fitted(self)
        images = _images(images, owner=f"ChannelNormalizer.{method}")
        _check_shape(images, self.mean_.shape, owner="ChannelNormalizer", what="channels")
        return images

    def transform(self, images: Any) -> np.ndarray:
        """``(images - mean_) / scale_`` as float32."""
        return ((self._checked(images, "transform") - self.mean_) / self.scale_).astype(np.float32)

    def inverse_transform(self, images: Any) -> np.ndarray:
        """``images * scale_ + mean_`` as float32."""
        images = self._checked(images, "inverse_transform")
        return (images * self.scale_ + self.mean_).astype(np.float32)

    def as_layer(self, *, name: str = "channel_normalizer") -> keras.layers.Normalization:
        """The fitted transform as a `keras.layers.Normalization` layer.

        Example:
            >>> images = np.arange(24.0).reshape(2, 2, 2, 3)
            >>> normalizer = ChannelNormalizer().fit(images)
            >>> bool(np.allclose(normalizer.as_layer()(images), normalizer.transform(images)))
            True
        """
        check_is_fitted(self)
        return keras.layers.Normalization(
            axis=-1, mean=self.mean_, variance=self.scale_**2, name=name
        )


class _Whitening(TransformerMixin, BaseEstimator):
    """Eigen-decomposition of the covariance shared by PCA and ZCA whitening."""

    def _fit_vectors(self, vectors: np.ndarray) -> None:
        if not (isinstance(self.epsilon, (int, float)) and self.epsilon >= 0):
            raise ValueError(f"epsilon={self.epsilon!r} must be a number >= 0")
        self.mean_ = vectors.mean(axis=0)
        centred = vectors - self.mean_
        # Covariance normalised by N, as in the CS231n notes.
        covariance = centred.T @ centred / len(vectors)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1]
        self.explained_variance_ = np.clip(eigenvalues[order], 0.0, None)
        self.components_ = eigenvectors[:, order].T

    def _inverse_scale(self) -> np.ndarray:
        """``1 / sqrt(l + epsilon)``, 0 for directions of numerically zero variance."""
        total = self.explained_variance_ + self.epsilon
        # The rank tolerance of np.linalg.matrix_rank: below it an eigenvalue is rounding noise.
        tolerance = total.max() * len(total) * np.finfo(np.float64).eps
        return np.where(total > tolerance, 1.0 / np.sqrt(np.maximum(total, tolerance)), 0.0)

    def _flat(self, images: Any, method: str) -> tuple[np.ndarray, tuple[int, ...]]:
        owner = f"{type(self).__name__}.{method}"
        images = _images(images, owner=owner).astype(np.float64)
        return images.reshape(len(images), -1), images.shape[1:]


class PCAWhitening(_Whitening):
    """PCA whitening of flattened images: decorrelated components of unit variance.

    With ``x`` an image flattened to a vector, ``mu`` the training mean and ``Sigma = U diag(l)
    U^T`` the training covariance (normalised by N), the output is ``diag(1 / sqrt(l + epsilon))
    U^T (x - mu)`` restricted to the `n_components` leading components: the formulation of the
    CS231n notes (Karpathy, "Convolutional Neural Networks for Visual Recognition", Data
    preprocessing) and of Krizhevsky, "Learning Multiple Layers of Features from Tiny Images",
    tech. report, University of Toronto, 2009, appendix A. `epsilon` keeps the small-variance
    directions from blowing up noise; choose it relative to the data's scale (1e-5 hardly
    regularises pixels in [0, 255]; 0.1 is usual for data scaled to unit variance). Directions
    whose ``l + epsilon`` is numerically zero (constant pixels with ``epsilon=0``) map to 0.

    Unlike the other transformers, the output is ``(N, n_components)``: components are not
    pixels. `inverse_transform` maps components back to images (exactly when all components are
    kept).

    Args:
        n_components: Number of leading components kept; ``None`` keeps ``H * W * C``.
        epsilon: Added to every eigenvalue before the inverse square root.

    Attributes:
        mean_: Mean image, flattened, shape ``(H * W * C,)``.
        components_: Eigenvectors of the covariance as rows, by decreasing eigenvalue.
        explained_variance_: The eigenvalues, in the same order.
        image_shape_: ``(H, W, C)`` of the training images.

    Example:
        >>> images = np.random.default_rng(0).normal(size=(500, 2, 2, 1))
        >>> codes = PCAWhitening(n_components=3).fit_transform(images)
        >>> codes.shape, bool(np.allclose(np.cov(codes.T, bias=True), np.eye(3), atol=1e-4))
        ((500, 3), True)
    """

    def __init__(self, *, n_components: int | None = None, epsilon: float = 1e-5) -> None:
        self.n_components = n_components
        self.epsilon = epsilon

    def fit(self, images: Any, y: Any = None) -> PCAWhitening:
        """Fits mean and covariance on the training `images` of shape (N, H, W, C)."""
        vectors, shape = self._flat(images, "fit")
        n = self.n_components
        if n is not None and not (isinstance(n, (int, np.integer)) and 1 <= n <= vectors.shape[1]):
            raise ValueError(
                f"n_components={n!r} must be None or an integer in [1, {vectors.shape[1]}] "
                f"(H * W * C of images of shape {shape})"
            )
        self._fit_vectors(vectors)
        self.image_shape_ = shape
        return self

    def _kept(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept components and their inverse scales."""
        n = self.n_components or len(self.components_)
        return self.components_[:n], self._inverse_scale()[:n]

    def transform(self, images: Any) -> np.ndarray:
        """Whitened components of `images`, float32 of shape ``(N, n_components)``."""
        check_is_fitted(self)
        vectors, shape = self._flat(images, "transform")
        if shape != self.image_shape_:
            raise ValueError(
                f"PCAWhitening was fitted on images of shape {self.image_shape_}, got {shape}"
            )
        components, scale = self._kept()
        return ((vectors - self.mean_) @ components.T * scale).astype(np.float32)

    def inverse_transform(self, images: Any) -> np.ndarray:
        """Images ``(N, H, W, C)`` from whitened components ``(N, n_components)``."""
        check_is_fitted(self)
        components, _ = self._kept()
        codes = np.asarray(images, dtype=np.float64)
        if codes.ndim != 2 or codes.shape[1] != len(components):
            raise ValueError(
                f"PCAWhitening.inverse_transform expects components of shape (N, "
                f"{len(components)}), got an array of shape {codes.shape}"
            )
        unscale = np.sqrt(self.explained_variance_[: len(components)] + self.epsilon)
        vectors = (codes * unscale) @ components + self.mean_
        return vectors.reshape(len(codes), *self.image_shape_).astype(np.float32)


class ZCAWhitening(_Whitening):
    """ZCA (zero-phase) whitening: whitened data that stays closest to the input.

    ``W = U diag(1 / sqrt(l + epsilon)) U^T`` for the training covariance ``U diag(l) U^T``:
    the PCA-whitened components rotated back into pixel space, the whitening matrix that
    minimises ``E ||W (x - mu) - (x - mu)||^2`` (Bell & Sejnowski, Vision Research 1997;
    Krizhevsky 2009, appendix A; CS231n notes). Outputs keep the images' shape.

    With ``patch_size=None`` it whitens whole flattened images (``H * W * C`` dimensions, fixed
    image size). With an odd ``patch_size`` ``p`` it is fitted on ``p x p`` patches (Coates, Lee &
    Ng, "An Analysis of Single-Layer Networks in Unsupervised Feature Learning", AISTATS 2011)
    and applied convolutionally: every output pixel is the centre row of the patch whitening
    matrix applied to the patch around it (images reflect-padded by ``p // 2``), so any image size
    is accepted; there is no exact inverse then.

    Args:
        epsilon: Added to every eigenvalue before the inverse square root (see `PCAWhitening`).
        patch_size: ``None`` or an odd patch side.
        max_patches: In patch mode, at most this many training patches, drawn at random.
        random_state: Seed of that draw.

    Attributes:
        mean_: Mean of the flattened images or patches.
        components_: Eigenvectors of their covariance as rows, by decreasing eigenvalue.
        explained_variance_: The eigenvalues.
        whitening_: The whitening matrix ``W``.
        image_shape_: ``(H, W, C)`` of the training images (patch mode: ``(p, p, C)``).

    Example:
        >>> images = np.random.default_rng(0).normal(size=(500, 2, 2, 1))
        >>> zca = ZCAWhitening().fit(images)
        >>> zca.transform(images).shape
        (500, 2, 2, 1)
    """

    def __init__(
        self,
        *,
        epsilon: float = 1e-5,
        patch_size: int | None = None,
        max_patches: int = 100_000,
        random_state: int | None = None,
    ) -> None:
        self.epsilon = epsilon
        self.patch_size = patch_size
        self.max_patches = max_patches
        self.random_state = random_state

    def fit(self, images: Any, y: Any = None) -> ZCAWhitening:
        """Fits the whitening on training `images` (N, H, W, C) or on their patches."""
        images = _images(images, owner="ZCAWhitening.fit").astype(np.float64)
        if self.patch_size is None:
            vectors = images.reshape(len(images), -1)
            self.image_shape_ = images.shape[1:]
        else:
            vectors = self._training_patches(images)
            self.image_shape_ = (self.patch_size, self.patch_size, images.shape[-1])
        self._fit_vectors(vectors)
        self.whitening_ = (self.components_.T * self._inverse_scale()) @ self.components_
        return self

    def _training_patches(self, images: np.ndarray) -> np.ndarray:
        p = self.patch_size
        if not (isinstance(p, (int, np.integer)) and p >= 1 and p % 2 == 1):
            raise ValueError(f"patch_size={p!r} must be None or an odd integer >= 1")
        if p > min(images.shape[1:3]):
            raise ValueError(f"patch_size={p} is larger than the images {images.shape[1:3]}")
        if not (isinstance(self.max_patches, (int, np.integer)) and self.max_patches >= 2):
            raise ValueError(f"max_patches={self.max_patches!r} must be an integer >= 2")
        patches = _patches(images, p).reshape(-1, p * p * images.shape[-1])
        if len(patches) > self.max_patches:
            rng = np.random.default_rng(self.random_state)
            patches = patches[rng.choice(len(patches), self.max_patches, replace=False)]
        return patches

    def _checked(self, images: Any, method: str) -> np.ndarray:
        check_is_fitted(self)
        images = _images(images, owner=f"ZCAWhitening.{method}").astype(np.float64)
        if self.patch_size is None:
            _check_shape(images, self.image_shape_, owner="ZCAWhitening", what="images of shape")
        else:
            _check_shape(images, self.image_shape_[-1:], owner="ZCAWhitening", what="channels")
        return images

    def transform(self, images: Any) -> np.ndarray:
        """Whitened images, float32 of the shape of `images`."""
        images = self._checked(images, "transform")
        if self.patch_size is None:
            vectors = images.reshape(len(images), -1)
            return (
                ((vectors - self.mean_) @ self.whitening_.T)
                .reshape(images.shape)
                .astype(np.float32)
            )
        p, channels = self.patch_size, images.shape[-1]
        half = p // 2
        padded = np.pad(images, ((0, 0), (half, half), (half, half), (0, 0)), mode="reflect")
        # Rows of W for the centre pixel's channels, as a (p, p, C_in, C_out) kernel.
        centre = slice(half * p * channels + half * channels, (half * p + half + 1) * channels)
        kernel = self.whitening_[centre].T.reshape(p, p, channels, channels)
        bias = self.mean_ @ self.whitening_[centre].T
        out = np.einsum("nhwyxc,yxco->nhwo", _patches(padded, p), kernel, optimize=True)
        return (out - bias).astype(np.float32)

    def inverse_transform(self, images: Any) -> np.ndarray:
        """Images from whitened images (whole-image mode only)."""
        if self.patch_size is not None:
            raise ValueError(
                f"ZCAWhitening(patch_size={self.patch_size}) is a convolution and has no exact "
                "inverse; use patch_size=None to invert"
            )
        images = self._checked(images, "inverse_transform")
        scale = np.sqrt(self.explained_variance_ + self.epsilon)
        unwhitening = (self.components_.T * scale) @ self.components_
        vectors = images.reshape(len(images), -1) @ unwhitening.T + self.mean_
        return vectors.reshape(images.shape).astype(np.float32)


def _patches(images: np.ndarray, p: int) -> np.ndarray:
    """All valid ``p x p`` patches as a read-only view of shape (N, H', W', p, p, C)."""
    windows = np.lib.stride_tricks.sliding_window_view(images, (p, p), axis=(1, 2))
    return windows.transpose(0, 1, 2, 4, 5, 3)
