import csv
import json
import struct
import sys
import types
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from transfer import data

# --- image files written with Pillow, good and bad -------------------------------------------

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def write_image(path: Path, *, size=(8, 6), color=RED, mode="RGB", **save_options) -> Path:
    """A solid `color` image of `size` (width, height), saved in the format of its extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, **save_options)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_bomb_png(path: Path, *, side: int = 20000) -> Path:
    """A PNG whose header claims side x side pixels: Pillow rejects it from the header alone."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    row = b"\x00" + b"\x00" * 3 * side
    data = zlib.compress(row * 4)  # a few rows; the limit is checked before any decoding
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )
    return path


def write_special_images(folder: Path) -> dict[str, Path]:
    """Valid images that TensorFlow's decoders would get wrong; Pillow must normalise them."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    files["cmyk"] = write_image(folder / "cmyk.jpg", mode="CMYK", color=(0, 255, 255, 0))
    sixteen = np.full((6, 8), 65535, np.uint16)
    sixteen[:, 4:] = 257 * 128
    files["16bit"] = folder / "grey16.png"
    Image.fromarray(sixteen).save(files["16bit"])
    palette = Image.new("P", (8, 6), 1)
    palette.putpalette([0, 0, 0, *RED] + [0, 0, 0] * 254)
    files["palette"] = folder / "palette.png"
    palette.save(files["palette"], transparency=0)
    files["rgba"] = write_image(folder / "alpha.png", mode="RGBA", color=(*RED, 128))
    frames = [Image.new("RGB", (8, 6), color) for color in (RED, BLUE)]
    files["gif"] = folder / "animated.gif"
    frames[0].save(files["gif"], save_all=True, append_images=frames[1:], duration=50, loop=0)
    # Stored 8 wide and 4 high, red left half and blue right half; EXIF orientation 6 says
    # "rotate 90 degrees clockwise to display": 4 wide, 8 high, red on top.
    stored = Image.new("RGB", (8, 4), BLUE)
    stored.paste(RED, (0, 0, 4, 4))
    exif = Image.Exif()
    exif[0x0112] = 6
    files["exif"] = folder / "exif_rotated.jpg"
    stored.save(files["exif"], exif=exif, quality=100)
    return files


def write_bad_images(folder: Path) -> dict[str, Path]:
    """One file of each kind that must be rejected."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    files["empty"] = folder / "empty.png"
    files["empty"].write_bytes(b"")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = folder / "whole.jpg"
    Image.fromarray(noise).save(whole, quality=95)
    files["truncated"] = folder / "truncated.jpg"
    files["truncated"].write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    files["corrupt"] = write_image(folder / "corrupt.png", size=(16, 16))
    raw = bytearray(files["corrupt"].read_bytes())
    start = raw.index(b"IDAT") + 6
    raw[start : start + 4] = b"\xff\xff\xff\xff"
    files["corrupt"].write_bytes(bytes(raw))
    files["text"] = folder / "notes.jpg"
    files["text"].write_text("not an image, whatever the extension says\n")
    files["bomb"] = write_bomb_png(folder / "bomb.png")
    return files


@pytest.fixture
def corpus(tmp_path):
    """A folder of classes with every kind of good and bad input.

    ``cat/`` holds the special-but-valid images plus one plain JPEG, ``dog/`` three plain PNGs and
    every bad file, ``empty/`` nothing but a text file.
    """
    root = tmp_path / "corpus"
    special = write_special_images(root / "cat")
    special["plain"] = write_image(root / "cat" / "plain.jpg")
    good_dogs = [write_image(root / "dog" / f"dog{i}.png", color=BLUE) for i in range(3)]
    bad = write_bad_images(root / "dog")
    (root / "empty").mkdir()
    (root / "empty" / "readme.txt").write_text("no images here")
    return {"root": root, "special": special, "dogs": good_dogs, "bad": bad}


def _batches(dataset):
    images, labels = [], []
    for image, label in dataset:
        images.append(image.numpy())
        labels.append(label.numpy())
    return np.concatenate(images), np.concatenate(labels)


