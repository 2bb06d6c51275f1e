"""GoogLeNet: the paper's table 1, torchvision's counts, ceil-mode pooling, auxiliary heads."""

import keras
import numpy as np
import pytest

import zoo
from zoo.layers import CeilMaxPooling2D

# Szegedy et al. 2014, table 1: output size and depth, then #1x1, #3x3 reduce, #3x3, #5x5 reduce,
# #5x5 and pool proj of each Inception module.
TABLE_1 = {
    "inception3a": ((28, 256), (64, 96, 128, 16, 32, 32)),
    "inception3b": ((28, 480), (128, 128, 192, 32, 96, 64)),
    "inception4a": ((14, 512), (192, 96, 208, 16, 48, 64)),
    "inception4b": ((14, 512), (160, 112, 224, 24, 64, 64)),
    "inception4c": ((14, 512), (128, 128, 256, 24, 64, 64)),
    "inception4d": ((14, 528), (112, 144, 288, 32, 64, 64)),
    "inception4e": ((14, 832), (256, 160, 320, 32, 128, 128)),
    "inception5a": ((7, 832), (256, 160, 320, 32, 128, 128)),
    "inception5b": ((7, 1024), (384, 192, 384, 48, 128, 128)),
}
# The table's "params" column (K = 1024) agrees with its widths for these rows only; later rows
# do not (4c: 497.5K by its widths, 463K printed).
TABLE_1_PARAMS = {"inception3a": 159, "inception3b": 380, "inception4b": 437}


def _kernels(model, prefix):
    return sum(
        int(np.prod(weight.shape))
        for layer in model.layers
        if layer.name.startswith(prefix)
        for weight in layer.weights
        if weight.path.endswith("kernel")
    )


@pytest.fixture(scope="module")
def paper():
    return zoo.googlenet_paper()


@pytest.mark.parametrize("module", sorted(TABLE_1))
def test_paper_modules_match_table_1(paper, module):
    (size, channels), (b1, r3, b3, r5, b5, pool_proj) = TABLE_1[module]
    assert paper.get_layer(module).output.shape[1:] == (size, size, channels)
    assert b1 + b3 + b5 + pool_proj == channels
    depth_in = paper.get_layer(f"{module}_branch1_conv").input.shape[-1]
    weights = depth_in * (b1 + r3 + r5 + pool_proj) + 9 * r3 * b3 + 25 * r5 * b5
    assert _kernels(paper, f"{module}_") == weights
    if module in TABLE_1_PARAMS:
        assert abs(weights / 1024 - TABLE_1_PARAMS[module]) <= 1


def test_paper_stem_and_classifier_match_table_1(paper):
    # conv2 (1x1 reduction + 3x3): 112K; linear: 1000K.
    assert round(_kernels(paper, "conv2_") / 1024 + _kernels(paper, "conv3_") / 1024) == 112
    assert _kernels(paper, "predictions") / 1024 == 1000
    assert paper.get_layer("conv3_relu").output.shape[1:] == (56, 56, 192)
    assert paper.get_layer("maxpool2").output.shape[1:] == (28, 28, 192)


def test_variants_differ_where_documented(paper):
    tv = zoo.googlenet()
    # The third branch: 5x5 in the paper, 3x3 in torchvision; biases only in the paper.
    assert paper.get_layer("inception3a_branch3_1_conv").kernel.shape == (5, 5, 16, 32)
    assert tv.get_layer("inception3a_branch3_1_conv").kernel.shape == (3, 3, 16, 32)
    assert tv.get_layer("inception3a_branch3_1_conv").bias is None
    assert {"norm1", "norm2"} <= {layer.name for layer in paper.layers}
    assert not any(isinstance(layer, zoo.LocalResponseNormalization) for layer in tv.layers)
    assert paper.get_layer("predictions_dropout").rate == 0.4
    assert tv.get_layer("predictions_dropout").rate == 0.2


