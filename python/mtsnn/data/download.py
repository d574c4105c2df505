"""Downloading the official dataset files into the per-user cache, checksum-verified."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mtsnn.data.cache import atomic_file, datasets_cache_dir
from mtsnn.data.specs import CIFAR_TARBALL, IDX_FILES, check_name

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/" + CIFAR_TARBALL
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One official file: where to fetch it, the name to store it under, its published md5."""

    url: str
    filename: str
    md5: str


class ChecksumMismatchError(OSError):
    """A downloaded file does not match its published checksum (it was discarded)."""


def _idx_files(base_url: str, md5s: tuple[str, str, str, str]) -> tuple[RemoteFile, ...]:
    names = [f"{stem}.gz" for split in ("train", "test") for stem in IDX_FILES[split]]
    return tuple(RemoteFile(base_url + n, n, md5) for n, md5 in zip(names, md5s, strict=True))


DOWNLOADS: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": _idx_files(
        MNIST_URL,
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    ),
    "fashion-mnist": _idx_files(
        FASHION_MNIST_URL,
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
    ),
    "cifar10": (RemoteFile(CIFAR10_URL, CIFAR_TARBALL, "c58f30108f718f92721af3b95e74349a"),),
}


def fetch_url(url: str, write: Callable[[bytes], object]) -> None:
    """Stream the body of ``url`` into ``write``, chunk by chunk (the only network access)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        while chunk := response.read(_CHUNK):
            write(chunk)


def download_dataset(name: str, dest_dir: str | os.PathLike[str] | None = None) -> Path:
    """Download the official files of dataset ``name`` into ``dest_dir`` and return that directory.

    ``dest_dir`` defaults to ``<user cache>/datasets/<name>``, which discovery searches. Each file
    is fetched into a temporary file, its md5 checked against the published one, then renamed into
    place; files already there are kept, since they were verified when written.

    Raises:
        ChecksumMismatchError: a file's md5 differs from the published one (nothing is kept).
        OSError: the download failed; the message says where to put the files by hand.
    """
    check_name(name)
    target_dir = Path(dest_dir) if dest_dir is not None else datasets_cache_dir() / name
    for remote in DOWNLOADS[name]:
        target = target_dir / remote.filename
        if not target.is_file():
            _download_file(remote, target)
    return target_dir


def _download_file(remote: RemoteFile, target: Path) -> None:
    digest = hashlib.md5(usedforsecurity=False)
    with atomic_file(target) as out:

        def write(chunk: bytes) -> None:
            digest.update(chunk)
            out.write(chunk)

        try:
            fetch_url(remote.url, write)
        except OSError as err:
            raise OSError(
                f"could not download {remote.url} ({err}); fetch it by hand and save it as {target}"
            ) from err
        if digest.hexdigest() != remote.md5:
            raise ChecksumMismatchError(
                f"{remote.url}: md5 {digest.hexdigest()} differs from the published "
                f"{remote.md5}; the download was discarded"
            )
