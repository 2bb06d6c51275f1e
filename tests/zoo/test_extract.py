import keras
import numpy as np
import pytest

import zoo


def test_default_layer_is_the_deepest_tap():
    extractor = zoo.feature_extractor("vgg11", input_shape=(64, 64, 3))
    assert list(extractor.output) == ["block5_pool"]
    assert extractor.output["block5_pool"].shape == (None, 2, 2, 512)


def test_taps_are_every_registered_tap():
    extractor = zoo.feature_extractor("vgg11", layers="taps", input_shape=(64, 64, 3))
    taps = zoo.model_info("vgg11").feature_taps
    assert list(extractor.output) == [tap.layer for tap in taps]
    outputs = extractor.predict(np.zeros((1, 64, 64, 3), "float32"), verbose=0)
    assert {name: value.shape for name, value in outputs.items()} == {
        tap.layer: (1, 64 // tap.stride, 64 // tap.stride, tap.channels) for tap in taps
    }


def test_top_layers_build_the_top_and_share_weights():
    extractor = zoo.feature_extractor("lenet5", layers=["c5", "f6", "predictions"])
    assert extractor.output["f6"].shape == (None, 84)
    model = zoo.lenet5()
    extractor = zoo.feature_extractor(model, layers=["f6", "predictions"])
    x = np.random.default_rng(0).uniform(size=(4, 32, 32, 1)).astype("float32")
    np.testing.assert_array_equal(
        extractor.predict(x, verbose=0)["predictions"], model.predict(x, verbose=0)
    )
    assert extractor.get_layer("f6") is model.get_layer("f6")


def test_unknown_layer_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['block9_pool'\].*block5_pool"):
        zoo.feature_extractor("vgg11", layers=["block9_pool"], input_shape=(32, 32, 3))


def test_one_name_is_a_list_of_one():
    extractor = zoo.feature_extractor("vgg11", layers="block1_pool", input_shape=(32, 32, 3))
    assert list(extractor.output) == ["block1_pool"]


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"layers=\[\] must name at least one layer"):
        zoo.feature_extractor("vgg11", layers=[])
    with pytest.raises(TypeError, match=r"layers=3 must be a layer name"):
        zoo.feature_extractor("vgg11", layers=3)
    with pytest.raises(ValueError, match=r"layers must be given"):
        zoo.feature_extractor(zoo.lenet5())
    with pytest.raises(ValueError, match=r'layers="taps" needs a zoo model name'):
        zoo.feature_extractor(zoo.lenet5(), layers="taps")
    with pytest.raises(TypeError, match=r"apply only when a model name"):
        zoo.feature_extractor(zoo.lenet5(), layers=["c1"], weights=None)
    with pytest.raises(TypeError, match=r"registered name or a keras\.Model"):
        zoo.feature_extractor(42, layers=["c1"])


def test_extractor_saves_and_loads_in_safe_mode(tmp_path):
    extractor = zoo.feature_extractor("alexnet", layers=["norm1", "pool5"], input_shape=(96, 96, 3))
    extractor.save(tmp_path / "features.keras")
    loaded = keras.saving.load_model(tmp_path / "features.keras", safe_mode=True)
    x = np.random.default_rng(0).uniform(size=(2, 96, 96, 3)).astype("float32")
    expected, actual = extractor.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for name in ("norm1", "pool5"):
        np.testing.assert_array_equal(actual[name], expected[name])