# --- reading and checking single files ---------------------------------------------------------


def test_read_image_normalises_what_tf_decoders_get_wrong(corpus):
    special = corpus["special"]
    for kind in ("cmyk", "palette", "rgba", "gif", "plain"):
        pixels = data.read_image(special[kind])
        assert pixels.shape == (6, 8, 3) and pixels.dtype == np.uint8, kind
        np.testing.assert_allclose(pixels[0, 0], RED, atol=2, err_msg=kind)  # gif: frame 0
    grey16 = data.read_image(special["16bit"])
    np.testing.assert_array_equal(grey16[0, 0], [255, 255, 255])  # 65535 -> 255
    np.testing.assert_array_equal(grey16[0, -1], [128, 128, 128])  # 257 * 128 -> 128
    rotated = data.read_image(special["exif"])
    assert rotated.shape == (8, 4, 3)  # stored 8 wide x 4 high, displayed rotated
    np.testing.assert_allclose(rotated[1, 1], RED, atol=8)  # the left half went to the top
    np.testing.assert_allclose(rotated[-2, -2], BLUE, atol=8)


def test_read_image_greyscale_channel(corpus):
    pixels = data.read_image(corpus["special"]["plain"], channels=1)
    assert pixels.shape == (6, 8, 1)
    assert abs(int(pixels[0, 0, 0]) - 76) <= 2  # ITU-R 601-2 luma of pure red: 0.299 * 255
    with pytest.raises(ValueError, match="channels=2"):
        data.read_image(corpus["special"]["plain"], channels=2)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("empty", "empty file"),
        ("truncated", "truncated"),
        ("corrupt", "corrupt image"),
        ("text", "not an image"),
        ("bomb", "decompression bomb"),
    ],
)
def test_check_image_names_each_defect(corpus, kind, reason):
    assert reason in data.check_image(corpus["bad"][kind])


def test_check_image_accepts_valid_special_images(corpus):
    assert [data.check_image(path) for path in corpus["special"].values()] == [None] * len(
        corpus["special"]
    )


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_check_image_bomb_limit_is_pillows(tmp_path, monkeypatch):
    path = write_image(tmp_path / "ten_by_ten.png", size=(10, 10))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 99)
    assert "exceed the decompression-bomb limit of 99" in data.check_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert data.check_image(path) is None


# --- from_directory and the bad-input corpus ---------------------------------------------------


def test_from_directory_raise_lists_every_problem_once(corpus):
    with pytest.raises(data.BadDataError) as caught:
        data.from_directory(corpus["root"])
    message = str(caught.value)
    assert message.startswith("5 bad file(s) and 1 problem(s)")
    for path in corpus["bad"].values():
        assert str(path) in message
    assert f"class folder {corpus['root'] / 'empty'} has no image files" in message
    assert {bad.path for bad in caught.value.bad_files} == {str(p) for p in corpus["bad"].values()}


def test_from_directory_skip_drops_bad_files_and_writes_report(corpus, tmp_path):
    report = tmp_path / "reports" / "bad.json"
    dataset = data.from_directory(corpus["root"], on_error="skip", report=report)
    assert dataset.class_names == ("cat", "dog")
    assert dataset.counts == {"cat": 7, "dog": 3}
    assert set(dataset.files) == {str(p) for p in [*corpus["special"].values(), *corpus["dogs"]]}
    written = json.loads(report.read_text())
    assert {row["path"] for row in written["bad_files"]} == {str(p) for p in corpus["bad"].values()}
    assert written["problems"] == [f"class folder {corpus['root'] / 'empty'} has no image files"]
    assert len(dataset.bad_files) == 5


def test_skip_report_as_csv_and_default_location(corpus, tmp_path, monkeypatch):
    report = tmp_path / "bad.csv"
    data.from_directory(corpus["root"], on_error="skip", report=report)
    with report.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and rows[-1]["reason"].endswith("empty has no image files")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    data.from_directory(corpus["root"], on_error="skip")
    (default,) = (tmp_path / "keras_home" / "kerazoo_data").glob("corpus-*-bad_files.json")
    assert len(json.loads(default.read_text())["bad_files"]) == 5


