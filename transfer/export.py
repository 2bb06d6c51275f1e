"""A fitted probe on its frozen backbone as one self-contained `.keras` model.

`export_probe` turns the scikit-learn pair ``FeatureExtractor`` + ``LinearProbe`` into a single
Keras model: raw images in [0, 255] (uint8 or float) -> the extractor's network (with the
weights' preprocessing inside it) -> the same pooling -> the layers' vectors concatenated in the
extractor's order -> the probe's StandardScaler (two `keras.layers.Rescaling` layers) -> a
float64 Dense layer holding the probe's linear map -> the probe's output function. The model
needs nothing but Keras and kerazoo to run, and loads with
``keras.saving.load_model(path, safe_mode=True)``.

Example:
    >>> from transfer.features import FeatureExtractor
    >>> from transfer.probes import LinearProbe
    >>> extractor = FeatureExtractor("lenet5", weights=None, layers="s4", progress=False)
    >>> features = extractor.transform(images)  # doctest: +SKIP
    >>> probe = LinearProbe("logreg", C=1.0).fit(features, labels)  # doctest: +SKIP
    >>> model = export_probe(extractor, probe)  # doctest: +SKIP
    >>> model.save("probe.keras")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from transfer.features import GEM_EPS, GEM_P, FeatureExtractor, generalized_mean
from transfer.probes import LinearProbe

__all__ = ["EXPORTABLE_POOLINGS", "GeMPooling2D", "SigmoidCalibration", "export_probe"]

EXPORTABLE_POOLINGS = ("avg", "max", "gem", None)


@keras.saving.register_keras_serializable(package="kerazoo")
class GeMPooling2D(keras.layers.Layer):
    """Generalised-mean pooling over height and width, as `transfer.features.pool_features`.

    ``mean(max(x, eps) ** p) ** (1 / p)`` per channel (Radenović, Tolias and Chum, "Fine-tuning
    CNN Image Retrieval with No Human Annotation", TPAMI 2018, arXiv:1711.02512), with a fixed
    (not learnt) exponent ``p``.

    Args:
        p: The exponent.
        eps: Activations are clamped from below to this value before the power.
        **kwargs: Standard `keras.layers.Layer` arguments (``name``, ``dtype``...).

    Example:
        >>> import numpy as np
        >>> maps = np.full((1, 2, 2, 3), 2.0, "float32")
        >>> keras.ops.convert_to_numpy(GeMPooling2D(p=1.0)(maps)).tolist()
        [[2.0, 2.0, 2.0]]
    """

    def __init__(self, *, p: float = GEM_P, eps: float = GEM_EPS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not p > 0:
            raise ValueError(f"p={p!r} must be positive")
        if not eps > 0:
            raise ValueError(f"eps={eps!r} must be positive")
        self.p = float(p)
        self.eps = float(eps)

    def call(self, inputs: Any) -> Any:
        """Pools ``(batch, height, width, channels)`` maps to ``(batch, channels)``."""
        return generalized_mean(inputs, p=self.p, eps=self.eps)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """``(batch, channels)``."""
        return (input_shape[0], input_shape[3])

    def get_config(self) -> dict[str, Any]:
        """The layer's configuration, for saving."""
        return {**super().get_config(), "p": self.p, "eps": self.eps}


@keras.saving.register_keras_serializable(package="kerazoo")
class SigmoidCalibration(keras.layers.Layer):
    """Platt's per-class sigmoids on decision values, as scikit-learn's calibrated classifiers.

    For every class k, ``p_k = 1 / (1 + exp(slopes[k] * f_k + offsets[k]))`` (scikit-learn's
    ``_SigmoidCalibration``, whose ``a_`` and ``b_`` are the slopes and offsets). With one
    decision value (two classes) the output is ``[1 - p, p]``; with more, the ``p_k`` are
    divided by their sum (a uniform distribution where all are 0), as in
    `~sklearn.calibration.CalibratedClassifierCV`. Slopes of -1 and offsets of 0 give the
    normalised one-vs-rest logistic probabilities of `~sklearn.linear_model.SGDClassifier`.

    Args:
        slopes: One slope per decision value.
        offsets: One offset per decision value.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Example:
        >>> import numpy as np
        >>> layer = SigmoidCalibration(slopes=[-1.0], offsets=[0.0])
        >>> keras.ops.convert_to_numpy(layer(np.zeros((1, 1), "float32"))).tolist()
        [[0.5, 0.5]]
    """

    def __init__(self, *, slopes: list[float], offsets: list[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        slopes, offsets = [float(a) for a in slopes], [float(b) for b in offsets]
        if not slopes or len(slopes) != len(offsets):
            raise ValueError(
                f"slopes ({len(slopes)}) and offsets ({len(offsets)}) must be non-empty lists "
                "of the same length"
            )
        self.slopes = slopes
        self.offsets = offsets

    def call(self, inputs: Any) -> Any:
        """Maps ``(batch, n)`` decision values to ``(batch, max(n, 2))`` probabilities."""
        slopes = keras.ops.convert_to_tensor(self.slopes, dtype=inputs.dtype)
        offsets = keras.ops.convert_to_tensor(self.offsets, dtype=inputs.dtype)
        probabilities = keras.ops.sigmoid(-(inputs * slopes + offsets))
        if len(self.slopes) == 1:
            return keras.ops.concatenate([1.0 - probabilities, probabilities], axis=-1)
        total = keras.ops.sum(probabilities, axis=-1, keepdims=True)
        uniform = keras.ops.full_like(probabilities, 1.0 / len(self.slopes))
        return keras.ops.where(
            total == 0,
            uniform,
            probabilities / keras.ops.where(total == 0, keras.ops.ones_like(total), total),
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The input shape with ``max(n, 2)`` last."""
        return (*input_shape[:-1], max(2, len(self.slopes)))

    def get_config(self) -> dict[str, Any]:
        """The layer's configuration, for saving."""
        return {**super().get_config(), "slopes": self.slopes, "offsets": self.offsets}


def _pooling_layer(pooling: str | None, rank: int, name: str) -> keras.layers.Layer:
    if rank != 4 or pooling is None:
        return keras.layers.Flatten(name=f"{name}_flatten")
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name=f"{name}_avg")
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name=f"{name}_max")
    return GeMPooling2D(name=f"{name}_gem")


def _platt_sigmoids(probe: LinearProbe) -> tuple[list[float], list[float]] | None:
    """The calibrated SVM's sigmoid slopes and offsets, or None without calibration."""
    model = probe.pipeline_.named_steps["classifier"]
    if not isinstance(model, CalibratedClassifierCV):
        return None
    calibrators = model.calibrated_classifiers_[0].calibrators
    return [float(c.a_) for c in calibrators], [float(c.b_) for c in calibrators]


def _check_inputs(extractor: Any, probe: Any) -> None:
    if not isinstance(extractor, FeatureExtractor):
        raise TypeError(f"extractor must be a FeatureExtractor, got {type(extractor).__name__}")
    if not isinstance(probe, LinearProbe):
        raise TypeError(f"probe must be a LinearProbe, got {type(probe).__name__}")
    try:
        check_is_fitted(probe)
    except NotFittedError:
        raise ValueError("probe is not fitted: call probe.fit(features, labels) first") from None
    if probe.classifier not in ("logreg", "linear_svm", "sgd"):
        raise ValueError(
            f"probe.classifier={probe.classifier!r} is not linear; only 'logreg', "
            "'linear_svm' and 'sgd' probes can be exported as a Dense layer"
        )
    if probe.normalize not in ("standard", None):
        raise ValueError(
            f"probe.normalize={probe.normalize!r} is not linear in the features; only "
            "'standard' and None can be folded into the Dense layer"
        )
    if extractor.pooling not in EXPORTABLE_POOLINGS:
        raise ValueError(
            f"pooling={extractor.pooling!r} cannot be exported; supported poolings: "
            f"{EXPORTABLE_POOLINGS}"
        )


def export_probe(
    extractor: FeatureExtractor, probe: LinearProbe, *, name: str | None = None
) -> keras.Model:
    """The extractor and the fitted linear probe as one Keras model on raw images.

    The model takes ``(batch, height, width, channels)`` pixels in [0, 255] of any size (uint8
    or float; they are cast to float32) and runs the extractor's own graph on them: the resize to
    its image size and the weights' preprocessing, then the network, exactly as
    `FeatureExtractor.transform` does. It pools each layer as `pool_features` does (``"avg"``,
    ``"max"``, ``"gem"`` or None/flatten; non-spatial activations are flattened), concatenates
    the vectors in the extractor's layer order, standardises them as the probe's StandardScaler does
    (in float32, like scikit-learn on float32 features; layers ``"center"`` and
    ``"standardize"``) and applies the classifier's linear map as a float64 Dense layer named
    ``"probe_dense"`` (so the model's output is float64). Folding the scaler into the Dense
    weights (``probe.coef_`` / ``probe.intercept_``) would be equivalent in exact arithmetic,
    but amplifies float32 rounding by ``1 / scale`` for features of tiny variance. Its output,
    columns in ``probe.classes_`` order:

    - ``"logreg"``: the softmax of the Dense scores, equal to ``probe.predict_proba``.
    - ``"sgd"``: ``probe.predict_proba`` (the normalised one-vs-rest sigmoids for more than two
      classes, via `SigmoidCalibration`).
    - ``"linear_svm"`` with ``calibrate=True``: ``probe.predict_proba``, the Platt sigmoids read
      from the fitted `~sklearn.calibration.CalibratedClassifierCV` and applied by
      `SigmoidCalibration`.
    - ``"linear_svm"`` with ``calibrate=False``: the decision values, equal to
      ``probe.decision_function``, of shape ``(batch, 1)`` for two classes (positive means
      ``classes_[1]``) and ``(batch, n_classes)`` otherwise.

    For two-class logistic models the Dense layer has two units, the first all zeros, so that
    the softmax gives ``[1 - p, p]``.

    Args:
        extractor: The `FeatureExtractor` the probe was trained on (built here if needed).
        probe: A fitted `LinearProbe` with classifier ``"logreg"``, ``"linear_svm"`` or
            ``"sgd"`` and ``normalize`` ``"standard"`` or None.
        name: Name of the model; None gives ``"<network>_probe"``.

    Returns:
        A functional `keras.Model`; the network's weights are shared with ``extractor``.

    Raises:
        TypeError: If `extractor` or `probe` is of the wrong type.
        ValueError: If the probe is not fitted, is not linear (``"rbf_svm"``, ``normalize="l2"``),
            if the pooling is ``"rmac"`` (not exportable) or if the number of features the
            network gives differs from the probe's ``n_features_in_``.

    Example:
        >>> model = export_probe(extractor, probe)  # doctest: +SKIP
        >>> model.save("probe.keras")  # doctest: +SKIP
        >>> keras.saving.load_model("probe.keras", safe_mode=True).predict(images)  # doctest: +SKIP
    """
    _check_inputs(extractor, probe)
    extractor.fit()  # builds the network; nothing is learnt
    network = extractor.extractor_
    images, outputs = network.input, network.output  # the extractor's graph, extended
    pooled = []
    for layer_name in extractor.layers_:
        activation = outputs[layer_name]
        pooled.append(
            _pooling_layer(extractor.pooling, len(activation.shape), layer_name)(activation)
        )
    features = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="features")(pooled)
    if features.shape[-1] != probe.n_features_in_:
        raise ValueError(
            f"the extractor gives {features.shape[-1]} features per image but the probe was "
            f"fitted on {probe.n_features_in_}: was it trained on this extractor's output?"
        )
    coef, intercept = probe.coef_, probe.intercept_
    scaler = probe.pipeline_.named_steps["normalize"]
    if isinstance(scaler, StandardScaler):
        # Standardise as scikit-learn does float32 features, in float32 with the mean rounded
        # to float32, then apply the unscaled classifier in float64. Folding the scaler into
        # the Dense weights instead amplifies rounding by 1 / scale, which is huge for
        # features of tiny variance (saturated units).
        intercept = intercept + coef @ scaler.mean_  # Unfold probe.coef_ / intercept_.
        coef = coef * scaler.scale_
        features = keras.layers.Rescaling(
            1.0, offset=-scaler.mean_.astype(np.float32), dtype="float32", name="center"
        )(features)
        features = keras.layers.Rescaling(
            (1.0 / scaler.scale_).astype(np.float32), dtype="float32", name="standardize"
        )(features)
    sigmoids = _platt_sigmoids(probe)
    two_class_logistic = probe.classifier in ("logreg", "sgd") and len(coef) == 1
    if two_class_logistic:  # softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)].
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    # float64, as scikit-learn's decision function.
    dense = keras.layers.Dense(len(coef), dtype="float64", name="probe_dense")
    scores = dense(features)
    dense.set_weights([coef.T, intercept])
    if probe.classifier == "logreg" or two_class_logistic:
        scores = keras.layers.Softmax(dtype="float64", name="probabilities")(scores)
    elif probe.classifier == "sgd":  # Normalised one-vs-rest logistic sigmoids.
        slopes, offsets = [-1.0] * len(coef), [0.0] * len(coef)
        scores = SigmoidCalibration(
            slopes=slopes, offsets=offsets, dtype="float64", name="probabilities"
        )(scores)
    elif sigmoids is not None:
        scores = SigmoidCalibration(
            slopes=sigmoids[0], offsets=sigmoids[1], dtype="float64", name="probabilities"
        )(scores)
    model_name = name if name is not None else f"{network.name.removesuffix('_features')}_probe"
    return keras.Model(images, scores, name=model_name)
