import colorsys
import functools
import json

import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from transfer.augment import (
    IMAGENET_EIGENVALUES,
    IMAGENET_EIGENVECTORS,
    PRESETS,
    HSVJitter,
    PCALighting,
    ScaleJitter,
    augmentation,
    rotation_and_scale,
)


@pytest.fixture(scope="module")
def astronaut():
    """A real RGB photograph, shrunk: (2, 16, 16, 3) float32 in [0, 255]."""
    image = skimage.data.astronaut()[::16, ::16].astype("float32")
    return np.stack([image[:16, :16], image[16:, 16:]])


def _layers():
    return {
        "scale_jitter": lambda seed: ScaleJitter(crop_size=12, scale_range=(12, 20), seed=seed),
        "hsv": lambda seed: HSVJitter(seed=seed),
        "pca": lambda seed: PCALighting(seed=seed),
        **{
            f"preset_{name}": functools.partial(
                lambda seed, name: augmentation(name, seed=seed), name=name
            )
            for name in PRESETS
        },
    }


SHAPE_PRESERVING = [name for name in _layers() if name != "scale_jitter"]


@pytest.mark.parametrize("name", SHAPE_PRESERVING)
def test_shape_preserved_batched_and_single(name, astronaut):
    layer = _layers()[name](0)
    assert tuple(layer(astronaut).shape) == astronaut.shape
    if not name.startswith("preset"):
        assert tuple(layer(astronaut[0]).shape) == astronaut.shape[1:]


@pytest.mark.parametrize("name", list(_layers()))
def test_deterministic_under_a_seed(name, astronaut):
    first, second, other = (_layers()[name](seed) for seed in (7, 7, 8))
    for _ in range(2):  # also the second draw of each generator
        a, b, c = (np.asarray(layer(astronaut, training=True)) for layer in (first, second, other))
        np.testing.assert_array_equal(a, b)
    if name != "preset_none":
        assert not np.allclose(a, c)
        assert a.shape != astronaut.shape or not np.allclose(a, astronaut)


@pytest.mark.parametrize("name", SHAPE_PRESERVING)
def test_identity_at_inference(name, astronaut):
    out = _layers()[name](0)(astronaut, training=False)
    np.testing.assert_array_equal(np.asarray(out), astronaut)


def test_scale_jitter_inference_is_resize_then_centre_crop():
    layer = ScaleJitter(crop_size=(8, 10), scale_range=(12, 20), eval_size=12)
    # 32 x 24: the width is the shorter side, halved to 12
    image = skimage.data.astronaut()[None, ::16, ::16][:, :, :24].astype("float32")
    reference = keras.ops.image.resize(image, (16, 12), antialias=True)[:, 4:12, 1:11]
    np.testing.assert_allclose(layer(image, training=False), reference, atol=1e-2)
    assert ScaleJitter().eval_size == 256  # 256 -> 224, the usual single crop


def test_scale_jitter_training_is_a_crop_of_the_rescaled_image(astronaut):
    layer = ScaleJitter(crop_size=8, scale_range=(12, 12), seed=3)
    rescaled = np.asarray(keras.ops.image.resize(astronaut, (12, 12), antialias=True))
    windows = {
        (top, left): rescaled[:, top : top + 8, left : left + 8]
        for top in range(5)
        for left in range(5)
    }
    seen = set()
    for _ in range(12):
        out = np.asarray(layer(astronaut))
        match = [key for key, w in windows.items() if np.allclose(out, w, atol=1e-2)]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) > 3  # the position is random


def test_scale_jitter_draws_the_scale_in_range():
    # A 1-pixel-wide ramp: the crop's step between columns is 1/ratio = min side / S.
    ramp = np.tile(np.arange(40, dtype="float32")[None, :, None], (40, 1, 3))[None]
    layer = ScaleJitter(crop_size=8, scale_range=(40, 80), seed=0)
    steps = {round(40 / float(np.diff(layer(ramp)[0, 4, 2:6, 0]).mean())) for _ in range(20)}
    assert min(steps) >= 40 and max(steps) <= 80 and len(steps) > 5


def test_scale_jitter_in_tf_data_with_images_of_varying_size():
    rng = np.random.default_rng(0)
    sizes = [(20, 30), (33, 17), (16, 16)]

    def images():
        for height, width in sizes:
            yield rng.uniform(0, 255, (height, width, 3)).astype("float32")

    spec = tf.TensorSpec((None, None, 3), tf.float32)
    dataset = tf.data.Dataset.from_generator(images, output_signature=spec)
    dataset = dataset.map(ScaleJitter(crop_size=12, scale_range=(16, 24), seed=1)).batch(3)
    (batch,) = list(dataset)
    assert batch.shape == (3, 12, 12, 3)


def test_layers_and_presets_work_in_tf_data_map(astronaut):
    dataset = tf.data.Dataset.from_tensor_slices(astronaut)
    dataset = dataset.map(HSVJitter(seed=0)).map(PCALighting(seed=0)).batch(2)
    dataset = dataset.map(augmentation("heavy", seed=0))
    (batch,) = list(dataset)
    assert batch.shape == astronaut.shape
    assert not np.allclose(batch, astronaut)  # augmented: map calls with training=True


