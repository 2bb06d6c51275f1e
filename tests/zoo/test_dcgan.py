import math

import keras
import numpy as np
import pytest

import zoo
from zoo.layers import AdaptiveMaxPooling2D

BLOCKS = [f"block{block}_lrelu" for block in (1, 2, 3, 4)]


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _grid_max(activation, grid):
    """NumPy reference: max over torch's adaptive bins, flattened in (row, column, channel)."""
    batch, height, width, channels = activation.shape
    pooled = np.empty((batch, grid, grid, channels), activation.dtype)
    for i in range(grid):
        rows = slice(i * height // grid, math.ceil((i + 1) * height / grid))
        for j in range(grid):
            cols = slice(j * width // grid, math.ceil((j + 1) * width / grid))
            pooled[:, i, j] = activation[:, rows, cols].max(axis=(1, 2))
    return pooled.reshape(batch, -1)


# --- generator -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_size", "filters", "trainable", "total"),
    [
        # PyTorch DCGAN example netG at 64x64 (nz=100, ngf=64): kernels 100*16*512 +
        # 16*(512*256 + 256*128 + 128*64 + 64*3) = 3_574_784, BatchNorm gamma/beta
        # 2*(512 + 256 + 128 + 64) = 1_920, moving statistics another 1_920.
        (64, 64, 3_576_704, 3_578_624),
        # 32x32: 4x4x256 projection, 100*16*256 + 16*(256*128 + 128*64 + 64*3) = 1_068_032,
        # BatchNorm 2*(256 + 128 + 64) = 896 (+ 896 moving statistics).
        (32, 64, 1_068_928, 1_069_824),
    ],
)
def test_generator_parameter_counts_by_hand(image_size, filters, trainable, total):
    generator = zoo.dcgan_generator(image_size=image_size, filters=filters)
    assert _trainable(generator) == trainable
    assert generator.count_params() == total


@pytest.mark.parametrize("image_size", [32, 64])
def test_generator_output_shape_and_tanh_range(image_size):
    generator = zoo.dcgan_generator(latent_dim=16, image_size=image_size, channels=3, filters=8)
    assert generator.input_shape == (None, 16)
    assert generator.output_shape == (None, image_size, image_size, 3)
    width = 8 * image_size // 8  # filters * image_size / 8
    assert generator.get_layer("project_reshape").output.shape == (None, 4, 4, width)
    z = np.random.default_rng(0).normal(0, 30, (4, 16)).astype("float32")
    last = f"deconv{int(math.log2(image_size)) - 2}"
    pre = keras.Model(generator.input, generator.get_layer(last).output)
    images = np.asarray(generator(z))
    np.testing.assert_allclose(images, np.tanh(np.asarray(pre(z))), rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(images) <= 1.0)
    # Large kernels saturate the tanh: outputs reach both ends of [-1, 1].
    kernel = generator.get_layer(last).kernel
    kernel.assign(kernel * 1000.0)
    saturated = np.asarray(generator(z))
    assert saturated.min() < -0.99 and saturated.max() > 0.99
    assert np.all(np.abs(saturated) <= 1.0)


def test_generator_layers_and_name():
    generator = zoo.dcgan_generator(image_size=8, channels=1, filters=4, name="g")
    assert generator.name == "g"
    assert zoo.dcgan_generator(image_size=8, filters=4).name == "dcgan_generator"
    conv = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [(layer.name, layer.filters, layer.strides) for layer in conv] == [
        ("deconv1", 1, (2, 2))
    ]
    assert all(not getattr(layer, "use_bias", False) for layer in generator.layers)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"image_size": 48}, "image_size=48 must be a power of two"),
        ({"image_size": 4}, "image_size=4 must be a power of two, at least 8"),
        ({"image_size": 64.0}, "image_size=64.0 must be a positive int"),
        ({"latent_dim": 0}, "latent_dim=0 must be a positive int"),
        ({"channels": True}, "channels=True must be a positive int"),
        ({"filters": -1}, "filters=-1 must be a positive int"),
        ({"name": ""}, "name='' must be a non-empty string"),
    ],
)
def test_generator_rejects_bad_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        zoo.dcgan_generator(**options)


def test_generator_is_keyword_only():
    with pytest.raises(TypeError):
        zoo.dcgan_generator(100)


# --- initialisation --------------------------------------------------------------------------


