"""Durable file writes and the output-directory checks made before a run starts."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from mtsnn.data.cache import atomic_file
from mtsnn.training.errors import OutputDirError


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Flush a directory's entries to disk, so that a rename into it survives a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably.

    The bytes go to a temporary file in the same directory, which is flushed, fsynced and renamed
    onto ``path`` (os.replace); then the directory is fsynced. Readers see the old file or the new
    one, never a partial one.
    """
    path = Path(path)
    with atomic_file(path) as out:
        out.write(data)
    fsync_dir(path.parent)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_writable(directory: str | os.PathLike[str]) -> None:
    """Create ``directory`` if needed and prove it writable.

    A probe file is written, fsynced and deleted, so that a read-only file system fails now
    rather than after the first epoch.

    Raises:
        OutputDirError: naming the directory, when it cannot be created or written.
    """
    directory = Path(directory)
    probe = directory / f".mtsnn-write-probe-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as stream:
            stream.write(b"probe")
            stream.flush()
            os.fsync(stream.fileno())
        probe.unlink()
    except OSError as err:
        raise OutputDirError(
            f"output directory {directory} is not writable: {err.strerror or err}"
        ) from err


def check_free_space(directory: str | os.PathLike[str], needed_bytes: int) -> None:
    """Raise OutputDirError, naming ``directory``, if it has less than ``needed_bytes`` free."""
    free = shutil.disk_usage(directory).free
    if free < needed_bytes:
        raise OutputDirError(
            f"output directory {directory} has {free / 2**20:.1f} MiB free, but the run needs "
            f"about {needed_bytes / 2**20:.1f} MiB for its checkpoints and logs"
        )
