"""Training images/s of the C++ program (examples/cpp/train_mnist.cpp) against `mtsnn train`.

Both train the same model (the MNIST ConvNet SNN, T = 2) with the same batch, threads and recipe
on the same IDX files (random images written here: speed does not depend on the pixels), each in
a process of its own, alternating; the figure of a run is its last epoch's images/s (the first
epoch pays the warm-up), and the record is the median over the repeats.
"""

from __future__ import annotations

import gzip
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+ .* ([\d.]+) img/s$", re.MULTILINE)


def write_random_mnist(directory: Path, train: int, test: int) -> None:
    """Random 28x28 images and labels in the four official IDX .gz files."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, (count,), dtype=np.uint8)
        for name, array, magic in zip(
            IDX_FILES[split], (images, labels), (0x803, 0x801), strict=True
        ):
            header = magic.to_bytes(4, "big") + b"".join(
                size.to_bytes(4, "big") for size in array.shape
            )
            (directory / name).write_bytes(gzip.compress(header + array.tobytes(), mtime=0))


def last_epoch_rate(output: str) -> float:
    """The images/s of the last epoch line a trainer printed."""
    rates = [float(match[2]) for match in _EPOCH_LINE.finditer(output)]
    if not rates:
        raise RuntimeError(f"no epoch line in the output:\n{output[-2000:]}")
    return rates[-1]


def run_cpp_train(
    *,
    program: Path,
    threads: int,
    batch: int,
    timesteps: int,
    images: int,
    epochs: int,
    repeats: int,
    emit: Callable[[dict], None],
) -> None:
    """Time both trainers ``repeats`` times each, alternating, and emit one record per trainer."""
    if not program.is_file():
        emit({"section": "cpptrain", "variant": "C++", "skipped": f"{program} is not built"})
        return
    common = [
        *("--epochs", str(epochs), "--batch-size", str(batch), "--timesteps", str(timesteps)),
        *("--threads", str(threads)),
    ]
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        data.mkdir()
        write_random_mnist(data, images, 500)
        commands = {
            "Python (mtsnn train)": [
                sys.executable,
                *("-m", "mtsnn", "train", "--dataset", "mnist", "--model", "convnet"),
                *("--data-dir", str(data), "--seed", "0", *common),
            ],
            "C++ (mtsnn-train-mnist)": [str(program), "--data-dir", str(data), *common],
        }
        rates: dict[str, list[float]] = {name: [] for name in commands}
        for repeat in range(repeats):
            for name, command in commands.items():
                out = Path(scratch) / f"{name.split()[0]}-{repeat}"
                completed = subprocess.run(
                    [*command, "--out", str(out)], capture_output=True, text=True, check=False
                )
                if completed.returncode != 0:
                    raise RuntimeError(f"{name} failed:\n{completed.stderr[-2000:]}")
                rates[name].append(last_epoch_rate(completed.stdout + completed.stderr))
    python_rate = statistics.median(rates["Python (mtsnn train)"])
    for name, values in rates.items():
        rate = statistics.median(values)
        emit(
            {
                "section": "cpptrain",
                "variant": name,
                "model": "convnet",
                "timesteps": timesteps,
                "batch": batch,
                "threads": threads,
                "train_images": images,
                "epochs": epochs,
                "images_per_s": rate,
                "images_per_s_repeats": values,
                "ratio_to_python": rate / python_rate,
                "median_ms": 1e3 * batch / rate,
            }
        )
