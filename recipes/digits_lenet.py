"""Train LeNet-5 on scikit-learn's bundled handwritten digits (real data, no network).

The 1,797 8x8 digit scans (UCI optdigits) are upsampled to LeNet-5's 32x32 input, split 80/20 into
stratified train/test sets by a seed, and compared with a logistic regression on the raw pixels of
the same split. Prints a results table and writes the learning curves and confusion matrix as a
PNG and the trained model as a `.keras` file.

Run it with ``make demo`` or ``python -m recipes.digits_lenet [--epochs N] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split

import zoo
from zoo.files import atomic_path

__all__ = ["load_digits_32", "main", "run"]


def load_digits_32(*, seed: int = 0, test_size: float = 0.2) -> dict[str, np.ndarray]:
    """The digits as 32x32x1 float images in [0, 1] with a stratified, seeded train/test split.

    Args:
        seed: Seed of the split.
        test_size: Fraction of images held out for testing.

    Returns:
        ``x_train, y_train, x_test, y_test`` (32x32x1 images) and ``raw_train, raw_test``
        (the original 64 pixels, for baselines).

    Example:
        >>> data = load_digits_32(seed=0)
        >>> data["x_train"].shape
        (1437, 32, 32, 1)
    """
    digits = load_digits()
    raw = digits.data.astype("float32") / 16.0
    images = keras.ops.image.resize(raw.reshape(-1, 8, 8, 1), (32, 32), interpolation="bilinear")
    images = np.clip(keras.ops.convert_to_numpy(images), 0.0, 1.0)
    index = np.arange(len(raw))
    train, test = train_test_split(
        index, test_size=test_size, stratify=digits.target, random_state=seed
    )
    return {
        "x_train": images[train],
        "y_train": digits.target[train],
        "x_test": images[test],
        "y_test": digits.target[test],
        "raw_train": raw[train],
        "raw_test": raw[test],
    }


def _plot(history: dict[str, list[float]], matrix: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (curves, confusion) = plt.subplots(1, 2, figsize=(11, 4.5))
    epochs = np.arange(1, len(history["accuracy"]) + 1)
    curves.plot(epochs, history["accuracy"], label="train")
    curves.plot(epochs, history["val_accuracy"], label="validation")
    curves.set(xlabel="epoch", ylabel="accuracy", title="LeNet-5 on sklearn digits")
    curves.grid(alpha=0.3)
    curves.legend()
    confusion.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        color = "white" if count > matrix.max() / 2 else "black"
        confusion.text(col, row, str(count), ha="center", va="center", fontsize=8, color=color)
    confusion.set(xlabel="predicted", ylabel="true", title="test confusion matrix")
    confusion.set_xticks(range(10))
    confusion.set_yticks(range(10))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run(
    *, epochs: int = 60, seed: int = 0, out_dir: str | os.PathLike = "artifacts", verbose: Any = 2
) -> dict[str, Any]:
    """Trains LeNet-5 and the raw-pixel baseline; returns their test accuracies and artifacts.

    Args:
        epochs: Maximum training epochs (early stopping on a validation split may end sooner).
        seed: Seed of the split, the initialisation and the shuffling.
        out_dir: Where the PNG and the `.keras` model go (created if needed).
        verbose: Keras verbosity of `fit`.

    Returns:
        A dict with ``lenet5_accuracy``, ``baseline_accuracy``, ``epochs_run``, ``seconds``,
        ``params`` (trainable), ``plot`` and ``model_path``.

    Example:
        >>> results = run(epochs=30)  # doctest: +SKIP
        >>> results["lenet5_accuracy"] > 0.95  # doctest: +SKIP
        True
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    data = load_digits_32(seed=seed)

    baseline = LogisticRegression(max_iter=2000).fit(data["raw_train"], data["y_train"])
    baseline_accuracy = accuracy_score(data["y_test"], baseline.predict(data["raw_test"]))

    # Standardise inputs (LeCun et al. scale them to about zero mean and unit variance) and jitter
    # them by up to 2 pixels during training; both layers are saved with the model, so it takes
    # raw [0, 1] images.
    normalize = keras.layers.Normalization(axis=None, name="standardize")
    normalize.adapt(data["x_train"])
    images = keras.Input((32, 32, 1), name="digits")
    jittered = keras.layers.RandomTranslation(0.0625, 0.0625, seed=seed, name="jitter")(images)
    model = zoo.lenet5(input_tensor=normalize(jittered), classes=10)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(
        data["x_train"],
        data["y_train"],
        validation_split=0.1,
        epochs=epochs,
        batch_size=32,
        callbacks=[stop],
        verbose=verbose,
    )
    seconds = time.perf_counter() - started
    predicted = model.predict(data["x_test"], verbose=0).argmax(axis=1)
    accuracy = accuracy_score(data["y_test"], predicted)

    plot = out / "digits_lenet.png"
    _plot(history.history, confusion_matrix(data["y_test"], predicted), plot)
    model_path = out / "lenet5_digits.keras"
    with atomic_path(model_path) as temporary:  # an interrupted save keeps the old file
        model.save(temporary)
    return {
        "lenet5_accuracy": accuracy,
        "baseline_accuracy": baseline_accuracy,
        "epochs_run": len(history.history["loss"]),
        "seconds": seconds,
        "params": sum(int(np.prod(weight.shape)) for weight in model.trainable_weights),
        "train_images": len(data["x_train"]),
        "test_images": len(data["x_test"]),
        "plot": plot,
        "model_path": model_path,
    }


def _table(results: dict[str, Any]) -> str:
    rows = [
        ("model", "input", "params", "test accuracy"),
        ("logistic regression", "8x8 raw pixels", "650", f"{results['baseline_accuracy']:.2%}"),
        (
            "zoo.lenet5",
            "32x32x1",
            f"{results['params']:,}",
            f"{results['lenet5_accuracy']:.2%}",
        ),
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(4)]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="artifacts", help="directory for the PNG and model")
    args = parser.parse_args(argv)
    results = run(epochs=args.epochs, seed=args.seed, out_dir=args.out)
    print(
        f"\nsklearn digits: {results['train_images']} train / {results['test_images']} test "
        f"images, stratified split, seed {args.seed}; LeNet-5 trained {results['epochs_run']} "
        f"epochs in {results['seconds']:.0f}s\n"
    )
    print(_table(results))
    print(f"\nplot:  {results['plot']}\nmodel: {results['model_path']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
