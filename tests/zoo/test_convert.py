"""zoo.convert against torchvision's outputs (tests/zoo/data/golden, made by tools/make_golden.py).

Each fixture holds no weights: the seed, keys, shapes and scales from which torchvision's state dict
was drawn with NumPy, the input's shape and the logits torch computed. The tests draw the same
state dict, convert it into the zoo model and compare the outputs. Every converter a registered
weights set uses must have a fixture (`test_every_converter_has_a_golden_fixture`).
"""

import keras
import numpy as np
import pytest

import zoo
from tests.zoo.torch_files import GOLDEN, draw, golden_input, load_fixture
from zoo.convert import load_torch_weights, torch_specs
from zoo.registry import TorchSpec

CLASSES = 10
# VGG's 133M weights and ResNet-101/152's graphs take longer to draw, build and convert than the
# default tier allows; resnet18/50 keep the ResNet rules in it.
SLOW = {"vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"}
SLOW |= {"resnet101", "resnet152"}
# EfficientNet-Lite's converters are checked against the reference implementation run on the real
# ImageNet checkpoints (tests/zoo/data/<name>_golden.npz, tools/make_golden_efficientnet.py).
CHECKPOINT_GOLDEN = GOLDEN.parent


def build(fixture, **overrides):
    options = {**fixture["zoo"]["kwargs"], **overrides}
    return getattr(zoo, fixture["zoo"]["builder"])(
        weights=None,
        input_shape=fixture["input_shape"][1:],
        classes=CLASSES,
        classifier_activation=None,
        **options,
    )


def assert_close(actual, expected, name):
    tolerance = 1e-4 * max(1.0, float(np.abs(expected).max()))
    difference = float(np.abs(np.asarray(actual) - expected).max())
    assert difference <= tolerance, f"{name}: max |diff| {difference:.3g} > {tolerance:.3g}"


@pytest.fixture(scope="module")
def resnet18():
    fixture = load_fixture("resnet18")
    return fixture, draw(fixture["entries"], int(fixture["seed"]))


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(path.stem, marks=[pytest.mark.slow] if path.stem in SLOW else [])
        for path in sorted(GOLDEN.glob("*.npz"))
    ],
)
def test_outputs_equal_torchvision(case):
    fixture = load_fixture(case)
    state_dict = draw(fixture["entries"], int(fixture["seed"]))
    model = build(fixture)
    load_torch_weights(model, state_dict, architecture=fixture["zoo"]["architecture"])
    del state_dict
    outputs = model(golden_input(fixture), training=False)
    if not isinstance(outputs, dict):
        outputs = {"predictions": outputs}
    names = [name for name in ("predictions", "aux1", "aux2") if name in fixture]
    assert sorted(outputs) == sorted(names)
    for name in names:
        assert_close(outputs[name], fixture[name], f"{case} {name}")


def test_every_converter_has_a_golden_fixture():
    fixtures = {path.stem for path in GOLDEN.glob("*.npz")}
    fixtures |= {
        path.stem.removesuffix("_golden") for path in CHECKPOINT_GOLDEN.glob("*_golden.npz")
    }
    specs = torch_specs()
    assert len(specs) == 19  # every torch converter of the 29 registered weights sets
    missing = sorted(set(specs) - fixtures)
    assert not missing, f"converters without a golden fixture (tools/make_golden.py): {missing}"
    for name in fixtures & set(specs):
        if (GOLDEN / f"{name}.npz").is_file():
            assert load_fixture(name)["zoo"]["architecture"] == name


def test_googlenet_without_auxiliary_heads_drops_their_entries():
    fixture = load_fixture("googlenet")
    state_dict = draw(fixture["entries"], int(fixture["seed"]))
    assert any(key.startswith("aux1.") for key in state_dict)
    model = build(fixture, aux_logits=False)
    load_torch_weights(model, state_dict)
    assert_close(model(golden_input(fixture), training=False), fixture["predictions"], "googlenet")


def test_headless_model_takes_the_backbone(resnet18):
    fixture, state_dict = resnet18
    full = load_torch_weights(build(fixture), state_dict)
    headless = load_torch_weights(build(fixture, include_top=False), state_dict)
    image = golden_input(fixture)
    backbone = keras.Model(full.input, full.get_layer("conv5_block2_out").output)
    features = backbone(image, training=False)
    np.testing.assert_allclose(headless(image, training=False), features, rtol=1e-5, atol=1e-5)


