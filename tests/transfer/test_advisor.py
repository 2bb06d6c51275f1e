import numpy as np
import pandas as pd
import pytest

import zoo
from transfer.advisor import (
    FINE_TUNE_LR_FACTOR,
    SMALL_IMAGES_PER_CLASS,
    plot_layer_accuracy,
    probe_layers,
    recommend,
)
from transfer.datasets import digits, fashion_mnist_subset, texture_patches
from transfer.features import FeatureExtractor
from transfer.probes import LinearProbe

# Seconds add up on 2 cores: one C, not a grid (measured: raw 65.1%, best tap 100%).
TEXTURE_C, IMAGE_SIZE = 0.1, (64, 64)
LITE0_TAPS = tuple(tap.layer for tap in zoo.model_info("efficientnet_lite0").feature_taps)


@pytest.mark.parametrize(
    ("images_per_class", "similar", "strategy", "layers", "factor"),
    [
        (50, True, "linear_classifier", LITE0_TAPS[-1:], None),
        (50, False, "svm_earlier_layer", LITE0_TAPS[-2:-1], None),
        (5000, True, "fine_tune_top", LITE0_TAPS[-2:], 0.1),
        (5000, False, "fine_tune_all", LITE0_TAPS, 0.1),
    ],
)
def test_recommend_quadrants(images_per_class, similar, strategy, layers, factor):
    advice = recommend(images_per_class=images_per_class, similar_to_imagenet=similar)
    assert advice.strategy == strategy
    assert advice.layers == layers
    assert advice.learning_rate_factor == factor
    assert str(images_per_class) in advice.reason


def test_recommend_threshold_and_model_taps():
    assert SMALL_IMAGES_PER_CLASS == 1000 and FINE_TUNE_LR_FACTOR == 0.1
    below = recommend(images_per_class=999, similar_to_imagenet=True)
    at = recommend(images_per_class=1000, similar_to_imagenet=True)
    assert (below.strategy, at.strategy) == ("linear_classifier", "fine_tune_top")
    custom = recommend(images_per_class=999, similar_to_imagenet=True, small_threshold=500)
    assert custom.strategy == "fine_tune_top"
    assert recommend(images_per_class=10, similar_to_imagenet=False, model="lenet5").layers == (
        "s4",
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"images_per_class": 0, "similar_to_imagenet": True}, ValueError, "images_per_class=0"),
        ({"images_per_class": 5.5, "similar_to_imagenet": True}, ValueError, "5.5"),
        ({"images_per_class": 10, "similar_to_imagenet": "yes"}, TypeError, "'yes'"),
        (
            {"images_per_class": 10, "similar_to_imagenet": True, "model": "nope"},
            ValueError,
            "nope",
        ),
        (
            {"images_per_class": 10, "similar_to_imagenet": True, "small_threshold": -1},
            ValueError,
            "small_threshold=-1",
        ),
    ],
)
def test_recommend_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        recommend(**kwargs)


@pytest.fixture(scope="module")
def small_digits():
    data = digits(size=32)
    return (data.x_train[:300], data.y_train[:300]), (data.x_test[:150], data.y_test[:150])


def test_probe_layers_on_registry_taps(small_digits):
    train, val = small_digits
    table = probe_layers("lenet5", train, val, weights=None, C=1.0)
    assert list(table.columns) == ["layer", "accuracy", "feature_dim", "seconds"]
    assert table["layer"].tolist() == ["s2", "s4", "c5"]
    assert table["feature_dim"].tolist() == [6, 16, 120]  # The taps' channels, avg-pooled.
    assert (table["seconds"] > 0).all() and table.attrs["extract_seconds"] > 0


def test_probe_layers_matches_a_probe_on_each_layer_alone(small_digits):
    train, val = small_digits
    model = zoo.lenet5(weights=None)  # One instance: both sides see the same random weights.
    table = probe_layers(model, train, val, C=1.0, layers=["c5", "s4"], pooling="max")
    assert table["layer"].tolist() == ["c5", "s4"]
    for row, layer in enumerate(["c5", "s4"]):
        features = FeatureExtractor(model, layers=layer, pooling="max", progress=False)
        probe = LinearProbe("linear_svm", C=1.0, calibrate=False, random_state=0)
        probe.fit(features.fit_transform(train[0]), train[1])
        expected = probe.score(features.transform(val[0]), val[1])
        assert table["accuracy"].iloc[row] == pytest.approx(expected)
    # Even random 120-d LeNet-5 features separate digits far above chance (10%).
    assert table["accuracy"].iloc[0] > 0.5


