"""Helpers shared by the mtsnn.data tests (this module holds no tests)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import mtsnn.data as mtsnn_data


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point every place discovery searches into ``tmp_path``; return the user cache dir."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MTSNN_DATA", raising=False)
    monkeypatch.setattr(mtsnn_data.discovery, "SYSTEM_DATA_DIRS", ())
    return tmp_path / "xdg-cache" / "mtsnn"


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (magic 0x801 for 1-D labels, 0x803 for 3-D images)."""
    header = struct.pack(">I", 0x800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    """Write ``array`` as an IDX file at ``path``, gzipped when ``gz``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist_split(directory: Path, split: str, n: int = 5, seed: int = 0) -> np.ndarray:
    """Write the two official IDX .gz files of ``split`` into ``directory``; return the images."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images_name, labels_name = mtsnn_data.specs.IDX_FILES[split]
    write_idx(directory / f"{images_name}.gz", images, True)
    write_idx(directory / f"{labels_name}.gz", np.arange(n, dtype=np.uint8) % 10, True)
    return images
