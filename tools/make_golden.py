"""Writes the golden fixtures that tests/zoo/test_convert.py checks zoo.convert against.

Developer script, not run in CI or by the tests: it needs torch and torchvision, which kerazoo
never imports. The committed files were made with torch 2.14.1 and torchvision 0.29.1:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy
    /tmp/tv/bin/python tools/make_golden.py            # from the repository root
    /tmp/tv/bin/python tools/make_golden.py resnet18   # only some fixtures

For each case it builds the torchvision model (10 classes), fills its state dict with values drawn
by NumPy -- so that the test can draw the same ones without torch --, runs a small input in eval
mode and writes tests/zoo/data/golden/<case>.npz (a few KB: no weights) with

    seed          int; entry i of the state dict, in order, is
                  ``rng.standard_normal(shape, dtype=float32) * float32(scale) + float32(offset)``
                  with one ``rng = np.random.default_rng(seed)`` for all entries
    entries       JSON list of [key, shape, scale, offset] in state-dict order
    input_shape   NHWC shape of the input, drawn as ``default_rng(seed + 1).standard_normal(
                  input_shape, dtype=float32)`` (torch gets it transposed to NCHW)
    zoo           JSON {"builder": the zoo function, "kwargs": its options,
                  "architecture": torchvision's name}
    predictions   the logits, and aux1/aux2 for GoogLeNet's auxiliary classifiers (which torch
                  runs only in training: here they are applied to the hooked inception4a/4d maps)
    versions      "torch <version>, torchvision <version>"

Scales: He-style ``sqrt(2 / fan_in)`` for convolution and linear weights, 0.1 for biases,
BatchNorm gamma ~ 1 +- 0.1 (0.3 +- 0.1 on the last BatchNorm of each residual branch, so that
ResNet activations do not grow with depth), beta and running_mean ~ 0 +- 0.1, running_var
~ 1 +- 0.1; then each classifier's scales are divided by the standard deviation of its logits in a
first run, so the stored logits are O(1).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "zoo" / "data" / "golden"
CLASSES = 10

# case: (torchvision builder, its options, zoo builder, zoo options, NHWC input shape, seed)
CASES = {
    "alexnet": ("alexnet", {}, "alexnet_onetower", {}, (2, 127, 127, 3), 1),
    "vgg11": ("vgg11", {}, "vgg11", {}, (1, 224, 224, 3), 2),
    "vgg11_bn": ("vgg11_bn", {}, "vgg11_bn", {}, (1, 224, 224, 3), 3),
    "googlenet": (
        "googlenet",
        {"aux_logits": True, "transform_input": False, "init_weights": False},
        "googlenet",
        {"aux_logits": True},
        (2, 97, 97, 3),
        4,
    ),
    "resnet18": ("resnet18", {}, "resnet18", {"variant": "torchvision"}, (2, 64, 64, 3), 5),
    "resnet50": ("resnet50", {}, "resnet50", {"variant": "torchvision"}, (2, 64, 64, 3), 6),
    # 107x107 ends in 2x2 maps, so every average pool has border and interior outputs. The state
    # dict keeps AuxLogits, as the pretrained checkpoint does (the zoo model drops it), and
    # transform_input is off: the pretrained model's input transform is preprocessing (the network
    # reads (x / 255 - 0.5) / 0.5), the caller's job in the zoo.
    "inception_v3": (
        "inception_v3",
        {"aux_logits": True, "transform_input": False, "init_weights": False},
        "inception_v3",
        {"variant": "torchvision"},
        (2, 107, 107, 3),
        7,
    ),
    # Every other converter of a registered weights set (tests/zoo/test_convert.py requires one
    # fixture per converter).
    "vgg13": ("vgg13", {}, "vgg13", {}, (1, 224, 224, 3), 8),
    "vgg13_bn": ("vgg13_bn", {}, "vgg13_bn", {}, (1, 224, 224, 3), 9),
    "vgg16": ("vgg16", {}, "vgg16", {}, (1, 224, 224, 3), 10),
    "vgg16_bn": ("vgg16_bn", {}, "vgg16_bn", {}, (1, 224, 224, 3), 11),
    "vgg19": ("vgg19", {}, "vgg19", {}, (1, 224, 224, 3), 12),
    "vgg19_bn": ("vgg19_bn", {}, "vgg19_bn", {}, (1, 224, 224, 3), 13),
    "resnet34": ("resnet34", {}, "resnet34", {"variant": "torchvision"}, (2, 64, 64, 3), 14),
    "resnet101": ("resnet101", {}, "resnet101", {"variant": "torchvision"}, (2, 64, 64, 3), 15),
    "resnet152": ("resnet152", {}, "resnet152", {"variant": "torchvision"}, (2, 64, 64, 3), 16),
}
# Classifier weights and biases, rescaled so that the logits are O(1).
HEADS = {"predictions": r"(fc|classifier\.6)\.", "aux1": r"aux1\.fc2\.", "aux2": r"aux2\.fc2\."}


def _scales(state_dict: dict[str, torch.Tensor], residual_bn: str | None) -> list[list]:
    entries = []
    for key, tensor in state_dict.items():
        shape = list(tensor.shape)
        parameter = key.rpartition(".")[2]
        is_bn = parameter in ("running_mean", "running_var") or (
            key.rpartition(".")[0] + ".running_mean" in state_dict
        )
        if parameter == "num_batches_tracked":
            scale, offset = 0.0, 0.0
        elif is_bn and parameter == "weight":
            offset = 0.3 if residual_bn and re.fullmatch(residual_bn, key) else 1.0
            scale = 0.1
        elif is_bn and parameter == "running_var":
            scale, offset = 0.1, 1.0
        elif parameter == "weight":
            scale, offset = float(np.sqrt(2.0 / np.prod(shape[1:]))), 0.0
        else:
            scale, offset = 0.1, 0.0
        entries.append([key, shape, scale, offset])
    return entries


def draw(entries: list[list], seed: int) -> dict[str, np.ndarray]:
    """The state dict of a fixture; tests/zoo/test_convert.py draws it the same way."""
    rng = np.random.default_rng(seed)
    return {
        key: np.asarray(
            rng.standard_normal(shape, dtype=np.float32) * np.float32(scale) + np.float32(offset)
        )
        for key, shape, scale, offset in entries
    }


def _run(model: torch.nn.Module, entries: list[list], seed: int, image: np.ndarray) -> dict:
    state_dict = {key: torch.from_numpy(value) for key, value in draw(entries, seed).items()}
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    taps = {}
    hooks = [
        getattr(model, tap).register_forward_hook(
            lambda _m, _i, out, tap=tap: taps.update({tap: out})
        )
        for tap in ("inception4a", "inception4d")
        if getattr(model, "aux1", None) is not None
    ]
    with torch.no_grad():
        outputs = {"predictions": model(torch.from_numpy(image.transpose(0, 3, 1, 2)))}
        if taps:
            outputs["aux1"] = model.aux1(taps["inception4a"])
            outputs["aux2"] = model.aux2(taps["inception4d"])
    for hook in hooks:
        hook.remove()
    return {name: value.numpy() for name, value in outputs.items()}


def make(case: str) -> Path:
    tv_name, tv_kwargs, zoo_builder, zoo_kwargs, input_shape, seed = CASES[case]
    torch.manual_seed(0)
    model = getattr(torchvision.models, tv_name)(weights=None, num_classes=CLASSES, **tv_kwargs)
    # The last BatchNorm of each residual branch (bn2 in a basic block, bn3 in a bottleneck).
    last_bn = "bn2" if tv_name in ("resnet18", "resnet34") else "bn3"
    residual_bn = rf"layer\d\.\d+\.{last_bn}\.weight" if tv_name.startswith("resnet") else None
    entries = _scales(model.state_dict(), residual_bn)
    image = np.random.default_rng(seed + 1).standard_normal(input_shape, dtype=np.float32)
    # Second run with each classifier scaled so that its logits have unit standard deviation.
    for name, std in ((n, float(v.std())) for n, v in _run(model, entries, seed, image).items()):
        for entry in entries:
            if re.match(HEADS[name], entry[0]):
                entry[2] /= std
    outputs = _run(model, entries, seed, image)
    path = GOLDEN / f"{case}.npz"
    np.savez_compressed(
        path,
        seed=np.int64(seed),
        entries=np.array(json.dumps(entries)),
        input_shape=np.array(input_shape, dtype=np.int64),
        zoo=np.array(
            json.dumps({"builder": zoo_builder, "kwargs": zoo_kwargs, "architecture": tv_name})
        ),
        versions=np.array(f"torch {torch.__version__}, torchvision {torchvision.__version__}"),
        **outputs,
    )
    summary = ", ".join(f"{n} max|.| {np.abs(v).max():.3f}" for n, v in outputs.items())
    print(f"{path.name}: {path.stat().st_size} bytes, {summary}")
    return path


if __name__ == "__main__":
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for case in sys.argv[1:] or CASES:
        make(case)