def _hsv_reference(image, *, power, scale, shift, hue):
    out = np.empty_like(image)
    for index in np.ndindex(image.shape[:-1]):
        h, s, v = colorsys.rgb_to_hsv(*(image[index] / 255.0))
        s, v = (min(max(c**power * scale + shift, 0.0), 1.0) for c in (s, v))
        out[index] = np.asarray(colorsys.hsv_to_rgb((h + hue) % 1.0, s, v)) * 255.0
    return out


@pytest.mark.parametrize(
    ("power", "scale", "shift", "hue"), [(2.0, 1.1, -0.05, 0.07), (0.25, 0.7, 0.1, -0.1)]
)
def test_hsv_jitter_matches_colorsys(astronaut, power, scale, shift, hue):
    layer = HSVJitter(
        power_range=(power, power),
        scale_range=(scale, scale),
        shift_range=(shift, shift),
        hue_range=(hue, hue),
    )
    expected = _hsv_reference(astronaut, power=power, scale=scale, shift=shift, hue=hue)
    np.testing.assert_allclose(layer(astronaut), expected, atol=0.05)
    # On [0, 1] images the same layer does the same thing.
    unit = HSVJitter.from_config({**layer.get_config(), "value_range": (0, 1)})
    np.testing.assert_allclose(unit(astronaut / 255.0), expected / 255.0, atol=2e-4)


def test_hsv_jitter_random_draws_stay_in_the_papers_ranges():
    # A pure mid-grey-free colour: one pixel per image, S = V = 0.5, hue 0.3.
    rgb = np.asarray(colorsys.hsv_to_rgb(0.3, 0.5, 0.5), "float32")
    images = np.tile(rgb, (500, 1, 1, 1))
    out = np.asarray(HSVJitter(value_range=(0, 1), seed=0)(images)).reshape(-1, 3)
    hsv = np.asarray([colorsys.rgb_to_hsv(*pixel) for pixel in out])
    # 0.5 ** [0.25, 4] * [0.7, 1.4] + [-0.1, 0.1], clipped
    low, high = 0.5**4 * 0.7 - 0.1, min(0.5**0.25 * 1.4 + 0.1, 1.0)
    for channel in (1, 2):
        assert low - 1e-5 <= hsv[:, channel].min() and hsv[:, channel].max() <= high + 1e-5
        assert hsv[:, channel].max() - hsv[:, channel].min() > 0.6  # spread over the range
    saturated = hsv[:, 1] > 0.05
    hue_shift = hsv[saturated, 0] - 0.3
    assert np.all(np.abs(hue_shift) <= 0.1 + 1e-4)
    assert hue_shift.min() < -0.08 and hue_shift.max() > 0.08


def test_pca_lighting_adds_eigvecs_times_alpha_times_eigvals(astronaut):
    layer = PCALighting(stddev=0.1, seed=5)
    out = np.asarray(layer(astronaut), np.float64)
    # The layer's first draw, replayed from a generator with the same seed.
    alpha = np.asarray(keras.random.normal((2, 3), stddev=0.1, seed=keras.random.SeedGenerator(5)))
    vectors, values = np.asarray(IMAGENET_EIGENVECTORS), np.asarray(IMAGENET_EIGENVALUES)
    offset = 255.0 * (alpha * values) @ vectors.T  # row i: eigvecs @ (alpha_i * eigvals)
    np.testing.assert_allclose(
        out - astronaut, np.broadcast_to(offset[:, None, None], out.shape), atol=1e-3
    )


def test_pca_lighting_alpha_has_the_stated_spread():
    images = np.zeros((4000, 1, 1, 3), "float32")
    offset = np.asarray(PCALighting(stddev=0.1, value_range=(0, 1), seed=0)(images))
    vectors, values = np.asarray(IMAGENET_EIGENVECTORS), np.asarray(IMAGENET_EIGENVALUES)
    alpha = (offset.reshape(-1, 3) @ vectors) / values  # eigenvectors are orthonormal
    np.testing.assert_allclose(alpha.std(axis=0), 0.1, rtol=0.06)
    np.testing.assert_allclose(alpha.mean(axis=0), 0.0, atol=0.01)


