"""keras.applications weights files load into the zoo's equal models with identical outputs."""

import re

import keras
import numpy as np
import pytest

import zoo

# (zoo name, keras.applications builder, input shape of the fast tier)
CASES = [
    ("vgg16", keras.applications.VGG16, (48, 48, 3)),
    ("vgg19", keras.applications.VGG19, (48, 48, 3)),
    ("inception_v3", keras.applications.InceptionV3, (75, 75, 3)),
    ("inception_resnet_v2", keras.applications.InceptionResNetV2, (75, 75, 3)),
    ("resnet50", keras.applications.ResNet50, (64, 64, 3)),
    ("resnet50_v2", keras.applications.ResNet50V2, (64, 64, 3)),
]
# Deeper members of families covered above: the slow tier only.
SLOW_CASES = [
    ("resnet101", keras.applications.ResNet101, (64, 64, 3)),
    ("resnet152", keras.applications.ResNet152, (64, 64, 3)),
    ("resnet101_v2", keras.applications.ResNet101V2, (64, 64, 3)),
    ("resnet152_v2", keras.applications.ResNet152V2, (64, 64, 3)),
]
IDS = [name for name, _, _ in CASES]
SLOW_IDS = [name for name, _, _ in SLOW_CASES]


def _layout(model):
    """(class, weight shapes) of each layer with weights, in order: what both formats rely on."""
    return [
        (type(layer).__name__, [tuple(w.shape) for w in layer.weights])
        for layer in model.layers
        if layer.weights
    ]


def _named_by_keras(layer):
    """Whether keras.applications chose the name (``mixed0``), not Keras' counter (``conv2d_7``)."""
    counter_base = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", type(layer).__name__).lower()
    return re.fullmatch(rf"{counter_base}(_\d+)?", layer.name) is None


def _check(name, reference_builder, include_top, input_shape, tmp_path, suffix):
    reference = reference_builder(weights=None, include_top=include_top, input_shape=input_shape)
    path = tmp_path / f"reference{suffix}"
    if suffix == ".weights.h5":
        reference.save_weights(path)  # keyed by layer class and ordinal
    else:
        reference.save(path)  # the legacy HDF5 layout of the files keras.applications downloads
    model = zoo.get_model(name, weights=path, include_top=include_top, input_shape=input_shape)
    assert _layout(model) == _layout(reference)
    # Names keras chose are ours too, on the same kind of layer; where keras leaves a name to the
    # counter (Inception's conv2d_N ...), ours is readable and only the layout above is compared.
    chosen = {
        layer.name: type(layer).__name__ for layer in reference.layers if _named_by_keras(layer)
    }
    ours = {layer.name: type(layer).__name__ for layer in model.layers}
    assert {layer: ours.get(layer) for layer in chosen} == chosen
    x = np.random.default_rng(0).uniform(0, 255, (2, *input_shape)).astype("float32")
    # Direct calls, not predict(): the same computation without tracing 800-layer graphs.
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(reference(x)))


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
@pytest.mark.parametrize("include_top", [True, False])
@pytest.mark.parametrize(("name", "reference_builder", "input_shape"), CASES, ids=IDS)
def test_keras_applications_weights_load(
    name, reference_builder, input_shape, include_top, suffix, tmp_path
):
    _check(name, reference_builder, include_top, input_shape, tmp_path, suffix)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
@pytest.mark.parametrize("include_top", [True, False])
@pytest.mark.parametrize(("name", "reference_builder", "input_shape"), SLOW_CASES, ids=SLOW_IDS)
def test_deeper_keras_applications_weights_load(
    name, reference_builder, input_shape, include_top, suffix, tmp_path
):
    _check(name, reference_builder, include_top, input_shape, tmp_path, suffix)


@pytest.mark.slow
@pytest.mark.parametrize("include_top", [True, False])
@pytest.mark.parametrize(("name", "reference_builder", "input_shape"), CASES, ids=IDS)
def test_keras_applications_weights_load_at_default_size(
    name, reference_builder, input_shape, include_top, tmp_path
):
    default_size = zoo.model_info(name).default_size
    _check(name, reference_builder, include_top, default_size, tmp_path, ".weights.h5")


def test_a_file_with_top_initialises_the_backbone_without_top(tmp_path):
    reference = keras.applications.VGG19(weights=None, input_shape=(48, 48, 3))
    reference.save_weights(tmp_path / "with_top.weights.h5")
    backbone = zoo.vgg19(weights=tmp_path / "with_top.weights.h5", include_top=False)
    reference_backbone = keras.Model(reference.input, reference.get_layer("block5_pool").output)
    x = np.random.default_rng(1).uniform(0, 255, (2, 48, 48, 3)).astype("float32")
    np.testing.assert_array_equal(
        backbone.predict(x, verbose=0), reference_backbone.predict(x, verbose=0)
    )
