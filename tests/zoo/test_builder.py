"""Every rule of the builder contract, and its error messages."""

import dataclasses

import keras
import numpy as np
import pytest

import zoo
from zoo import registry, weights
from zoo.download import WeightsFileNotFoundError
from zoo.files import sha256sum


@pytest.fixture
def lenet_with_weights(tmp_path, monkeypatch):
    """lenet5 with a registered "digits" weights set whose files live in tmp_path."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    source = zoo.lenet5()
    source.save_weights(tmp_path / "models" / "lenet5_digits.weights.h5")
    zoo.lenet5(include_top=False).save_weights(tmp_path / "models" / "lenet5_notop.weights.h5")
    spec = registry.WeightsSpec(
        tag="digits",
        classes=10,
        input_shape=(32, 32, 1),
        file="lenet5_digits.weights.h5",
        file_notop="lenet5_notop.weights.h5",
        sha256=sha256sum(tmp_path / "models" / "lenet5_digits.weights.h5"),
    )
    info = dataclasses.replace(registry.model_info("lenet5"), weights=(spec,))
    monkeypatch.setitem(registry._REGISTRY, "lenet5", info)
    return source, spec


def test_registered_tag_loads_its_verified_file(lenet_with_weights):
    source, _ = lenet_with_weights
    model = zoo.lenet5(weights="digits")
    x = np.random.default_rng(0).uniform(size=(3, 32, 32, 1)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), source.predict(x, verbose=0))
    # Not what a fresh build gives: the file was loaded, not a new random initialisation.
    random_init = zoo.lenet5(weights=None).predict(x, verbose=0)
    assert np.abs(model.predict(x, verbose=0) - random_init).max() > 1e-3


def test_tag_without_top_uses_the_notop_file(lenet_with_weights):
    assert zoo.lenet5(weights="digits", include_top=False, pooling="avg").output_shape == (
        None,
        120,
    )


def test_classes_must_match_the_weights_top(lenet_with_weights):
    with pytest.raises(ValueError, match=r"classes=5 but the 'digits' weights of lenet5 have a 10"):
        zoo.lenet5(weights="digits", classes=5)
    # Without the top, any number of classes is fine: the user adds their own head.
    zoo.lenet5(weights="digits", classes=5, include_top=False)


def test_wrong_channel_count_for_weights(lenet_with_weights):
    with pytest.raises(
        ValueError, match=r"has 3 channels but the 'digits' weights of lenet5 expect 1"
    ):
        zoo.lenet5(weights="digits", input_shape=(32, 32, 3))


def test_flatten_top_with_weights_needs_their_input_size(lenet_with_weights):
    with pytest.raises(ValueError, match=r"need 32x32 inputs"):
        zoo.lenet5(weights="digits", input_shape=(40, 40, 1))
    zoo.lenet5(weights="digits", input_shape=(40, 40, 1), include_top=False)


def test_missing_registered_file(lenet_with_weights, tmp_path):
    (tmp_path / "models" / "lenet5_digits.weights.h5").unlink()
    with pytest.raises(WeightsFileNotFoundError, match=r"lenet5_digits\.weights\.h5 for lenet5"):
        zoo.lenet5(weights="digits")


def test_hash_mismatch_loads_nothing(lenet_with_weights, tmp_path):
    path = tmp_path / "models" / "lenet5_digits.weights.h5"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"has SHA-256 .* expected"):
        zoo.lenet5(weights="digits")


def test_unknown_weights_tag():
    with pytest.raises(ValueError, match=r"weights='imagenet' is not a weights tag of alexnet"):
        zoo.alexnet(weights="imagenet")
    known = r"\(known tags: 'imagenet', 'imagenet_torchvision'\)"
    with pytest.raises(ValueError, match=rf"weights='places365' .* {known}"):
        zoo.vgg19(weights="places365")


def test_missing_weights_file_is_both_value_and_file_not_found_error(tmp_path):
    path = tmp_path / "nowhere.weights.h5"
    with pytest.raises(ValueError, match=r"nowhere\.weights\.h5 for lenet5 does not exist"):
        zoo.lenet5(weights=str(path))
    with pytest.raises(FileNotFoundError):
        zoo.lenet5(weights=path)


def test_weights_file_with_unsupported_suffix(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"must end with one of"):
        zoo.lenet5(weights=path)


def test_user_weights_file_round_trip_and_misfit(tmp_path):
    model = zoo.nielsen_cnn()
    path = tmp_path / "mine.weights.h5"
    model.save_weights(path)
    x = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(
        zoo.nielsen_cnn(weights=path).predict(x, verbose=0), model.predict(x, verbose=0)
    )
    with pytest.raises(ValueError, match=r"mine\.weights\.h5 does not fit lenet5"):
        zoo.lenet5(weights=path)


def test_input_too_small_names_value_and_minimum():
    with pytest.raises(
        ValueError, match=r"\(20, 20, 3\) is smaller than the minimum 32x32 for vgg19"
    ):
        zoo.vgg19(input_shape=(20, 20, 3), include_top=False)


@pytest.mark.parametrize("pooling", ["mean", "AVG", 1])
def test_bad_pooling(pooling):
    with pytest.raises(ValueError, match=r"pooling=.* must be one of \(None, 'avg', 'max'\)"):
        zoo.nin(include_top=False, pooling=pooling)


def test_pooling_with_top_is_refused():
    with pytest.raises(ValueError, match=r"applies only with include_top=False"):
        zoo.nin(pooling="avg")


@pytest.mark.parametrize(
    "input_shape", [(32, 32), (32, 32, 0), (32, 32, None), (32.0, 32, 1), "32"]
)
def test_malformed_input_shape(input_shape):
    with pytest.raises(ValueError, match=r"input_shape"):
        zoo.lenet5(input_shape=input_shape)


def test_flatten_top_needs_fixed_size():
    with pytest.raises(ValueError, match=r"height and width must be fixed"):
        zoo.vgg11(input_shape=(None, None, 3))
    # A top that pools globally (NiN) or adaptively (torchvision AlexNet) takes any size.
    assert zoo.nin(input_shape=(None, None, 3)).output_shape == (None, 1000)
    model = zoo.alexnet_onetower(input_shape=(None, None, 3), classes=4)
    for size in (63, 100, 300):
        x = np.zeros((1, size, size, 3), "float32")
        assert model.predict(x, verbose=0).shape == (1, 4)


@pytest.mark.parametrize("classes", [0, -3, 2.5, True, "10"])
def test_bad_classes(classes):
    with pytest.raises(ValueError, match=r"classes=.* must be a positive int"):
        zoo.lenet5(classes=classes)


def test_bad_classifier_activation_and_include_top():
    with pytest.raises(ValueError, match=r"classifier_activation='softmaxx'"):
        zoo.lenet5(classifier_activation="softmaxx")
    with pytest.raises(ValueError, match=r"include_top='yes'"):
        zoo.lenet5(include_top="yes")


def test_unknown_keyword_lists_the_accepted_ones():
    with pytest.raises(TypeError, match=r"include_tpo.*accepted: include_top, weights"):
        zoo.vgg16(include_tpo=False)
    with pytest.raises(TypeError, match=r"batch_norm"):
        zoo.alexnet(batch_norm=True)


def test_family_options_are_validated():
    with pytest.raises(ValueError, match=r"dropout=1.5 must be in \[0, 1\)"):
        zoo.vgg16(dropout=1.5)
    with pytest.raises(ValueError, match=r"dropout=-0.1 must be in \[0, 1\)"):
        zoo.nin(dropout=-0.1)
    assert not any(
        "dropout" in layer.name for layer in zoo.vgg11(dropout=0.0, input_shape=(32, 32, 3)).layers
    )
    with_bn = zoo.vgg11(batch_norm=True, input_shape=(32, 32, 3))
    assert with_bn.count_params() == zoo.vgg11_bn(input_shape=(32, 32, 3)).count_params()


def test_input_tensor_is_used_and_checked():
    inputs = keras.Input((64, 64, 3), name="my_images")
    model = zoo.alexnet_onetower(input_tensor=inputs, include_top=False)
    assert model.inputs[0] is inputs
    with pytest.raises(ValueError, match=r"disagrees with input_tensor"):
        zoo.vgg11(input_tensor=inputs, input_shape=(32, 32, 3), include_top=False)
    with pytest.raises(TypeError, match=r"must be a Keras tensor .* got ndarray"):
        zoo.vgg11(input_tensor=np.zeros((1, 32, 32, 3), "float32"), include_top=False)
    with pytest.raises(ValueError, match=r"must be a batch of images"):
        zoo.vgg11(input_tensor=keras.Input((64, 3)), include_top=False)


def test_input_tensor_from_a_preprocessing_graph():
    raw = keras.Input((40, 40, 3))
    scaled = keras.layers.Rescaling(1 / 255)(raw)
    model = zoo.vgg11(input_tensor=scaled, include_top=False, pooling="avg")
    assert model.inputs[0] is raw and model.output_shape == (None, 512)


def test_name_option():
    assert zoo.lenet5(name="digits_net").name == "digits_net"
    with pytest.raises(ValueError, match=r"name=''"):
        zoo.lenet5(name="")


def test_a_copy_of_a_registered_file_is_read_as_its_set(lenet_with_weights, tmp_path):
    _, spec = lenet_with_weights
    copy = tmp_path / "elsewhere" / "copy.weights.h5"
    copy.parent.mkdir()
    copy.write_bytes((tmp_path / "models" / spec.file).read_bytes())
    info = zoo.model_info("lenet5")
    assert weights.matching_set(info, copy) is spec
    assert weights.matching_set(info, tmp_path / "models" / spec.file_notop) is spec  # cached
    # The set's rules apply to its file as to its tag.
    with pytest.raises(ValueError, match=r"classes=5 but the 'digits' weights of lenet5"):
        zoo.lenet5(weights=str(copy), classes=5)
    own = tmp_path / "own.weights.h5"
    zoo.lenet5().save_weights(own)
    assert weights.matching_set(info, own) is None
    with pytest.raises(ValueError, match=r"neither a tag \(none\) nor a file of a registered"):
        zoo.lenet5(weights=str(own), include_preprocessing=True)
