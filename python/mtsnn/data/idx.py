"""Reader for the IDX format of MNIST and Fashion-MNIST, gzipped or not."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import torch

from mtsnn.data.errors import DatasetFormatError
from mtsnn.data.image_dataset import check_labels
from mtsnn.data.specs import IDX_FILES

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_NDIM = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data by more than ~1032:1, which bounds what a .gz file can hold.
_MAX_DEFLATE_RATIO = 1032


def read_idx(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an IDX uint8 file: images (magic 0x803) -> [N, H, W], labels (magic 0x801) -> [N].

    Gzip is detected from the file content, not the name. The header is checked against what the
    file can hold before anything is allocated, and truncated or over-long data is refused.

    Raises:
        DatasetFormatError: naming ``path``, on a wrong magic number, truncated or extra data, an
            impossible header, or corrupt gzip data.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _read_idx_stream(raw, size, path)
        try:
            with gzip.GzipFile(fileobj=raw) as stream:
                return _read_idx_stream(stream, size * _MAX_DEFLATE_RATIO, path)
        except (OSError, EOFError, zlib.error) as err:
            raise DatasetFormatError(path, f"corrupt gzip data ({err})") from err


def _read_idx_stream(stream: BinaryIO, capacity: int, path: Path) -> torch.Tensor:
    magic_bytes = stream.read(4)
    if len(magic_bytes) < 4:
        raise DatasetFormatError(path, "truncated: file ends inside the IDX header")
    magic = int.from_bytes(magic_bytes, "big")
    ndim = _NDIM.get(magic)
    if ndim is None:
        raise DatasetFormatError(
            path,
            f"wrong magic number 0x{magic:08x}; expected 0x{IMAGES_MAGIC:08x} (uint8 images) or "
            f"0x{LABELS_MAGIC:08x} (uint8 labels)",
        )
    dim_bytes = stream.read(4 * ndim)
    if len(dim_bytes) < 4 * ndim:
        raise DatasetFormatError(path, "truncated: file ends inside the IDX header")
    dims = struct.unpack(f">{ndim}I", dim_bytes)
    count = math.prod(dims)
    if 4 + 4 * ndim + count > capacity:
        raise DatasetFormatError(
            path,
            f"header claims dimensions {dims} ({count} bytes of data), more than the file can "
            f"hold ({capacity} bytes at most)",
        )
    data = bytearray(count)
    got = _read_into(stream, memoryview(data))
    if got < count:
        raise DatasetFormatError(
            path, f"truncated: header claims {count} bytes of data, file holds {got}"
        )
    if stream.read(1):
        raise DatasetFormatError(path, f"unexpected bytes after the {count} bytes of data")
    if count == 0:
        return torch.zeros(dims, dtype=torch.uint8)
    return torch.frombuffer(data, dtype=torch.uint8).reshape(dims)


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``stream`` (which may return short reads); return the bytes read."""
    total = 0
    while total < len(view):
        got = stream.readinto(view[total:])
        if not got:
            break
        total += got
    return total


def idx_files(directory: str | os.PathLike[str], split: str) -> tuple[Path, Path] | None:
    """Return the (images, labels) files of ``split`` in ``directory``, or None if one is missing.

    Each file may be stored plain or as ``<name>.gz``; the plain one wins when both exist.
    """
    found = []
    for stem in IDX_FILES[split]:
        candidates = [Path(directory, stem), Path(directory, stem + ".gz")]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def read_idx_pair(
    images_path: Path, labels_path: Path, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read matching IDX image and label files into uint8 [N, 1, H, W] and int64 [N] tensors.

    Raises:
        DatasetFormatError: naming the faulty file, for any read_idx error, a file of the wrong
            kind, an image/label count mismatch or a label outside ``[0, num_classes)``.
    """
    images = read_idx(images_path)
    if images.dim() != 3:
        raise DatasetFormatError(images_path, "is an IDX label file, expected images")
    labels = read_idx(labels_path)
    if labels.dim() != 1:
        raise DatasetFormatError(labels_path, "is an IDX image file, expected labels")
    if images.shape[0] != labels.shape[0]:
        raise DatasetFormatError(
            labels_path,
            f"holds {labels.shape[0]} labels but {images_path} holds {images.shape[0]} images",
        )
    labels = labels.to(torch.int64)
    check_labels(labels, num_classes, labels_path)
    return images.unsqueeze(1), labels
