"""Registered pretrained weights end to end, offline.

Every entry's metadata; torchvision checkpoints from URL to outputs (seeded weights written as
torch does, served from file:// URLs, checked against torchvision's own logits); the options a
weights set imposes; the preprocessing.
"""

import dataclasses
import hashlib
import re

import keras
import numpy as np
import pytest

import zoo
from tests.zoo.torch_files import draw, golden_input, load_fixture, save_state_dict
from transfer.cli import main
from zoo import download, registry
from zoo.convert import torch_specs
from zoo.preprocessing import CAFFE, TF, TORCH, ImageNormalization
from zoo.registry import ConvertedWeightsSpec, preprocess_input

ALL_SPECS = [
    pytest.param(name, spec, id=f"{name}-{spec.tag}")
    for name in zoo.list_models()
    for spec in zoo.model_info(name).weights
]
# keras.applications' documented top-1 (keras.io/api/applications) and torchvision's acc@1
# (IMAGENET1K_V1 metadata), copied here so that a registry edit cannot silently change them.
PUBLISHED_TOP1 = {
    ("vgg16", "imagenet"): 71.3,
    ("vgg19", "imagenet"): 71.3,
    ("resnet50", "imagenet"): 74.9,
    ("resnet101", "imagenet"): 76.4,
    ("resnet152", "imagenet"): 76.6,
    ("resnet50_v2", "imagenet"): 76.0,
    ("resnet101_v2", "imagenet"): 77.2,
    ("resnet152_v2", "imagenet"): 78.0,
    ("alexnet_onetower", "imagenet"): 56.522,
    ("vgg11", "imagenet"): 69.02,
    ("vgg11_bn", "imagenet"): 70.37,
    ("vgg13", "imagenet"): 69.928,
    ("vgg13_bn", "imagenet"): 71.586,
    ("vgg16", "imagenet_torchvision"): 71.592,
    ("vgg16_bn", "imagenet"): 73.36,
    ("vgg19", "imagenet_torchvision"): 72.376,
    ("vgg19_bn", "imagenet"): 74.218,
    ("googlenet", "imagenet"): 69.778,
    ("resnet18", "imagenet"): 69.758,
    ("resnet34", "imagenet"): 73.314,
    ("resnet50", "imagenet_torchvision"): 76.13,
    ("resnet101", "imagenet_torchvision"): 77.374,
    ("resnet152", "imagenet_torchvision"): 78.312,
    ("inception_v3", "imagenet"): 77.9,
    ("inception_resnet_v2", "imagenet"): 80.3,
    ("inception_v3", "imagenet_torchvision"): 77.294,
    ("efficientnet_lite0", "imagenet"): 75.1,
    ("efficientnet_lite1", "imagenet"): 76.7,
    ("efficientnet_lite2", "imagenet"): 77.6,
}


# ---- every registered weights set -------------------------------------------------------------


@pytest.mark.parametrize(("name", "spec"), ALL_SPECS)
def test_every_weights_set_is_complete(name, spec):
    """url (or the package it is converted from) + hash + licence + source + preprocessing."""
    assert spec.source and spec.licence and spec.preprocessing is not None
    assert spec.classes == 1000 and spec.input_shape[2] == 3
    if isinstance(spec, ConvertedWeightsSpec):
        assert spec.checkpoint is not None and spec.origin.startswith("https://")
        assert re.fullmatch(r"[0-9a-f]{64}", spec.origin_sha256)
    else:
        assert spec.url and spec.url.startswith("https://")
        assert spec.md5 or spec.sha256 or spec.sha256_prefix
        if spec.file_notop is not None:
            assert spec.url_notop and (spec.md5_notop or spec.sha256_notop)
    if (name, spec.tag) in PUBLISHED_TOP1:
        assert spec.top1 == PUBLISHED_TOP1[name, spec.tag]
    info = zoo.model_info(name)
    assert set(spec.options) <= set(info.builder.__signature__.parameters)


