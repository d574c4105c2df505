#!/usr/bin/env python3
"""Re-make the MNIST sample shipped in python/mtsnn/data/samples/.

It holds the first 6000 training and the first 1000 test digits of MNIST as gzipped IDX files
with the official names, so the package's IDX reader loads it like the full dataset. The output
is byte-for-byte reproducible (fixed gzip timestamp, no file name in the gzip header).

    python tools/make_mnist_sample.py [--source /work/shared/datasets/mnist]
"""

from __future__ import annotations

import argparse
import gzip
import math
import struct
from pathlib import Path

SPLITS = {  # split: (images file stem, labels file stem, number of samples kept)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 6000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 1000),
}
DEFAULT_SOURCE = Path("/work/shared/datasets/mnist")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "python" / "mtsnn" / "data" / "samples"


def _open_idx(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def head_idx(data: bytes, count: int) -> bytes:
    """Return an IDX uint8 file (images or labels) cut down to its first ``count`` items."""
    ndim = data[3]
    dims = list(struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim]))
    if dims[0] < count:
        raise SystemExit(f"source holds only {dims[0]} items, {count} requested")
    item = math.prod(dims[1:])
    header = data[:4] + struct.pack(f">{ndim}I", count, *dims[1:])
    start = 4 + 4 * ndim
    return header + data[start : start + count * item]


def main() -> None:
    """Write the four sample files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="full MNIST IDX dir")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for images_stem, labels_stem, count in SPLITS.values():
        for stem in (images_stem, labels_stem):
            source = args.source / f"{stem}.gz"
            if not source.is_file():
                source = args.source / stem
            sample = head_idx(_open_idx(source), count)
            target = args.out / f"{stem}.gz"
            target.write_bytes(gzip.compress(sample, compresslevel=9, mtime=0))
            print(f"{target}: {count} items, {target.stat().st_size} bytes")


if __name__ == "__main__":
    main()