def test_pca_lighting_from_images_fits_the_pixel_covariance(astronaut):
    rng = np.random.default_rng(0)
    mixing = np.asarray([[1.0, 0.8, 0.6], [0.0, 0.5, 0.2], [0.0, 0.0, 0.1]])
    pixels = 128 + 40 * rng.standard_normal((5000, 3)) @ mixing
    images = pixels.reshape(50, 10, 10, 3)
    layer = PCALighting.from_images(images, stddev=0.2, seed=1)
    values, vectors = np.asarray(layer.eigenvalues), np.asarray(layer.eigenvectors)
    covariance = np.cov((pixels / 255.0).T)
    np.testing.assert_allclose(vectors @ np.diag(values) @ vectors.T, covariance, atol=1e-10)
    assert list(values) == sorted(values, reverse=True) and layer.stddev == 0.2
    # Streaming over a tf.data dataset of (images, labels) batches gives the same fit.
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(50))).batch(7)
    streamed = PCALighting.from_images(dataset)
    np.testing.assert_allclose(streamed.eigenvalues, values, rtol=1e-5)
    # On a real photograph the first component is the brightness: all channels, one sign.
    first = np.asarray(PCALighting.from_images(astronaut).eigenvectors)[:, 0]
    assert np.all(first > 0) or np.all(first < 0)


def test_presets_contents_and_none_is_identity_in_training(astronaut):
    def kinds(model):
        return {
            type(sub).__name__
            for layer in model.layers
            for sub in getattr(layer, "layers", [layer])
        }

    assert kinds(augmentation("light")) == {"RandomFlip", "RandomTranslation"}
    assert {"RandomRotation", "RandomZoom", "RandomColorJitter", "PCALighting"} <= kinds(
        augmentation("standard")
    )
    assert {"RandAugment", "HSVJitter", "PCALighting", "RandomGrayscale"} <= kinds(
        augmentation("heavy")
    )
    np.testing.assert_array_equal(augmentation("none")(astronaut, training=True), astronaut)
    assert augmentation("light", image_size=(16, 20)).output_shape == (None, 16, 20, 3)


def test_rotation_and_scale_composes_core_layers(astronaut):
    block = rotation_and_scale(rotation=0.1, scale=0.2, seed=0)
    assert [type(layer).__name__ for layer in block.layers] == ["RandomRotation", "RandomZoom"]
    assert block.layers[1].height_factor == (-0.2, 0.2) and block.layers[1].seed == 1
    out = block(astronaut, training=True)
    assert out.shape == astronaut.shape and not np.allclose(out, astronaut)


def _tiny_model(images):
    inputs = keras.Input((16, 16, 3))
    x = ScaleJitter(crop_size=12, scale_range=(12, 20), seed=0)(inputs)
    x = augmentation("heavy", seed=1)(x)
    x = PCALighting.from_images(images, stddev=0.05, seed=2)(x)
    x = keras.layers.Rescaling(1 / 255)(x)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def _as_json(config):
    return json.loads(json.dumps(config))


def test_keras_round_trip_with_safe_mode(tmp_path, astronaut):
    model = _tiny_model(astronaut)
    path = tmp_path / "tiny.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(astronaut, verbose=0), model.predict(astronaut, verbose=0), atol=1e-5
    )
    for original, restored in zip(model.layers, loaded.layers, strict=True):
        assert type(original) is type(restored)
        # JSON turns Keras' own tuples into lists; compare what the file holds.
        assert _as_json(original.get_config()) == _as_json(restored.get_config())


def test_one_fit_step_inside_a_model_and_in_the_dataset(astronaut):
    model = _tiny_model(astronaut)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    dataset = tf.data.Dataset.from_tensor_slices((astronaut, np.asarray([0, 1])))
    augment = augmentation("standard", seed=0)
    dataset = dataset.batch(2).map(lambda x, y: (augment(x), y))
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: augmentation("medium"), "preset='medium'"),
        (lambda: ScaleJitter(crop_size=224, scale_range=(200, 512)), "scale_range"),
        (lambda: ScaleJitter(crop_size=8, scale_range=(8, 9), eval_size=4), "eval_size=4"),
        (lambda: ScaleJitter(interpolation="nearest"), "interpolation='nearest'"),
        (lambda: ScaleJitter(interpolation="linear"), "interpolation='linear'"),  # one spelling
        (lambda: ScaleJitter(crop_size=(8, 8, 8)), r"crop_size=\(8, 8, 8\)"),
        (lambda: HSVJitter(power_range=(4, 0.25)), "power_range"),
        (lambda: PCALighting(eigenvalues=(1.0, 2.0)), r"\(2,\)"),
        (lambda: PCALighting(value_range=(1, 1)), "value_range"),
        (lambda: PCALighting.from_images(np.zeros((2, 2, 4))), "RGB"),
    ],
)
def test_bad_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match=r"crop_size=8\.0"):
        ScaleJitter(crop_size=8.0)
    with pytest.raises(TypeError, match="image_size='32'"):
        augmentation("light", image_size="32")


def test_scale_jitter_takes_the_zoo_spelling_of_its_kernels():
    images = np.random.default_rng(0).uniform(0, 255, (1, 20, 20, 3)).astype("float32")
    bilinear = ScaleJitter(crop_size=8, scale_range=(10, 10), interpolation="bilinear")
    bicubic = ScaleJitter(crop_size=8, scale_range=(10, 10), interpolation="bicubic")
    assert bilinear.get_config()["interpolation"] == "bilinear"
    assert not np.allclose(bilinear(images, training=False), bicubic(images, training=False))
