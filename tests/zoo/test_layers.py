import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import (
    AdaptiveAveragePooling2D,
    AdaptiveMaxPooling2D,
    LocalResponseNormalization,
    ScaledResidual,
)


@pytest.mark.parametrize(
    ("size", "alpha", "beta", "k", "channels"),
    [
        (5, 1e-4, 0.75, 2.0, 96),
        (3, 1e-2, 0.5, 1.0, 7),
        (1, 0.1, 1.0, 0.5, 4),
        (5, 1.0, 0.75, 2.0, 3),
    ],
)
def test_lrn_equals_tensorflow(size, alpha, beta, k, channels):
    x = np.random.default_rng(1).normal(0, 10, (2, 9, 9, channels)).astype("float32")
    ours = LocalResponseNormalization(size=size, alpha=alpha, beta=beta, k=k)(x)
    reference = tf.nn.local_response_normalization(
        x, depth_radius=size // 2, bias=k, alpha=alpha, beta=beta
    )
    np.testing.assert_allclose(np.asarray(ours), reference.numpy(), rtol=1e-5, atol=1e-6)


def test_lrn_alexnet_defaults_and_formula_on_one_pixel():
    layer = LocalResponseNormalization()
    assert (layer.size, layer.alpha, layer.beta, layer.k) == (5, 1e-4, 0.75, 2.0)
    x = np.arange(1, 8, dtype="float32").reshape(1, 1, 1, 7) * 30
    out = np.asarray(layer(x))[0, 0, 0]
    a = x[0, 0, 0]
    expected = [a[c] / (2 + 1e-4 * np.sum(a[max(0, c - 2) : c + 3] ** 2)) ** 0.75 for c in range(7)]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.fixture
def mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    yield
    keras.config.set_dtype_policy("float32")


def test_lrn_under_mixed_precision_does_not_overflow(mixed_precision):
    # AlexNet's conv1 activations reach the hundreds; 5 * 300**2 overflows float16 (max 65504).
    x = np.full((1, 2, 2, 8), 300.0, "float32")
    out = LocalResponseNormalization()(x)
    assert out.dtype == "float16"
    expected = tf.nn.local_response_normalization(
        x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75
    )
    np.testing.assert_allclose(np.asarray(out, "float32"), expected.numpy(), rtol=2e-3)


def test_alexnet_under_mixed_precision_is_finite(mixed_precision):
    import zoo

    model = zoo.alexnet(input_shape=(227, 227, 3), include_top=False, pooling="avg")
    images = np.random.default_rng(0).uniform(0, 255, (1, 227, 227, 3)).astype("float32")
    features = np.asarray(model(images), "float32")
    assert np.all(np.isfinite(features)) and np.any(features > 0)


def test_lrn_rejects_even_window():
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNormalization(size=4)


def _torch_adaptive_avg_pool(x, out_h, out_w):
    """Definition of torch.nn.AdaptiveAvgPool2d, written out (channels last)."""
    batch, height, width, channels = x.shape
    y = np.empty((batch, out_h, out_w, channels), x.dtype)
    for i in range(out_h):
        h0, h1 = math.floor(i * height / out_h), math.ceil((i + 1) * height / out_h)
        for j in range(out_w):
            w0, w1 = math.floor(j * width / out_w), math.ceil((j + 1) * width / out_w)
            y[:, i, j] = x[:, h0:h1, w0:w1].mean(axis=(1, 2))
    return y


@pytest.mark.parametrize(("height", "width"), [(1, 1), (2, 3), (6, 6), (7, 13), (13, 13), (20, 5)])
def test_adaptive_pool_matches_torch_definition_in_graph_mode(height, width):
    x = np.random.default_rng(2).normal(size=(2, height, width, 3)).astype("float32")
    for shape in ((height, width, 3), (None, None, 3)):
        inputs = keras.Input(shape)
        model = keras.Model(inputs, AdaptiveAveragePooling2D((6, 4))(inputs))
        np.testing.assert_allclose(
            model.predict(x, verbose=0), _torch_adaptive_avg_pool(x, 6, 4), rtol=1e-5, atol=1e-6
        )


