"""Inception-v4 and Inception-ResNet-v1: stage shapes, blocks counted by hand, residual scaling.

Inception-v3 and Inception-ResNet-v2 are compared with keras.applications in
test_keras_applications_compat.py.
"""

import keras
import numpy as np
import pytest

import zoo

# Stage outputs at 299x299, as Szegedy et al. 2016 draw them (figures 3, 7, 8, 9, 12, 14, 15).
STAGES = {
    "inception_v4": {
        "mixed_5a": (35, 35, 384),  # end of the stem
        "mixed_5e": (35, 35, 384),  # 4 x Inception-A
        "mixed_6a": (17, 17, 1024),  # Reduction-A
        "mixed_6h": (17, 17, 1024),  # 7 x Inception-B
        "mixed_7a": (8, 8, 1536),  # Reduction-B
        "mixed_7d": (8, 8, 1536),  # 3 x Inception-C
    },
    "inception_resnet_v1": {
        "conv_4b_ac": (35, 35, 256),  # end of the stem
        "block35_5_ac": (35, 35, 256),  # 5 x Inception-ResNet-A
        "mixed_6a": (17, 17, 896),  # Reduction-A
        "block17_10_ac": (17, 17, 896),  # 10 x Inception-ResNet-B
        "mixed_7a": (8, 8, 1792),  # Reduction-B
        "block8_6_residual": (8, 8, 1792),  # Inception-ResNet-C, the last one linear
    },
}


def _unit(area, c_in, c_out, per_channel):
    """A convolution without bias and its BatchNorm's `per_channel` vectors."""
    return area * c_in * c_out + per_channel * c_out


# Inception-A (figure 4) on 384 channels: 1x1 96 | 1x1 64, 3x3 96 | 1x1 64, 3x3 96, 3x3 96 |
# avg pool, 1x1 96. Its BatchNorm learns scale and offset (2 trainable vectors, 4 in all).
_INCEPTION_A = [(1, 384, 96), (1, 384, 64), (9, 64, 96), (1, 384, 64), (9, 64, 96), (9, 96, 96)]
_INCEPTION_A += [(1, 384, 96)]
# Inception-ResNet-A (figure 10) on 256 channels: 1x1 32 | 1x1 32, 3x3 32 | 1x1 32, 3x3 32,
# 3x3 32, then a 1x1 projection 96 -> 256 with bias. BatchNorm offset only (1 trainable, 3 in all).
_INCEPTION_RESNET_A = [(1, 256, 32), (1, 256, 32), (9, 32, 32), (1, 256, 32), (9, 32, 32)]
_INCEPTION_RESNET_A += [(9, 32, 32)]
_PROJECTION = 96 * 256 + 256

BLOCKS = [
    (
        "inception_v4",
        "mixed_5b",
        sum(_unit(*conv, 2) for conv in _INCEPTION_A),  # 317_632
        sum(_unit(*conv, 4) for conv in _INCEPTION_A),  # 318_848
    ),
    (
        "inception_resnet_v1",
        "block35_1",
        sum(_unit(*conv, 1) for conv in _INCEPTION_RESNET_A) + _PROJECTION,  # 77_248
        sum(_unit(*conv, 3) for conv in _INCEPTION_RESNET_A) + _PROJECTION,  # 77_632
    ),
]


@pytest.fixture(scope="module")
def full_size():
    """Builds each backbone once at 299x299 (graph only; nothing runs at that size)."""
    models = {}

    def build(name):
        if name not in models:
            models[name] = zoo.get_model(name, include_top=False, input_shape=(299, 299, 3))
        return models[name]

    return build


@pytest.fixture(scope="module")
def small_resnet_v1():
    return zoo.inception_resnet_v1(include_top=False, input_shape=(75, 75, 3))


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_outputs_at_299(name, full_size):
    model = full_size(name)
    shapes = {layer: tuple(model.get_layer(layer).output.shape[1:]) for layer in STAGES[name]}
    assert shapes == STAGES[name]
    assert model.output_shape[1:] == STAGES[name][list(STAGES[name])[-1]]


@pytest.mark.parametrize(("name", "block", "trainable", "total"), BLOCKS)
def test_one_block_has_the_hand_counted_parameters(name, block, trainable, total, full_size):
    layers = [layer for layer in full_size(name).layers if layer.name.startswith(f"{block}_")]
    assert sum(int(np.prod(w.shape)) for layer in layers for w in layer.trainable_weights) == (
        trainable
    )
    assert sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights) == total


@pytest.mark.parametrize(
    ("block", "scale", "relu", "next_block"),
    [
        ("block35_2", 0.17, True, "block35_3"),
        ("block17_3", 0.1, True, "block17_4"),
        ("block8_5", 0.2, True, "block8_6"),
        ("block8_6", 1.0, False, None),  # the last block adds unscaled, without ReLU
    ],
)
def test_residual_block_computes_input_plus_scaled_projection(
    block, scale, relu, next_block, small_resnet_v1
):
    model = small_resnet_v1
    projection = model.get_layer(f"{block}_conv")
    kernel, bias = (np.asarray(w) for w in projection.get_weights())
    rng = np.random.default_rng(0)
    bias = rng.normal(0, 0.5, bias.shape).astype("float32")  # a bias that shows
    projection.set_weights([kernel, bias])
    shortcut = model.get_layer(f"{block}_residual").input[0]
    # What the network passes on: the next block's shortcut, or the backbone's output.
    output = model.get_layer(f"{next_block}_residual").input[0] if next_block else model.output
    probe = keras.Model(model.input, [shortcut, model.get_layer(f"{block}_mixed").output, output])
    x, mixed, y = (
        np.asarray(t) for t in probe(rng.uniform(0, 1, (2, 75, 75, 3)).astype("float32"))
    )

    residual = np.einsum("bhwi,io->bhwo", mixed, kernel[0, 0]) + bias
    expected = x + scale * residual
    if relu:
        expected = np.maximum(expected, 0.0)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    # The residual matters here, so a wrong scale or a missing or extra ReLU would show.
    assert np.abs(scale * residual).max() > 0.1
    assert (y < 0).any() != relu


@pytest.mark.parametrize("name", list(STAGES))
def test_top_is_pooling_dropout_and_classifier(name):
    info = zoo.model_info(name)
    inputs = keras.Input((3, 3, info.feature_taps[-1].channels))

    def top_layers(architecture):
        scores = architecture.top(inputs, classes=5, classifier_activation="softmax")
        return keras.Model(inputs, scores).layers[1:]

    default = top_layers(info.architecture())
    assert [layer.name for layer in default] == ["avg_pool", "predictions_dropout", "predictions"]
    assert default[1].rate == 0.2  # the paper keeps 0.8 of the units
    assert [layer.name for layer in top_layers(info.architecture(dropout=0.0))] == [
        "avg_pool",
        "predictions",
    ]
    with pytest.raises(ValueError, match=r"dropout=1\.0 must be in \[0, 1\)"):
        info.architecture(dropout=1.0)