def test_whole_epoch_of_the_corpus_decodes(corpus):
    dataset = data.from_directory(corpus["root"], on_error="skip", report=corpus["root"] / "r.json")
    images, labels = _batches(dataset.to_tf_dataset(image_size=(5, 7), batch_size=4))
    assert images.shape == (10, 5, 7, 3)
    np.testing.assert_array_equal(labels, [0] * 7 + [1] * 3)


def test_single_class_is_a_clear_error(tmp_path):
    write_image(tmp_path / "only" / "a.png")
    with pytest.raises(ValueError, match=r"at least 2 classes, found 1 \(\['only'\]\)"):
        data.from_directory(tmp_path)


def test_class_emptied_by_bad_files(tmp_path):
    for name in ("a", "b", "c"):
        write_image(tmp_path / "data" / name / "good.png")
    write_bad_images(tmp_path / "data" / "d")
    with pytest.raises(data.BadDataError, match="class 'd' has no valid image left"):
        data.from_directory(tmp_path / "data")
    dataset = data.from_directory(tmp_path / "data", on_error="skip", report=tmp_path / "r.json")
    assert dataset.class_names == ("a", "b", "c")


def test_class_order_is_sorted_and_numeric_names_sort_as_numbers(tmp_path):
    for name in ("10", "2", "b", "A", "1"):
        write_image(tmp_path / name / "x.png")
    assert data.from_directory(tmp_path).class_names == ("1", "2", "10", "A", "b")


def test_from_directory_split_root(tmp_path):
    for split, count in (("train", 3), ("validation", 1), ("test", 2)):
        for label, color in (("cat", RED), ("dog", BLUE)):
            for i in range(count):
                write_image(tmp_path / split / label / f"{i}.png", color=color)
    splits = data.from_directory(tmp_path)
    assert isinstance(splits, data.Splits)
    assert splits.train.counts == {"cat": 3, "dog": 3}
    assert splits.val.counts == {"cat": 1, "dog": 1}
    assert splits.test.counts == {"cat": 2, "dog": 2}
    write_image(tmp_path / "test" / "cow" / "0.png")
    (tmp_path / "train" / "dog" / "0.png").write_bytes(b"")
    with pytest.raises(data.BadDataError) as caught:  # one error for every split's problems
        data.from_directory(tmp_path)
    assert str(caught.value).startswith("1 bad file(s) and 1 problem(s)")
    assert caught.value.problems[0].endswith("cow is not a class of train/ (['cat', 'dog'])")
    assert caught.value.bad_files[0].path == str(tmp_path / "train" / "dog" / "0.png")
    report = tmp_path / "bad.json"
    splits = data.from_directory(tmp_path, on_error="skip", report=report)
    assert splits.train.counts == {"cat": 3, "dog": 2}
    assert splits.test.class_names == ("cat", "dog")
    assert (tmp_path / "bad-train.json").is_file() and (tmp_path / "bad-test.json").is_file()


def test_from_directory_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        data.from_directory(tmp_path / "missing")
    with pytest.raises(ValueError, match="on_error='ignore'"):
        data.from_directory(tmp_path, on_error="ignore")


# --- tables and arrays -------------------------------------------------------------------------


def test_from_csv_paths_relative_to_the_csv_and_missing_rows(tmp_path):
    write_image(tmp_path / "images" / "a.png")
    write_image(tmp_path / "images" / "b.jpg", color=BLUE)
    write_image(tmp_path / "images" / "c.png")
    table = tmp_path / "labels.csv"
    table.write_text(
        "file,kind\nimages/a.png,10\nimages/b.jpg,2\nimages/c.png,10\nimages/gone.png,2\n"
    )
    with pytest.raises(data.BadDataError, match=r"gone.png: file not found \(row 3\)"):
        data.from_csv(table, path_column="file", label_column="kind")
    dataset = data.from_csv(
        table, path_column="file", label_column="kind", on_error="skip", report=tmp_path / "r.json"
    )
    assert dataset.class_names == ("2", "10")  # integers in numeric order
    np.testing.assert_array_equal(dataset.labels, [1, 0, 1])
    assert dataset.files[0] == str(tmp_path / "images" / "a.png")


