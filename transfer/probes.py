"""Linear and SVM probes: scikit-learn classifiers trained on frozen feature matrices.

`LinearProbe` is the classic transfer-learning baseline: features from a frozen network
(``zoo.feature_extractor``) go through a normaliser and a linear classifier (logistic regression,
a linear SVM as in DeCAF, Donahue et al., ICML 2014, arXiv:1310.1531, and the per-class SVMs of
R-CNN, Girshick et al., CVPR 2014, arXiv:1311.2524), or an RBF-kernel SVM. The regularisation
strength ``C`` is chosen by cross-validation, SVMs are calibrated so that ``predict_proba``
works (ensembles average probabilities), and the linear probes expose their decision function as
``coef_`` / ``intercept_`` in the original feature space so it can be exported as a Dense layer.

`probe_layers` fits such a probe on the features of every feature tap of a network (which depth
transfers best?) and `plot_layer_accuracy` draws its table.

Example:
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> probe = LinearProbe("logreg", C=[0.1, 1.0]).fit(X[:1000], y[:1000])
    >>> probe.best_C_ in (0.1, 1.0)
    True
    >>> bool(probe.score(X[1000:], y[1000:]) > 0.9)
    True
"""

# scikit-learn names: X for the feature matrix, C for the regularisation parameter.
# ruff: noqa: N803, N806

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from transfer.backbone import AUTO
from transfer.data import ImageDataset
from transfer.features import FeatureExtractor
from zoo.extract import TAPS
from zoo.files import atomic_path
from zoo.preprocessing import Preprocessing

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_C_GRID",
    "NORMALIZERS",
    "LinearProbe",
    "plot_layer_accuracy",
    "probe_layers",
]

CLASSIFIERS = ("logreg", "linear_svm", "rbf_svm", "sgd")
NORMALIZERS = ("standard", "l2", None)
# Six decades around sklearn's default C=1; on standardised CNN features the optimum usually
# lies between 0.01 and 10.
DEFAULT_C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
_SVMS = ("linear_svm", "rbf_svm")
# LinearSVC solves the primal only with 10x more samples than features. scikit-learn's "auto"
# switches at 1x, where liblinear's primal solver crawls on dense CNN features: measured on 1,600
# Fashion-MNIST images (C=0.1, standardised), 1280-d EfficientNet-Lite0 features took 110 s in
# the primal and 4.7 s in the dual, 784 raw pixels 27.4 s and 6.5 s; at 112-d the primal is
# faster (0.16 s against 0.21 s). Same accuracy either way.
_PRIMAL_SAMPLES_PER_FEATURE = 10
_LINEAR = ("logreg", "linear_svm", "sgd")


