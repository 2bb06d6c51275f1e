import pickle

import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from PIL import Image
from scipy.ndimage import gaussian_filter
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from transfer.preprocess import (
    ChannelNormalizer,
    PCAWhitening,
    ZCAWhitening,
    ZeroCenter,
    center_crop,
    five_crop,
    multi_scale_crops,
    resize_and_center_crop,
    resize_shorter_side,
    ten_crop,
)
from zoo.preprocessing import CAFFE, TORCH


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 1797 real 8x8 grey digits, (N, 8, 8, 1), values 0..16."""
    return load_digits().images[..., None]


@pytest.fixture
def colour_images():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (6, 5, 7, 3)) * np.array([1.0, 0.5, 0.2])


def arange_image(height, width, channels=1):
    return np.arange(height * width * channels).reshape(height, width, channels)


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


# ------------------------------------------------------------------ crops


def test_center_crop_positions_on_arange_image():
    image = arange_image(5, 6)
    # Top (5 - 2) // 2 = 1, left (6 - 3) // 2 = 1.
    np.testing.assert_array_equal(center_crop(image, (2, 3))[..., 0], [[7, 8, 9], [13, 14, 15]])
    batch = np.stack([image, image + 100])
    np.testing.assert_array_equal(center_crop(batch, 4)[1, ..., 0], image[0:4, 1:5, 0] + 100)
    tensor = center_crop(tf.constant(batch), 4)
    assert tf.is_tensor(tensor)
    np.testing.assert_array_equal(tensor.numpy(), center_crop(batch, 4))
    assert center_crop(image.astype(np.uint8), 2).dtype == np.uint8


def test_ten_crop_order_and_flips_on_arange_image():
    image = arange_image(4, 5, 2)
    views = ten_crop(image, (2, 3))
    assert views.shape == (10, 2, 3, 2)
    expected = [image[:2, :3], image[:2, 2:], image[2:, :3], image[2:, 2:], image[1:3, 1:4]]
    for view, crop in zip(views[:5], expected, strict=True):
        np.testing.assert_array_equal(view, crop)
    np.testing.assert_array_equal(views[:5], five_crop(image, (2, 3)))
    # Views 5..9 crop the mirrored image: flipped top-left is the mirror of top-right, etc.
    for flipped, original in zip(views[5:9], (1, 0, 3, 2), strict=True):
        np.testing.assert_array_equal(flipped, views[original][:, ::-1])
    # W - w = 2 is even: the flipped centre mirrors the centre.
    np.testing.assert_array_equal(views[9], views[4][:, ::-1])
    batch = np.stack([image, -image])
    batched = ten_crop(batch, 2)
    assert batched.shape == (10, 2, 2, 2, 2)
    np.testing.assert_array_equal(batched[:, 1], -ten_crop(image, 2))
    np.testing.assert_array_equal(ten_crop(tf.constant(batch), 2).numpy(), batched)


def test_crops_on_dynamic_shapes_in_tf_function():
    image = arange_image(6, 9, 3).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    def views(x):
        return ten_crop(x, 4), resize_shorter_side(x, 4)

    crops, resized = views(tf.constant(image))
    np.testing.assert_array_equal(crops.numpy(), ten_crop(image, 4))
    np.testing.assert_allclose(resized.numpy(), resize_shorter_side(image, 4), atol=1e-4)
    assert resized.shape == (4, 6, 3)


def test_crop_errors():
    image = arange_image(4, 5)
    with pytest.raises(ValueError, match=r"crop \(5, 5\) is larger than the images \(4, 5\)"):
        center_crop(image, 5)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\), got shape \(4, 5\)"):
        ten_crop(image[..., 0], 2)
    with pytest.raises(TypeError, match="pair"):
        five_crop(image, (1, 2, 3))
    with pytest.raises(ValueError, match="positive"):
        center_crop(image, 0)


def test_resize_shorter_side_sizes_and_values():
    # Longer side truncated like torchvision: int(2 * 7 / 3) = 4.
    assert resize_shorter_side(np.zeros((3, 7, 1)), 2).shape == (2, 4, 1)
    assert resize_shorter_side(np.zeros((2, 7, 5, 3)), 10).shape == (2, 14, 10, 3)
    image = arange_image(4, 6).astype(np.float32)
    np.testing.assert_allclose(resize_shorter_side(image, 4), image, atol=1e-4)
    # "area" halving averages 2 x 2 blocks: top-left block (0 + 1 + 6 + 7) / 4 = 3.5.
    halved = resize_shorter_side(image, 2, interpolation="area")
    np.testing.assert_allclose(halved[..., 0], [[3.5, 5.5, 7.5], [15.5, 17.5, 19.5]])
    assert halved.dtype == np.float32
    with pytest.raises(ValueError, match="interpolation='cubic'"):
        resize_shorter_side(image, 2, interpolation="cubic")
    with pytest.raises(ValueError, match="size=0"):
        resize_shorter_side(image, 0)


def test_resize_matches_pil_like_the_publishers_transform():
    rng = np.random.default_rng(0)
    image = gaussian_filter(rng.uniform(0, 255, (120, 160, 3)), (3, 3, 0)).astype(np.uint8)
    for interpolation, resample in (("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)):
        reference = np.asarray(Image.fromarray(image).resize((85, 64), resample), np.float32)
        ours = resize_shorter_side(image, 64, interpolation=interpolation)
        assert ours.shape == reference.shape
        assert np.abs(ours - reference).max() < 1.5  # PIL rounds to uint8.


def test_resize_and_center_crop_is_the_preprocessing_evaluation_transform():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (2, 60, 80, 3)).astype(np.float32)
    # 56 / 0.875 = 64: shorter side 64, longer int(64 * 80 / 60) = 85, then centre 56.
    expected = center_crop(resize_shorter_side(images, 64), 56)
    np.testing.assert_array_equal(resize_and_center_crop(images, 56), expected)
    np.testing.assert_array_equal(resize_and_center_crop(images, 56, preprocessing=TORCH), expected)
    assert TORCH.resize_size(56) == 64
    loose = resize_and_center_crop(images, 56, crop_fraction=1.0, interpolation="bicubic")
    np.testing.assert_array_equal(
        loose, center_crop(resize_shorter_side(images, 56, interpolation="bicubic"), 56)
    )
    tensor = resize_and_center_crop(tf.constant(images[0]), 56, preprocessing=CAFFE)
    np.testing.assert_allclose(tensor.numpy(), expected[0], atol=1e-3)
    with pytest.raises(ValueError, match="not both"):
        resize_and_center_crop(images, 56, crop_fraction=0.9, preprocessing=TORCH)
    with pytest.raises(ValueError, match=r"crop_fraction=1\.5"):
        resize_and_center_crop(images, 56, crop_fraction=1.5)
    with pytest.raises(TypeError, match=r"\(56, 56\)"):
        resize_and_center_crop(images, (56, 56))


def test_multi_scale_crops_order_and_modes():
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 255, (3, 30, 40, 3))
    views = multi_scale_crops(images, (24, 32), 20)
    assert views.shape == (20, 3, 20, 20, 3)
    np.testing.assert_array_equal(views[:10], ten_crop(resize_shorter_side(images, 24), 20))
    np.testing.assert_array_equal(views[10:], ten_crop(resize_shorter_side(images, 32), 20))
    centres = multi_scale_crops(images, (20, 30), 20, per_scale="center")
    assert centres.shape == (2, 3, 20, 20, 3)
    np.testing.assert_allclose(centres[1], center_crop(images, 20), atol=1e-3)
    tensor = multi_scale_crops(tf.constant(images[0]), (24,), 20)
    np.testing.assert_allclose(tensor.numpy(), views[:10, 0], atol=1e-3)
    with pytest.raises(ValueError, match=r"sizes \(16,\)"):
        multi_scale_crops(images, (16,), 20)
    with pytest.raises(ValueError, match="per_scale='five'"):
        multi_scale_crops(images, (24,), 20, per_scale="five")
