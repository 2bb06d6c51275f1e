"""DCGAN: the discriminator, the generator and the discriminator's features for classification.

Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016, arXiv:1511.06434.

The layer sizes follow the PyTorch DCGAN example (pytorch/examples, ``dcgan/main.py``): 4x4
kernels with stride 2 and one pixel of padding -- what Keras' ``"same"`` padding gives at even
sizes -- and no biases, batch normalization following every convolution but the
discriminator's first and the generator's last (the authors' Theano code, Newmu/dcgan_code, has no
biases either, with 5x5 kernels and two pixels of padding). Every convolution and dense kernel
starts as N(0, 0.02) (paper, section 4) and every BatchNorm scale as N(1, 0.02) with a zero
offset, as in both reference implementations.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.layers import AdaptiveMaxPooling2D

__all__ = [
    "dcgan_discriminator",
    "dcgan_generator",
    "discriminator_features",
]

_KERNEL = 4
_LEAK = 0.2  # slope of the discriminator's LeakyReLU (paper, section 4)
# torch.nn.BatchNorm2d's defaults (epsilon 1e-5, momentum 0.1 = Keras momentum 0.9).
_BN = {"epsilon": 1e-5, "momentum": 0.9}
_WIDTH_FACTORS = (1, 2, 4, 8)  # widths of the discriminator's blocks, times `filters`


def _kernel_init() -> keras.initializers.Initializer:
    # A fresh initializer for each layer: one instance shared with a fixed seed would repeat.
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _batch_norm(name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(
        gamma_initializer=keras.initializers.RandomNormal(mean=1.0, stddev=0.02),
        name=name,
        **_BN,
    )


def _check_positive(**values: Any) -> None:
    for argument, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{argument}={value!r} must be a positive int")


def _discriminator_features(filters: int, batch_norm: bool) -> Any:
    def features(x: Any) -> Any:
        for block, factor in enumerate(_WIDTH_FACTORS, start=1):
            x = keras.layers.Conv2D(
                factor * filters,
                _KERNEL,
                strides=2,
                padding="same",
                use_bias=not batch_norm,
                kernel_initializer=_kernel_init(),
                name=f"block{block}_conv",
            )(x)
            if batch_norm and block > 1:  # no BatchNorm on the input layer (section 3)
                x = _batch_norm(f"block{block}_bn")(x)
            x = keras.layers.LeakyReLU(negative_slope=_LEAK, name=f"block{block}_lrelu")(x)
        return x

    return features


def _real_fake_top(x: Any, *, classes: int, classifier_activation: Any) -> Any:
    # The references have no bias on this unit: Newmu's ``T.dot(h4, wy)``, PyTorch's final
    # bias-free 4x4 convolution over the 4x4 map (equal to flatten + dense).
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.layers.Dense(
        classes,
        activation=classifier_activation,
        use_bias=False,
        kernel_initializer=_kernel_init(),
        name="predictions",
    )(x)


@zoo_model(
    paper="Radford, Metz & Chintala, Unsupervised Representation Learning with Deep "
    "Convolutional Generative Adversarial Networks",
    year=2016,
    default_size=(64, 64, 3),
    min_size=16,
    # Weights only: 4*4*(3*64 + 64*128 + 128*256 + 256*512) + 4*4*512*1 = 2,763,776; BatchNorm
    # gamma/beta/mean/variance: 4*(128 + 256 + 512) = 3,584.
    params=2_767_360,
    feature_taps=[
        (f"block{block}_lrelu", 2**block, 64 * factor)
        for block, factor in enumerate(_WIDTH_FACTORS, start=1)
    ],
    fixed_size_top=True,
    default_classes=1,
    default_activation="sigmoid",
)
def dcgan_discriminator(*, filters: int = 64, batch_norm: bool = True) -> Architecture:
    """The DCGAN discriminator (Radford, Metz & Chintala, ICLR 2016, arXiv:1511.06434).

    Four 4x4 convolutions with stride 2 (no pooling) of 64, 128, 256 and 512 filters, each
    followed by LeakyReLU(0.2), with batch normalization on all but the first; the 4x4x512 map of
    a 64x64 image is flattened into one sigmoid real/fake unit. Sizes as in the PyTorch DCGAN
    example's ``netD`` (2,765,568 trainable parameters); initial weights N(0, 0.02). The block
    outputs ``block1_lrelu`` ... ``block4_lrelu`` feed `zoo.discriminator_features`, the paper's
    section 5.1 feature extractor. Train it with logits (``classifier_activation=None``) and a
    from-logits binary cross-entropy for numerical stability.

    Args:
        filters: Width of the first block; the others have 2, 4 and 8 times as many (``ndf``).
        batch_norm: Whether to normalize blocks 2-4. Without it (e.g. for a WGAN-GP critic) the
            convolutions get biases.
    """
    _check_positive(filters=filters)
    if not isinstance(batch_norm, bool):
        raise ValueError(f"batch_norm={batch_norm!r} must be True or False")
    return Architecture(features=_discriminator_features(filters, batch_norm), top=_real_fake_top)


def dcgan_generator(
    *,
    latent_dim: int = 100,
    image_size: int = 64,
    channels: int = 3,
    filters: int = 64,
    name: str | None = None,
) -> keras.Model:
    """The DCGAN generator (Radford, Metz & Chintala, ICLR 2016, arXiv:1511.06434, figure 1).

    A dense projection of ``z`` reshaped to a 4x4 map, then 4x4 fractionally-strided
    convolutions (``Conv2DTranspose``, stride 2) that double the size and halve the width up to
    the image, with batch normalization and ReLU on every layer but the output, which is tanh.
    The 4x4 map has ``filters * image_size / 8`` channels: 4x4x512 for 64x64 images and the
    default width, as in the paper's figure 1 (4x4x1024 there, with ``filters=128``). Sizes as in
    the PyTorch DCGAN example's ``netG`` (3,576,704 trainable parameters at 64x64), whose first
    layer, a 4x4 transposed convolution of a 1x1 input, is this dense projection; no biases;
    initial weights N(0, 0.02), BatchNorm scales N(1, 0.02). The authors' code normalizes the
    projection per unit instead of per channel.

    Args:
        latent_dim: Size of the noise vector ``z`` (100 in the paper).
        image_size: Height and width of the images; a power of two, at least 8.
        channels: Channels of the images.
        filters: Width of the last hidden layer (``ngf``); each layer before it has twice as many.
        name: Name of the model (default ``"dcgan_generator"``).

    Returns:
        A `keras.Model` mapping ``(batch, latent_dim)`` noise to ``(batch, image_size,
        image_size, channels)`` images in [-1, 1].

    Raises:
        ValueError: If an argument is not a positive int, if `image_size` is not a power of two
            of at least 8, or if `name` is not a non-empty string.

    Example:
        >>> generator = zoo.dcgan_generator(image_size=32, channels=1, filters=32)
        >>> generator.output_shape
        (None, 32, 32, 1)
    """
    _check_positive(
        latent_dim=latent_dim, image_size=image_size, channels=channels, filters=filters
    )
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image_size={image_size!r} must be a power of two, at least 8")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name={name!r} must be a non-empty string")

    upsamplings = int(math.log2(image_size)) - 2  # 4x4 -> image_size x image_size
    width = filters * 2 ** (upsamplings - 1)
    z = keras.Input((latent_dim,), name="z")
    x = keras.layers.Dense(
        4 * 4 * width, use_bias=False, kernel_initializer=_kernel_init(), name="project"
    )(z)
    x = keras.layers.Reshape((4, 4, width), name="project_reshape")(x)
    x = _batch_norm("project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    for layer in range(1, upsamplings + 1):
        last = layer == upsamplings
        width = channels if last else width // 2
        x = keras.layers.Conv2DTranspose(
            width,
            _KERNEL,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=_kernel_init(),
            name=f"deconv{layer}",
        )(x)
        if not last:
            x = _batch_norm(f"deconv{layer}_bn")(x)
            x = keras.layers.ReLU(name=f"deconv{layer}_relu")(x)
    images = keras.layers.Activation("tanh", name="tanh")(x)
    return keras.Model(z, images, name=name or "dcgan_generator")


def _block_outputs(model: keras.Model) -> list[Any]:
    names = {layer.name for layer in model.layers}
    outputs, block = [], 1
    while f"block{block}_lrelu" in names:
        outputs.append(model.get_layer(f"block{block}_lrelu").output)
        block += 1
    return outputs


def discriminator_features(
    model: keras.Model, *, grid: int = 4, name: str | None = None
) -> keras.Model:
    """The feature extractor of DCGAN's section 5.1, from a (trained) DCGAN discriminator.

    Each block output (``block1_lrelu`` ... of `dcgan_discriminator`) is max-pooled to a
    ``grid x grid`` map with `AdaptiveMaxPooling2D`, flattened in (row, column, channel) order,
    and the flattened maps are concatenated, shallow to deep: ``grid**2 * (sum of the block
    widths)`` features, 4*4*(64+128+256+512) = 15,360 for the default discriminator at any input
    size. The paper's 28,672 features on CIFAR-10 came from the authors' ImageNet-1k
    discriminator for 32x32 images (Newmu/dcgan_code, ``imagenet_gan_pretrain_128f_relu_lrelu_7l
    _3x3_256z``): six 3x3 convolutions of 128, 128, 256, 256, 512 and 512 filters, so
    4*4*(128+128+256+256+512+512) = 28,672. BatchNorm runs in inference mode unless the model is
    called with ``training=True``, so its moving statistics should come from real images (the
    authors recompute them on the training set).

    Args:
        model: A model built by `zoo.dcgan_discriminator`, with or without its top.
        grid: Height and width of the pooled map of each block.
        name: Name of the feature model (default ``"<model name>_features"``).

    Returns:
        A `keras.Model` from the discriminator's input to a ``(batch, features)`` tensor, sharing
        the discriminator's layers and weights.

    Raises:
        ValueError: If `model` has no ``block1_lrelu`` layer (it was not built by
            `zoo.dcgan_discriminator`), if `grid` is not a positive int, or if `name` is not a
            non-empty string.
        TypeError: If `model` is not a `keras.Model`.

    Example:
        >>> discriminator = zoo.dcgan_discriminator(input_shape=(32, 32, 3), filters=32)
        >>> zoo.discriminator_features(discriminator).output_shape
        (None, 7680)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model built by dcgan_discriminator, got {model!r}")
    _check_positive(grid=grid)
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name={name!r} must be a non-empty string")
    blocks = _block_outputs(model)
    if not blocks:
        raise ValueError(
            f"model {model.name!r} has no 'block1_lrelu' layer; discriminator_features expects a "
            "model built by zoo.dcgan_discriminator"
        )
    parts = []
    for block, x in enumerate(blocks, start=1):
        x = AdaptiveMaxPooling2D(grid, name=f"block{block}_grid_pool")(x)
        parts.append(keras.layers.Flatten(name=f"block{block}_grid_flatten")(x))
    features = (
        keras.layers.Concatenate(name="dcgan_features")(parts) if len(parts) > 1 else parts[0]
    )
    return keras.Model(model.input, features, name=name or f"{model.name}_features")
