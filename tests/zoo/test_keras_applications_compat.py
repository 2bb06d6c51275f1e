"""keras.applications VGG16/VGG19 weights files load into zoo.vgg16/zoo.vgg19 with equal outputs."""

import keras
import numpy as np
import pytest

import zoo

CASES = [("vgg16", keras.applications.VGG16), ("vgg19", keras.applications.VGG19)]


def _weighted_layers(model):
    return [
        (layer.name, [tuple(w.shape) for w in layer.weights])
        for layer in model.layers
        if layer.weights
    ]


def _check(name, reference_builder, include_top, input_shape, tmp_path, suffix):
    reference = reference_builder(weights=None, include_top=include_top, input_shape=input_shape)
    path = tmp_path / f"reference{suffix}"
    if suffix == ".weights.h5":
        reference.save_weights(path)
    else:
        reference.save(path)  # the legacy HDF5 layout of the files keras.applications downloads
    model = zoo.get_model(name, weights=path, include_top=include_top, input_shape=input_shape)
    assert _weighted_layers(model) == _weighted_layers(reference)
    x = np.random.default_rng(0).uniform(0, 255, (2, *input_shape)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), reference.predict(x, verbose=0))


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
@pytest.mark.parametrize("include_top", [True, False])
@pytest.mark.parametrize(("name", "reference_builder"), CASES)
def test_keras_applications_weights_load(name, reference_builder, include_top, suffix, tmp_path):
    _check(name, reference_builder, include_top, (48, 48, 3), tmp_path, suffix)


@pytest.mark.slow
@pytest.mark.parametrize("include_top", [True, False])
@pytest.mark.parametrize(("name", "reference_builder"), CASES)
def test_keras_applications_weights_load_at_224(name, reference_builder, include_top, tmp_path):
    _check(name, reference_builder, include_top, (224, 224, 3), tmp_path, ".weights.h5")


def test_a_file_with_top_initialises_the_backbone_without_top(tmp_path):
    reference = keras.applications.VGG19(weights=None, input_shape=(48, 48, 3))
    reference.save_weights(tmp_path / "with_top.weights.h5")
    backbone = zoo.vgg19(weights=tmp_path / "with_top.weights.h5", include_top=False)
    reference_backbone = keras.Model(reference.input, reference.get_layer("block5_pool").output)
    x = np.random.default_rng(1).uniform(0, 255, (2, 48, 48, 3)).astype("float32")
    np.testing.assert_array_equal(
        backbone.predict(x, verbose=0), reference_backbone.predict(x, verbose=0)
    )
