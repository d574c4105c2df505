"""A run's summary.json, and the versions and command line it records."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import mtsnn
from mtsnn.training.fileio import atomic_write

SUMMARY_FILE = "summary.json"


def versions() -> dict[str, str]:
    """Versions of Python, torch, NumPy and mtsnn."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "mtsnn": mtsnn.__version__,
    }


def command_line(argv: Sequence[str] | None) -> str:
    """The command as typed: ``mtsnn`` and ``argv`` (sys.argv[1:] when None), shell-quoted."""
    args = sys.argv[1:] if argv is None else argv
    return shlex.join(["mtsnn", *args])


def write_summary(run_dir: str | os.PathLike[str], summary: dict[str, Any]) -> Path:
    """Write ``summary`` to run_dir/summary.json atomically; return the path."""
    path = Path(run_dir) / SUMMARY_FILE
    atomic_write(path, (json.dumps(summary, indent=1) + "\n").encode())
    return path
