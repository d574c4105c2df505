"""Reader for ``<root>/{train,test}/<class>/*.{png,jpg,jpeg}``, as a directory or a .tar.gz.

Archives are read member by member, never extracted. Decoded tensors are cached per user, because
decoding tens of thousands of JPEG files takes far longer than loading the cached tensors.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType

import numpy as np
import torch

from mtsnn.data.cache import decoded_cache_path, load_decoded, store_decoded
from mtsnn.data.errors import DatasetFormatError
from mtsnn.data.specs import CIFAR10_CLASSES, SPLITS

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg")
_MODE_CHANNELS = {"L": 1, "RGB": 3}


@dataclass(frozen=True)
class _Entry:
    class_name: str
    name: str
    source: str  # what error messages call this image
    data: bytes | Path


def class_order(names: set[str]) -> tuple[str, ...]:
    """Label order of class directory names: CIFAR-10's standard order for its classes, else sorted.

    The CIFAR-10 order is pinned rather than derived, so labels always match the official batches.
    """
    if names == set(CIFAR10_CLASSES):
        return CIFAR10_CLASSES
    return tuple(sorted(names))


def read_image_folder(
    path: str | os.PathLike[str], split: str, *, use_cache: bool = True
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Read one split of an image-folder dataset from a directory or a ``.tar.gz`` of one.

    Classes are the class directories holding images in either split, so both splits get the
    same labels. Images are ordered by label, then file name. When the classes are CIFAR-10's,
    every image must be 32x32 RGB; otherwise all images must share the first one's size and mode
    (L or RGB).

    Returns:
        (images uint8 [N, C, H, W], labels int64 [N], class names).

    Raises:
        FileNotFoundError: the split holds no image.
        DatasetFormatError: naming the image (``archive:member`` inside an archive) that is
            corrupt or of the wrong size or mode, or the archive if it is unreadable.
        ImportError: Pillow is not installed (and nothing is cached).
    """
    path = Path(path)
    # An archive is keyed by its metadata, so a cache hit skips the pass over it; a directory's
    # key needs its listing, which is then reused.
    listing = None
    if path.is_file():
        stat = path.stat()
        key = ["archive", str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns), split]
    else:
        listing = _list_directory(path, split)
        key = ["directory", str(path.resolve()), split, *sorted(listing[1])]
        key += [f"{e.class_name}/{e.name}:{_stat_key(e.data)}" for e in listing[0]]
    cache_file = decoded_cache_path(key)
    cached = load_decoded(cache_file) if use_cache else None
    if cached is not None:
        return cached
    entries, class_names = listing if listing is not None else _list_archive(path, split)

    classes = class_order(class_names)
    index = {name: label for label, name in enumerate(classes)}
    chosen = sorted(entries, key=lambda e: (index[e.class_name], e.name))
    if not chosen:
        raise FileNotFoundError(f"{path}: no {', '.join(IMAGE_EXTENSIONS)} image under {split}/")
    images = _decode_all(chosen, cifar=classes == CIFAR10_CLASSES)
    labels = torch.tensor([index[e.class_name] for e in chosen], dtype=torch.int64)
    if use_cache:
        store_decoded(cache_file, images, labels, classes)
    return images, labels, classes


def _stat_key(data: bytes | Path) -> str:
    assert isinstance(data, Path)  # directory entries reference files
    stat = data.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _split_class_name(parts: tuple[str, ...]) -> tuple[str, str, str] | None:
    """Return (split, class, file) for ``[top/]split/class/file`` image paths, else None."""
    if len(parts) not in (3, 4):
        return None
    split, class_name, name = parts[-3:]
    if split not in SPLITS or name.startswith(".") or not name.lower().endswith(IMAGE_EXTENSIONS):
        return None
    return split, class_name, name


def _list_directory(root: Path, split: str) -> tuple[list[_Entry], set[str]]:
    """Return the images of ``split`` and the classes holding images in any split."""
    entries, class_names = [], set()
    for any_split in SPLITS:
        split_dir = root / any_split
        if not split_dir.is_dir():
            continue
        for class_dir in split_dir.iterdir():
            if not class_dir.is_dir():
                continue
            for file in class_dir.iterdir():
                if _split_class_name((any_split, class_dir.name, file.name)) and file.is_file():
                    class_names.add(class_dir.name)
                    if any_split == split:
                        entries.append(_Entry(class_dir.name, file.name, str(file), file))
    return entries, class_names


def _list_archive(archive: Path, split: str) -> tuple[list[_Entry], set[str]]:
    """Like _list_directory, reading the images of ``split`` from the archive in one pass."""
    entries, class_names = [], set()
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                found = _split_class_name(PurePosixPath(member.name).parts)
                if found is None or not member.isfile():
                    continue
                member_split, class_name, name = found
                class_names.add(class_name)
                if member_split == split:
                    stream = tar.extractfile(member)
                    assert stream is not None  # isfile() members always have data
                    source = f"{archive}:{member.name}"
                    entries.append(_Entry(class_name, name, source, stream.read()))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DatasetFormatError(archive, f"unreadable archive: {err}") from err
    return entries, class_names


def _pillow() -> ModuleType:
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(
            "decoding image-folder datasets needs Pillow: pip install pillow"
        ) from err
    return Image


def _decode(image_module: ModuleType, entry: _Entry) -> tuple[str, np.ndarray]:
    data = entry.data
    source = data if isinstance(data, Path) else io.BytesIO(data)
    try:
        with image_module.open(source) as image:
            return image.mode, np.asarray(image)
    except (OSError, SyntaxError, ValueError, image_module.DecompressionBombError) as err:
        raise DatasetFormatError(entry.source, f"cannot decode image ({err})") from err


def _decode_all(entries: list[_Entry], *, cifar: bool) -> torch.Tensor:
    image_module = _pillow()
    first_mode, first = _decode(image_module, entries[0])
    if cifar:
        mode, height, width = "RGB", 32, 32
    else:
        mode, (height, width) = first_mode, first.shape[:2]
    if mode not in _MODE_CHANNELS:
        raise DatasetFormatError(
            entries[0].source, f"unsupported image mode {mode} (expected L or RGB)"
        )
    channels = _MODE_CHANNELS[mode]
    wanted = (height, width) if channels == 1 else (height, width, channels)
    out = np.empty((len(entries), height, width, channels), dtype=np.uint8)
    for i, entry in enumerate(entries):
        got_mode, pixels = (first_mode, first) if i == 0 else _decode(image_module, entry)
        if got_mode != mode or pixels.shape != wanted:
            layout = "a CIFAR-10 image folder" if cifar else "this image folder"
            raise DatasetFormatError(
                entry.source,
                f"is a {pixels.shape[1]}x{pixels.shape[0]} {got_mode} image; {layout} needs "
                f"{width}x{height} {mode} images",
            )
        out[i] = pixels.reshape(height, width, channels)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
