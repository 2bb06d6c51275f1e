import keras
import numpy as np
import pytest

import zoo
from zoo.rir import (
    ResNetInit,
    SplitStreams,
    generalized_residual_block,
    resnet_init_block,
    rir_block,
)

EPSILON = 1e-5  # BatchNorm epsilon of zoo.rir


def _conv(x, kernel, stride=1):
    """Cross-correlation with kernel // 2 zeros on every side (keras "same" at stride 1)."""
    rows, cols = kernel.shape[:2]
    pad_r, pad_c = rows // 2, cols // 2
    padded = np.pad(x, ((0, 0), (pad_r, pad_r), (pad_c, pad_c), (0, 0)))
    out_h = (x.shape[1] + 2 * pad_r - rows) // stride + 1
    out_w = (x.shape[2] + 2 * pad_c - cols) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[3]), "float64")
    for i in range(rows):
        for j in range(cols):
            window = padded[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride]
            out += np.einsum("nhwc,cd->nhwd", window, kernel[i, j])
    return out


def _bn(x, gamma, beta, mean, var):
    return gamma * (x - mean) / np.sqrt(var + EPSILON) + beta


def _relu(x):
    return np.maximum(x, 0.0)


def _randomize(model, seed):
    """Sets every weight to known random values (BatchNorm variances positive)."""
    rng = np.random.default_rng(seed)
    weights = {}
    for layer in model.layers:
        values = []
        for weight in layer.weights:
            if "variance" in weight.path:
                value = rng.uniform(0.5, 2.0, weight.shape)
            else:
                value = rng.normal(0, 0.5, weight.shape)
            values.append(value.astype("float32"))
        if values:
            layer.set_weights(values)
            weights[layer.name] = values
    return weights


def _streams_model(build, shape):
    r, t = keras.Input(shape), keras.Input(shape)
    return keras.Model([r, t], list(build((r, t))))


