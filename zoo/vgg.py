"""VGG 11/13/16/19 (configurations A, B, D, E), with or without batch normalization.

Layer names and weight order equal keras.applications' VGG16/VGG19, so their weights files load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from zoo.builder import Architecture, zoo_model
from zoo.heads import fc_top
from zoo.preprocessing import CAFFE
from zoo.registry import TorchSpec, WeightsSpec
from zoo.weights import keras_applications_weights, torchvision_weights

__all__ = [
    "VGG_CONFIGS",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]

# Simonyan & Zisserman 2015, table 1: output channels of each 3x3 convolution, "M" = 2x2 max pool.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [
        64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ],
}  # fmt: skip

_PAPER = "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition"
_TAPS = [(f"block{b}_pool", 2**b, c) for b, c in enumerate((64, 128, 256, 512, 512), start=1)]
# BatchNorm epsilon of torchvision's VGG-BN, whose weights these models are meant to load.
_BN_EPSILON = 1e-5
_DOC = """VGG-{depth}, configuration {config}{with_bn} (Simonyan & Zisserman, ICLR 2015).

    Stacks of 3x3 convolutions (stride 1, same padding) separated by 2x2 max pooling, then two
    4096-unit fully connected layers with dropout and the classifier. Batch normalization
    (torchvision's ``vgg*_bn``, epsilon 1e-5) goes between each convolution and its ReLU.

    Args:
        batch_norm: Whether to add batch normalization after every convolution.
        dropout: Dropout rate after fc1 and fc2 (the paper uses 0.5).
    """


def _features(config: Sequence[int | str], batch_norm: bool) -> Any:
    def features(x: Any) -> Any:
        block, conv = 1, 1
        for item in config:
            if item == "M":
                x = keras.layers.MaxPooling2D(2, 2, name=f"block{block}_pool")(x)
                block, conv = block + 1, 1
                continue
            layer = f"block{block}_conv{conv}"
            if batch_norm:
                x = keras.layers.Conv2D(item, 3, padding="same", name=layer)(x)
                x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{layer}_bn")(x)
                x = keras.layers.Activation("relu", name=f"{layer}_relu")(x)
            else:
                x = keras.layers.Conv2D(item, 3, padding="same", activation="relu", name=layer)(x)
            conv += 1
        return x

    return features


def _vgg(config: str, *, batch_norm: bool, dropout: float) -> Architecture:
    return Architecture(
        features=_features(VGG_CONFIGS[config], batch_norm),
        top=fc_top(hidden=[("fc1", 4096), ("fc2", 4096)], activation="relu", dropout=dropout),
    )


def _torch_spec(name: str, config: str, batch_norm: bool) -> TorchSpec:
    """Torchvision's ``features`` Sequential counts conv (+ bn) + relu and pooling modules."""
    rename, index, block, conv = [], 0, 1, 1
    for item in VGG_CONFIGS[config]:
        if item == "M":
            index, block, conv = index + 1, block + 1, 1
            continue
        rename.append((rf"features\.{index}", f"block{block}_conv{conv}"))
        if batch_norm:
            rename.append((rf"features\.{index + 1}", f"block{block}_conv{conv}_bn"))
        index, conv = index + (3 if batch_norm else 2), conv + 1
    rename += [
        (r"classifier\.0", "fc1"),
        (r"classifier\.3", "fc2"),
        (r"classifier\.6", "predictions"),
    ]
    return TorchSpec(
        name=name,
        zoo_model=f"zoo.{name}()",
        rename=tuple(rename),
        bn_epsilon=_BN_EPSILON if batch_norm else None,
        heads=(r"classifier\..*",),
    )


def _keras_weights(depth: int, md5: str, md5_notop: str) -> WeightsSpec:
    # keras.applications' ImageNet weights, converted from the authors' Caffe models, which the
    # Oxford VGG group released under the Creative Commons Attribution licence; top-1 from
    # keras.io/api/applications.
    return keras_applications_weights(
        directory=f"vgg{depth}",
        stem=f"vgg{depth}",
        md5=md5,
        md5_notop=md5_notop,
        input_shape=(224, 224, 3),
        licence="CC BY 4.0",
        preprocessing=CAFFE,
        top1=71.3,
    )


def _register(
    name: str,
    config: str,
    params: int,
    *,
    batch_norm: bool,
    torchvision: tuple[str, float],
    keras_set: WeightsSpec | None = None,
) -> Any:
    """Registers one VGG variant; the variants differ only in data, so one template serves all.

    `torchvision` is the SHA-256 prefix and acc@1 of torchvision's IMAGENET1K_V1 checkpoint,
    tagged ``"imagenet"`` unless keras.applications has weights (`keras_set`), which take it.
    """
    depth = sum(isinstance(item, int) for item in VGG_CONFIGS[config]) + 3
    digest, top1 = torchvision
    torchvision_set = torchvision_weights(
        file=f"{name}-{digest}.pth",
        converter=_torch_spec(name, config, batch_norm),
        top1=top1,
        tag="imagenet" if keras_set is None else "imagenet_torchvision",
    )

    def architecture(*, batch_norm: bool = batch_norm, dropout: float = 0.5) -> Architecture:
        return _vgg(config, batch_norm=batch_norm, dropout=dropout)

    return zoo_model(
        paper=_PAPER,
        year=2014,
        default_size=(224, 224, 3),
        min_size=32,
        params=params,
        fixed_size_top=True,
        feature_taps=_TAPS,
        weights=(torchvision_set,) if keras_set is None else (keras_set, torchvision_set),
        name=name,
        doc=_DOC.format(
            depth=depth, config=config, with_bn=", with batch normalization" if batch_norm else ""
        ),
    )(architecture)


vgg11 = _register("vgg11", "A", 132_863_336, batch_norm=False, torchvision=("8a719046", 69.02))
vgg13 = _register("vgg13", "B", 133_047_848, batch_norm=False, torchvision=("19584684", 69.928))
vgg16 = _register(
    "vgg16",
    "D",
    138_357_544,
    batch_norm=False,
    torchvision=("397923af", 71.592),
    keras_set=_keras_weights(
        16, "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"
    ),
)
vgg19 = _register(
    "vgg19",
    "E",
    143_667_240,
    batch_norm=False,
    torchvision=("dcbb9e9d", 72.376),
    keras_set=_keras_weights(
        19, "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"
    ),
)
vgg11_bn = _register("vgg11_bn", "A", 132_874_344, batch_norm=True, torchvision=("6002323d", 70.37))
vgg13_bn = _register(
    "vgg13_bn", "B", 133_059_624, batch_norm=True, torchvision=("abd245e5", 71.586)
)
vgg16_bn = _register("vgg16_bn", "D", 138_374_440, batch_norm=True, torchvision=("6c64b313", 73.36))
vgg19_bn = _register(
    "vgg19_bn", "E", 143_689_256, batch_norm=True, torchvision=("c79401a0", 74.218)
)
