"""Shared fixtures: quiet TensorFlow, a fresh Keras session and seeds for every test; the tiers.

Tests marked ``gpu`` are skipped, with the reason, where TensorFlow sees no GPU; tests marked
``slow`` run with ``make test-slow`` (``-m slow``).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import pytest
import tensorflow as tf

pytest_plugins = ["pytester"]


def visible_gpus() -> list:
    """The GPUs TensorFlow can use here."""
    return tf.config.list_physical_devices("GPU")


def pytest_collection_modifyitems(config, items):
    if visible_gpus():
        return
    skip = pytest.mark.skip(reason="needs a GPU; TensorFlow sees none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=True)