@pytest.mark.parametrize(
    ("in_half", "filters", "stride"), [(3, 6, 1), (2, 6, 2), (3, 4, 1)], ids=str
)
def test_generalized_block_computes_equation_1(in_half, filters, stride):
    model = _streams_model(
        lambda s: generalized_residual_block(s, filters, stride=stride, name="g"), (5, 5, in_half)
    )
    w = _randomize(model, seed=filters + stride)
    rng = np.random.default_rng(0)
    r, t = rng.normal(size=(2, 2, 5, 5, in_half)).astype("float32")
    out_r, out_t = (np.asarray(y) for y in model([r, t], training=False))

    projected = stride != 1 or in_half != filters // 2
    shortcut = _conv(r, w["g_shortcut"][0], stride) if projected else r
    assert ("g_shortcut" in w) == projected
    expected_r = _relu(
        _bn(
            _conv(r, w["g_rr_conv"][0], stride) + _conv(t, w["g_tr_conv"][0], stride) + shortcut,
            *w["g_r_bn"],
        )
    )
    expected_t = _relu(
        _bn(_conv(r, w["g_rt_conv"][0], stride) + _conv(t, w["g_tt_conv"][0], stride), *w["g_t_bn"])
    )
    size = (5 - 1) // stride + 1
    assert out_r.shape == out_t.shape == (2, size, size, filters // 2)
    np.testing.assert_allclose(out_r, expected_r, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out_t, expected_t, rtol=1e-4, atol=1e-4)
    assert np.any(out_r > 0) and np.any(out_r == 0)  # the ReLU is active on this input


@pytest.mark.parametrize(("filters", "stride"), [(8, 1), (12, 2)])
def test_rir_block_adds_the_outer_shortcut_to_the_residual_stream_only(filters, stride):
    r_in, t_in = keras.Input((6, 6, 4)), keras.Input((6, 6, 4))
    r_out, t_out = rir_block((r_in, t_in), filters, stride=stride, name="rir")
    block = keras.Model([r_in, t_in], [r_out, t_out])
    inner = [block.get_layer(f"rir_g2_{s}_relu").output for s in "rt"]
    probe = keras.Model([r_in, t_in], [r_out, t_out, *inner])
    w = _randomize(probe, seed=3)
    rng = np.random.default_rng(1)
    r, t = rng.normal(size=(2, 2, 6, 6, 4)).astype("float32")
    got_r, got_t, inner_r, inner_t = (np.asarray(y) for y in probe([r, t], training=False))
    if stride == 1 and filters // 2 == 4:
        shortcut = r
        assert "rir_shortcut_conv" not in w
    else:
        shortcut = _bn(_conv(r, w["rir_shortcut_conv"][0], stride), *w["rir_shortcut_bn"])
    np.testing.assert_allclose(got_r, inner_r + shortcut, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got_t, inner_t)
    assert got_r.shape == got_t.shape == (2, 6 // stride, 6 // stride, filters // 2)
    assert [layer.name for layer in probe.layers if layer.name.endswith("_r_relu")] == [
        "rir_g1_r_relu",
        "rir_g2_r_relu",
    ]


def test_resnet_init_block_equals_the_generalized_block_it_initializes():
    half = 3
    block = _streams_model(
        lambda s: generalized_residual_block(s, 2 * half, name="g"), (5, 5, half)
    )
    w = _randomize(block, seed=7)
    x_in = keras.Input((5, 5, 2 * half))
    single = keras.Model(x_in, resnet_init_block(x_in, 2 * half, name="init"))
    kernel = np.zeros((3, 3, 2 * half, 2 * half), "float32")
    kernel[:, :, :half, :half] = w["g_rr_conv"][0]
    kernel[:, :, half:, :half] = w["g_tr_conv"][0]
    kernel[:, :, :half, half:] = w["g_rt_conv"][0]
    kernel[:, :, half:, half:] = w["g_tt_conv"][0]
    kernel[1, 1, :half, :half] += np.eye(half, dtype="float32")  # the folded-in shortcut
    single.get_layer("init_conv").set_weights([kernel])
    bn = [np.concatenate(pair) for pair in zip(w["g_r_bn"], w["g_t_bn"], strict=True)]
    single.get_layer("init_bn").set_weights(bn)

    x = np.random.default_rng(2).normal(size=(2, 5, 5, 2 * half)).astype("float32")
    r, t = (np.asarray(y) for y in block([x[..., :half], x[..., half:]], training=False))
    np.testing.assert_allclose(
        np.asarray(single(x, training=False)), np.concatenate([r, t], -1), rtol=1e-5, atol=1e-5
    )


def test_resnet_init_adds_the_identity_from_residual_inputs_to_residual_outputs():
    kernel = np.asarray(ResNetInit(base="zeros")((3, 3, 6, 10)))
    expected = np.zeros((3, 3, 6, 10), "float32")
    for channel in range(3):  # residual inputs 0-2 -> residual outputs 0-2 (of 0-4)
        expected[1, 1, channel, channel] = 1.0
    np.testing.assert_array_equal(kernel, expected)
    # At identity (zero random part) a ResNet Init convolution passes r and zeroes t.
    conv = keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=ResNetInit("zeros"))
    x = np.random.default_rng(3).normal(size=(1, 4, 4, 8)).astype("float32")
    out = np.asarray(conv(x))
    np.testing.assert_allclose(out[..., :4], x[..., :4], atol=1e-6)
    np.testing.assert_array_equal(out[..., 4:], 0.0)
    # The random part is the base initializer's: He-normal by default.
    sample = np.asarray(ResNetInit()((3, 3, 64, 64))) - np.asarray(
        ResNetInit("zeros")((3, 3, 64, 64))
    )
    assert np.std(sample) == pytest.approx(np.sqrt(2 / (9 * 64)), rel=0.1)


def test_resnet_init_serializes_and_rejects_even_kernels():
    init = ResNetInit(keras.initializers.HeUniform(seed=4))
    restored = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert type(restored) is ResNetInit
    np.testing.assert_array_equal(
        np.asarray(restored((3, 3, 2, 2))), np.asarray(init((3, 3, 2, 2)))
    )
    with pytest.raises(ValueError, match="odd rows"):
        ResNetInit()((2, 2, 4, 4))


def test_split_streams_halves_the_channels():
    x = np.arange(2 * 3 * 3 * 6, dtype="float32").reshape(2, 3, 3, 6)
    r, t = SplitStreams()(x)
    np.testing.assert_array_equal(np.asarray(r), x[..., :3])
    np.testing.assert_array_equal(np.asarray(t), x[..., 3:])
    with pytest.raises(ValueError, match="even number of channels"):
        SplitStreams()(np.ones((1, 2, 2, 5), "float32"))


def test_blocks_validate_their_arguments():
    r, t = keras.Input((4, 4, 2)), keras.Input((4, 4, 2))
    with pytest.raises(ValueError, match="filters=5 must be a positive even int"):
        generalized_residual_block((r, t), 5, name="g")
    with pytest.raises(ValueError, match="equal shapes"):
        generalized_residual_block((r, keras.Input((4, 4, 3))), 4, name="g")
    with pytest.raises(ValueError, match="depth=0"):
        rir_block((r, t), 4, depth=0, name="rir")
    with pytest.raises(ValueError, match="width=33"):
        zoo.cifar_rir18(width=33)


def _expected_params(width, classes):
    """count_params() of cifar_rir18 from its layer sizes (Targ et al. 2016, figure 1)."""
    widths = [width, 2 * width, 4 * width]
    blocks = [2, 3, 3]
    # Stem: a 3x3 conv (no bias) + BatchNorm (4 numbers per channel) per stream.
    total = 2 * (9 * 3 * width // 2 + 4 * width // 2)
    channels = width
    for stage, (filters, count) in enumerate(zip(widths, blocks, strict=True)):
        for block in range(count):
            for layer in range(2):
                # Four 3x3 convs of (c_in / 2) x (c_out / 2) = one 3x3 conv c_in -> c_out,
                # and BatchNorm on both streams.
                total += 9 * channels * filters + 4 * filters
                if stage > 0 and block == 0 and layer == 0:
                    total += (channels // 2) * (filters // 2)  # inner 1x1 projection on r
                channels = filters
            if stage > 0 and block == 0:
                total += (widths[stage - 1] // 2) * (filters // 2) + 4 * filters // 2  # outer
    return total + channels * classes + classes


def test_param_count_is_the_arithmetic_of_the_layer_sizes():
    # 9,458,208 conv + 46,080 projection + 16,896 BatchNorm + 3,850 classifier weights.
    assert _expected_params(96, 10) == zoo.model_info("cifar_rir18").params == 9_525_034
    model = zoo.cifar_rir18(width=16, classes=100, input_shape=(8, 8, 3))
    assert model.count_params() == _expected_params(16, 100)
    shapes = {
        name: model.get_layer(name).output.shape
        for name in ("stem_r_relu", "stem_t_relu", "stage2_block1_g1_r_relu", "stage3_out")
    }
    assert shapes == {
        "stem_r_relu": (None, 8, 8, 8),
        "stem_t_relu": (None, 8, 8, 8),
        "stage2_block1_g1_r_relu": (None, 4, 4, 16),
        "stage3_out": (None, 2, 2, 64),
    }
