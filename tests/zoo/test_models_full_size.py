"""Slow tier: every registered model at its published input size has a correct backward pass."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo

# Steps along the gradient change the loss by at most this much to first order: in float64 this
# is far above rounding, and small enough that a step crosses (almost) no ReLU kink.
CHANGE = 1e-6


@pytest.fixture
def float64():
    keras.config.set_floatx("float64")  # the loss follows floatx, the layers the dtype policy
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.list_models())
def test_full_size_gradient_matches_central_difference(name, float64):
    info = zoo.model_info(name)
    # Without dropout, the training-mode loss (BatchNorm on batch statistics) is a deterministic
    # function of the weights, so a first-order check of the gradient is exact up to curvature.
    # Stochastic depth (EfficientNet's drop_connect_rate) is random in training mode too.
    parameters = inspect.signature(info.builder).parameters
    options = {key: 0.0 for key in ("dropout", "drop_connect_rate") if key in parameters}
    model = zoo.get_model(name, classes=4, **options)
    for layer in model.layers:
        if isinstance(layer, zoo.layers.SpatialTransformer):
            # At the identity every sample point lies on the pixel grid, where the bilinear kernel
            # has kinks (the paper's sub-gradients): one-sided slopes differ there. A sub-pixel
            # shift puts the points between pixels, where the sampler is smooth.
            layer.regression.bias.assign([1.0, 0.0, 0.0123, 0.0, 1.0, -0.0071])
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 1, (4, *info.default_size)))
    labels = tf.constant(np.arange(4))
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def loss():
        return float(loss_fn(labels, model(images, training=True)))

    with tf.GradientTape() as tape:
        before = loss_fn(labels, model(images, training=True))
    gradients = tape.gradient(before, model.trainable_weights)
    for weight, gradient in zip(model.trainable_weights, gradients, strict=True):
        assert gradient is not None, weight.path
        assert np.all(np.isfinite(gradient.numpy())), weight.path
    norm = float(tf.linalg.global_norm(gradients))
    assert norm > 0

    def move(scale):
        for weight, gradient in zip(model.trainable_weights, gradients, strict=True):
            weight.assign_add(scale * gradient / norm)

    step = min(CHANGE, CHANGE / norm)
    move(step)
    ascended = loss()
    move(-2 * step)
    descended = loss()
    # The central difference cancels the curvature term and estimates the gradient's norm; a
    # backward pass that disagrees with the forward pass fails this.
    slope = (ascended - descended) / (2 * step)
    assert descended < float(before) < ascended
    assert slope == pytest.approx(norm, rel=0.02), (slope, norm)
