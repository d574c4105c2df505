"""Per-user cache: where downloads go, atomic writes, and the decoded-image tensor cache."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import torch

# Bump when the decoded layout changes, so stale cache files are ignored instead of misread.
_DECODED_FORMAT = 1


def user_cache_dir() -> Path:
    """Return ``$XDG_CACHE_HOME/mtsnn`` or, without that variable, ``~/.cache/mtsnn``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "mtsnn")


def datasets_cache_dir() -> Path:
    """Return the per-user directory that downloads go to (``<user cache>/datasets``)."""
    return user_cache_dir() / "datasets"


def _new_file_mode() -> int:
    """The mode open() would give a new file: 0o666 less the process umask.

    The umask is read from /proc where it exists, since setting it to read it back is not
    thread-safe.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


@contextlib.contextmanager
def atomic_file(dest: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a temporary file next to ``dest``; on success fsync it and rename it onto ``dest``.

    On any exception the temporary file is removed and ``dest`` is left untouched, so readers
    never see a partial file.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _new_file_mode())  # mkstemp's 0600 would hide results from other users
        with os.fdopen(fd, "wb") as tmp:
            yield tmp
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def decoded_cache_path(key_parts: list[str]) -> Path:
    """Return the cache file for decoded images identified by ``key_parts``."""
    digest = hashlib.sha256(json.dumps([_DECODED_FORMAT, *key_parts]).encode()).hexdigest()
    return user_cache_dir() / "decoded" / f"{digest[:32]}.safetensors"


def load_decoded(path: Path) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]] | None:
    """Return (images, labels, classes) from a decoded cache file, or None if absent/unusable."""
    if not path.is_file():
        return None
    try:
        import safetensors
    except ImportError:
        return None
    try:
        with safetensors.safe_open(str(path), framework="pt") as cached:
            classes = tuple(json.loads(cached.metadata()["classes"]))
            return cached.get_tensor("images"), cached.get_tensor("labels"), classes
    # A damaged or foreign cache file only costs a re-decode, never a failure.
    except (OSError, ValueError, KeyError, TypeError, safetensors.SafetensorError):
        return None


def store_decoded(
    path: Path, images: torch.Tensor, labels: torch.Tensor, classes: tuple[str, ...]
) -> None:
    """Write decoded tensors to ``path`` atomically; warn (don't fail) if that is impossible."""
    try:
        from safetensors.torch import save

        payload = save(
            {"images": images.contiguous(), "labels": labels.contiguous()},
            metadata={"classes": json.dumps(list(classes))},
        )
        with atomic_file(path) as out:
            out.write(payload)
    except (ImportError, OSError) as err:
        warnings.warn(f"could not cache decoded images in {path}: {err}", stacklevel=3)