def test_missing_unexpected_and_mismatched_entries_are_all_named(resnet18):
    fixture, state_dict = resnet18
    broken = dict(state_dict)
    del broken["layer2.0.downsample.1.running_var"]
    broken["layer9.0.conv1.weight"] = np.zeros((1, 1, 1, 1), np.float32)
    broken["fc.weight"] = np.zeros((CLASSES, 256), np.float32)
    model = build(fixture)
    before = model.get_layer("conv1_conv").kernel.numpy().copy()
    with pytest.raises(ValueError) as error:
        load_torch_weights(model, broken)
    message = str(error.value)
    assert "conv3_block1_0_bn/moving_variance" in message
    assert "layer9.0.conv1.weight (matches no rule)" in message
    assert "fc.weight (10, 256) -> predictions/kernel (512, 10)" in message
    # Nothing is assigned when the state dict does not fit.
    np.testing.assert_array_equal(model.get_layer("conv1_conv").kernel.numpy(), before)


def test_keras_convention_resnet_is_refused_with_the_reason(resnet18):
    fixture, state_dict = resnet18
    model = build(fixture, variant="keras")
    with pytest.raises(ValueError) as error:
        load_torch_weights(model, state_dict)
    message = str(error.value)
    assert 'build it as zoo.resnet18(variant="torchvision")' in message
    assert "conv1_conv/bias" in message  # keras' convolutions have biases torchvision lacks
    assert "epsilon must be torchvision's 1e-05" in message
    assert "conv1_bn has 1.001e-05" in message


def test_keras_convention_inception_v3_is_refused_with_the_reason():
    fixture = load_fixture("inception_v3")
    state_dict = draw(fixture["entries"], int(fixture["seed"]))
    model = build(fixture, variant="keras", include_top=False)
    with pytest.raises(ValueError) as error:
        load_torch_weights(model, state_dict, architecture="inception_v3")
    message = str(error.value)
    assert 'build it as zoo.inception_v3(variant="torchvision")' in message
    # keras' BatchNorm has no scale for torchvision's BasicConv2d weight to land in.
    assert "Conv2d_1a_3x3.bn.weight (layer 'conv_1a_bn' has no such weight)" in message
    # Those 94 scales are all that is wrong (the listing names 20, then counts the rest): the
    # entries of the auxiliary classifier and of the top, heads this model lacks, are left out.
    scales = [k for k in state_dict if k.endswith(".bn.weight") and not k.startswith("AuxLogits")]
    assert len(scales) == 94
    problems = message.partition('(variant="torchvision")): ')[2]
    assert problems.startswith("state-dict entries that fit no weight: ")
    assert problems.endswith(f", and {len(scales) - 20} more")
    assert "; " not in problems


def test_unknown_architecture_is_refused(resnet18):
    fixture, state_dict = resnet18
    model = build(fixture)
    with pytest.raises(ValueError, match=r"architecture='resnet17' is not a torch network"):
        load_torch_weights(model, state_dict, architecture="resnet17")


def test_vgg_rules_follow_torchvision_feature_indices():
    # torchvision's vgg16_bn: features.0/1 = first conv/bn, features.40/41 = last conv/bn.
    rules = dict(torch_specs()["vgg16_bn"].rename)
    assert rules[r"features\.0"] == "block1_conv1"
    assert rules[r"features\.1"] == "block1_conv1_bn"
    assert rules[r"features\.40"] == "block5_conv3"
    assert rules[r"features\.41"] == "block5_conv3_bn"
    assert dict(torch_specs()["vgg16"].rename)[r"features\.28"] == "block5_conv3"


def test_depthwise_kernels_follow_torch_grouped_convolutions():
    # torch's Conv2d(C, C * m, k, groups=C): output channel o reads input channel o // m with
    # weight[o, 0], plus bias[o]. Checked with a direct sum over the (valid) windows.
    channels, multiplier, kernel, size = 3, 2, 3, 5
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((channels * multiplier, 1, kernel, kernel), dtype=np.float32)
    bias = rng.standard_normal(channels * multiplier, dtype=np.float32)
    inputs = keras.Input((size, size, channels))
    layer = keras.layers.DepthwiseConv2D(kernel, depth_multiplier=multiplier, name="dw")
    model = keras.Model(inputs, layer(inputs), name="tiny_depthwise")
    spec = TorchSpec(
        name="tiny", zoo_model="tiny_depthwise", rename=((r"dw", "dw"),), source="this test"
    )
    load_torch_weights(model, {"dw.weight": weight, "dw.bias": bias}, architecture=spec)
    assert layer.kernel.shape == (kernel, kernel, channels, multiplier)
    image = rng.standard_normal((1, size, size, channels), dtype=np.float32)
    out = size - kernel + 1
    expected = np.empty((1, out, out, channels * multiplier), np.float32)
    for o in range(channels * multiplier):
        for y in range(out):
            for x in range(out):
                window = image[0, y : y + kernel, x : x + kernel, o // multiplier]
                expected[0, y, x, o] = (window * weight[o, 0]).sum() + bias[o]
    np.testing.assert_allclose(np.asarray(model(image)), expected, rtol=1e-5, atol=1e-5)
