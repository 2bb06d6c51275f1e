import keras
import numpy as np
import pytest

import zoo
from zoo.context import CONTEXT_RECEPTIVE_FIELDS, ContextModule, GroupedIdentity


def _features(shape, seed=0, non_negative=True):
    x = np.random.default_rng(seed).normal(size=shape).astype("float32")
    return np.maximum(x, 0) if non_negative else x


@pytest.mark.parametrize("variant", ["basic", "large"])
@pytest.mark.parametrize("shape", [(9, 9, 3), (5, 12, 2), (None, None, 4)])
def test_output_shape_equals_input_shape(variant, shape):
    inputs = keras.Input(shape)
    model = keras.Model(inputs, ContextModule(variant)(inputs))
    assert model.output_shape == (None, *shape)
    concrete = tuple(s or 7 for s in shape)
    assert np.asarray(model(_features((2, *concrete)))).shape == (2, *concrete)


def test_basic_module_at_identity_init_returns_its_input_exactly():
    x = _features((2, 17, 13, 21))  # non-negative, as a backbone's ReLU output is
    module = ContextModule()
    np.testing.assert_array_equal(np.asarray(module(x)), x)
    # Layers 1-7 truncate (table 1), layer 8 does not: a signed input comes out as max(x, 0).
    signed = _features((1, 6, 6, 21), seed=1, non_negative=False)
    np.testing.assert_array_equal(np.asarray(module(signed)), np.maximum(signed, 0))
    assert [conv.activation.__name__ for conv in module.convs] == ["relu"] * 7 + ["linear"]
    # Equation 4: every kernel is the identity at the centre tap, every bias zero.
    for conv in module.convs:
        kernel, bias = (np.asarray(w) for w in conv.weights)
        expected = np.zeros_like(kernel)
        expected[kernel.shape[0] // 2, kernel.shape[1] // 2] = np.eye(21)
        np.testing.assert_array_equal(kernel, expected)
        np.testing.assert_array_equal(bias, 0.0)


def test_large_module_at_identity_init_passes_its_input_through():
    x = _features((2, 9, 9, 3))
    exact = ContextModule("large", noise_stddev=0.0)
    np.testing.assert_allclose(np.asarray(exact(x)), x, rtol=1e-5, atol=1e-6)
    assert [conv.filters for conv in exact.convs] == [6, 6, 12, 24, 48, 96, 96, 3]
    # The default noise (sigma << C / c_{i+1}) breaks the symmetry without losing the input.
    noisy = np.asarray(ContextModule("large", seed=3)(x))
    assert not np.array_equal(noisy, np.asarray(exact(x)))
    assert np.linalg.norm(noisy - x) < 0.2 * np.linalg.norm(x)


def test_grouped_identity_is_equation_5():
    # C = 2 groups, 4 -> 6 channels: input a is in group a * 2 // 4, output b in b * 2 // 6.
    kernel = np.asarray(GroupedIdentity(2)((3, 3, 4, 6)))
    expected = np.zeros((3, 3, 4, 6), "float32")
    for a in range(4):
        for b in range(6):
            if a * 2 // 4 == b * 2 // 6:
                expected[1, 1, a, b] = 2 / 6
    np.testing.assert_allclose(kernel, expected, rtol=1e-7)
    noisy = np.asarray(GroupedIdentity(2, stddev=0.01, seed=5)((3, 3, 4, 6)))
    mask = expected != 0
    np.testing.assert_allclose(noisy[mask], expected[mask], rtol=1e-7)  # exactly C / c_{i+1}
    assert 0.005 < np.std(noisy[~mask]) < 0.02  # epsilon ~ N(0, sigma^2) elsewhere
    restored = keras.initializers.deserialize(keras.initializers.serialize(GroupedIdentity(2)))
    assert type(restored) is GroupedIdentity and restored.get_config() == {
        "groups": 2,
        "stddev": 0.0,
        "seed": None,
    }
    with pytest.raises(ValueError, match="must divide"):
        GroupedIdentity(4)((3, 3, 4, 6))


def test_parameter_counts_from_the_paper():
    inputs = keras.Input((None, None, 21))  # C = 21, the Pascal VOC setup of section 5
    basic = keras.Model(inputs, ContextModule()(inputs))
    # Section 3: "64 C^2" weights (7 layers of 3*3*C*C, one of 1*1*C*C) + 8 C biases.
    assert basic.count_params() == 64 * 21**2 + 8 * 21 == 28_392
    large = keras.Model(inputs, ContextModule("large")(inputs))
    # Table 1 widths 2C 2C 4C 8C 16C 32C 32C C: 9 * (1*2 + 2*2 + 2*4 + 4*8 + 8*16 + 16*32
    # + 32*32) C^2 + 32 C^2 weights + (2+2+4+8+16+32+32+1) C biases.
    weights = (9 * (2 + 4 + 8 + 32 + 128 + 512 + 1024) + 32) * 21**2
    assert large.count_params() == weights + 97 * 21 == 6_803_139


def test_receptive_field_grows_as_table_1_says():
    module = ContextModule()
    size = 81
    impulse = np.zeros((1, size, size, 1), "float32")
    impulse[0, size // 2, size // 2, 0] = 1.0
    module.build(impulse.shape)
    rng = np.random.default_rng(0)
    for conv in module.convs:  # positive weights: nothing cancels, ReLU never clips
        kernel, bias = conv.get_weights()
        conv.set_weights([rng.uniform(0.1, 1.0, kernel.shape).astype("float32"), bias])
    x = impulse
    supports = []
    for conv in module.convs:
        x = np.asarray(conv(x))
        rows, cols = np.nonzero(x[0, ..., 0])
        supports.append((rows.max() - rows.min() + 1, cols.max() - cols.min() + 1))
    assert supports == [(rf, rf) for rf in CONTEXT_RECEPTIVE_FIELDS]
    np.testing.assert_array_equal(np.asarray(module(impulse)), x)
    assert supports[-1] == (67, 67)


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    inputs = keras.Input((None, None, 4))
    layer = ContextModule("large", noise_stddev=0.01, seed=2, name="context")
    model = keras.Model(inputs, layer(inputs))
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") for w in model.weights])
    path = tmp_path / "context.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    restored = loaded.get_layer("context")
    assert type(restored) is ContextModule
    assert restored.get_config() == layer.get_config()
    assert layer.get_config()["variant"] == "large" and layer.get_config()["seed"] == 2
    x = _features((2, 10, 11, 4), seed=4, non_negative=False)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    assert len(restored.weights) == 16


def test_on_a_zoo_backbone_and_trainable_with_fit():
    backbone = zoo.cifar_resnet20(include_top=False, input_shape=(32, 32, 3))
    context = ContextModule(name="context")
    scores = keras.layers.Conv2D(5, 1, activation="relu", name="scores")(backbone.output)
    refined = context(scores)
    model = keras.Model(backbone.input, refined)
    assert model.output_shape == (*backbone.output_shape[:3], 5)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 5, (4, 8, 8))
    before = [np.asarray(w).copy() for w in context.weights]
    history = model.fit(images, labels, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [
        not np.array_equal(b, np.asarray(w)) for b, w in zip(before, context.weights, strict=True)
    ]
    assert any(changed)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"variant": "huge"}, "variant='huge' must be one of"),
        ({"noise_stddev": -1.0}, "noise_stddev=-1.0 must be a finite number >= 0"),
        ({"seed": 1.5}, "seed=1.5 must be an int or None"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContextModule(**kwargs)


def test_needs_known_channels():
    with pytest.raises(ValueError, match="known channels"):
        ContextModule().build((None, 8, 8, None))
    assert zoo.ContextModule is ContextModule
