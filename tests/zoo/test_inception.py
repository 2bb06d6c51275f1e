"""Inception-v4 and Inception-ResNet-v1: stage shapes, blocks counted by hand, residual scaling.

Inception-v3 and Inception-ResNet-v2 are compared with keras.applications in
test_keras_applications_compat.py, Inception-v3's torchvision variant with torchvision in
test_convert.py; here, how that variant differs from the keras one.
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


# torchvision's Inception_V3_Weights.IMAGENET1K_V1 meta: num_params 27,161,264, with the AuxLogits
# head (InceptionAux at 1000 classes), which the zoo leaves out. Its parameters, from the layer
# sizes of torchvision's InceptionAux (convolutions without bias, BatchNorm weight and bias):
# conv0 1x1 768->128: 768*128 + 2*128 = 98_560; conv1 5x5 128->768: 25*128*768 + 2*768
# = 2_459_136; fc 768*1000 + 1000 = 769_000; in all 3_326_696 (torchvision's aux_logits=False
# model counts the difference, 23_834_568).
TORCHVISION_INCEPTION_V3 = 27_161_264
AUX_LOGITS = (768 * 128 + 2 * 128) + (25 * 128 * 768 + 2 * 768) + (768 * 1000 + 1000)


def test_torchvision_inception_v3_has_torchvision_parameter_count():
    model = zoo.inception_v3(variant="torchvision")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert AUX_LOGITS == 3_326_696
    assert trainable == TORCHVISION_INCEPTION_V3 - AUX_LOGITS
    # count_params() adds the 2 statistics of each BatchNorm channel; less the scales (1 per
    # channel), it is the keras variant's registered count, 23,851,784.
    channels = sum(
        layer.gamma.shape[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert model.count_params() == trainable + 2 * channels
    assert model.count_params() - channels == zoo.model_info("inception_v3").params


@pytest.fixture(scope="module")
def inception_v3_variants():
    """Both variants at 75x75 without top, the torchvision one holding the keras one's weights.

    Its BatchNorm scales stay at their initial 1, so the two compute the same up to the first
    average pool.
    """
    keras_model = zoo.inception_v3(include_top=False, input_shape=(75, 75, 3))
    torch_model = zoo.inception_v3(
        include_top=False, input_shape=(75, 75, 3), variant="torchvision"
    )
    rng = np.random.default_rng(0)
    for layer in keras_model.layers:
        weights = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            beta, mean, variance = (rng.normal(0.0, 0.1, w.shape) for w in weights)
            weights = [beta, mean, 1.0 + np.abs(variance)]
            layer.set_weights(weights)
            weights = [np.ones_like(beta), *weights]
        if weights:
            torch_model.get_layer(layer.name).set_weights(weights)
    return keras_model, torch_model


def test_variants_share_layer_names_and_taps(inception_v3_variants):
    keras_model, torch_model = inception_v3_variants
    keras_names = {layer.name for layer in keras_model.layers}
    torch_names = {layer.name for layer in torch_model.layers}
    assert keras_names <= torch_names
    # One zero padding before each of the 3 + 4 + 2 average pools of the 35x35, 17x17 and 8x8
    # blocks.
    expected = {f"mixed{block}_branch3_pad" for block in (0, 1, 2, 4, 5, 6, 7, 9, 10)}
    assert torch_names - keras_names == expected
    for tap in zoo.model_info("inception_v3").feature_taps:
        assert torch_model.get_layer(tap.layer).output.shape == (
            keras_model.get_layer(tap.layer).output.shape
        )


def test_variants_differ_only_on_the_border_of_average_pools(inception_v3_variants):
    keras_model, torch_model = inception_v3_variants
    image = np.random.default_rng(1).uniform(0.0, 1.0, (2, 75, 75, 3)).astype("float32")
    # mixed0's pooling branch reads pool_5a (7x7 at this size).
    probes = [
        keras.Model(
            model.input,
            [model.get_layer(name).output for name in ("pool_5a", "mixed0_branch3_pool")],
        )
        for model in (keras_model, torch_model)
    ]
    (keras_in, keras_pool), (torch_in, torch_pool) = (
        [np.asarray(t) for t in probe(image)] for probe in probes
    )
    np.testing.assert_allclose(torch_in, keras_in, rtol=1e-5, atol=1e-5)
    # 3x3 windows: 9 pixels inside the map in the interior, 6 on an edge, 4 in a corner.
    inside = np.full(keras_pool.shape[1:3], 9.0)
    inside[[0, -1], :] -= 3
    inside[:, [0, -1]] -= 3
    inside[[0, 0, -1, -1], [0, -1, 0, -1]] += 1
    padded = np.pad(keras_in, [(0, 0), (1, 1), (1, 1), (0, 0)])
    size = keras_in.shape[1]
    window_sums = sum(padded[:, i : i + size, j : j + size] for i in range(3) for j in range(3))
    np.testing.assert_allclose(keras_pool, window_sums / inside[:, :, None], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(torch_pool, window_sums / 9.0, rtol=1e-5, atol=1e-6)
    interior = (slice(None), slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(torch_pool[interior], keras_pool[interior], rtol=1e-5, atol=1e-6)
    # On the border the zero padding lowers torchvision's mean of the (non-negative) activations.
    border = inside < 9
    assert np.all((keras_pool - torch_pool)[:, border].max(axis=-1) > 1e-3)


def test_unknown_inception_v3_variant_is_refused():
    with pytest.raises(ValueError, match=r"variant='tf' must be one of \('keras', 'torchvision'\)"):
        zoo.inception_v3(variant="tf")
