"""Helpers shared by the training, CLI and distributed tests (this module holds no tests)."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

import mtsnn

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">I", 0x800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0))


def tiny_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 digits-like images: class c is a bright 7x7 square at a spot of its own."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, (count, 28, 28))
    for image, label in zip(images, labels, strict=True):
        row, column = 3 + 7 * (label // 4), 3 + 6 * (label % 4)
        image[row : row + 7, column : column + 7] += 180
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_tiny_mnist(directory: Path, train: int = 64, test: int = 40, seed: int = 0) -> Path:
    """Write a tiny MNIST look-alike as the four official IDX .gz files; return ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train), ("test", test)):
        images, labels = tiny_images(count, seed + (split == "test"))
        _write_idx(directory / IDX_NAMES[split][0], images)
        _write_idx(directory / IDX_NAMES[split][1], labels)
    return directory


def train_argv(data_dir: Path, out: Path, *extra: str) -> list[str]:
    """`mtsnn train` arguments for a deterministic 3-epoch run on the tiny data in ``data_dir``.

    The limits equal the tiny sizes: should the data not be found, the fallback to the shipped
    sample still trains on only 64 images.
    """
    return [
        "train",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--batch-size",
        "16",
        "--epochs",
        "3",
        "--limit-train",
        "64",
        "--limit-test",
        "40",
        "--deterministic",
        "--quiet",
        *extra,
    ]


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python that must import the same mtsnn as the tests (the
    installed package, or a source tree with the extension built in place)."""
    package_root = str(Path(mtsnn.__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}
