import numpy as np
import pandas as pd
import pytest

import zoo
from transfer import advisor
from transfer.advisor import SIMILARITY_MARGIN, recommend
from transfer.datasets import digits, fashion_mnist_subset, texture_patches
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
        ({"images_per_class": 5.5, "similar_to_imagenet": True}, TypeError, "5.5"),
        ({"images_per_class": 10, "similar_to_imagenet": "yes"}, TypeError, "'yes'"),
        (
            {"images_per_class": 10, "similar_to_imagenet": True, "model": "nope"},
            ValueError,
            "nope",
        ),
        (
            {"images_per_class": 10, "similar_to_imagenet": True, "model": 5},
            TypeError,
            "model must be a zoo model name",
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


def fake_table(accuracies, model="efficientnet_lite0", images_per_class=2):
    """A `probe_layers` table, with the smallest class it measures in its attrs."""
    taps = [tap.layer for tap in zoo.model_info(model).feature_taps]
    table = pd.DataFrame({"layer": taps[-len(accuracies) :], "accuracy": accuracies})
    table.attrs["images_per_class"] = images_per_class
    return table


@pytest.mark.parametrize(
    ("accuracies", "images_per_class", "strategy", "layer"),
    [
        # The deepest tap within the margin of the best: similar, the best tap takes the probe.
        ([0.5, 0.8, 0.9, 0.9 - SIMILARITY_MARGIN / 2], None, "linear_classifier", -2),
        ([0.5, 0.8, 0.85, 0.9], None, "linear_classifier", -1),
        # The deepest tap behind: different; the SVM goes on the best tap, not the rule's.
        ([0.5, 0.9, 0.8, 0.7], None, "svm_earlier_layer", -3),
        ([0.5, 0.9, 0.8, 0.7], 5000, "fine_tune_all", None),
        ([0.5, 0.8, 0.85, 0.9], 5000, "fine_tune_top", None),
    ],
)
def test_recommend_empirical_mode(monkeypatch, accuracies, images_per_class, strategy, layer):
    table = fake_table(accuracies)
    calls = []

    def probe(model, train, val, **options):
        calls.append((model, train, val, options))
        return table

    monkeypatch.setattr(advisor, "probe_layers", probe)
    images = np.zeros((7, 8, 8, 3), np.uint8)
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    advice = recommend(
        train=(images, labels),
        val=(images, labels),
        images_per_class=images_per_class,
        image_size=(64, 64),
        C=0.1,
    )
    assert advice.strategy == strategy and advice.table is table
    model, _, _, options = calls[0]
    assert model == "efficientnet_lite0" and options["layers"] == "taps"
    assert options["image_size"] == (64, 64) and options["C"] == 0.1
    if layer is None:  # Fine-tuning: the rule's stages.
        rule = recommend(images_per_class=5000, similar_to_imagenet=strategy == "fine_tune_top")
        assert advice.layers == rule.layers
    else:
        assert advice.layers == (table["layer"].iloc[layer],)
        assert "2 images per class" in advice.reason  # The smallest class, measured.
    assert f"best {table.loc[table['accuracy'].idxmax(), 'layer']}" in advice.reason


def test_recommend_empirical_mode_keeps_a_given_similarity(monkeypatch):
    monkeypatch.setattr(advisor, "probe_layers", lambda *a, **k: fake_table([0.9, 0.5]))
    pair = (np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 0, 1, 1]))
    advice = recommend(train=pair, val=pair, similar_to_imagenet=True)
    assert advice.strategy == "linear_classifier"
    assert advice.layers == (LITE0_TAPS[-2],)  # The measured best, though the rule says deepest.
    assert "count as" not in advice.reason


def test_recommend_empirical_mode_runs_the_probes(small_digits):
    train, val = small_digits
    advice = recommend("lenet5", train=train, val=val, weights=None, C=1.0)
    table = advice.table
    assert table["layer"].tolist() == ["s2", "s4", "c5"]
    best = table.loc[table["accuracy"].idxmax()]
    assert advice.layers == (best["layer"],)
    similar = table["accuracy"].iloc[-1] >= best["accuracy"] - SIMILARITY_MARGIN
    assert advice.strategy == ("linear_classifier" if similar else "svm_earlier_layer")
    smallest = np.bincount(train[1]).min()
    assert f"{smallest} images per class" in advice.reason


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train": "x"}, "needs both train and val"),
        ({"images_per_class": 10}, "pass images_per_class and similar_to_imagenet"),
        ({"similar_to_imagenet": True}, "or train and val to measure them"),
    ],
)
def test_recommend_mode_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        recommend(**kwargs)


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
    advice = recommend(train=train, val=val, image_size=IMAGE_SIZE, C=TEXTURE_C)
    table = advice.table
    best = table["accuracy"].max()
    assert best >= raw_accuracy + 0.20, (raw_accuracy, table)
    # Every tap from block2b_add up separates the textures (measured 99.7% to 100%): the
    # advisor takes the best one, which the linear classifier strategy then uses.
    assert advice.layers == (table.loc[table["accuracy"].idxmax(), "layer"],)


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
    advice = recommend(
        train=(x_train, y_train), val=(data.x_test, data.y_test), image_size=IMAGE_SIZE, C=0.1
    )
    table = advice.table
    best = table.loc[table["accuracy"].idxmax()]
    # The deepest tap trails (77.8%): small and different data, an SVM on an earlier layer.
    assert advice.strategy == "svm_earlier_layer" and advice.layers == ("block5c_add",), table
    assert best["accuracy"] >= 0.78 and best["accuracy"] >= raw_accuracy + 0.08, (
        raw_accuracy,
        table,
    )
