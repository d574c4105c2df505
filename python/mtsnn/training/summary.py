"""Facts about the machine and the software, for a run's summary.json."""

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


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), or what platform reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model and core count, torch's thread count, OS, and the GPUs (if any)."""
    gpus = []
    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "gpus": gpus,
    }


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
