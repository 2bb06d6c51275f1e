"""The offline datasets: shapes, labels, splits, provenance and that their labels mean something."""

import hashlib
import importlib.resources

import numpy as np
import pytest
from sklearn.neighbors import NearestCentroid

from transfer import datasets

# Recorded by tools/make_fashion_mnist_subset.py in transfer/datasets/NOTICE.md.
FASHION_SHA256 = "faa27c9bf4242f98fc215feb4d5015c07b530099c84ba7488f59e8ca3ae40788"


def flat(images):
    return images.reshape(len(images), -1).astype("float32") / 255.0


def test_fashion_subset_is_the_recorded_file_and_stratified():
    resource = importlib.resources.files(datasets) / "fashion_mnist_subset.npz"
    assert hashlib.sha256(resource.read_bytes()).hexdigest() == FASHION_SHA256
    assert len(resource.read_bytes()) <= 1_000_000  # the budget for embedded data
    data = datasets.fashion_mnist_subset()
    assert data.x_train.shape == (1600, 28, 28, 1) and data.x_test.shape == (400, 28, 28, 1)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert np.bincount(data.y_train).tolist() == [160] * 10
    assert np.bincount(data.y_test).tolist() == [40] * 10
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"


def test_fashion_labels_mean_something():
    """A nearest-centroid classifier on raw pixels is far above chance (10%), so images and
    labels are aligned; Fashion-MNIST's own benchmark puts simple pixel classifiers at 70-85%."""
    data = datasets.fashion_mnist_subset()
    model = NearestCentroid().fit(flat(data.x_train), data.y_train)
    assert model.score(flat(data.x_test), data.y_test) >= 0.6


def test_rgb_repeats_the_grey_channel():
    data = datasets.fashion_mnist_subset(channels=3)
    assert data.x_train.shape == (1600, 28, 28, 3)
    np.testing.assert_array_equal(data.x_train[..., 0], data.x_train[..., 2])
    with pytest.raises(ValueError, match="channels=2 must be 1"):
        datasets.fashion_mnist_subset(channels=2)


def test_digits_upscaled_to_full_range_and_stratified():
    data = datasets.digits(size=32, seed=0)
    assert data.x_train.shape == (1437, 32, 32, 1) and data.x_test.shape == (360, 32, 32, 1)
    assert data.x_train.min() == 0 and data.x_train.max() == 255
    train_share = np.bincount(data.y_train) / len(data.y_train)
    test_share = np.bincount(data.y_test) / len(data.y_test)
    assert np.abs(train_share - test_share).max() < 0.01
    again = datasets.digits(size=32, seed=0)
    np.testing.assert_array_equal(again.y_test, data.y_test)
    assert not np.array_equal(datasets.digits(size=32, seed=1).y_test, data.y_test)
    model = NearestCentroid().fit(flat(data.x_train), data.y_train)
    assert model.score(flat(data.x_test), data.y_test) >= 0.85
    with pytest.raises(ValueError, match="size=4 must be an int of at least 8"):
        datasets.digits(size=4)


def test_texture_patches_never_cross_the_region_split():
    skimage_data = pytest.importorskip("skimage.data")
    data = datasets.texture_patches(patch=32, stride=16, test_fraction=0.25)
    assert data.class_names == ("brick", "grass", "gravel")
    # 384 training rows: 23 x 31 positions; 128 test rows: 7 x 31, per photograph.
    assert data.x_train.shape == (3 * 23 * 31, 32, 32, 1)
    assert data.x_test.shape == (3 * 7 * 31, 32, 32, 1)
    brick = skimage_data.brick()
    np.testing.assert_array_equal(data.x_train[0, ..., 0], brick[:32, :32])
    np.testing.assert_array_equal(data.x_test[0, ..., 0], brick[384:416, :32])
    train = {patch.tobytes() for patch in data.x_train}
    assert not any(patch.tobytes() in train for patch in data.x_test)
    with pytest.raises(ValueError, match="fewer than patch=200"):
        datasets.texture_patches(patch=200, test_fraction=0.25)


def test_array_split_becomes_transfer_datasets():
    data = datasets.fashion_mnist_subset(channels=3)
    train, val, test = data.to_datasets()
    assert val is None
    assert train.class_names == test.class_names == data.class_names
    assert train.counts == dict.fromkeys(data.class_names, 160)
    images, labels = next(iter(train.to_tf_dataset(image_size=(32, 32), batch_size=4)))
    assert tuple(images.shape) == (4, 32, 32, 3) and tuple(labels.shape) == (4,)
