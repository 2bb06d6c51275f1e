"""GoogLeNet recipe: trained with auxiliary classifiers (loss weight 0.3), deployed without them."""

import keras
import numpy as np
import pytest

from recipes import digits_googlenet
from recipes.digits_lenet import load_digits_32


@pytest.mark.slow
def test_googlenet_with_auxiliary_heads_learns_and_deploys_without_them(tmp_path):
    # Measured (seed 0, 15 epochs, 2 CPU cores): main head 91.4%, aux1 90.3%, aux2 86.4% test
    # accuracy on the 360 held-out digits; chance is 10%.
    results = digits_googlenet.run(epochs=15, seed=0, out_dir=tmp_path, verbose=0)
    assert results["predictions"] >= 0.85
    assert min(results["aux1"], results["aux2"]) >= 0.5
    # Each auxiliary head: conv 1x1 (C*128 + BatchNorm 256), fc1 (2048*1024 + 1024) and
    # fc2 (1024*10 + 10), C = 512 and 528.
    heads = sum(c * 128 + 256 + 2048 * 1024 + 1024 + 1024 * 10 + 10 for c in (512, 528))
    assert results["params"] - results["deployed_params"] == heads
    deployed = keras.saving.load_model(results["model_path"], safe_mode=True)
    assert deployed.output_shape == (None, 10)
    assert not any(layer.name.startswith("aux") for layer in deployed.layers)
    data = load_digits_32(seed=0)
    accuracy = np.mean(deployed.predict(data["x_test"], verbose=0).argmax(1) == data["y_test"])
    assert accuracy == pytest.approx(results["predictions"])
