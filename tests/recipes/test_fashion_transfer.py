"""The `make demo` job: EfficientNet-Lite0 features + linear SVM on the embedded Fashion-MNIST."""

import keras
import numpy as np
import pytest
from PIL import Image

from recipes import fashion_transfer
from transfer.datasets import fashion_mnist_subset


def test_results_table_lists_every_method():
    results = {
        "rows": [
            {"method": "raw pixels", "features": 784, "C": 0.001, "accuracy": 0.792, "seconds": 4},
            {"method": "tap", "features": 112, "C": 0.01, "accuracy": 0.895, "seconds": 2.8},
        ],
        "export_accuracy": 0.895,
        "export_max_abs_diff": 1.1e-6,
    }
    lines = fashion_transfer._table(results).splitlines()
    assert len(lines) == 5
    assert "79.2%" in lines[2] and "89.5%" in lines[3] and "1.1e-06" in lines[4]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    """Measured (seed 0): advisor block5c_add (82.2% validation, deepest 78.0%); test accuracy
    raw pixels 79.2%, top_activation 82.8%, block5c_add 89.5%, exported model 89.5%."""
    results = fashion_transfer.run(seed=0, out_dir=tmp_path, progress=False)
    advice = results["advice"]
    assert (advice.strategy, advice.layers) == ("svm_earlier_layer", ("block5c_add",))
    accuracy = {row["method"].split()[-1]: row["accuracy"] for row in results["rows"]}
    assert accuracy["(advisor)"] >= accuracy["pixels"] + 0.05, results["rows"]
    assert accuracy["(advisor)"] >= accuracy["(deepest)"] + 0.03, results["rows"]
    assert results["export_max_abs_diff"] < 1e-5
    assert results["export_accuracy"] == pytest.approx(accuracy["(advisor)"], abs=1 / 400)
    with Image.open(results["plot"]) as image:
        assert image.format == "PNG"
    model = keras.saving.load_model(results["model_path"], safe_mode=True)
    data = fashion_mnist_subset(channels=3)
    scores = model.predict(data.x_test[:8], verbose=0)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    assert not list(tmp_path.glob("*.partial.keras"))
