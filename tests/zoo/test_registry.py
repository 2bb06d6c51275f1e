import dataclasses
import json
from pathlib import Path

import pytest

import zoo
from zoo import registry


def test_list_models_natural_order_and_patterns():
    names = zoo.list_models()
    assert names == sorted(set(names), key=registry._natural_key)
    assert zoo.list_models("vgg1?") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert zoo.list_models("*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert zoo.list_models("nothing*") == []
    assert {"lenet5", "nielsen_cnn", "alexnet", "alexnet_onetower", "zfnet", "nin"} <= set(names)


def test_model_info_fields():
    info = zoo.model_info("vgg19")
    assert (info.family, info.year, info.default_size, info.min_size) == (
        "vgg",
        2014,
        (224, 224, 3),
        32,
    )
    assert info.params == 143_667_240
    assert info.feature_taps[-1] == zoo.FeatureTap("block5_pool", 32, 512)
    # keras.applications' files, then torchvision's checkpoint.
    assert info.weights_tags == ("imagenet", "imagenet_torchvision")


def test_unknown_model_suggests_close_names():
    with pytest.raises(ValueError, match="unknown model 'vgg91'; did you mean vgg19"):
        zoo.model_info("vgg91")
    with pytest.raises(ValueError, match="unknown model"):
        zoo.get_model("resnet9000")


def test_get_model_passes_options_to_the_builder():
    model = zoo.get_model("lenet5", classes=3, name="small")
    assert model.output_shape == (None, 3) and model.name == "small"


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(dataclasses.replace(zoo.model_info("nin")))


def test_family_options_must_be_keyword_only_with_defaults():
    from zoo.builder import zoo_model

    decorate = zoo_model(
        paper="p",
        year=2000,
        default_size=(8, 8, 1),
        min_size=8,
        params=1,
        feature_taps=[],
        fixed_size_top=False,
    )

    def needs_value(*, width):
        """Doc."""

    with pytest.raises(TypeError, match="keyword-only with a default"):
        decorate(needs_value)

    def undocumented():
        pass

    with pytest.raises(TypeError, match="needs a docstring that cites its paper"):
        decorate(undocumented)
    assert "needs_value" not in zoo.list_models()


SNAPSHOT = Path(__file__).parent / "data" / "registry_snapshot.json"


@pytest.mark.parametrize("name", sorted(json.loads(SNAPSHOT.read_text())))
def test_recorded_entries_are_unchanged(name):
    """The 40 models and 29 weights sets recorded by tools/snapshot_registry.py, field by field:
    sizes, parameter counts, feature taps, files, hashes, URLs, licences and preprocessing."""
    recorded = json.loads(SNAPSHOT.read_text())[name]
    assert json.loads(json.dumps(zoo.model_info(name).to_dict())) == recorded


def test_the_snapshot_holds_the_whole_zoo_of_this_release():
    recorded = json.loads(SNAPSHOT.read_text())
    assert len(recorded) == 40
    assert sum(len(entry["weights"]) for entry in recorded.values()) == 29
    assert set(recorded) <= set(zoo.list_models())
