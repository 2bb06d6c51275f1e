# scikit-learn names: X for feature matrices.
# ruff: noqa: N806

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

import zoo
from transfer import data, datasets
from transfer.features import FeatureExtractor
from transfer.probes import DEFAULT_C_GRID, LinearProbe, plot_layer_accuracy, probe_layers

CONTRACT_PROBES = [
    LinearProbe("logreg", C=[0.1, 1.0]),
    LinearProbe("linear_svm", C=1.0, per_class_svm=True, random_state=0),
    LinearProbe("rbf_svm", C=1.0, random_state=0),
    LinearProbe("sgd", C=1.0, random_state=0),
    LinearProbe("linear_svm", C=1.0, normalize="l2", calibrate=False, random_state=0),
]


def _expected_failures(probe):
    if probe.classifier in ("linear_svm", "rbf_svm") and probe.calibrate:
        # predict is the argmax of the Platt-calibrated probabilities; the per-class sigmoids
        # move the decision thresholds off decision_function's, so the two disagree on a few
        # borderline samples, which this check forbids.
        return {"check_classifiers_train": "calibrated predict differs from decision argmax"}
    return {}


@parametrize_with_checks(CONTRACT_PROBES, expected_failed_checks=_expected_failures)
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def test_logreg_chooses_c_by_cross_validation_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    probe = LinearProbe("logreg").fit(X_train, y_train)
    scores = probe.cv_results_["mean_test_score"]
    assert len(scores) == len(DEFAULT_C_GRID)
    assert probe.best_C_ == DEFAULT_C_GRID[int(np.argmax(scores))]
    # The search avoids the over-regularised end of the grid: C=0.001 underfits raw pixels.
    assert probe.best_C_ > DEFAULT_C_GRID[0]
    assert scores.max() > scores[0] + 0.02
    assert probe.score(X_test, y_test) >= 0.9
    assert probe.best_C_ == probe.pipeline_.named_steps["classifier"].C


def test_single_c_skips_the_search(digits):
    X_train, _, y_train, _ = digits
    probe = LinearProbe("logreg", C=0.5).fit(X_train[:300], y_train[:300])
    assert probe.cv_results_ is None
    assert probe.best_C_ == 0.5


def test_sgd_maps_c_to_alpha(digits):
    X_train, X_test, y_train, y_test = digits
    probe = LinearProbe("sgd", C=[1.0, 10.0], random_state=0).fit(X_train, y_train)
    alpha = probe.pipeline_.named_steps["classifier"].alpha
    assert alpha == pytest.approx(1.0 / (probe.best_C_ * len(X_train)))
    assert probe.score(X_test, y_test) >= 0.9


@pytest.mark.parametrize(
    ("classifier", "normalize", "per_class_svm"),
    [
        ("logreg", "standard", False),
        ("logreg", None, False),
        ("linear_svm", "standard", False),
        ("linear_svm", "standard", True),
        ("linear_svm", None, False),
        ("sgd", "standard", False),
    ],
)
@pytest.mark.parametrize("n_classes", [2, 10])
def test_folded_linear_map_reproduces_decision_function(
    digits, classifier, normalize, per_class_svm, n_classes
):
    X_train, X_test, y_train, _ = digits
    keep = y_train < n_classes
    probe = LinearProbe(
        classifier, C=0.1, normalize=normalize, per_class_svm=per_class_svm, random_state=0
    ).fit(X_train[keep][:400], y_train[keep][:400])
    scores = probe.decision_function(X_test)
    linear = X_test @ probe.coef_.T + probe.intercept_
    assert probe.coef_.shape == (1 if n_classes == 2 else n_classes, X_test.shape[1])
    np.testing.assert_allclose(linear.ravel() if n_classes == 2 else linear, scores, atol=1e-6)
    # The scaler really is folded in: the raw classifier weights differ from coef_.
    if normalize == "standard" and not per_class_svm:
        raw = probe._margin_model().coef_
        assert not np.allclose(raw, probe.coef_)


