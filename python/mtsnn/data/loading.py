"""load_dataset: find a dataset (or download it, or fall back to the shipped sample) and read it."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

from mtsnn.data.cache import datasets_cache_dir
from mtsnn.data.cifar import read_cifar
from mtsnn.data.discovery import Located, locate, search_dirs
from mtsnn.data.download import download_dataset
from mtsnn.data.errors import DatasetFormatError
from mtsnn.data.idx import idx_files, read_idx_pair
from mtsnn.data.image_dataset import ImageDataset
from mtsnn.data.image_folder import read_image_folder
from mtsnn.data.specs import (
    CIFAR10_CLASSES,
    CIFAR_BATCH_DIR,
    CIFAR_BATCHES,
    CIFAR_META,
    CIFAR_TARBALL,
    CLASSES,
    IDX_FILES,
    check_name,
    check_split,
)

SAMPLE_DIR = Path(__file__).resolve().parent / "samples"
_IDX_IMAGE_SIZE = (28, 28)


def load_dataset(
    name: str,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    allow_sample: bool = True,
) -> ImageDataset:
    """Load one split of ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"`` into memory.

    The dataset is searched for as described in discovery.search_dirs / discovery.locate. If it
    is not found: with ``download`` the official files are downloaded (checksum-verified) into
    the per-user cache and read; otherwise, for MNIST with ``allow_sample``, the small sample
    shipped with the package is returned with ``is_sample=True`` and a warning.

    Raises:
        ValueError: unknown ``name`` or ``split`` (the message lists the valid ones).
        FileNotFoundError: nothing found; the message lists the files needed and where to put them.
        DatasetFormatError: a file was found but is malformed (the message names it).
    """
    check_name(name)
    check_split(split)
    found = locate(name, split, data_dir)
    if found is None and download:
        download_dataset(name)
        found = locate(name, split, data_dir)
    if found is not None:
        return read_located(name, split, found)
    if allow_sample and name == "mnist":
        sample = load_sample(split)
        warnings.warn(
            f"MNIST was not found, so the small sample shipped with mtsnn is used instead "
            f"({len(sample)} {split} images, not the full 60000/10000): results on it are not "
            f"MNIST results. To get the full dataset, pass --download (download=True), or put "
            f"the four IDX files in $MTSNN_DATA or in {datasets_cache_dir() / name}.",
            stacklevel=2,
        )
        return sample
    raise FileNotFoundError(not_found_message(name, split, data_dir))


def read_located(name: str, split: str, found: Located) -> ImageDataset:
    """Read ``split`` of dataset ``name`` from where locate() found it."""
    if found.kind == "idx":
        paths = idx_files(found.path, split)
        if paths is None:
            raise FileNotFoundError(f"{found.path}: no IDX files for split {split!r}")
        images, labels = read_idx_pair(*paths, num_classes=len(CLASSES[name]))
        if tuple(images.shape[-2:]) != _IDX_IMAGE_SIZE:
            raise DatasetFormatError(
                paths[0], f"holds {tuple(images.shape[-2:])} images; {name} images are 28x28"
            )
        classes = CLASSES[name]
    elif found.kind == "cifar-batches":
        images, labels, classes = read_cifar(found.path, split)
    else:
        images, labels, classes = read_image_folder(found.path, split)
        if classes != CIFAR10_CLASSES:
            raise DatasetFormatError(
                found.path, f"class directories {classes} are not the CIFAR-10 classes"
            )
    return ImageDataset(images, labels, classes, name, split, str(found.path), is_sample=False)


def load_sample(split: str) -> ImageDataset:
    """Return the small real MNIST sample shipped in ``samples/`` (see its README.md)."""
    dataset = read_located("mnist", split, Located("idx", SAMPLE_DIR))
    return dataclasses.replace(
        dataset, source=f"shipped MNIST sample ({SAMPLE_DIR})", is_sample=True
    )


def not_found_message(name: str, split: str, data_dir: str | os.PathLike[str] | None = None) -> str:
    """Explain which files to put where for ``split`` of dataset ``name``."""
    if name == "cifar10":
        batches = ", ".join(CIFAR_BATCHES[split])
        wanted = (
            f"  - {CIFAR_BATCH_DIR}/ holding {batches} and {CIFAR_META} (the official python "
            f"version), or\n"
            f"  - the official archive {CIFAR_TARBALL} itself (read in place), or\n"
            f"  - an image folder {split}/<class>/*.png|jpg with the 10 CIFAR-10 class names "
            f"({', '.join(CIFAR10_CLASSES)}), or a cifar10*.tar.gz of it"
        )
    else:
        files = " and ".join(f"{stem}.gz" for stem in IDX_FILES[split])
        wanted = f"  - {files} (the official IDX files, gzipped or not)"
    searched = "\n".join(f"  {d}" for d in search_dirs(name, data_dir))
    return (
        f"dataset {name!r} (split {split!r}) was not found. Put\n{wanted}\n"
        f"in one of these directories (searched in this order):\n{searched}\n"
        f"e.g. set $MTSNN_DATA to a directory holding them (directly or in {name}/), or pass "
        f"--download (download=True) to fetch the official files into "
        f"{datasets_cache_dir() / name}."
    )