def test_probe_layers_errors(small_digits):
    train, val = small_digits
    with pytest.raises(ValueError, match=r"unknown layer.*valid layer names: .*s2"):
        probe_layers("lenet5", train, val, weights=None, C=1.0, layers=["nope"])
    with pytest.raises(ValueError, match="train must be an \\(images, labels\\) pair"):
        probe_layers("lenet5", train[0], val, weights=None)
    with pytest.raises(ValueError, match=r"val must be .* got shapes"):
        probe_layers("lenet5", train, (val[0], val[1][:3]), weights=None)
    with pytest.raises(ValueError, match="layers=\\[\\]"):
        probe_layers("lenet5", train, val, weights=None, layers=[])
    model = zoo.lenet5(weights=None)
    with pytest.raises(ValueError, match="layers must be given"):
        probe_layers(model, train, val)


def test_plot_layer_accuracy(tmp_path):
    table = pd.DataFrame({"layer": ["s2", "s4", "c5"], "accuracy": [0.4, 0.9, 0.7]})
    path = plot_layer_accuracy(table, tmp_path / "probe.png", title="digits")
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100
    with pytest.raises(ValueError, match="missing \\['accuracy'\\]"):
        plot_layer_accuracy(table[["layer"]], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="0 rows"):
        plot_layer_accuracy(table.iloc[:0], tmp_path / "empty.png")


@pytest.mark.slow
def test_imagenet_features_beat_raw_pixels_on_textures():
    """EfficientNet-Lite0 ImageNet features + linear SVM vs a raw-pixel linear SVM ([B2])."""
    data = texture_patches(channels=3)
    train, val = (data.x_train, data.y_train), (data.x_test, data.y_test)
    raw = LinearProbe("linear_svm", C=TEXTURE_C, calibrate=False, random_state=0).fit(
        data.x_train.reshape(len(data.x_train), -1).astype(np.float32), data.y_train
    )
    raw_accuracy = raw.score(
        data.x_test.reshape(len(data.x_test), -1).astype(np.float32), data.y_test
    )
    table = probe_layers("efficientnet_lite0", train, val, image_size=IMAGE_SIZE, C=TEXTURE_C)
    best = table["accuracy"].max()
    assert best >= raw_accuracy + 0.20, (raw_accuracy, table)


@pytest.mark.slow
def test_imagenet_features_on_fashion_mnist_with_50_images_per_class():
    """[B2]'s second real dataset: the embedded Fashion-MNIST subset, 50 training images per
    class. Measured at 64x64 (seed 0): raw pixels 71.3%, block5c_add 82.8% (the best tap)."""
    data = fashion_mnist_subset(channels=3)
    rng = np.random.default_rng(0)
    index = np.concatenate(
        [
            rng.choice(np.flatnonzero(data.y_train == label), 50, replace=False)
            for label in range(10)
        ]
    )
    x_train, y_train = data.x_train[index], data.y_train[index]
    raw = LinearProbe("linear_svm", C=0.1, calibrate=False, random_state=0).fit(
        x_train[..., 0].reshape(len(x_train), -1).astype(np.float32), y_train
    )
    raw_accuracy = raw.score(
        data.x_test[..., 0].reshape(len(data.x_test), -1).astype(np.float32), data.y_test
    )
    table = probe_layers(
        "efficientnet_lite0",
        (x_train, y_train),
        (data.x_test, data.y_test),
        image_size=IMAGE_SIZE,
        C=0.1,
    )
    best = table.loc[table["accuracy"].idxmax()]
    assert best["layer"] == "block5c_add", table
    assert best["accuracy"] >= 0.78 and best["accuracy"] >= raw_accuracy + 0.08, (
        raw_accuracy,
        table,
    )
