import pickle

import keras
import numpy as np
import pytest
import skimage.data
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from transfer.normalization import ChannelNormalizer, PCAWhitening, ZCAWhitening, ZeroCenter


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 1797 real 8x8 grey digits, (N, 8, 8, 1), values 0..16."""
    return load_digits().images[..., None]


@pytest.fixture
def colour_images():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (6, 5, 7, 3)) * np.array([1.0, 0.5, 0.2])


# ------------------------------------------------------------------ fitted transformers

TRANSFORMERS = [
    ZeroCenter(),
    ZeroCenter(per="pixel"),
    ChannelNormalizer(),
    PCAWhitening(n_components=5),
    ZCAWhitening(),
    ZCAWhitening(patch_size=3, max_patches=50, random_state=0),
]


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=repr)
def test_estimator_contract(transformer, colour_images):
    with pytest.raises(NotFittedError):
        transformer.transform(colour_images)
    copy = clone(transformer)
    assert copy.get_params() == transformer.get_params()
    fitted = copy.fit(colour_images)
    assert fitted is copy
    out = fitted.transform(colour_images)
    assert out.dtype == np.float32
    if not isinstance(transformer, PCAWhitening):
        assert out.shape == colour_images.shape
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(colour_images), out)
    np.testing.assert_allclose(fitted.fit_transform(colour_images), out, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\).*\(5, 7, 3\)"):
        fitted.transform(colour_images[0])
    with pytest.raises(ValueError, match="NaN"):
        fitted.transform(np.full_like(colour_images, np.nan))


@pytest.mark.parametrize("transformer", TRANSFORMERS[:5], ids=repr)
def test_inverse_transform_round_trips(transformer, colour_images):
    if isinstance(transformer, PCAWhitening):
        transformer = PCAWhitening(epsilon=1.0)  # All 105 components: exactly invertible.
    fitted = clone(transformer).fit(colour_images)
    back = fitted.inverse_transform(fitted.transform(colour_images))
    np.testing.assert_allclose(back, colour_images, atol=1e-3)


def test_zero_center_per_channel_and_per_pixel_by_hand():
    images = np.stack([np.zeros((2, 2, 2)), np.ones((2, 2, 2)) * [2.0, 4.0]])
    images[1, 0, 0] = [8.0, 12.0]
    # Channel 0 over 8 pixels: (2 * 3 + 8) / 8 = 1.75; channel 1: (4 * 3 + 12) / 8 = 3.
    np.testing.assert_allclose(ZeroCenter().fit(images).mean_, [1.75, 3.0])
    pixel = ZeroCenter(per="pixel").fit(images)
    np.testing.assert_allclose(pixel.mean_[0, 0], [4.0, 6.0])
    np.testing.assert_allclose(pixel.mean_[1, 1], [1.0, 2.0])
    np.testing.assert_allclose(pixel.transform(images)[1, 0, 0], [4.0, 6.0])
    # Per channel accepts any size, per pixel only the fitted one.
    assert ZeroCenter().fit(images).transform(np.zeros((1, 5, 3, 2))).shape == (1, 5, 3, 2)
    with pytest.raises(ValueError, match=r"images of shape \(2, 2, 2\), got .*\(1, 5, 3, 2\)"):
        pixel.transform(np.zeros((1, 5, 3, 2)))
    with pytest.raises(ValueError, match=r"channels \(2,\), got .*\(1, 2, 2, 3\)"):
        ZeroCenter().fit(images).transform(np.zeros((1, 2, 2, 3)))
    with pytest.raises(ValueError, match="per='image'"):
        ZeroCenter(per="image").fit(images)


def test_channel_normalizer_statistics_and_constant_channel(colour_images):
    images = colour_images.copy()
    images[..., 2] = 7.0
    normalizer = ChannelNormalizer().fit(images)
    np.testing.assert_allclose(normalizer.mean_[:2], images[..., :2].reshape(-1, 2).mean(0))
    np.testing.assert_allclose(normalizer.scale_[:2], images[..., :2].reshape(-1, 2).std(0))
    assert normalizer.scale_[2] == 1.0
    out = normalizer.transform(images)
    np.testing.assert_allclose(out[..., :2].reshape(-1, 2).std(0), [1.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(out[..., 2], 0.0)
    with pytest.raises(ValueError, match="no images"):
        ChannelNormalizer().fit(np.zeros((0, 2, 2, 3)))
    with pytest.raises(ValueError, match="numeric"):
        ChannelNormalizer().fit(np.full((1, 2, 2, 3), "a"))


def test_as_layer_matches_transform_and_survives_keras_file(colour_images, tmp_path):
    for transformer in (ChannelNormalizer(), ZeroCenter(), ZeroCenter(per="pixel")):
        fitted = transformer.fit(colour_images)
        inputs = keras.Input(colour_images.shape[1:])
        model = keras.Model(inputs, fitted.as_layer()(inputs))
        path = tmp_path / "normalizer.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        expected = fitted.transform(colour_images)
        np.testing.assert_allclose(loaded.predict(colour_images, verbose=0), expected, atol=1e-4)
    with pytest.raises(NotFittedError):
        ChannelNormalizer().as_layer()


def test_pipeline_chains_centering_and_whitening(colour_images):
    pipeline = make_pipeline(ChannelNormalizer(), ZCAWhitening(epsilon=1e-2)).fit(colour_images)
    out = pipeline.transform(colour_images)
    assert out.shape == colour_images.shape
    np.testing.assert_allclose(pipeline.inverse_transform(out), colour_images, atol=1e-2)


def test_pca_whitening_of_digits_has_identity_covariance(digits):
    pca = PCAWhitening(epsilon=1e-5).fit(digits)
    flat = digits.reshape(len(digits), -1)
    eigenvalues = np.linalg.eigvalsh(np.cov(flat.T, bias=True))[::-1]
    np.testing.assert_allclose(pca.explained_variance_, np.clip(eigenvalues, 0, None), atol=1e-8)
    codes = pca.transform(digits)
    assert codes.shape == (1797, 64)
    # Hand formula: cov(codes) = diag(l / (l + epsilon)).
    expected = np.diag(pca.explained_variance_ / (pca.explained_variance_ + 1e-5))
    np.testing.assert_allclose(np.cov(codes.T, bias=True), expected, atol=1e-4)
    # The 61 directions digits actually vary in, unregularised: exactly white.
    rank = np.linalg.matrix_rank(flat - flat.mean(0))
    assert rank == 61
    white = PCAWhitening(n_components=rank, epsilon=0.0).fit_transform(digits)
    np.testing.assert_allclose(np.cov(white.T, bias=True), np.eye(rank), atol=1e-4)
    assert np.allclose(white.mean(0), 0.0, atol=1e-5)


def test_zca_whitening_of_digits_is_symmetric_white_and_closest(digits):
    epsilon = 0.1
    zca = ZCAWhitening(epsilon=epsilon).fit(digits)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=1e-10)
    flat = digits.reshape(len(digits), -1)
    centred = flat - flat.mean(0)
    out = zca.transform(digits).reshape(len(digits), -1)
    # Hand formula: cov(W x) = U diag(l / (l + epsilon)) U^T.
    eigenvalues, vectors = np.linalg.eigh(np.cov(flat.T, bias=True))
    eigenvalues = np.clip(eigenvalues, 0, None)
    expected = (vectors * (eigenvalues / (eigenvalues + epsilon))) @ vectors.T
    np.testing.assert_allclose(np.cov(out.T, bias=True), expected, atol=1e-4)
    # Among whitenings Q D^-1/2 U^T (Q orthogonal) ZCA stays closest to the centred input.
    pca = PCAWhitening(epsilon=epsilon).fit_transform(digits)
    zca_distance = np.mean((out - centred) ** 2)
    assert zca_distance < np.mean((pca - centred) ** 2)
    rng = np.random.default_rng(0)
    for _ in range(3):
        rotation, _ = np.linalg.qr(rng.normal(size=(64, 64)))
        assert zca_distance < np.mean((out @ rotation.T - centred) ** 2)
    # Unregularised on rank-61 data: covariance is the projector on the data's subspace.
    projector = np.cov(ZCAWhitening(epsilon=0.0).fit_transform(digits).reshape(1797, -1).T)
    np.testing.assert_allclose(projector @ projector, projector, atol=1e-2)
    assert np.trace(projector) == pytest.approx(61, abs=0.1)


def test_zca_on_texture_patches_whitens_and_convolves():
    brick = skimage.data.brick()[:64, :64, None] / 255.0
    images = np.stack([brick[:32, :32], brick[32:, 32:]])
    zca = ZCAWhitening(epsilon=0.0, patch_size=3, max_patches=10_000).fit(images)
    assert zca.whitening_.shape == (9, 9)
    # All 2 * 30 * 30 valid patches were used: unregularised, their whitened covariance is I.
    patches = np.stack(
        [
            images[n, i : i + 3, j : j + 3].ravel()
            for n in range(2)
            for i in range(30)
            for j in range(30)
        ]
    )
    covariance = zca.whitening_ @ np.cov(patches.T, bias=True) @ zca.whitening_.T
    np.testing.assert_allclose(covariance, np.eye(9), atol=1e-8)
    # Convolution: an interior output pixel is the centre row of W times its centred patch.
    test = brick[:20, 20:44][None]
    out = zca.transform(test)
    assert out.shape == (1, 20, 24, 1)
    patch = test[0, 4:7, 9:12].ravel() - zca.mean_
    assert out[0, 5, 10, 0] == pytest.approx(zca.whitening_[4] @ patch, abs=1e-5)
    with pytest.raises(ValueError, match="no exact inverse"):
        zca.inverse_transform(out)
    with pytest.raises(ValueError, match="patch_size=4"):
        ZCAWhitening(patch_size=4).fit(images)
    with pytest.raises(ValueError, match="larger than the images"):
        ZCAWhitening(patch_size=5).fit(np.zeros((2, 3, 3, 1)))


def test_zca_patch_sampling_is_seeded(digits):
    first = ZCAWhitening(patch_size=3, max_patches=200, random_state=1).fit(digits)
    second = ZCAWhitening(patch_size=3, max_patches=200, random_state=1).fit(digits)
    np.testing.assert_array_equal(first.whitening_, second.whitening_)
    other = ZCAWhitening(patch_size=3, max_patches=200, random_state=2).fit(digits)
    assert not np.allclose(first.whitening_, other.whitening_)


def test_whitening_argument_errors(digits):
    with pytest.raises(ValueError, match=r"n_components=65 .*\[1, 64\]"):
        PCAWhitening(n_components=65).fit(digits)
    with pytest.raises(ValueError, match="epsilon=-1"):
        ZCAWhitening(epsilon=-1).fit(digits)
    pca = PCAWhitening(n_components=3).fit(digits)
    with pytest.raises(ValueError, match=r"\(N, 3\), got .*\(2, 4\)"):
        pca.inverse_transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(8, 8, 1\), got \(4, 4, 1\)"):
        pca.transform(digits[:, :4, :4])
