"""GoogLeNet trained with its auxiliary classifiers on sklearn digits, deployed without them.

Szegedy et al. (2014, section 5) add two auxiliary classifiers on the outputs of inception4a and
inception4d during training, their losses weighted by 0.3, to push gradient into the lower
layers; at inference they are discarded. This recipe does exactly that with `zoo.googlenet`
(torchvision's variant) on the 1,797 real 8x8 digit scans upsampled to 32x32 (the smallest input
GoogLeNet takes), reports the test accuracy of the main and the auxiliary heads, and saves the
deployable model -- `zoo.inference_model(model)`, the main head only -- as a `.keras` file.

Run it with ``python -m recipes.digits_googlenet [--epochs N] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from recipes.digits_lenet import load_digits_32
from zoo.files import atomic_path

__all__ = ["AUX_LOSS_WEIGHT", "main", "run"]

# The paper's weight of each auxiliary loss in the total loss.
AUX_LOSS_WEIGHT = 0.3


def run(
    *, epochs: int = 15, seed: int = 0, out_dir: str | os.PathLike = "artifacts", verbose: Any = 2
) -> dict[str, Any]:
    """Trains GoogLeNet with auxiliary classifiers; returns test accuracies and the saved model.

    Args:
        epochs: Training epochs.
        seed: Seed of the split, the initialisation and the shuffling.
        out_dir: Where the deployable `.keras` model goes (created if needed).
        verbose: Keras verbosity of `fit`.

    Returns:
        A dict with the test accuracy of each head (``predictions``, ``aux1``, ``aux2``),
        ``seconds``, ``params`` (trainable, with the auxiliary heads), ``deployed_params`` and
        ``model_path`` (the model without the auxiliary heads).

    Example:
        >>> results = run(epochs=15)  # doctest: +SKIP
        >>> results["predictions"] > 0.9  # doctest: +SKIP
        True
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    data = load_digits_32(seed=seed)
    model = zoo.googlenet(aux_logits=True, classes=10, input_shape=(32, 32, 1))
    heads = ("predictions", "aux1", "aux2")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=dict.fromkeys(heads, "sparse_categorical_crossentropy"),
        loss_weights={"predictions": 1.0, "aux1": AUX_LOSS_WEIGHT, "aux2": AUX_LOSS_WEIGHT},
    )
    started = time.perf_counter()
    model.fit(
        data["x_train"],
        dict.fromkeys(heads, data["y_train"]),
        epochs=epochs,
        batch_size=32,
        verbose=verbose,
    )
    seconds = time.perf_counter() - started
    outputs = model.predict(data["x_test"], verbose=0)
    accuracies = {head: float(np.mean(outputs[head].argmax(1) == data["y_test"])) for head in heads}
    deployed = zoo.inference_model(model)
    model_path = out / "googlenet_digits.keras"
    with atomic_path(model_path) as temporary:  # an interrupted save keeps the old file
        deployed.save(temporary)
    return {
        **accuracies,
        "seconds": seconds,
        "params": sum(int(np.prod(w.shape)) for w in model.trainable_weights),
        "deployed_params": sum(int(np.prod(w.shape)) for w in deployed.trainable_weights),
        "model_path": model_path,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="artifacts", help="directory for the deployable model")
    args = parser.parse_args(argv)
    results = run(epochs=args.epochs, seed=args.seed, out_dir=args.out)
    print(f"\nGoogLeNet with auxiliary classifiers, {results['seconds']:.0f}s of training")
    for head in ("predictions", "aux1", "aux2"):
        print(f"  {head:<12} test accuracy {results[head]:.2%}")
    print(
        f"deployed without the auxiliary heads: {results['deployed_params']:,} of "
        f"{results['params']:,} parameters -> {results['model_path']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
