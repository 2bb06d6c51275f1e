"""Shared fixtures: quiet TensorFlow, a fresh Keras session and seeds for every test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import pytest


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=True)
