# scikit-learn names: X for feature matrices.
# ruff: noqa: N806

import keras
import numpy as np
import pytest

import zoo
from transfer.export import GeMPooling2D, SigmoidCalibration, export_probe
from transfer.features import FeatureExtractor, pool_features
from transfer.probes import LinearProbe


@pytest.fixture(scope="module")
def lenet():
    keras.utils.set_random_seed(0)
    return zoo.lenet5(weights=None, include_top=False)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (36, 32, 32, 1), dtype=np.uint8)


def _labels(n_classes, n=36):
    return np.arange(n) % n_classes


def _fit(lenet, images, *, layers, pooling, classifier, n_classes, **probe_options):
    extractor = FeatureExtractor(
        lenet, image_size=32, layers=layers, pooling=pooling, progress=False
    )
    X = extractor.fit_transform(images)
    probe = LinearProbe(classifier, C=1.0, random_state=0, **probe_options)
    return extractor, probe.fit(X, _labels(n_classes)), X


def _roundtrip(model, tmp_path):
    path = tmp_path / "probe.keras"
    model.save(path)
    return keras.saving.load_model(path, safe_mode=True)


@pytest.mark.parametrize(
    ("classifier", "n_classes", "options"),
    [
        ("logreg", 3, {}),
        ("logreg", 2, {}),
        ("sgd", 3, {}),
        ("sgd", 2, {}),
        ("linear_svm", 3, {}),
        ("linear_svm", 2, {}),
        ("linear_svm", 3, {"per_class_svm": True, "normalize": None}),
    ],
)
def test_probabilities_match_pipeline(lenet, images, tmp_path, classifier, n_classes, options):
    extractor, probe, X = _fit(
        lenet,
        images,
        layers="s4",
        pooling="avg",
        classifier=classifier,
        n_classes=n_classes,
        **options,
    )
    loaded = _roundtrip(export_probe(extractor, probe), tmp_path)
    got = loaded.predict(images, verbose=0)
    np.testing.assert_allclose(got, probe.predict_proba(X), atol=1e-5)
    assert got.shape == (len(images), n_classes)
    # Not a trivial output: the classes get different probabilities.
    assert np.ptp(got) > 1e-3


@pytest.mark.parametrize("n_classes", [2, 3])
def test_uncalibrated_svm_gives_decision_values(lenet, images, tmp_path, n_classes):
    extractor, probe, X = _fit(
        lenet,
        images,
        layers="s4",
        pooling="max",
        classifier="linear_svm",
        n_classes=n_classes,
        calibrate=False,
    )
    got = _roundtrip(export_probe(extractor, probe), tmp_path).predict(images, verbose=0)
    expected = probe.decision_function(X).reshape(len(images), -1)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("pooling", ["avg", "max", "gem", None])
def test_two_layers_concatenated(lenet, images, tmp_path, pooling):
    extractor, probe, X = _fit(
        lenet, images, layers=["s2", "s4"], pooling=pooling, classifier="logreg", n_classes=3
    )
    model = export_probe(extractor, probe, name="two_taps")
    assert model.name == "two_taps"
    assert tuple(model.get_layer("probe_dense").kernel.shape) == (X.shape[1], 3)
    loaded = _roundtrip(model, tmp_path)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), probe.predict_proba(X), atol=1e-5)


def test_float_input_and_resizing(lenet, images, tmp_path):
    # The extractor resizes 40x40 images to lenet5's 32x32; the model must do the same.
    big = np.random.default_rng(1).uniform(0, 255, (36, 40, 40, 1)).astype(np.float32)
    extractor = FeatureExtractor(
        lenet, layers="c5", pooling="avg", image_size=(32, 32), progress=False
    )
    X = extractor.fit_transform(big)
    probe = LinearProbe("logreg", C=1.0).fit(X, _labels(3))
    loaded = _roundtrip(export_probe(extractor, probe), tmp_path)
    np.testing.assert_allclose(loaded.predict(big, verbose=0), probe.predict_proba(X), atol=1e-5)