def test_initialisation_follows_the_paper():
    keras.utils.set_random_seed(0)
    discriminator = zoo.dcgan_discriminator()
    generator = zoo.dcgan_generator()
    for model in (discriminator, generator):
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                gamma, beta = np.asarray(layer.gamma), np.asarray(layer.beta)
                assert abs(gamma.mean() - 1.0) < 0.01, layer.name
                assert 0.014 < gamma.std() < 0.026, layer.name
                np.testing.assert_array_equal(beta, 0.0)
            elif hasattr(layer, "kernel"):
                kernel = np.asarray(layer.kernel)
                # N(0, 0.02); the smallest kernel (3 * 4 * 4 * 64 = 3,072 values) is within 5%.
                assert abs(kernel.mean()) < 0.002, layer.name
                assert abs(kernel.std() - 0.02) < 0.001, (layer.name, kernel.std())
    # Each layer draws its own values.
    a, b = (np.asarray(generator.get_layer(n).kernel) for n in ("deconv2", "deconv3"))
    assert not np.allclose(a.ravel()[:100], b.ravel()[:100])


# --- discriminator ---------------------------------------------------------------------------


def test_discriminator_layout():
    model = zoo.dcgan_discriminator()
    assert model.output_shape == (None, 1)
    assert model.get_layer("predictions").activation is keras.activations.sigmoid
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.strides, c.use_bias) for c in convs] == [
        (64 * 2**i, (4, 4), (2, 2), False) for i in range(4)
    ]
    names = {layer.name for layer in model.layers}
    assert "block1_bn" not in names and {"block2_bn", "block3_bn", "block4_bn"} <= names
    assert not model.get_layer("predictions").use_bias
    assert model.get_layer("block4_lrelu").negative_slope == pytest.approx(0.2)
    backbone = zoo.dcgan_discriminator(include_top=False)
    assert backbone.compute_output_shape((None, 64, 64, 3)) == (None, 4, 4, 512)


def test_discriminator_without_batch_norm_has_conv_biases():
    model = zoo.dcgan_discriminator(batch_norm=False, filters=8, input_shape=(32, 32, 3))
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(conv.use_bias for conv in convs)
    # 4*4*(3*8 + 8*16 + 16*32 + 32*64) + (8 + 16 + 32 + 64) biases + 2*2*64 top weights.
    assert model.count_params() == 16 * 2712 + 120 + 256


@pytest.mark.parametrize(
    ("options", "message"),
    [({"filters": 0}, "filters=0 must be a positive int"), ({"batch_norm": 1}, "batch_norm=1")],
)
def test_discriminator_rejects_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        zoo.dcgan_discriminator(**options)


# --- section 5.1 features --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "size", "grid", "expected"),
    [
        (64, 64, 4, 15_360),  # 4*4*(64 + 128 + 256 + 512)
        (32, 32, 4, 7_680),  # 4*4*(32 + 64 + 128 + 256)
        (128, 32, 4, 30_720),  # 4*4*(128 + 256 + 512 + 1024)
        (8, 64, 2, 480),  # 2*2*(8 + 16 + 32 + 64)
    ],
)
def test_feature_dimension(filters, size, grid, expected):
    # The paper's 28,672 = 4*4*(128 + 128 + 256 + 256 + 512 + 512): the six convolutions of the
    # authors' 32x32 ImageNet-1k discriminator (Newmu/dcgan_code), not this four-block layout.
    discriminator = zoo.dcgan_discriminator(filters=filters, input_shape=(size, size, 3))
    features = zoo.discriminator_features(discriminator, grid=grid)
    assert features.output_shape == (None, expected) == (None, grid * grid * 15 * filters)
    assert features.name == f"{discriminator.name}_features"


@pytest.mark.parametrize(("size", "grid"), [(40, 4), (64, 4), (24, 3), (16, 4)])
def test_each_part_is_the_max_over_the_bins_of_its_block(size, grid):
    # 40x40 gives blocks of 20, 10, 5 and 3 pixels (3 < 4: bins repeat cells); 16x16 ends at 1x1.
    keras.utils.set_random_seed(1)
    discriminator = zoo.dcgan_discriminator(include_top=False, filters=8)
    features = zoo.discriminator_features(discriminator, grid=grid, name="f")
    assert features.name == "f"
    blocks = keras.Model(discriminator.input, [discriminator.get_layer(n).output for n in BLOCKS])
    images = np.random.default_rng(0).uniform(-1, 1, (3, size, size, 3)).astype("float32")
    activations = [np.asarray(a) for a in blocks(images)]
    expected = np.concatenate([_grid_max(a, grid) for a in activations], axis=1)
    assert [a.shape[1] for a in activations] == [-(-size // 2**b) for b in (1, 2, 3, 4)]
    np.testing.assert_allclose(features.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_features_share_the_discriminator_weights():
    discriminator = zoo.dcgan_discriminator(filters=8)
    features = zoo.discriminator_features(discriminator)
    assert features.get_layer("block2_conv") is discriminator.get_layer("block2_conv")
    images = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    before = features.predict(images, verbose=0)
    kernel = discriminator.get_layer("block1_conv").kernel
    kernel.assign(kernel * 2.0)
    assert not np.allclose(features.predict(images, verbose=0), before)


def test_feature_model_keras_round_trip_in_safe_mode(tmp_path):
    discriminator = zoo.dcgan_discriminator(include_top=False, filters=8)
    features = zoo.discriminator_features(discriminator, grid=3)
    path = tmp_path / "features.keras"
    features.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("block1_grid_pool"), AdaptiveMaxPooling2D)
    assert loaded.get_layer("block1_grid_pool").output_size == (3, 3)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 37, 45, 3)).astype("float32")
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), features.predict(images, verbose=0)
    )


