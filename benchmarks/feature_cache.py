"""Feature cache: a second `FeatureExtractor.transform` of the same images against the first.

Measures, on this machine and in this run, EfficientNet-Lite0 (ImageNet weights, preprocessing
inside) over the training images of the embedded Fashion-MNIST subset, as 64x64 RGB:

- miss: the first ``transform`` with an empty ``cache_dir`` (runs the network, writes the file);
- hit: a second ``transform`` of the same array by a fresh extractor (fingerprints the pixels and
  memory-maps the file), with the network already built so that only the cache path is timed;

checks the two feature matrices are equal and prints the speed-up. The target of [B2] is at least
20x. Run: ``.venv/bin/python benchmarks/feature_cache.py [--images 1600]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from transfer.datasets import fashion_mnist_subset
from transfer.features import FeatureExtractor

SIZE = (64, 64)


def main() -> None:
    """Times a cache miss and a cache hit and prints the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1600, help="training images (max 1600)")
    args = parser.parse_args()
    images = fashion_mnist_subset(channels=3).x_train[: args.images]
    with tempfile.TemporaryDirectory() as cache:
        options = {"image_size": SIZE, "cache_dir": cache, "progress": False}
        first = FeatureExtractor("efficientnet_lite0", **options)
        first.transform(images[:8])  # Builds and warms up the network: not timed.
        start = time.perf_counter()
        missed = first.transform(images)
        miss = time.perf_counter() - start

        second = FeatureExtractor("efficientnet_lite0", **options)
        second.transform(images[:8])  # Builds the network: a hit on the warm-up's entry.
        start = time.perf_counter()
        hit_features = second.transform(images)
        hit = time.perf_counter() - start
        if not np.array_equal(missed, hit_features):
            raise SystemExit("cache hit returned different features than the miss")
    print(
        f"EfficientNet-Lite0, {len(images)} images at {SIZE[0]}x{SIZE[1]}, features {missed.shape}"
    )
    print(f"miss (extract + write): {miss:.3f} s ({len(images) / miss:.0f} images/s)")
    print(f"hit (fingerprint + load): {hit:.4f} s")
    print(f"speed-up: {miss / hit:.0f}x (target >= 20x)")


if __name__ == "__main__":
    main()