def test_named_zoo_model(images):
    extractor = FeatureExtractor("lenet5", weights=None, layers="s4", progress=False)
    X = extractor.fit_transform(images)
    probe = LinearProbe("logreg", C=1.0).fit(X, _labels(2))
    model = export_probe(extractor, probe)
    assert model.name == "lenet5_probe"
    np.testing.assert_allclose(model.predict(images, verbose=0), probe.predict_proba(X), atol=1e-5)


def test_small_images_are_resized_by_the_exported_graph_as_by_the_extractor():
    """image_size=None: 20x20 images go to lenet5's 32x32 in the extractor and in the export."""
    small = np.random.default_rng(3).integers(0, 256, (12, 20, 20, 1), dtype=np.uint8)
    extractor = FeatureExtractor("lenet5", weights=None, layers="c5", progress=False)
    X = extractor.fit_transform(small)
    resized = keras.ops.convert_to_numpy(
        keras.layers.Resizing(32, 32, antialias=True)(small.astype(np.float32))
    )
    np.testing.assert_allclose(extractor.transform(resized), X, rtol=1e-5, atol=1e-6)
    probe = LinearProbe("logreg", C=1.0).fit(X, _labels(3, n=12))
    model = export_probe(extractor, probe)
    assert model.input_shape == (None, None, None, 1)
    np.testing.assert_allclose(model.predict(small, verbose=0), probe.predict_proba(X), atol=1e-5)


def test_gem_layer_matches_pool_features():
    maps = np.random.default_rng(2).normal(size=(2, 3, 4, 5)).astype(np.float32)
    got = keras.ops.convert_to_numpy(GeMPooling2D()(maps))
    np.testing.assert_allclose(got, pool_features(maps, "gem"), rtol=1e-5)
    with pytest.raises(ValueError, match="p=0"):
        GeMPooling2D(p=0)


def test_sigmoid_calibration_zero_sum_is_uniform():
    layer = SigmoidCalibration(slopes=[1.0, 1.0, 1.0], offsets=[0.0, 0.0, 0.0])
    got = keras.ops.convert_to_numpy(layer(np.array([[1e4, 1e4, 1e4], [0.0, 0.0, 0.0]], "float32")))
    np.testing.assert_allclose(got, np.full((2, 3), 1 / 3), atol=1e-7)
    with pytest.raises(ValueError, match="same length"):
        SigmoidCalibration(slopes=[1.0], offsets=[])


def test_errors(lenet, images):
    extractor = FeatureExtractor(lenet, image_size=32, layers="s4", progress=False)
    X = extractor.fit_transform(images)
    with pytest.raises(ValueError, match="not fitted"):
        export_probe(extractor, LinearProbe("logreg"))
    rbf = LinearProbe("rbf_svm", C=1.0, calibrate=False).fit(X, _labels(2))
    with pytest.raises(ValueError, match="rbf_svm"):
        export_probe(extractor, rbf)
    l2 = LinearProbe("logreg", C=1.0, normalize="l2").fit(X, _labels(2))
    with pytest.raises(ValueError, match="'l2'"):
        export_probe(extractor, l2)
    fitted = LinearProbe("logreg", C=1.0).fit(X, _labels(2))
    rmac = FeatureExtractor(lenet, image_size=32, layers="s4", pooling="rmac", progress=False)
    with pytest.raises(ValueError, match=r"'rmac'.*supported poolings"):
        export_probe(rmac, fitted)
    other_layer = FeatureExtractor(lenet, image_size=32, layers="s2", progress=False)
    with pytest.raises(ValueError, match=r"6 features .* fitted on 16"):
        export_probe(other_layer, fitted)
    with pytest.raises(TypeError, match="LinearProbe"):
        export_probe(extractor, object())
    with pytest.raises(TypeError, match="FeatureExtractor"):
        export_probe(lenet, fitted)
