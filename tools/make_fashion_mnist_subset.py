"""Writes transfer/datasets/fashion_mnist_subset.npz: the embedded real dataset of `make demo`.

A stratified, seeded subset of Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747; MIT
licence, Zalando SE): 160 images per class from the original training set and 40 per class from
the original test set, 2,000 in all, 28x28 grey uint8, with their indices in the original files so
that the subset can be traced and rebuilt. Developer script, not run in CI; reads the originals
that Debian's ``dataset-fashion-mnist`` package installs (``apt install dataset-fashion-mnist``).

Usage: python tools/make_fashion_mnist_subset.py [--source /usr/share/datasets/fashion-mnist]
"""

import argparse
import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

TRAIN_PER_CLASS, TEST_PER_CLASS, SEED = 160, 40, 0
TARGET = Path(__file__).resolve().parents[1] / "transfer" / "datasets" / "fashion_mnist_subset.npz"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format: big-endian magic, dims, then uint8 data)."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def pick(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """`per_class` indices of each class, drawn without replacement, sorted."""
    chosen = [
        rng.choice(np.flatnonzero(labels == label), per_class, replace=False) for label in range(10)
    ]
    return np.sort(np.concatenate(chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    arrays = {}
    for split, prefix, per_class in (
        ("train", "train", TRAIN_PER_CLASS),
        ("test", "t10k", TEST_PER_CLASS),
    ):
        images = read_idx(args.source / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(args.source / f"{prefix}-labels-idx1-ubyte.gz")
        index = pick(labels, per_class, rng)
        arrays[f"x_{split}"] = images[index]
        arrays[f"y_{split}"] = labels[index]
        arrays[f"index_{split}"] = index.astype(np.int32)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(TARGET, **arrays)
    digest = hashlib.sha256(TARGET.read_bytes()).hexdigest()
    print(f"{TARGET}: {TARGET.stat().st_size:,} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
