"""Finding a dataset on disk: which directories are searched, in which order, for which files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mtsnn.data.cache import datasets_cache_dir
from mtsnn.data.idx import idx_files
from mtsnn.data.specs import (
    CIFAR10_CLASSES,
    CIFAR_BATCH_DIR,
    CIFAR_BATCHES,
    CIFAR_TARBALL,
    SPLITS,
    SUBDIRS,
    check_name,
    check_split,
)

# System-wide dataset roots; Debian's dataset-* packages install to /usr/share/datasets/<name>.
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)


@dataclass(frozen=True)
class Located:
    """Where a dataset was found.

    Attributes:
        kind: ``"idx"`` (directory of IDX files), ``"cifar-batches"`` (official CIFAR-10 python
            batches: a directory, or the ``cifar-10-python.tar.gz`` archive) or ``"image-folder"``
            (``train/<class>/*`` and ``test/<class>/*``: a directory, or a ``.tar.gz`` of one).
        path: the directory or archive to read.
    """

    kind: str
    path: Path


def data_roots(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Return the data roots in search order.

    The order is: ``data_dir``, each entry of ``$MTSNN_DATA`` (``os.pathsep``-separated), the
    per-user cache (``$XDG_CACHE_HOME/mtsnn/datasets`` or ``~/.cache/mtsnn/datasets``), then
    SYSTEM_DATA_DIRS.
    """
    roots = [Path(data_dir).expanduser()] if data_dir is not None else []
    env = os.environ.get("MTSNN_DATA", "")
    roots += [Path(entry).expanduser() for entry in env.split(os.pathsep) if entry]
    roots.append(datasets_cache_dir())
    roots += SYSTEM_DATA_DIRS
    return roots


def search_dirs(name: str, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Return every directory searched for dataset ``name``, in order, without duplicates.

    Within each root: ``<root>/<name>`` and the other known sub-directories (torchvision's
    ``MNIST/raw``, ``cifar10-jpeg``), then the root itself.
    """
    check_name(name)
    dirs: list[Path] = []
    for root in data_roots(data_dir):
        for candidate in (*(root / sub for sub in SUBDIRS[name]), root):
            if candidate not in dirs:
                dirs.append(candidate)
    return dirs


def locate(
    name: str, split: str | None = None, data_dir: str | os.PathLike[str] | None = None
) -> Located | None:
    """Find dataset ``name`` (the files of ``split``, or of both splits when None), or None.

    For MNIST and Fashion-MNIST a directory qualifies when it holds the IDX files (plain or
    ``.gz``). For CIFAR-10 the first match in a directory wins, in this order: a
    ``cifar-10-batches-py`` sub-directory, the batch files themselves, ``cifar-10-python.tar.gz``,
    an image folder whose class directories are CIFAR-10's, then a ``cifar10*.tar.gz`` or
    ``cifar-10*.tar.gz`` archive of such an image folder.
    """
    if split is None:
        splits = SPLITS
    else:
        check_split(split)
        splits = (split,)
    for directory in search_dirs(name, data_dir):
        found = _probe(name, directory, splits) if directory.is_dir() else None
        if found is not None:
            return found
    return None


def resolve_data_dir(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Return where dataset ``name`` (both splits) is found, or None.

    The result is the directory holding the files, or for an archive the archive itself. See
    search_dirs for the order in which places are searched and locate for what qualifies.
    """
    found = locate(name, None, data_dir)
    return None if found is None else found.path


def _probe(name: str, directory: Path, splits: tuple[str, ...]) -> Located | None:
    if name == "cifar10":
        return _probe_cifar(directory, splits)
    if all(idx_files(directory, split) for split in splits):
        return Located("idx", directory)
    return None


def _probe_cifar(directory: Path, splits: tuple[str, ...]) -> Located | None:
    batches = [name for split in splits for name in CIFAR_BATCHES[split]]
    for candidate in (directory / CIFAR_BATCH_DIR, directory):
        if all((candidate / batch).is_file() for batch in batches):
            return Located("cifar-batches", candidate)
    if (directory / CIFAR_TARBALL).is_file():
        return Located("cifar-batches", directory / CIFAR_TARBALL)
    if all((directory / split / cls).is_dir() for split in splits for cls in CIFAR10_CLASSES):
        return Located("image-folder", directory)
    for archive in sorted(directory.glob("*.tar.gz")):
        if archive.name.lower().startswith(("cifar10", "cifar-10")) and archive.is_file():
            return Located("image-folder", archive)
    return None
