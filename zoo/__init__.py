"""kerazoo's model zoo: classic CNN architectures behind one builder contract and one registry.

Example:
    >>> import zoo
    >>> model = zoo.vgg19(include_top=False, pooling="avg", input_shape=(224, 224, 3))
    >>> zoo.list_models("vgg19*")
    ['vgg19', 'vgg19_bn']
"""

from zoo import layers
from zoo.alexnet import alexnet, alexnet_onetower, zfnet
from zoo.builder import Architecture, AuxiliaryTop, inference_model
from zoo.context import ContextModule
from zoo.dcgan import dcgan_discriminator, dcgan_generator, discriminator_features
from zoo.efficientnet import efficientnet_lite0, efficientnet_lite1, efficientnet_lite2
from zoo.extract import feature_extractor
from zoo.googlenet import googlenet, googlenet_paper
from zoo.imagenet import decode_predictions, imagenet_classes
from zoo.inception import (
    inception_resnet_v1,
    inception_resnet_v2,
    inception_v3,
    inception_v4,
)
from zoo.layers import LocalResponseNormalization
from zoo.lenet import lenet5, nielsen_cnn
from zoo.nin import nin
from zoo.preprocessing import preprocess_input
from zoo.registry import (
    FeatureTap,
    ModelInfo,
    WeightsSpec,
    get_model,
    list_models,
    model_info,
)
from zoo.resnet import (
    cifar_resnet20,
    cifar_resnet32,
    cifar_resnet44,
    cifar_resnet56,
    cifar_resnet110,
    cifar_resnet1202,
    resnet18,
    resnet34,
    resnet50,
    resnet50_v2,
    resnet101,
    resnet101_v2,
    resnet152,
    resnet152_v2,
)
from zoo.rir import cifar_rir18
from zoo.stn import st_cnn
from zoo.vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

__version__ = "0.1.0.dev0"

__all__ = [
    "Architecture",
    "AuxiliaryTop",
    "ContextModule",
    "FeatureTap",
    "LocalResponseNormalization",
    "ModelInfo",
    "WeightsSpec",
    "alexnet",
    "alexnet_onetower",
    "cifar_resnet20",
    "cifar_resnet32",
    "cifar_resnet44",
    "cifar_resnet56",
    "cifar_resnet110",
    "cifar_resnet1202",
    "cifar_rir18",
    "dcgan_discriminator",
    "dcgan_generator",
    "decode_predictions",
    "discriminator_features",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "feature_extractor",
    "get_model",
    "googlenet",
    "googlenet_paper",
    "imagenet_classes",
    "inception_resnet_v1",
    "inception_resnet_v2",
    "inception_v3",
    "inception_v4",
    "inference_model",
    "layers",
    "lenet5",
    "list_models",
    "model_info",
    "nielsen_cnn",
    "nin",
    "preprocess_input",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet50_v2",
    "resnet101",
    "resnet101_v2",
    "resnet152",
    "resnet152_v2",
    "st_cnn",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "zfnet",
]
