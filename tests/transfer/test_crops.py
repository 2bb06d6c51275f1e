import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy.ndimage import gaussian_filter

from transfer.crops import (
    center_crop,
    five_crop,
    multi_scale_crops,
    resize_and_center_crop,
    resize_shorter_side,
    ten_crop,
)
from zoo.preprocessing import CAFFE, TORCH


def arange_image(height, width, channels=1):
    return np.arange(height * width * channels).reshape(height, width, channels)


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
    with pytest.raises(ValueError, match=r"size=\(1, 2, 3\) must be two positive ints"):
        five_crop(image, (1, 2, 3))
    with pytest.raises(ValueError, match="positive"):
        center_crop(image, 0)


@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-3, ValueError), (2.0, TypeError), ("2", TypeError), (True, TypeError)],
)
@pytest.mark.parametrize(
    "crop",
    [center_crop, five_crop, ten_crop, resize_shorter_side, resize_and_center_crop],
)
def test_the_same_bad_size_is_the_same_error_everywhere(crop, bad, error):
    with pytest.raises(error, match=r"size="):
        crop(arange_image(8, 8).astype(np.float32), bad)


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
    with pytest.raises(TypeError, match=r"size=\(56, 56\) must be an int"):
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