class LinearProbe(ClassifierMixin, BaseEstimator):
    """A normaliser and a linear (or RBF-SVM) classifier, with C chosen by cross-validation.

    The fitted model is the `~sklearn.pipeline.Pipeline` ``pipeline_`` of two steps:
    ``"normalize"`` (`~sklearn.preprocessing.StandardScaler`, an L2
    `~sklearn.preprocessing.Normalizer` or ``"passthrough"``) and ``"classifier"``:

    - ``"logreg"``: multinomial `~sklearn.linear_model.LogisticRegression` (L2 penalty).
    - ``"linear_svm"``: `~sklearn.svm.LinearSVC` (squared hinge loss, one-vs-rest).
    - ``"rbf_svm"``: `~sklearn.svm.SVC` with an RBF kernel and ``gamma="scale"``.
    - ``"sgd"``: logistic regression trained by `~sklearn.linear_model.SGDClassifier`
      (``loss="log_loss"``) for feature sets too large for L-BFGS; ``C`` maps to
      ``alpha = 1 / (C * n_samples)``, the equivalence given in the scikit-learn user guide,
      with ``n_samples`` the size of the whole training set (also inside the C search).

    ``C=None`` searches `DEFAULT_C_GRID`, a list searches its values, both by
    `~sklearn.model_selection.GridSearchCV` (accuracy, ``cv`` stratified folds, no shuffling)
    on the uncalibrated pipeline; the final model is then fitted on all data with ``best_C_``.

    With ``calibrate=True`` the SVMs are wrapped in
    `~sklearn.calibration.CalibratedClassifierCV` (Platt's sigmoid, ``ensemble=False``): one SVM
    is fitted on all the data and, for every class k, a sigmoid
    ``p_k = 1 / (1 + exp(A_k * f_k(x) + B_k))`` is fitted to its cross-validated decision
    values ``f_k``; for more than two classes the ``p_k`` are divided by their sum, for two
    classes ``p_0 = 1 - p_1``. ``predict`` is then the argmax of these probabilities, which can
    differ from the argmax of `decision_function` on a few borderline samples. Without
    calibration the SVMs have no ``predict_proba``.

    Args:
        classifier: One of `CLASSIFIERS`.
        C: Inverse regularisation strength: a positive number, a list of them to search, or
            ``None`` to search `DEFAULT_C_GRID`.
        normalize: ``"standard"`` (zero mean, unit variance per feature), ``"l2"`` (every
            sample scaled to unit L2 norm) or ``None``.
        cv: Number of stratified folds for the C search and the calibration (at least 2).
        per_class_svm: Train one binary SVM per class against all others with
            `~sklearn.multiclass.OneVsRestClassifier`, as the per-class SVMs of R-CNN; for
            ``"rbf_svm"`` this replaces SVC's one-vs-one scheme. Only for the SVMs.
        calibrate: Calibrate the SVMs' probabilities (see above). Ignored by ``"logreg"`` and
            ``"sgd"``, whose probabilities are those of their logistic model.
        random_state: Seed for LinearSVC's coordinate descent, SVC and SGD.

    Attributes:
        pipeline_: The fitted pipeline.
        best_C_: The C of the final model.
        cv_results_: ``GridSearchCV.cv_results_`` of the C search, or ``None`` for a single C.
        classes_: The class labels.
        n_features_in_: The number of features seen in `fit`.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = np.concatenate([rng.normal(0, 1, (30, 4)), rng.normal(3, 1, (30, 4))])
        >>> y = np.repeat([0, 1], 30)
        >>> probe = LinearProbe("linear_svm", C=1.0, random_state=0).fit(X, y)
        >>> probe.predict_proba(X[:2]).sum(axis=1).round(6).tolist()
        [1.0, 1.0]
        >>> np.allclose(probe.decision_function(X), X @ probe.coef_[0] + probe.intercept_[0])
        True
    """

    def __init__(
        self,
        classifier: str = "logreg",
        *,
        C: float | Sequence[float] | None = None,
        normalize: str | None = "standard",
        cv: int = 3,
        per_class_svm: bool = False,
        calibrate: bool = True,
        random_state: int | None = None,
    ) -> None:
        self.classifier = classifier
        self.C = C
        self.normalize = normalize
        self.cv = cv
        self.per_class_svm = per_class_svm
        self.calibrate = calibrate
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any) -> LinearProbe:
        """Chooses C (if asked), then fits the normaliser and classifier on ``(X, y)``.

        Args:
            X: Features of shape ``(n_samples, n_features)``.
            y: Class labels of shape ``(n_samples,)``.

        Returns:
            The fitted probe.
        """
        grid = self._validated_c_grid()
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        if np.unique(y).size < 2:
            raise ValueError(
                f"LinearProbe needs samples of at least 2 classes, got one class: {np.unique(y)}"
            )
        n_samples = X.shape[0]
        self.cv_results_ = None
        if len(grid) == 1:
            self.best_C_ = grid[0]
        else:
            key = "classifier__" + self._c_param_path()
            values = [self._c_value(c, n_samples) for c in grid]
            search = GridSearchCV(
                self._pipeline(grid[0], n_samples, calibrated=False),
                {key: values},
                cv=self.cv,
                refit=False,
            ).fit(X, y)
            self.cv_results_ = search.cv_results_
            self.best_C_ = grid[search.best_index_]
        self.pipeline_ = self._pipeline(self.best_C_, n_samples, calibrated=True).fit(X, y)
        self.classes_ = self.pipeline_.classes_
        return self

    def _validated_c_grid(self) -> list[float]:
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier={self.classifier!r} must be one of {CLASSIFIERS}")
        if self.normalize not in NORMALIZERS:
            raise ValueError(f"normalize={self.normalize!r} must be one of {NORMALIZERS}")
        if isinstance(self.cv, bool) or not isinstance(self.cv, Integral):
            raise TypeError(f"cv={self.cv!r} must be an int >= 2")
        if self.cv < 2:
            raise ValueError(f"cv={self.cv!r} must be an int >= 2")
        if self.per_class_svm and self.classifier not in _SVMS:
            raise ValueError(
                f"per_class_svm=True needs classifier in {_SVMS}, got {self.classifier!r}"
            )
        grid = DEFAULT_C_GRID if self.C is None else self.C
        if isinstance(grid, Real) and not isinstance(grid, bool):
            grid = [grid]
        if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence | np.ndarray):
            raise TypeError(f"C={self.C!r} must be a positive number, a list of them or None")
        grid = list(grid)
        if not all(isinstance(c, Real) and not isinstance(c, bool) for c in grid):
            raise TypeError(f"C={self.C!r} must be a positive number, a list of them or None")
        if not grid or not all(np.isfinite(c) and c > 0 for c in grid):
            raise ValueError(f"C={self.C!r} must be a positive number, a list of them or None")
        return [float(c) for c in grid]

    def _c_param_path(self) -> str:
        name = "alpha" if self.classifier == "sgd" else "C"
        return "estimator__" + name if self.per_class_svm else name

    def _c_value(self, c: float, n_samples: int) -> float:
        return 1.0 / (c * n_samples) if self.classifier == "sgd" else c

    def _pipeline(self, c: float, n_samples: int, *, calibrated: bool) -> Pipeline:
        seed = self.random_state
        if self.classifier == "logreg":
            model = LogisticRegression(C=c, max_iter=1000)
        elif self.classifier == "linear_svm":
            model = LinearSVC(
                C=c,
                dual=n_samples < _PRIMAL_SAMPLES_PER_FEATURE * self.n_features_in_,
                max_iter=10000,
                random_state=seed,
            )
        elif self.classifier == "rbf_svm":
            model = SVC(C=c, kernel="rbf", gamma="scale", random_state=seed)
        else:
            alpha = self._c_value(c, n_samples)
            model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=seed)
        if self.per_class_svm:
            model = OneVsRestClassifier(model)
        if calibrated and self.calibrate and self.classifier in _SVMS:
            model = CalibratedClassifierCV(model, method="sigmoid", cv=self.cv, ensemble=False)
        normalizer: Any = {"standard": StandardScaler(), "l2": Normalizer(norm="l2")}.get(
            self.normalize, "passthrough"
        )
        return Pipeline([("normalize", normalizer), ("classifier", clone(model))])

    # ------------------------------------------------------------------ inference

    def _checked(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels of shape ``(n_samples,)``."""
        X = self._checked(X)
        return self.pipeline_.predict(X)

    def _has_proba(self) -> bool:
        return self.classifier not in _SVMS or bool(self.calibrate)

    @available_if(_has_proba)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of shape ``(n_samples, n_classes)``, columns in ``classes_`` order.

        Only for ``"logreg"``, ``"sgd"`` and calibrated SVMs.
        """
        X = self._checked(X)
        return self.pipeline_.predict_proba(X)

    @available_if(_has_proba)
    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of `predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _margin_model(self) -> Any:
        """The fitted classifier behind the calibration, if any."""
        model = self.pipeline_.named_steps["classifier"]
        if isinstance(model, CalibratedClassifierCV):
            model = model.calibrated_classifiers_[0].estimator
        return model

    def decision_function(self, X: Any) -> np.ndarray:
        """The uncalibrated classifier's scores for the normalised `X`.

        Shape ``(n_samples,)`` for two classes (positive means ``classes_[1]``), else
        ``(n_samples, n_classes)``. For the linear probes with ``normalize`` ``"standard"`` or
        ``None`` it equals ``X @ coef_.T + intercept_`` (raveled for two classes).
        """
        X = self._checked(X)
        return self._margin_model().decision_function(self.pipeline_[:-1].transform(X))

    # ------------------------------------------------------------------ export

    def _linear_map(self) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self)
        if self.classifier not in _LINEAR:
            raise AttributeError(
                f"coef_ is only defined for linear classifiers {_LINEAR}, "
                f"not classifier={self.classifier!r}"
            )
        if self.normalize == "l2":
            raise AttributeError(
                "coef_ is not defined with normalize='l2': the L2 normalisation makes the "
                "decision function non-linear in the original features; apply "
                "keras.layers.UnitNormalization, then pipeline_['classifier']'s linear map"
            )
        model = self._margin_model()
        if isinstance(model, OneVsRestClassifier):
            coef = np.vstack([estimator.coef_ for estimator in model.estimators_])
            intercept = np.concatenate([estimator.intercept_ for estimator in model.estimators_])
        else:
            coef, intercept = model.coef_, model.intercept_
        coef, intercept = np.asarray(coef, float), np.asarray(intercept, float)
        scaler = self.pipeline_.named_steps["normalize"]
        if isinstance(scaler, StandardScaler):
            # w.(x - mean)/scale + b = (w/scale).x + (b - (w/scale).mean)
            coef = coef / scaler.scale_
            intercept = intercept - coef @ scaler.mean_
        return coef, intercept

    @property
    def coef_(self) -> np.ndarray:
        """Weights of the decision function in the original feature space.

        Shape ``(1, n_features)`` for two classes, else ``(n_classes, n_features)``; the
        StandardScaler is folded in (``w / scale_``). Only for ``"logreg"``, ``"linear_svm"``
        and ``"sgd"`` with ``normalize`` ``"standard"`` or ``None``. For calibrated SVMs these
        are the weights of the SVM whose scores the sigmoids map to probabilities.
        """
        return self._linear_map()[0]

    @property
    def intercept_(self) -> np.ndarray:
        """Biases matching `coef_` (the scaler's mean folded in), shape ``(len(coef_),)``."""
        return self._linear_map()[1]


# ------------------------------------------------------------------ probing every depth


def _probe_input(data: Any, what: str) -> tuple[Any, np.ndarray]:
    """`probe_layers`' input as what `FeatureExtractor` reads, and the labels as an array."""
    if isinstance(data, ImageDataset):
        if data.multi_label:
            raise ValueError(f"{what} has multi-hot labels; linear probes need one class each")
        return data, np.asarray(data.labels)
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise ValueError(f"{what} must be a dataset of (images, labels), got {spec}")
        batched = spec[0].shape.rank == 4
        if spec[0].shape.rank not in (3, 4) or spec[1].shape.rank != int(batched):
            raise ValueError(
                f"{what} must give images (h, w, c) with a class index, or batches of them, "
                f"got {spec}"
            )
        # One pass into memory: a dataset that reshuffles would pair features and labels wrongly
        # if it were read twice.
        pairs = list(data.as_numpy_iterator())
        if not pairs:
            raise ValueError(f"{what} is empty")
        stack = np.concatenate if batched else np.stack
        return stack([x for x, _ in pairs]), stack([y for _, y in pairs])
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise TypeError(
            f"{what} must be an (images, labels) pair, an ImageDataset or a tf.data.Dataset "
            f"of (images, labels), got {type(data).__name__}"
        )
    images, labels = np.asarray(data[0]), np.asarray(data[1])
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(
            f"{what} must be (n, height, width, channels) images and n labels, got shapes "
            f"{images.shape} and {labels.shape}"
        )
    return images, labels


def _feature_dims(extractor: Any, layers: Sequence[str], pooling: str | None) -> list[int]:
    """Columns each layer contributes to `FeatureExtractor`'s concatenated features."""
    dims = []
    for layer in layers:
        shape = extractor.output[layer].shape
        if pooling is not None and len(shape) == 4:
            dims.append(int(shape[-1]))
        else:
            dims.append(int(np.prod(shape[1:])))
    return dims


def probe_layers(
    model: str | keras.Model,
    train: Any,
    val: Any,
    *,
    weights: str | os.PathLike | None = "imagenet",
    layers: str | Sequence[str] | None = TAPS,
    image_size: int | Sequence[int] | None = None,
    preprocessing: Preprocessing | str | None = AUTO,
    pooling: str | None = "avg",
    classifier: str = "linear_svm",
    C: float | Sequence[float] | None = None,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Validation accuracy of a linear probe on the features of each layer.

    The network runs once over each split (one `FeatureExtractor` for all `layers`, cached when
    `cache_dir` is set); then, for every layer, a `LinearProbe` (uncalibrated, as only its
    accuracy matters) is fitted on that layer's pooled training features and scored on the
    validation features.

    Args:
        model: A zoo model name or a `keras.Model` taking images in [0, 255].
        train: The training split: an ``(images, labels)`` pair of an ``(n, height, width,
            channels)`` array of pixels in [0, 255] and ``n`` class indices; an `ImageDataset`
            (single-label); or a `tf.data.Dataset` of ``(images, labels)``, batched or not,
            which is read once into memory.
        val: The split to score on, in the same forms.
        weights: Weights of a zoo name (see `FeatureExtractor`).
        layers: ``"taps"`` (the default: every registered feature tap of a zoo name, shallow to
            deep), a layer name or a list of them; None is the deepest tap alone.
        image_size: ``(height, width)`` or one int; None is the weights' training resolution.
        preprocessing: ``"auto"``, a `zoo.preprocessing.Preprocessing` or None (see
            `FeatureExtractor`).
        pooling: How feature maps become vectors (see `transfer.features.pool_features`).
        classifier: A `LinearProbe` classifier (see `CLASSIFIERS`).
        C: `LinearProbe`'s C: a value, a list to search by cross-validation, or None for its
            default grid.
        batch_size: Images per forward pass.
        cache_dir: Feature cache folder (see `FeatureExtractor`); None disables it.
        random_state: Seed of the probes.

    Returns:
        One row per layer, in the order given: ``layer``, ``accuracy`` (fraction of `val`
        classified correctly), ``feature_dim`` and ``seconds`` (fitting and scoring the probe).
        ``table.attrs`` holds ``"extract_seconds"`` (running the network), ``"image_size"``
        (what the images were resized to) and ``"images_per_class"`` (the smallest class of
        `train`).

    Raises:
        ValueError: For malformed splits, multi-hot labels, ``"taps"`` for a `keras.Model`, or
            unknown layer names (the message lists the valid ones).
        TypeError: If a split is of none of the accepted types.

    Example:
        >>> from transfer import datasets
        >>> data = datasets.digits(size=32)
        >>> table = probe_layers("lenet5", (data.x_train, data.y_train),
        ...                      (data.x_test, data.y_test), weights=None, C=1.0)
        >>> list(table.columns)  # doctest: +SKIP
        ['layer', 'accuracy', 'feature_dim', 'seconds']
    """
    (x_train, y_train), (x_val, y_val) = _probe_input(train, "train"), _probe_input(val, "val")
    extractor = FeatureExtractor(
        model,
        weights=weights,
        layers=layers,
        image_size=image_size,
        preprocessing=preprocessing,
        pooling=pooling,
        batch_size=batch_size,
        cache_dir=cache_dir,
        progress=False,
    )
    start = time.perf_counter()
    f_train = extractor.fit_transform(x_train)
    f_val = extractor.transform(x_val)
    extract_seconds = time.perf_counter() - start
    names = extractor.layers_
    bounds = np.cumsum([0, *_feature_dims(extractor.extractor_, names, pooling)])
    rows = []
    for layer, begin, end in zip(names, bounds[:-1], bounds[1:], strict=True):
        start = time.perf_counter()
        probe = LinearProbe(classifier, C=C, calibrate=False, random_state=random_state)
        probe.fit(f_train[:, begin:end], y_train)
        accuracy = float(probe.score(f_val[:, begin:end], y_val))
        rows.append(
            {
                "layer": layer,
                "accuracy": accuracy,
                "feature_dim": int(end - begin),
                "seconds": time.perf_counter() - start,
            }
        )
    table = pd.DataFrame(rows, columns=["layer", "accuracy", "feature_dim", "seconds"])
    table.attrs["extract_seconds"] = extract_seconds
    table.attrs["image_size"] = extractor.backbone_.image_size
    table.attrs["images_per_class"] = int(np.unique(y_train, return_counts=True)[1].min())
    return table


def plot_layer_accuracy(
    table: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None
) -> Path:
    """Writes a PNG bar chart of `probe_layers`' accuracy per layer, the best bar highlighted.

    Uses Matplotlib's Agg canvas directly (no pyplot, no display needed).

    Args:
        table: A `probe_layers` table (columns ``layer`` and ``accuracy`` at least).
        path: The PNG file to write (atomically; its folder is created if needed).
        title: Title of the chart; None: "Linear probe accuracy per layer".

    Returns:
        The path written.

    Raises:
        ValueError: If `table` is empty or lacks the ``layer`` or ``accuracy`` column.

    Example:
        >>> table = pd.DataFrame({"layer": ["s2", "s4"], "accuracy": [0.5, 0.8]})
        >>> plot_layer_accuracy(table, "probe.png").suffix  # doctest: +SKIP
        '.png'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    missing = {"layer", "accuracy"} - set(table.columns)
    if missing or table.empty:
        raise ValueError(
            f"table must be a non-empty probe_layers table with columns 'layer' and 'accuracy'; "
            f"missing {sorted(missing)}, {len(table)} rows"
        )
    path = Path(path)
    width = max(4.0, 1.2 * len(table))
    figure = Figure(figsize=(width, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    accuracy = table["accuracy"].to_numpy(dtype=float)
    colors = ["tab:orange" if i == accuracy.argmax() else "tab:blue" for i in range(len(table))]
    bars = axes.bar(table["layer"].astype(str), accuracy, color=colors)
    axes.bar_label(bars, labels=[f"{a:.1%}" for a in accuracy], fontsize=8)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("layer (shallow to deep)")
    axes.set_ylabel("validation accuracy")
    # About 9 title characters fit an inch (measured); wrapping at 8 never cuts a long title.
    axes.set_title(textwrap.fill(title or "Linear probe accuracy per layer", int(width * 8)))
    axes.tick_params(axis="x", labelrotation=30, labelsize=8)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    return path