def test_from_dataframe_mixed_label_types_is_an_error(tmp_path):
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png")
    frame = pd.DataFrame({"path": ["a.png", "b.png"], "label": ["cat", 3]})
    with pytest.raises(TypeError, match=r"all strings or all integers.*\['int', 'str'\]"):
        data.from_dataframe(frame, root=tmp_path)
    fractional = pd.DataFrame({"path": ["a.png", "b.png"], "label": [1.0, 2.5]})
    with pytest.raises(TypeError, match="all strings or all integers"):
        data.from_dataframe(fractional, root=tmp_path)
    integral = pd.DataFrame({"path": ["a.png", "b.png"], "label": [1.0, 0.0]})
    assert data.from_dataframe(integral, root=tmp_path).class_names == ("0", "1")


def test_from_dataframe_multi_label_and_empty_labels(tmp_path):
    for name in "abc":
        write_image(tmp_path / f"{name}.png")
    frame = pd.DataFrame(
        {"path": ["a.png", "b.png", "c.png"], "tags": ["sky|sea", "sea", None], "x": 0}
    )
    with pytest.raises(data.BadDataError, match=r"empty path or label \(row 2\)"):
        data.from_dataframe(frame, root=tmp_path, label_column="tags", label_separator="|")
    dataset = data.from_dataframe(
        frame,
        root=tmp_path,
        label_column="tags",
        label_separator="|",
        on_error="skip",
        report=tmp_path / "r.json",
    )
    assert dataset.multi_label and dataset.class_names == ("sea", "sky")
    np.testing.assert_array_equal(dataset.labels, [[1, 1], [1, 0]])
    assert dataset.counts == {"sea": 2, "sky": 1}
    _, labels = _batches(dataset.to_tf_dataset(image_size=(4, 4)))
    assert labels.dtype == np.float32 and labels.shape == (2, 2)
    with pytest.raises(KeyError, match="column 'label' not in"):
        data.from_dataframe(frame, root=tmp_path)


def test_from_arrays_labels_and_validation():
    images = np.zeros((4, 5, 5), np.uint8)
    named = data.from_arrays(images, ["dog", "cat", "dog", "cat"])
    assert named.class_names == ("cat", "dog")
    np.testing.assert_array_equal(named.labels, [1, 0, 1, 0])
    assert named.files is None and named.counts == {"cat": 2, "dog": 2}
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        data.from_arrays(images, [0, 1, 0])
    with pytest.raises(ValueError, match="outside the 2 class_names"):
        data.from_arrays(images, [0, 1, 2, 0], class_names=["a", "b"])
    with pytest.raises(ValueError, match="at least 2 classes"):
        data.from_arrays(images, [0, 0, 0, 0])


# --- splits ------------------------------------------------------------------------------------


def test_split_is_reproducible_stratified_and_disjoint():
    labels = np.repeat([0, 1, 2], [40, 20, 10])
    dataset = data.from_arrays(np.arange(70).reshape(70, 1, 1), labels)
    first = dataset.split(val=0.2, test=0.1, seed=3)
    again = dataset.split(val=0.2, test=0.1, seed=3)
    other = dataset.split(val=0.2, test=0.1, seed=4)
    ids = {name: part.images.ravel().tolist() for name, part in first._asdict().items()}
    assert ids == {name: part.images.ravel().tolist() for name, part in again._asdict().items()}
    assert ids["val"] != other.val.images.ravel().tolist()
    assert sorted(ids["train"] + ids["val"] + ids["test"]) == list(range(70))
    assert first.test.counts == {"0": 4, "1": 2, "2": 1}  # 10% of each class
    assert first.val.counts == {"0": 8, "1": 4, "2": 2}  # 20% of each class
    assert first.train.counts == {"0": 28, "1": 14, "2": 7}
    assert dataset.split(val=0.2, seed=0).test is None