@pytest.mark.parametrize(("name", "spec"), [p for p in ALL_SPECS if p.values[1].format == "torch"])
def test_torchvision_sets_carry_the_published_prefix(name, spec):
    assert spec.source == "torchvision" and spec.licence == "BSD-3-Clause"
    assert spec.url == f"https://download.pytorch.org/models/{spec.file}"
    assert re.fullmatch(rf"[\w.-]+-{spec.sha256_prefix}\.pth", spec.file)
    assert torch_specs()[spec.converter.name] is spec.converter and spec.file_notop is None


def test_every_published_top1_is_registered():
    registered = {(n, s.tag) for n in zoo.list_models() for s in zoo.model_info(n).weights}
    assert set(PUBLISHED_TOP1) <= registered


# ---- torchvision checkpoints end to end ------------------------------------------------------


@pytest.fixture
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "keras" / "models", tmp_path / "torch" / "hub" / "checkpoints"


def serve_golden_checkpoint(directory, monkeypatch, *, name, tag):
    """`name`'s `tag` set served from a file:// URL: torchvision's golden weights of `name`
    (tools/make_golden.py, 10 classes) written as torch.save writes them."""
    fixture = load_fixture(name)
    state_dict = draw(fixture["entries"], int(fixture["seed"]))
    directory.mkdir()
    path = save_state_dict(directory / "checkpoint.pth", state_dict)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    path = path.rename(directory / f"{name}-{prefix}.pth")
    info = zoo.model_info(name)
    spec = dataclasses.replace(
        info.weights_spec(tag),
        classes=10,
        input_shape=tuple(fixture["input_shape"][1:]),
        file=path.name,
        url=path.as_uri(),
        sha256_prefix=prefix,
    )
    monkeypatch.setitem(registry._REGISTRY, name, dataclasses.replace(info, weights=(spec,)))
    return fixture, spec, path


@pytest.fixture
def resnet18_checkpoint(tmp_path, monkeypatch):
    return serve_golden_checkpoint(
        tmp_path / "served", monkeypatch, name="resnet18", tag="imagenet"
    )


def assert_golden(logits, fixture):
    tolerance = 1e-4 * max(1.0, float(np.abs(fixture["predictions"]).max()))
    assert float(np.abs(logits - fixture["predictions"]).max()) <= tolerance


def build_resnet18(fixture, **options):
    return zoo.resnet18(
        weights="imagenet",
        classes=10,
        classifier_activation=None,
        input_shape=tuple(fixture["input_shape"][1:]),
        **options,
    )


def test_torchvision_checkpoint_downloads_verifies_and_equals_torchvision(
    resnet18_checkpoint, caches
):
    fixture, spec, _ = resnet18_checkpoint
    model = build_resnet18(fixture)
    assert_golden(model(golden_input(fixture), training=False), fixture)
    assert (caches[0] / spec.file).is_file()  # cached for the next call
    # Without the top: the same backbone, and the checkpoint's fc entries are left out.
    headless = zoo.resnet18(weights="imagenet", include_top=False)
    backbone = keras.Model(model.input, model.get_layer("conv5_block2_out").output)
    image = golden_input(fixture)
    np.testing.assert_allclose(
        headless(image, training=False), backbone(image, training=False), rtol=1e-5, atol=1e-5
    )


def test_corrupt_checkpoint_is_refused_before_loading(resnet18_checkpoint, caches):
    fixture, spec, path = resnet18_checkpoint
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(download.HashMismatchError, match=rf"expected {spec.sha256_prefix}"):
        build_resnet18(fixture)
    assert not (caches[0] / spec.file).exists()


