"""transfer.backbone: the convention every transfer/ function follows, resolved in one place."""

import dataclasses

import keras
import numpy as np
import pytest

import zoo
from transfer.backbone import resolve_backbone
from transfer.features import FeatureExtractor
from zoo import registry
from zoo.files import sha256sum
from zoo.preprocessing import CAFFE, TF, TF_LITE, TORCH


@pytest.mark.parametrize(
    ("name", "weights", "size", "mode"),
    [
        ("efficientnet_lite0", "imagenet", (224, 224), "tf_lite"),
        ("efficientnet_lite2", "imagenet", (260, 260), "tf_lite"),
        ("vgg16", "imagenet", (224, 224), "caffe"),
        ("resnet50", "imagenet_torchvision", (224, 224), "torch"),
        ("inception_v3", "imagenet", (299, 299), "tf"),
        ("lenet5", None, (32, 32), None),  # no weights: the registered default size, raw pixels
        ("cifar_resnet20", None, (32, 32), None),
    ],
)
def test_image_size_none_is_the_weights_training_resolution(name, weights, size, mode):
    backbone = resolve_backbone(name, weights=weights)  # resolves only: nothing is built
    assert backbone.image_size == size
    assert (backbone.preprocessing.mode if backbone.preprocessing else None) == mode
    spec = zoo.model_info(name).weights_spec(weights) if weights else None
    assert backbone.weights_spec is spec


def test_explicit_image_size_overrides():
    assert resolve_backbone(image_size=64).image_size == (64, 64)
    assert resolve_backbone(image_size=(96, 128)).image_size == (96, 128)
    assert resolve_backbone().preprocessing == dataclasses.replace(TF_LITE, crop_fraction=224 / 256)


NAME = "cifar_resnet20"


@pytest.fixture
def registered_set(tmp_path, monkeypatch):
    """cifar_resnet20 with a registered "cifar" set, preprocessed like torchvision's."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    keras.utils.set_random_seed(1)
    model = zoo.get_model(NAME)
    model.save_weights(tmp_path / "models" / "cifar.weights.h5")
    zoo.get_model(NAME, include_top=False).save_weights(tmp_path / "models" / "notop.weights.h5")
    spec = registry.WeightsSpec(
        tag="cifar",
        classes=10,
        input_shape=(32, 32, 3),
        file="cifar.weights.h5",
        file_notop="notop.weights.h5",
        sha256=sha256sum(tmp_path / "models" / "cifar.weights.h5"),
        sha256_notop=sha256sum(tmp_path / "models" / "notop.weights.h5"),
        preprocessing=TORCH,
    )
    info = dataclasses.replace(zoo.model_info(NAME), weights=(spec,))
    monkeypatch.setitem(registry._REGISTRY, NAME, info)
    return spec, tmp_path / "models"


def test_a_weights_file_of_a_registered_set_is_read_as_its_tag(registered_set, tmp_path):
    spec, models = registered_set
    renamed = tmp_path / "elsewhere" / "my_copy.weights.h5"
    renamed.parent.mkdir()
    renamed.write_bytes((models / spec.file_notop).read_bytes())
    by_tag = resolve_backbone(NAME, weights="cifar")
    by_path = resolve_backbone(NAME, weights=str(renamed))
    assert by_path.weights_spec is spec and by_path.preprocessing is TORCH
    assert (by_path.image_size, by_path.channels) == (by_tag.image_size, by_tag.channels)
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 3), dtype=np.uint8)
    cache = tmp_path / "features"
    features = [
        FeatureExtractor(NAME, weights=weights, cache_dir=cache, progress=False).transform(images)
        for weights in ("cifar", renamed)
    ]
    np.testing.assert_array_equal(features[1], features[0])
    assert len(list(cache.glob("*.npy"))) == 1  # the tag and its file share one cache entry
    # The builder reads the file as its set too: its preprocessing can go inside the model.
    model = zoo.get_model(NAME, weights=str(renamed), include_top=False, include_preprocessing=True)
    assert model.get_layer("preprocessing").mean == TORCH.mean


def test_a_weights_file_of_no_registered_set_needs_explicit_preprocessing(tmp_path):
    path = tmp_path / "mine.weights.h5"
    zoo.get_model(NAME, include_top=False).save_weights(path)
    with pytest.raises(ValueError, match=rf"not a file of a registered weights set of {NAME}"):
        resolve_backbone(NAME, weights=path)
    assert resolve_backbone(NAME, weights=path, preprocessing=None).preprocessing is None
    assert resolve_backbone(NAME, weights=path, preprocessing=CAFFE).preprocessing is CAFFE


def test_keras_models_carry_their_own_weights_and_size():
    fixed = zoo.get_model(NAME)  # with its top: the default 32x32 input
    assert resolve_backbone(fixed).image_size == (32, 32)
    assert resolve_backbone(fixed, image_size=40).image_size == (40, 40)
    assert resolve_backbone(fixed, preprocessing=TF).preprocessing is TF
    assert resolve_backbone(fixed).preprocessing is None  # the model holds its own
    with pytest.raises(ValueError, match=r"weights=None applies to zoo model names"):
        resolve_backbone(fixed, weights=None)
    variable = zoo.get_model(NAME, include_top=False)
    with pytest.raises(ValueError, match=r"takes any input size .* pass image_size"):
        resolve_backbone(variable)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"model": 5}, TypeError, "model must be a zoo model name or a keras.Model"),
        ({"model": "vgg17"}, ValueError, "unknown model 'vgg17'"),
        ({"model": "lenet5"}, ValueError, r"'imagenet' is neither a weights tag.*weights=None"),
        ({"weights": 3}, TypeError, "weights must be None, a tag or a file path"),
        ({"image_size": "64"}, TypeError, "image_size='64'"),
        ({"image_size": (64, 0)}, ValueError, r"image_size=\(64, 0\)"),
        ({"preprocessing": "caffe"}, ValueError, "preprocessing='caffe' must be 'auto'"),
        ({"preprocessing": 3}, TypeError, "preprocessing must be 'auto'"),
    ],
)
def test_errors_name_the_argument(arguments, error, message):
    with pytest.raises(error, match=message):
        resolve_backbone(**arguments)


def test_the_extractor_graph_resizes_then_preprocesses():
    backbone = resolve_backbone(NAME, weights=None, preprocessing=TF, image_size=36)
    extractor = backbone.extractor(["conv1_relu"])
    assert [layer.name for layer in extractor.layers[:3]] == ["images", "resize", "preprocessing"]
    assert extractor.input_shape == (None, None, None, 3)
    images = np.random.default_rng(0).uniform(0, 255, (2, 20, 24, 3)).astype(np.float32)
    resized = keras.layers.Resizing(36, 36, antialias=True)(images)
    network = extractor.get_layer(f"{NAME}_features")
    expected = network(TF.layer()(resized), training=False)["conv1_relu"]
    actual = extractor(images, training=False)["conv1_relu"]
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


def test_rgb_preprocessing_on_a_grey_network_is_refused():
    with pytest.raises(ValueError, match=r"'tf' normalises RGB images, but lenet5 takes 1"):
        resolve_backbone("lenet5", weights=None, preprocessing=TF)
