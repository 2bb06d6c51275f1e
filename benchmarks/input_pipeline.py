"""Input pipeline throughput against the training step it feeds: is the data the bottleneck?

Measures, on this machine and in this run:

- the pipeline: JPEG files (real photographs of scikit-image, re-cropped and re-encoded at
  random sizes around 500x375) -> `transfer.data.from_directory` -> ``to_tf_dataset`` (Pillow
  decode in parallel, resize to 224x224, no cache, so every epoch decodes again) -> the
  ``"standard"`` augmentation preset mapped in tf.data -> batches of 32: images per second;
- the step it feeds: one ``train_on_batch`` of ``zoo.resnet50`` (random init, 2 classes) on a
  batch of 32 images at 224x224: images per second;

and prints their ratio. The target of [B1] is a ratio of at least 3: the pipeline must not be what
limits training. Run: ``.venv/bin/python benchmarks/input_pipeline.py [--images 512]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import skimage.data
import tensorflow as tf
from PIL import Image

import zoo
from transfer.augment import augmentation
from transfer.data import from_directory

BATCH, SIZE = 32, (224, 224)
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field")


def write_jpegs(root: Path, count: int, seed: int = 0) -> None:
    """`count` JPEGs in two class folders, random crops of real photographs at ~500x375."""
    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in PHOTOS]
    for index in range(count):
        photo = photos[index % len(photos)]
        width, height = photo.size
        w, h = int(rng.integers(width // 2, width)), int(rng.integers(height // 2, height))
        left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        image = photo.crop((left, top, left + w, top + h)).resize((500, 375))
        folder = root / ("a" if index % 2 else "b")
        folder.mkdir(exist_ok=True)
        image.save(folder / f"{index:05d}.jpg", quality=90)


def pipeline_rate(root: Path, epochs: int) -> float:
    """Images per second of the whole input pipeline over `epochs` epochs, after a warm-up."""
    data = from_directory(root)
    augment = augmentation("standard", seed=0)
    dataset = data.to_tf_dataset(
        image_size=SIZE, batch_size=BATCH, shuffle=True, seed=0, cache=False
    )
    dataset = dataset.map(
        lambda images, labels: (augment(images, training=True), labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(tf.data.AUTOTUNE)
    for _ in dataset.take(2):  # warm up: tracing, thread pools
        pass
    start, seen = time.perf_counter(), 0
    for _ in range(epochs):
        for images, _ in dataset:
            seen += int(images.shape[0])
    return seen / (time.perf_counter() - start)


def training_rate(steps: int) -> float:
    """Images per second of ResNet-50's training step on one batch, after a warm-up step."""
    model = zoo.resnet50(weights=None, classes=2)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (BATCH, *SIZE, 3)).astype("float32")
    labels = rng.integers(0, 2, BATCH)
    model.train_on_batch(images, labels)  # warm up: tracing
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return steps * BATCH / (time.perf_counter() - start)


def main() -> None:
    """Measures both rates and prints their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512, help="JPEG files to write")
    parser.add_argument("--epochs", type=int, default=2, help="pipeline epochs to time")
    parser.add_argument("--steps", type=int, default=5, help="ResNet-50 steps to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        write_jpegs(root, args.images)
        pipeline = pipeline_rate(root, args.epochs)
    step = training_rate(args.steps)
    print(f"devices: {[d.device_type for d in tf.config.list_logical_devices()]}")
    print(f"input pipeline (decode + resize + 'standard' augmentation): {pipeline:8.1f} images/s")
    print(f"ResNet-50 training step (batch {BATCH}, 224x224):          {step:8.1f} images/s")
    print(f"ratio pipeline / training: {pipeline / step:.1f} (target >= 3)")


if __name__ == "__main__":
    main()