def _trainable(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def test_torchvision_counts_with_and_without_auxiliary_classifiers():
    # torchvision's GoogLeNet_Weights meta: 6,624,904 (aux heads removed). Each auxiliary head
    # adds conv 1x1 (C*128 + BatchNorm 2*128), fc1 (2048*1024 + 1024), fc2 (1024*1000 + 1000):
    # C = 512 for aux1 and 528 for aux2, 13,004,888 in all.
    assert _trainable(zoo.googlenet()) == 6_624_904
    aux1 = 512 * 128 + 256 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    aux2 = aux1 + 16 * 128
    assert _trainable(zoo.googlenet(aux_logits=True)) == 6_624_904 + aux1 + aux2 == 13_004_888


def _ceil_pool_reference(x, size, stride):
    height, width = x.shape[1:3]
    rows = -(-(height - size) // stride) + 1
    cols = -(-(width - size) // stride) + 1
    out = np.empty((x.shape[0], rows, cols, x.shape[3]), x.dtype)
    for i in range(rows):
        for j in range(cols):
            window = x[:, i * stride : i * stride + size, j * stride : j * stride + size]
            out[:, i, j] = window.max(axis=(1, 2))
    return out


@pytest.mark.parametrize(("size", "stride", "side"), [(3, 2, 57), (3, 2, 56), (2, 2, 7), (3, 1, 5)])
def test_ceil_max_pooling_rounds_up_like_caffe_and_torch(size, stride, side):
    x = np.random.default_rng(0).normal(size=(2, side, side + 1, 3)).astype("float32")
    layer = CeilMaxPooling2D(size, stride)
    expected = _ceil_pool_reference(x, size, stride)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)
    assert layer.compute_output_shape(x.shape) == expected.shape
    assert CeilMaxPooling2D.from_config(layer.get_config()).get_config() == layer.get_config()


def test_ceil_max_pooling_rejects_bad_windows():
    with pytest.raises(ValueError, match="strides=3 larger than pool_size=2"):
        CeilMaxPooling2D(2, 3)
    with pytest.raises(ValueError, match="pool_size=0 must be a positive int"):
        CeilMaxPooling2D(0)


# At 96x96 inception4a's map is 6x6: torchvision pools it adaptively to 4x4, the paper's 5x5/3
# average pooling to 1x1.
@pytest.mark.parametrize(("name", "flat"), [("googlenet", 4 * 4 * 128), ("googlenet_paper", 128)])
def test_auxiliary_outputs_in_training_model_and_dropped_for_inference(name, flat, tmp_path):
    model = zoo.get_model(name, aux_logits=True, classes=5, input_shape=(96, 96, 3))
    images = np.random.default_rng(0).uniform(0, 1, (4, 96, 96, 3)).astype("float32")
    outputs = model(images)
    assert sorted(outputs) == ["aux1", "aux2", "predictions"]
    assert all(np.asarray(out).shape == (4, 5) for out in outputs.values())
    assert model.get_layer("aux1_fc1").input.shape[-1] == flat

    # The recipe: auxiliary losses weighted by 0.3, as in the paper.
    labels = np.arange(4) % 5
    model.compile(
        optimizer="sgd",
        loss=dict.fromkeys(outputs, "sparse_categorical_crossentropy"),
        loss_weights={"predictions": 1.0, "aux1": 0.3, "aux2": 0.3},
    )
    history = model.fit(images, {k: labels for k in outputs}, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    path = tmp_path / "trained.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    deployed = zoo.inference_model(loaded)
    assert deployed.output_shape == (None, 5)
    assert not any(layer.name.startswith("aux") for layer in deployed.layers)
    np.testing.assert_allclose(
        np.asarray(deployed(images)), np.asarray(model(images)["predictions"]), rtol=1e-5
    )
    plain = zoo.get_model(name, classes=5, input_shape=(96, 96, 3))
    assert plain.output_shape == (None, 5)
    assert zoo.inference_model(plain) is plain


def test_auxiliary_classifiers_need_the_top_and_a_large_enough_input():
    with pytest.raises(ValueError, match="auxiliary classifiers need include_top=True"):
        zoo.googlenet(aux_logits=True, include_top=False)
    with pytest.raises(ValueError, match="input_shape of at least 79x79"):
        zoo.googlenet_paper(aux_logits=True, input_shape=(78, 78, 3))
    # torchvision's heads pool adaptively to 4x4 and take the smallest input.
    assert zoo.googlenet(aux_logits=True, input_shape=(32, 32, 3)).output["aux1"].shape[-1] == 1000
    with pytest.raises(ValueError, match="aux_logits='yes' must be True or False"):
        zoo.googlenet(aux_logits="yes")


def test_inference_model_needs_a_predictions_layer():
    inputs = keras.Input((4,))
    two = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    with pytest.raises(ValueError, match="no 'predictions' layer"):
        zoo.inference_model(two)
