"""keras.applications' ImageNet weights: the published URLs and MD5s, and the download path."""

import dataclasses
import hashlib
import urllib.error
import urllib.request

import keras
import numpy as np
import pytest

import zoo
from zoo import registry
from zoo.download import DownloadError, HashMismatchError

BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
# (folder/file stem, MD5 with top, MD5 without top) as keras publishes them in
# keras/src/applications/{vgg16,vgg19,resnet,resnet_v2,inception_v3,inception_resnet_v2}.py
# (Keras 3.15: WEIGHTS_PATH*, WEIGHTS_HASHES and the file_hash arguments).
KERAS_PUBLISHED = {
    "vgg16": (
        "vgg16/vgg16",
        "64373286793e3c8b2b4e3219cbf3544b",
        "6d6bbae143d832006294945121d1f1fc",
    ),
    "vgg19": (
        "vgg19/vgg19",
        "cbe5617147190e668d6c5d5026f83318",
        "253f8cb515780f3b799900260a226db6",
    ),
    "resnet50": (
        "resnet/resnet50",
        "2cb95161c43110f7111970584f804107",
        "4d473c1dd8becc155b73f8504c6f6626",
    ),
    "resnet101": (
        "resnet/resnet101",
        "f1aeb4b969a6efcfb50fad2f0c20cfc5",
        "88cf7a10940856eca736dc7b7e228a21",
    ),
    "resnet152": (
        "resnet/resnet152",
        "100835be76be38e30d865e96f2aaae62",
        "ee4c566cf9a93f14d82f913c2dc6dd0c",
    ),
    "resnet50_v2": (
        "resnet/resnet50v2",
        "3ef43a0b657b3be2300d5770ece849e0",
        "fac2f116257151a9d068a22e544a4917",
    ),
    "resnet101_v2": (
        "resnet/resnet101v2",
        "6343647c601c52e1368623803854d971",
        "c0ed64b8031c3730f411d2eb4eea35b5",
    ),
    "resnet152_v2": (
        "resnet/resnet152v2",
        "a49b44d1979771252814e80f8ec446f9",
        "ed17cf2e0169df9d443503ef94b23b33",
    ),
    "inception_v3": (
        "inception_v3/inception_v3",
        "9a0d58056eeedaa3f26cb7ebd46da564",
        "bcbd6486424b2319ff4ef7d526e38f63",
    ),
    "inception_resnet_v2": (
        "inception_resnet_v2/inception_resnet_v2",
        "e693bd0210a403b3192acc6073ad2e96",
        "d19885ff4a710c122648d3b5c3b684e4",
    ),
}


@pytest.mark.parametrize("name", sorted(KERAS_PUBLISHED))
def test_registered_imagenet_weights_are_keras_published_files(name):
    path, md5, md5_notop = KERAS_PUBLISHED[name]
    spec = zoo.model_info(name).weights_spec("imagenet")
    assert spec.url == f"{BASE}{path}_weights_tf_dim_ordering_tf_kernels.h5"
    assert spec.url_notop == f"{BASE}{path}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert (spec.md5, spec.md5_notop) == (md5, md5_notop)
    # Cached under keras' own file names, so files keras.utils.get_file fetched are reused.
    assert spec.file == spec.url.rpartition("/")[2]
    assert spec.file_notop == spec.url_notop.rpartition("/")[2]
    assert (spec.classes, spec.source) == (1000, "keras.applications")


@pytest.fixture
def published_vgg16(tmp_path, monkeypatch):
    """vgg16's "imagenet" entry pointed at a file:// copy of a keras.applications-layout file."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    published = tmp_path / "server" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    published.parent.mkdir()
    reference.save(published)  # the legacy HDF5 layout keras.applications publishes
    md5 = hashlib.md5(published.read_bytes()).hexdigest()
    info = zoo.model_info("vgg16")
    spec = dataclasses.replace(
        info.weights_spec("imagenet"), url_notop=published.as_uri(), md5_notop=md5
    )
    monkeypatch.setitem(registry._REGISTRY, "vgg16", dataclasses.replace(info, weights=(spec,)))
    return reference, spec, tmp_path / "home" / "models" / spec.file_notop


def test_imagenet_weights_download_once_verify_and_load(published_vgg16, monkeypatch):
    reference, _, cached = published_vgg16
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    model = zoo.vgg16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert cached.is_file()
    np.testing.assert_array_equal(np.asarray(model(images)), np.asarray(reference(images)))

    def offline(*args, **kwargs):
        raise AssertionError("a cached, verified file must not be downloaded again")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    again = zoo.vgg16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    np.testing.assert_array_equal(np.asarray(again(images)), np.asarray(reference(images)))


def test_a_file_that_fails_the_published_md5_is_never_loaded(published_vgg16, monkeypatch):
    _, spec, cached = published_vgg16
    info = zoo.model_info("vgg16")
    wrong = dataclasses.replace(spec, md5_notop="0" * 32)
    monkeypatch.setitem(registry._REGISTRY, "vgg16", dataclasses.replace(info, weights=(wrong,)))
    with pytest.raises(HashMismatchError, match=r"0{32}"):
        zoo.vgg16(weights="imagenet", include_top=False)
    assert not cached.exists()
    # The bytes that failed are kept aside, not deleted.
    assert any(path.name.startswith(f"{cached.name}.corrupt") for path in cached.parent.iterdir())


def test_offline_error_names_the_url_and_the_manual_route(published_vgg16, monkeypatch):
    _, spec, cached = published_vgg16
    info = zoo.model_info("vgg16")
    unreachable = dataclasses.replace(spec, url_notop="https://example.invalid/vgg16_notop.h5")
    monkeypatch.setitem(
        registry._REGISTRY, "vgg16", dataclasses.replace(info, weights=(unreachable,))
    )

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(DownloadError) as raised:
        zoo.vgg16(weights="imagenet", include_top=False)
    message = str(raised.value)
    assert "https://example.invalid/vgg16_notop.h5" in message
    assert "kerazoo weights import" in message and "--model vgg16 --tag imagenet" in message
    assert not cached.exists()
