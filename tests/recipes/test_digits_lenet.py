"""LeNet-5 on scikit-learn's real digits (the first demo recipe) must reach 95% test accuracy."""

import keras
import numpy as np
from PIL import Image

from recipes import digits_lenet


def test_split_is_stratified_and_reproducible():
    first, second = digits_lenet.load_digits_32(seed=3), digits_lenet.load_digits_32(seed=3)
    np.testing.assert_array_equal(first["y_test"], second["y_test"])
    assert first["x_train"].shape == (1437, 32, 32, 1) and first["x_test"].shape == (360, 32, 32, 1)
    assert first["x_train"].min() >= 0.0 and first["x_train"].max() <= 1.0
    counts = np.bincount(first["y_test"], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 20% of each class of ~180


def test_lenet5_learns_the_digits(tmp_path):
    results = digits_lenet.run(epochs=60, seed=0, out_dir=tmp_path, verbose=0)
    assert results["lenet5_accuracy"] >= 0.95
    assert results["params"] == 61_706
    with Image.open(results["plot"]) as image:
        assert image.format == "PNG" and image.size[0] > 500
    # The saved model includes the standardisation and takes raw [0, 1] images.
    model = keras.saving.load_model(results["model_path"], safe_mode=True)
    data = digits_lenet.load_digits_32(seed=0)
    accuracy = np.mean(model.predict(data["x_test"], verbose=0).argmax(1) == data["y_test"])
    assert accuracy == results["lenet5_accuracy"]
    assert not list(tmp_path.glob("*.partial.keras"))
    table = digits_lenet._table(results)
    assert "zoo.lenet5" in table and "logistic regression" in table