@pytest.mark.parametrize(
    ("classifier", "per_class_svm"),
    [("linear_svm", False), ("linear_svm", True), ("rbf_svm", False), ("rbf_svm", True)],
)
def test_calibrated_svm_probabilities(digits, classifier, per_class_svm):
    X_train, X_test, y_train, y_test = digits
    probe = LinearProbe(classifier, C=1.0, per_class_svm=per_class_svm, random_state=0)
    probe.fit(X_train[:600], y_train[:600])
    proba = probe.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(probe.classes_[proba.argmax(axis=1)], probe.predict(X_test))
    assert np.mean(probe.predict(X_test) == y_test) >= 0.9
    np.testing.assert_allclose(np.exp(probe.predict_log_proba(X_test[:5])), proba[:5])
    margin = probe._margin_model()
    if per_class_svm:
        assert isinstance(margin, OneVsRestClassifier)
        assert len(margin.estimators_) == 10


def test_binary_calibrated_probabilities_sum_to_one(digits):
    X_train, X_test, y_train, _ = digits
    keep = y_train < 2
    probe = LinearProbe("linear_svm", C=1.0, random_state=0).fit(X_train[keep], y_train[keep])
    proba = probe.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)


def test_uncalibrated_svm_has_no_predict_proba(digits):
    X_train, _, y_train, _ = digits
    probe = LinearProbe("linear_svm", C=1.0, calibrate=False, random_state=0)
    assert not hasattr(probe.fit(X_train[:300], y_train[:300]), "predict_proba")
    assert hasattr(LinearProbe("logreg", calibrate=False), "predict_proba")


def test_clone_and_pickle_round_trip(digits):
    X_train, X_test, y_train, _ = digits
    probe = LinearProbe("linear_svm", C=[0.1, 1.0], per_class_svm=True, random_state=0)
    params = probe.get_params()
    assert params["C"] == [0.1, 1.0] and params["per_class_svm"] is True
    assert clone(probe).set_params(classifier="rbf_svm").classifier == "rbf_svm"
    probe.fit(X_train[:400], y_train[:400])
    restored = pickle.loads(pickle.dumps(probe))
    np.testing.assert_array_equal(restored.predict_proba(X_test), probe.predict_proba(X_test))
    np.testing.assert_array_equal(restored.coef_, probe.coef_)
    assert not hasattr(clone(probe), "pipeline_")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"classifier": "svm"}, ValueError, "classifier='svm' must be one of"),
        ({"classifier": "LogReg"}, ValueError, "classifier='LogReg' must be one of"),
        ({"normalize": "minmax"}, ValueError, "normalize='minmax' must be one of"),
        ({"C": 0.0}, ValueError, "C=0.0 must be a positive number"),
        ({"C": [1.0, -1.0]}, ValueError, r"C=\[1.0, -1.0\] must be a positive number"),
        ({"C": []}, ValueError, r"C=\[\] must be a positive number"),
        ({"C": "1.0"}, TypeError, "C='1.0' must be a positive number"),
        ({"C": [1.0, "2"]}, TypeError, r"C=\[1.0, '2'\] must be a positive number"),
        ({"cv": 1}, ValueError, "cv=1 must be an int >= 2"),
        ({"cv": 2.0}, TypeError, "cv=2.0 must be an int >= 2"),
        ({"per_class_svm": True}, ValueError, "per_class_svm=True needs classifier in"),
    ],
)
def test_bad_options_raise_on_fit(options, error, message):
    X = np.random.default_rng(0).normal(size=(12, 3))
    y = np.repeat([0, 1], 6)
    probe = LinearProbe(**options)  # the sklearn contract: __init__ only stores
    with pytest.raises(error, match=message):
        probe.fit(X, y)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"classifier": "rbf_svm"}, "only defined for linear classifiers"),
        ({"normalize": "l2"}, "not defined with normalize='l2'"),
    ],
)
def test_coef_undefined_for_nonlinear_probes(options, message):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(2, 1, (20, 3))])
    probe = LinearProbe(C=1.0, **options).fit(X, np.repeat([0, 1], 20))
    with pytest.raises(AttributeError, match=message):
        probe.coef_  # noqa: B018
    assert probe.decision_function(X).shape == (40,)


# ------------------------------------------------------------------ probe_layers


