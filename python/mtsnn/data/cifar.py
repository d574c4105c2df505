"""Reader for the official CIFAR-10 python batches, as a directory or inside the .tar.gz.

The batches are pickles; they are loaded with an unpickler that can build nothing but numpy
arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np
import torch

from mtsnn.data.errors import DatasetFormatError
from mtsnn.data.image_dataset import check_labels
from mtsnn.data.specs import CIFAR10_CLASSES, CIFAR_BATCHES, CIFAR_META

_IMAGE_BYTES = 3 * 32 * 32


def _allowed_globals() -> dict[tuple[str, str], Any]:
    # numpy 2 renamed numpy.core to numpy._core; the real files (written by numpy 1 under
    # Python 2) name the old module, files written today the new one. Both map to the same object.
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array reconstruction globals and refuses the rest."""

    def __init__(self, file: BinaryIO, source: str) -> None:
        # The official batches are Python 2 pickles: "bytes" keeps their str keys and raw array
        # data as bytes instead of guessing a text encoding.
        super().__init__(file, encoding="bytes")
        self._source = source
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global or raise DatasetFormatError naming the refused one."""
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DatasetFormatError(
                self._source,
                f"refused to load global {module}.{name} (a CIFAR-10 batch holds only numpy "
                "arrays; this file is not a genuine batch and may be malicious)",
            ) from None


def unpickle_restricted(data: bytes, source: str) -> Any:
    """Unpickle ``data`` with RestrictedUnpickler; any failure is a DatasetFormatError."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source).load()
    except DatasetFormatError:
        raise
    except Exception as err:  # a malformed pickle can raise almost anything
        raise DatasetFormatError(source, f"not a valid CIFAR-10 pickle: {err}") from err


def parse_batch(data: bytes, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode one pickled batch into uint8 images [N, 3, 32, 32] and int64 labels [N]."""
    batch = unpickle_restricted(data, source)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetFormatError(source, "not a CIFAR-10 batch (needs b'data' and b'labels' keys)")
    pixels, labels = batch[b"data"], batch[b"labels"]
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.dtype != np.uint8
        or pixels.ndim != 2
        or pixels.shape[1] != _IMAGE_BYTES
    ):
        raise DatasetFormatError(
            source, f"b'data' must be a uint8 array [N, {_IMAGE_BYTES}], got {_describe(pixels)}"
        )
    try:
        label_array = np.asarray(labels)
    except ValueError as err:  # ragged nested lists
        raise DatasetFormatError(source, f"b'labels' is not a list of integers: {err}") from err
    if label_array.ndim != 1 or label_array.dtype.kind not in "iu":
        raise DatasetFormatError(
            source, f"b'labels' is not a list of integers, got {_describe(label_array)}"
        )
    if label_array.shape[0] != pixels.shape[0]:
        raise DatasetFormatError(source, f"{pixels.shape[0]} images but {label_array.size} labels")
    label_tensor = torch.from_numpy(label_array.astype(np.int64))
    check_labels(label_tensor, len(CIFAR10_CLASSES), source)
    images = torch.from_numpy(pixels.reshape(-1, 3, 32, 32).copy())
    return images, label_tensor


def parse_meta(data: bytes, source: str) -> tuple[str, ...]:
    """Return the class names stored in ``batches.meta``."""
    meta = unpickle_restricted(data, source)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, bytes) for n in names):
        raise DatasetFormatError(source, "no b'label_names' list of class names")
    return tuple(n.decode("utf-8") for n in names)


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array {value.shape}"
    return type(value).__name__


def read_cifar(
    path: str | os.PathLike[str], split: str
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Read a CIFAR-10 split from a ``cifar-10-batches-py`` directory or ``cifar-10-python.tar.gz``.

    Returns:
        (images uint8 [N, 3, 32, 32], labels int64 [N], class names). The class names come from
        ``batches.meta`` when present, else the standard CIFAR-10 order.

    Raises:
        FileNotFoundError: a batch file of ``split`` is missing.
        DatasetFormatError: naming the file (or archive member) that is malformed or unsafe.
    """
    path = Path(path)
    wanted = (*CIFAR_BATCHES[split], CIFAR_META)
    blobs = _read_tar_members(path, wanted) if path.is_file() else _read_dir_files(path, wanted)
    missing = [n for n in CIFAR_BATCHES[split] if n not in blobs]
    if missing:
        raise FileNotFoundError(f"{path}: missing CIFAR-10 batch file(s) {', '.join(missing)}")
    parts = [parse_batch(data, source) for data, source in (blobs[n] for n in CIFAR_BATCHES[split])]
    classes = CIFAR10_CLASSES
    if CIFAR_META in blobs:
        classes = parse_meta(*blobs[CIFAR_META])
        if len(classes) != len(CIFAR10_CLASSES):
            raise DatasetFormatError(blobs[CIFAR_META][1], f"expected 10 classes, got {classes}")
    images = torch.cat([p[0] for p in parts])
    labels = torch.cat([p[1] for p in parts])
    return images, labels, classes


def _read_dir_files(directory: Path, names: tuple[str, ...]) -> dict[str, tuple[bytes, str]]:
    found = {}
    for name in names:
        file = directory / name
        if file.is_file():
            found[name] = (file.read_bytes(), str(file))
    return found


def _read_tar_members(archive: Path, names: tuple[str, ...]) -> dict[str, tuple[bytes, str]]:
    """Read the members whose base name is in ``names`` straight from the archive, in one pass."""
    found = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                base = PurePosixPath(member.name).name
                if member.isfile() and base in names and base not in found:
                    stream = tar.extractfile(member)
                    assert stream is not None  # isfile() members always have data
                    found[base] = (stream.read(), f"{archive}:{member.name}")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DatasetFormatError(archive, f"unreadable archive: {err}") from err
    return found