def test_split_errors():
    dataset = data.from_arrays(np.zeros((4, 2, 2)), [0, 1, 1, 1])
    with pytest.raises(ValueError, match=r"val=0\.6 and test=0\.5"):
        dataset.split(val=0.6, test=0.5)
    with pytest.raises(ValueError, match=r"stratified by class \(\{'0': 1, '1': 3\}\)"):
        dataset.split(val=0.5)


# --- the tf.data pipeline ----------------------------------------------------------------------


@pytest.fixture
def wide_red(tmp_path):
    """A 12x4 (width x height) image: red, with a blue 4x4 square at the right end."""
    image = Image.new("RGB", (12, 4), RED)
    image.paste(BLUE, (8, 0, 12, 4))
    for label in ("a", "b"):
        image.save(tmp_path / f"{label}.png")
    frame = pd.DataFrame({"path": ["a.png", "b.png"], "label": ["a", "b"]})
    return data.from_dataframe(frame, root=tmp_path)


def test_resize_policies(wide_red):
    def first(policy, channels=3):
        pipeline = wide_red.to_tf_dataset(
            image_size=(4, 4), batch_size=None, resize=policy, channels=channels
        )
        image, label = next(iter(pipeline))
        assert image.dtype.name == "float32" and label.dtype.name == "int32"
        return image.numpy()

    stretched = first("stretch")
    assert stretched.shape == (4, 4, 3)
    np.testing.assert_allclose(stretched[:, 0], [RED] * 4, atol=1)  # both colours survive
    np.testing.assert_allclose(stretched[:, -1], [BLUE] * 4, atol=1)
    cropped = first("crop")  # the centre 4x4 of the 12x4 image: all red
    np.testing.assert_allclose(cropped, np.broadcast_to(RED, (4, 4, 3)), atol=1)
    padded = first("pad")  # scaled to 4x1(.33), centred, zero rows above and below
    np.testing.assert_array_equal(padded[0], 0)
    np.testing.assert_array_equal(padded[-1], 0)
    assert padded[1:3].max() > 200
    grey = first("stretch", channels=1)
    assert grey.shape == (4, 4, 1)
    np.testing.assert_allclose(grey[:, 0, 0], 0.299 * 255, atol=1)  # luma of red
    np.testing.assert_allclose(grey[:, -1, 0], 0.114 * 255, atol=1)  # luma of blue
    with pytest.raises(ValueError, match="resize='squash'"):
        wide_red.to_tf_dataset(image_size=(4, 4), resize="squash")


def test_grey_arrays_become_rgb_and_rgb_becomes_grey():
    grey = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    images, labels = _batches(
        data.from_arrays(grey, [0, 1]).to_tf_dataset(image_size=(3, 3), cache=False)
    )
    assert images.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(images[..., 1], grey, atol=1e-4)
    np.testing.assert_array_equal(labels, [0, 1])
    rgb = np.zeros((2, 3, 3, 3), np.uint8)
    rgb[..., 0] = 255
    grey_pipeline = data.from_arrays(rgb, [0, 1]).to_tf_dataset(image_size=(3, 3), channels=1)
    images, _ = _batches(grey_pipeline)
    assert images.shape == (2, 3, 3, 1)
    np.testing.assert_allclose(images, 0.2989 * 255, atol=0.5)


def test_shuffle_is_seeded_and_disk_cache(tmp_path):
    dataset = data.from_arrays(np.arange(16).reshape(16, 1, 1), np.arange(16) % 2)

    def order(seed):
        pipeline = dataset.to_tf_dataset(image_size=(1, 1), shuffle=True, seed=seed)
        return _batches(pipeline)[0][:, 0, 0, 0].tolist()

    assert order(1) == order(1) != order(2)
    assert sorted(order(1)) == list(range(16))
    cached = dataset.to_tf_dataset(image_size=(1, 1), cache=str(tmp_path / "cache"))
    _batches(cached)
    assert list(tmp_path.glob("cache*"))