def test_torch_hub_copy_is_used_in_place_when_it_verifies(resnet18_checkpoint, caches):
    fixture, spec, path = resnet18_checkpoint
    hub = caches[1]
    hub.mkdir(parents=True)
    path.rename(hub / spec.file)  # nothing left to download from the URL
    build_resnet18(fixture)
    assert not (caches[0] / spec.file).exists()
    # A hub copy that fails the hash is ignored (not touched) and the zoo fetches its own.
    (hub / spec.file).write_bytes(b"not the checkpoint")
    with pytest.raises(download.DownloadError, match=re.escape(spec.url)):
        build_resnet18(fixture)
    assert (hub / spec.file).read_bytes() == b"not the checkpoint"


def test_checkpoint_import_verifies_the_prefix(resnet18_checkpoint, caches, tmp_path, capsys):
    _, spec, path = resnet18_checkpoint
    stray = tmp_path / "stray.pth"
    stray.write_bytes(b"something else")
    assert main(["weights", "import", str(stray), "--model", "resnet18", "--tag", "imagenet"]) == 2
    assert f"sha256_prefix {spec.sha256_prefix}" in capsys.readouterr().err
    assert main(["weights", "import", str(path), "--model", "resnet18", "--tag", "imagenet"]) == 0
    assert (caches[0] / spec.file).read_bytes() == path.read_bytes()
    capsys.readouterr()
    assert main(["weights", "verify", "resnet18"]) == 0
    assert capsys.readouterr().out.split()[0] == "ok"


def test_weights_select_the_variant_they_need():
    assert dict(zoo.model_info("resnet50").weights_spec("imagenet_torchvision").options) == {
        "variant": "torchvision"
    }
    with pytest.raises(ValueError, match=r"need variant='torchvision', but variant='keras'"):
        zoo.resnet50(weights="imagenet_torchvision", variant="keras")
    with pytest.raises(ValueError, match=r"need variant='keras', but variant='torchvision'"):
        zoo.resnet50(weights="imagenet", variant="torchvision")


def test_weights_options_fill_in_the_variant(caches, tmp_path, monkeypatch):
    """resnet50's default variant is keras'; its torchvision weights build torchvision's."""
    fixture, _, _ = serve_golden_checkpoint(
        tmp_path / "served", monkeypatch, name="resnet50", tag="imagenet_torchvision"
    )
    model = zoo.resnet50(
        weights="imagenet_torchvision",
        classes=10,
        classifier_activation=None,
        input_shape=tuple(fixture["input_shape"][1:]),
    )
    assert model.get_layer("conv2_block1_1_conv").strides == (1, 1)  # the stride sits on the 3x3
    assert_golden(model(golden_input(fixture), training=False), fixture)


def test_options_must_be_family_options():
    spec = dataclasses.replace(
        zoo.model_info("resnet50").weights_spec("imagenet"), options={"depth": 50}
    )

    def family(*, variant: str = "keras"):
        """A family function with one option."""

    decorate = zoo.builder.zoo_model(
        paper="p",
        year=2015,
        default_size=(32, 32, 3),
        min_size=32,
        params=1,
        feature_taps=[("x", 1, 3)],
        fixed_size_top=False,
        weights=[spec],
        name="not_registered",
    )
    with pytest.raises(TypeError, match=r"set options \['depth'\] that are not family options"):
        decorate(family)
    assert "not_registered" not in zoo.list_models()


# ---- preprocessing ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8)


@pytest.mark.parametrize(("preset", "mode"), [(CAFFE, "caffe"), (TF, "tf"), (TORCH, "torch")])
def test_presets_equal_keras_applications(images, preset, mode):
    reference = keras.applications.imagenet_utils.preprocess_input(
        images.astype("float32"), mode=mode
    )
    np.testing.assert_allclose(preset(images), reference, rtol=1e-5, atol=1e-5)
    layer_output = keras.ops.convert_to_numpy(preset.layer()(images))
    np.testing.assert_allclose(layer_output, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("vgg16", keras.applications.vgg16.preprocess_input),
        ("resnet50", keras.applications.resnet.preprocess_input),
        ("resnet50_v2", keras.applications.resnet_v2.preprocess_input),
        ("inception_v3", keras.applications.inception_v3.preprocess_input),
    ],
)
def test_preprocess_input_equals_keras_for_its_weights(images, name, reference):
    expected = reference(images.astype("float32"))
    np.testing.assert_allclose(preprocess_input(name, images), expected, rtol=1e-5, atol=1e-5)


