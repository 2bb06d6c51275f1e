"""Slow tier: every registered model at its published input size trains."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.list_models())
def test_full_size_model_gets_gradients_and_fits_a_batch(name):
    info = zoo.model_info(name)
    model = zoo.get_model(name, classes=4)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (4, *info.default_size)).astype("float32")
    labels = np.arange(4)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images, training=True))
    gradients = tape.gradient(loss, model.trainable_weights)
    for weight, gradient in zip(model.trainable_weights, gradients, strict=True):
        assert gradient is not None, weight.path
        assert np.all(np.isfinite(gradient.numpy())), weight.path
    assert any(np.any(g.numpy() != 0) for g in gradients)

    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss_fn)
    before = model.evaluate(images, labels, verbose=0)
    model.fit(images, labels, epochs=8, batch_size=4, verbose=0)
    after = model.evaluate(images, labels, verbose=0)
    assert after < before, (before, after)