@pytest.fixture(scope="module")
def small_digits():
    data = datasets.digits(size=32)
    return (data.x_train[:300], data.y_train[:300]), (data.x_test[:150], data.y_test[:150])


def test_probe_layers_on_registry_taps(small_digits):
    train, val = small_digits
    table = probe_layers("lenet5", train, val, weights=None, C=1.0)
    assert list(table.columns) == ["layer", "accuracy", "feature_dim", "seconds"]
    assert table["layer"].tolist() == ["s2", "s4", "c5"]
    assert table["feature_dim"].tolist() == [6, 16, 120]  # The taps' channels, avg-pooled.
    assert (table["seconds"] > 0).all() and table.attrs["extract_seconds"] > 0
    assert table.attrs["image_size"] == (32, 32)  # lenet5's default input, no weights
    assert table.attrs["images_per_class"] == np.bincount(train[1]).min()


def test_probe_layers_matches_a_probe_on_each_layer_alone(small_digits):
    train, val = small_digits
    model = zoo.lenet5(weights=None)  # One instance: both sides see the same random weights.
    table = probe_layers(
        model, train, val, C=1.0, layers=["c5", "s4"], pooling="max", image_size=32
    )
    assert table["layer"].tolist() == ["c5", "s4"]
    for row, layer in enumerate(["c5", "s4"]):
        features = FeatureExtractor(
            model, layers=layer, pooling="max", image_size=32, progress=False
        )
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
    with pytest.raises(TypeError, match="train must be an \\(images, labels\\) pair"):
        probe_layers("lenet5", train[0], val, weights=None)
    with pytest.raises(ValueError, match=r"val must be .* got shapes"):
        probe_layers("lenet5", train, (val[0], val[1][:3]), weights=None)
    with pytest.raises(ValueError, match="layers=\\[\\]"):
        probe_layers("lenet5", train, val, weights=None, layers=[])
    model = zoo.lenet5(weights=None)
    with pytest.raises(ValueError, match='layers="taps" needs a zoo model name'):
        probe_layers(model, train, val, image_size=32)
    with pytest.raises(ValueError, match=r"takes any input size .* pass image_size"):
        probe_layers(zoo.lenet5(weights=None, include_top=False), train, val, layers="c5")
    with pytest.raises(ValueError, match="weights=None applies to zoo model names"):
        probe_layers(model, train, val, layers="c5", weights=None, image_size=32)


def test_probe_layers_reads_image_datasets_and_tf_data(small_digits):
    (x_train, y_train), (x_val, y_val) = small_digits
    model = zoo.lenet5(weights=None)
    options = {"layers": ["s4", "c5"], "C": 1.0, "image_size": 32}
    expected = probe_layers(model, (x_train, y_train), (x_val, y_val), **options)
    as_images = probe_layers(
        model, data.from_arrays(x_train, y_train), data.from_arrays(x_val, y_val), **options
    )
    # Unbatched training pairs, batched validation pairs.
    as_tf_data = probe_layers(
        model,
        tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(64),
        **options,
    )
    for table in (as_images, as_tf_data):
        np.testing.assert_allclose(table["accuracy"], expected["accuracy"])


def test_probe_layers_input_errors(small_digits):
    (x_train, y_train), val = small_digits
    single = data.from_arrays(x_train[:4], [0, 1, 0, 1])
    multi_hot = dataclasses.replace(single, labels=np.eye(2, dtype=np.uint8)[single.labels])
    with pytest.raises(ValueError, match="train has multi-hot labels"):
        probe_layers("lenet5", multi_hot, val, weights=None)
    images_only = tf.data.Dataset.from_tensor_slices(x_train)
    with pytest.raises(ValueError, match=r"train must be a dataset of \(images, labels\)"):
        probe_layers("lenet5", images_only, val, weights=None)
    one_hot = tf.data.Dataset.from_tensor_slices((x_train, np.eye(10)[y_train]))
    with pytest.raises(ValueError, match="with a class index"):
        probe_layers("lenet5", one_hot, val, weights=None)
    with pytest.raises(ValueError, match="val is empty"):
        probe_layers("lenet5", (x_train, y_train), images_only.take(0).map(lambda x: (x, 0)))


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