def test_adaptive_pool_validates_output_size():
    with pytest.raises(ValueError, match="output_size"):
        AdaptiveAveragePooling2D(0)


@pytest.mark.parametrize(
    "layer", [LocalResponseNormalization(size=3, alpha=1e-3), AdaptiveAveragePooling2D((3, 2))]
)
def test_custom_layers_round_trip_through_keras_files(layer, tmp_path):
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / "layer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 4)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(loaded.layers[-1]) is type(layer)
    assert loaded.layers[-1].get_config() == layer.get_config() | {"name": layer.name}


@pytest.mark.parametrize("scale", [0.17, 0.1, 0.2, 1.0, -2.5])
def test_scaled_residual_adds_the_scaled_residual(scale):
    rng = np.random.default_rng(4)
    shortcut, residual = rng.normal(0, 3, (2, 2, 5, 5, 6)).astype("float32")
    out = np.asarray(ScaledResidual(scale)([shortcut, residual]))
    # Bit for bit keras.applications' CustomScaleLayer: inputs[0] + inputs[1] * scale in float32.
    np.testing.assert_array_equal(out, shortcut + residual * np.float32(scale))
    one = np.ones((1, 1, 1, 1), "float32")
    assert float(ScaledResidual(0.17)([one, 10 * one])[0, 0, 0, 0]) == pytest.approx(2.7)


def test_scaled_residual_has_no_weights_and_round_trips_in_safe_mode(tmp_path):
    shortcut, residual = keras.Input((5, 5, 6)), keras.Input((5, 5, 6))
    layer = ScaledResidual(0.17, name="block35_1_residual")
    model = keras.Model([shortcut, residual], layer([shortcut, residual]))
    assert layer.weights == [] and model.output_shape == (None, 5, 5, 6)
    path = tmp_path / "residual.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    restored = loaded.get_layer("block35_1_residual")
    assert type(restored) is ScaledResidual
    assert restored.get_config() == layer.get_config() and restored.scale == 0.17
    x = list(np.random.default_rng(5).normal(size=(2, 2, 5, 5, 6)).astype("float32"))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), "0.1", True, None])
def test_scaled_residual_rejects_a_scale_that_is_not_a_finite_number(scale):
    with pytest.raises(ValueError, match="must be a finite number"):
        ScaledResidual(scale)


@pytest.mark.parametrize(
    ("height", "width", "output_size"),
    [(13, 9, 4), (3, 5, (4, 2)), (1, 1, 4), (8, 8, 8), (7, 7, 3)],
)
def test_adaptive_max_pooling_matches_torch_bins(height, width, output_size):
    x = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype("float32")
    rows, cols = (output_size, output_size) if isinstance(output_size, int) else output_size
    expected = np.empty((2, rows, cols, 3), "float32")
    for i in range(rows):
        for j in range(cols):
            expected[:, i, j] = x[
                :,
                i * height // rows : math.ceil((i + 1) * height / rows),
                j * width // cols : math.ceil((j + 1) * width / cols),
            ].max(axis=(1, 2))
    np.testing.assert_array_equal(np.asarray(AdaptiveMaxPooling2D(output_size)(x)), expected)
    # Also in a graph with unknown spatial sizes.
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, AdaptiveMaxPooling2D(output_size)(inputs))
    assert model.output_shape == (None, rows, cols, 3)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_adaptive_max_pooling_equals_keras_where_keras_works():
    x = np.random.default_rng(1).normal(size=(2, 11, 6, 5)).astype("float32")
    np.testing.assert_array_equal(
        np.asarray(AdaptiveMaxPooling2D((4, 3))(x)),
        np.asarray(keras.layers.AdaptiveMaxPooling2D((4, 3))(x)),
    )


def test_adaptive_max_pooling_config_and_validation():
    layer = AdaptiveMaxPooling2D((2, 3), name="p")
    clone = AdaptiveMaxPooling2D.from_config(layer.get_config())
    assert (clone.output_size, clone.name) == ((2, 3), "p")
    for bad in (0, (2,), (2, -1), 2.0, True):
        with pytest.raises(ValueError, match="must be a positive int or two of them"):
            AdaptiveMaxPooling2D(bad)