def test_uncached_files_shuffle_before_decoding_seeded(tmp_path):
    for index in range(12):
        write_image(tmp_path / str(index % 2) / f"{index:02d}.png", color=(index * 20, 0, 0))
    dataset = data.from_directory(tmp_path)

    def order(seed):
        pipeline = dataset.to_tf_dataset(image_size=(2, 2), shuffle=True, seed=seed, cache=False)
        return [round(value / 20) for value in _batches(pipeline)[0][:, 0, 0, 0].tolist()]

    assert order(3) == order(3) != order(4)
    assert sorted(order(3)) == list(range(12))


def test_file_broken_after_loading_is_dropped_not_fatal(wide_red):
    Path(wide_red.files[0]).write_bytes(b"no longer an image")
    images, labels = _batches(wide_red.to_tf_dataset(image_size=(4, 4)))
    assert images.shape == (1, 4, 4, 3)
    np.testing.assert_array_equal(labels, [1])


def test_ragged_arrays():
    images = [np.zeros((3, 5, 3), np.uint8), np.full((6, 2, 3), 255, np.uint8)]
    pipeline = data.from_arrays(images, [0, 1]).to_tf_dataset(image_size=(4, 4))
    batch, _ = _batches(pipeline)
    assert batch.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(batch[1], 255)


# --- tfds ----------------------------------------------------------------------------------------


def test_from_tfds_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ImportError, match=r'pip install "kerazoo\[tfds\]"'):
        data.from_tfds("mnist")


def test_from_tfds_reads_images_labels_and_class_names(monkeypatch, tmp_path):
    """A stand-in with tfds' API: builder, info.features[...].names, as_dataset, as_numpy."""
    examples = [
        {"image": np.full((4, 4, 1), i, np.uint8), "label": np.int64(i % 3)} for i in range(6)
    ]
    calls = []

    class Builder:
        info = types.SimpleNamespace(features={"label": types.SimpleNamespace(names=list("xyz"))})

        def __init__(self, name, data_dir):
            calls.append(("builder", name, data_dir))

        def download_and_prepare(self):
            calls.append(("download",))

        def as_dataset(self, split):
            calls.append(("split", split))
            return examples

    fake = types.SimpleNamespace(builder=Builder, as_numpy=lambda dataset: iter(dataset))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    dataset = data.from_tfds("toy", split="train[:50%]", data_dir=tmp_path, download=False)
    assert calls == [("builder", "toy", str(tmp_path)), ("split", "train[:50%]")]
    assert dataset.class_names == ("x", "y", "z")
    assert dataset.counts == {"x": 2, "y": 2, "z": 2}
    assert dataset.images.shape == (6, 4, 4, 1)
    assert dataset.source == "tfds:toy[train[:50%]]"


def test_from_tfds_with_tfds_mock_data():
    """The real tensorflow-datasets, its builders and metadata, with generated examples."""
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        dataset = data.from_tfds("beans", split="train")
    assert dataset.class_names == ("angular_leaf_spot", "bean_rust", "healthy")
    assert sum(dataset.counts.values()) == 12 and dataset.images.shape[-1] == 3
    images, labels = next(iter(dataset.to_tf_dataset(image_size=(32, 32), batch_size=12)))
    assert tuple(images.shape) == (12, 32, 32, 3) and set(labels.numpy()) <= {0, 1, 2}


# --- check_directory (the command is tested in test_cli.py) -----------------------------------


def test_check_directory_report(corpus):
    (report,) = data.check_directory(corpus["root"]).values()
    assert report.counts == {"cat": 7, "dog": 3, "empty": 0}
    assert report.empty_classes == ("empty",)
    assert len(report.bad_files) == 5
    assert report.imbalance_ratio == float("inf") and not report.ok