def test_features_reject_other_models():
    with pytest.raises(ValueError, match=r"'lenet5' has no 'block1_lrelu' layer.*dcgan_disc"):
        zoo.discriminator_features(zoo.lenet5())
    with pytest.raises(TypeError, match=r"must be a keras\.Model"):
        zoo.discriminator_features("dcgan_discriminator")
    discriminator = zoo.dcgan_discriminator(filters=4, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="grid=0 must be a positive int"):
        zoo.discriminator_features(discriminator, grid=0)
    with pytest.raises(ValueError, match="name=''"):
        zoo.discriminator_features(discriminator, name="")


# --- a tiny GAN on real data (slow) ----------------------------------------------------------


@pytest.mark.slow
def test_tiny_gan_on_digits_trains_and_its_features_beat_raw_pixels():
    # Measured with seeds 0-2 (200 Adam steps of batch 64, lr 1e-3, 200 labelled digits):
    # mean discriminator loss over the last 50 steps 0.85 / 0.93 / 0.97 (a balanced game: the
    # equilibrium is ln 4 = 1.39, a winning discriminator goes to 0); features + logistic
    # regression 0.942 / 0.963 / 0.943 against raw pixels 0.915 / 0.937 / 0.911. Features of an
    # untrained discriminator score about the same (0.940 / 0.965 / 0.931): at this scale the test
    # shows a working GAN and feature extractor, not a gain from adversarial training.
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    seed, steps, batch, latent = 0, 200, 64, 32
    keras.utils.set_random_seed(seed)
    digits = load_digits()
    images = tf.image.resize(digits.images[..., None] / 16.0, (32, 32)).numpy() * 2.0 - 1.0
    images = images.astype("float32")

    discriminator = zoo.dcgan_discriminator(
        input_shape=(32, 32, 1), filters=16, classifier_activation=None
    )
    generator = zoo.dcgan_generator(latent_dim=latent, image_size=32, channels=1, filters=16)
    # The paper's lr 2e-4 needs thousands of steps; at 1e-3 the generator keeps up in 200.
    d_optimizer = keras.optimizers.Adam(1e-3, beta_1=0.5)
    g_optimizer = keras.optimizers.Adam(1e-3, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def train_step(real, z):
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = generator(z, training=True)
            real_logits = discriminator(real, training=True)
            fake_logits = discriminator(fake, training=True)
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(
                tf.zeros_like(fake_logits), fake_logits
            )
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        d_weights, g_weights = discriminator.trainable_weights, generator.trainable_weights
        d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_weights), d_weights, strict=True))
        g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_weights), g_weights, strict=True))
        return d_loss, g_loss

    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        real = images[rng.integers(0, len(images), batch)]
        z = rng.normal(size=(batch, latent)).astype("float32")
        losses.append([float(loss) for loss in train_step(real, z)])
    losses = np.asarray(losses)
    assert np.all(np.isfinite(losses))
    assert 0.3 < losses[-50:, 0].mean() < 1.6, losses[-50:].mean(axis=0)

    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, train_size=200, stratify=digits.target, random_state=seed
    )

    def probe_accuracy(train, test):
        classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        return classifier.fit(train, y_train).score(test, y_test)

    extractor = zoo.discriminator_features(discriminator)
    assert extractor.output_shape == (None, 16 * (16 + 32 + 64 + 128))
    features = probe_accuracy(
        extractor.predict(x_train, verbose=0), extractor.predict(x_test, verbose=0)
    )
    raw = probe_accuracy(x_train.reshape(200, -1), x_test.reshape(len(x_test), -1))
    assert features > 0.9  # chance: 0.1
    assert features > raw + 0.015, (features, raw)  # measured margin 0.026-0.032
