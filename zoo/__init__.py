"""kerazoo's model zoo: classic CNN architectures behind one builder contract and one registry.

Every module of this package is imported here, so a family module registers its models just by
existing; every registered model is then ``zoo.<name>`` (its builder) and appears in
`list_models`. Adding an architecture is adding one family module (see ``zoo/vgg.py``).

Example:
    >>> import zoo
    >>> model = zoo.vgg19(include_top=False, pooling="avg", input_shape=(224, 224, 3))
    >>> zoo.list_models("vgg19*")
    ['vgg19', 'vgg19_bn']
"""

import importlib
import pkgutil

from zoo import layers
from zoo.builder import Architecture, AuxiliaryTop, inference_model
from zoo.context import ContextModule
from zoo.dcgan import dcgan_generator, discriminator_features
from zoo.download import WeightsFileNotFoundError
from zoo.extract import feature_extractor
from zoo.imagenet import decode_predictions, imagenet_classes
from zoo.layers import LocalResponseNormalization
from zoo.registry import (
    FeatureTap,
    ModelInfo,
    WeightsSpec,
    get_model,
    list_models,
    model_info,
    preprocess_input,
)

__version__ = "0.1.0.dev0"

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
# The builders: zoo.vgg19 is model_info("vgg19").builder.
globals().update({_name: model_info(_name).builder for _name in list_models()})

__all__ = [
    "Architecture",
    "AuxiliaryTop",
    "ContextModule",
    "FeatureTap",
    "LocalResponseNormalization",
    "ModelInfo",
    "WeightsFileNotFoundError",
    "WeightsSpec",
    "dcgan_generator",
    "decode_predictions",
    "discriminator_features",
    "feature_extractor",
    "get_model",
    "imagenet_classes",
    "inference_model",
    "layers",
    "list_models",
    "model_info",
    "preprocess_input",
    *list_models(),  # the builders
]