def test_preprocess_input_by_weights_tag(images):
    assert zoo.preprocess_input is preprocess_input
    torch_style = preprocess_input("resnet50", images, weights="imagenet_torchvision")
    np.testing.assert_allclose(torch_style, TORCH(images))
    assert not np.allclose(torch_style, preprocess_input("resnet50", images))
    with pytest.raises(ValueError, match=r"'places' is not a weights tag of resnet50"):
        preprocess_input("resnet50", images, weights="places")
    with pytest.raises(ValueError, match=r"shape \(2, 8, 8\) must be RGB images"):
        preprocess_input("resnet50", images[..., 0])


def test_googlenet_preprocessing_composes_torchvisions_transform_input(images):
    """torchvision normalises with ImageNet's mean/std, then GoogLeNet's transform_input=True."""
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    normalised = (images / 255.0 - mean) / std
    transformed = normalised * std / 0.5 + (mean - 0.5) / 0.5
    np.testing.assert_allclose(preprocess_input("googlenet", images), transformed, atol=1e-5)


def test_resize_and_crop_policy():
    assert TORCH.resize_size(224) == 256 and TORCH.resize_size(299) == 342
    assert zoo.model_info("googlenet").weights_spec("imagenet").preprocessing.interpolation == (
        "bilinear"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"std": (1.0, 0.0, 1.0)}, "must be positive"),
        ({"mean": (1.0, 2.0)}, "one value per channel"),
        ({"channel_order": "gbr"}, "channel_order='gbr'"),
        ({"crop_fraction": 1.5}, r"crop_fraction=1.5 must be in \(0, 1\]"),
        ({"interpolation": "cubic"}, "interpolation='cubic'"),
    ],
)
def test_preprocessing_is_validated(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TORCH, **change)


def test_include_preprocessing_takes_raw_uint8(resnet18_checkpoint, caches, tmp_path):
    fixture, _, _ = resnet18_checkpoint
    raw = np.random.default_rng(1).integers(0, 256, fixture["input_shape"], dtype=np.uint8)
    plain = build_resnet18(fixture)
    inside = build_resnet18(fixture, include_preprocessing=True)
    assert isinstance(inside.layers[1], ImageNormalization)
    expected = plain(TORCH(raw), training=False)
    np.testing.assert_allclose(inside(raw, training=False), expected, rtol=1e-4, atol=1e-4)
    path = tmp_path / "with_preprocessing.keras"
    inside.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(raw, training=False), expected, rtol=1e-4, atol=1e-4)


def test_include_preprocessing_needs_registered_weights():
    with pytest.raises(ValueError, match=r"include_preprocessing=True .* got weights=None"):
        zoo.lenet5(include_preprocessing=True)
    with pytest.raises(ValueError, match=r"include_preprocessing='yes' .* must be True or False"):
        zoo.lenet5(include_preprocessing="yes")


def test_image_normalization_layer_config_round_trip():
    layer = ImageNormalization(mean=(1, 2, 3), std=(4, 5, 6), reverse_channels=True, name="p")
    clone = ImageNormalization.from_config(layer.get_config())
    assert (clone.mean, clone.std, clone.reverse_channels) == ((1, 2, 3), (4, 5, 6), True)
    x = np.arange(6, dtype="float32").reshape(1, 1, 2, 3)
    expected = (x[..., ::-1] - np.array([1, 2, 3])) / np.array([4, 5, 6])
    np.testing.assert_allclose(clone(x), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="3 means and 3 positive stds"):
        ImageNormalization(mean=(0, 0, 0), std=(1, 0, 1))
