"""Facts about the machine and the software, recorded with every run and every benchmark."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

import mtsnn


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


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0))


def machine_info() -> dict[str, Any]:
    """The CPU (model, cores, those usable here, torch's threads), mtsnn's CPU kernel variant,
    its streaming threshold and build, the platform, the Python, torch and CUDA versions, and the
    GPUs (if any)."""
    gpus = []
    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "mtsnn_cpu_capability": mtsnn.cpu_capability() if mtsnn.extension_available() else None,
        "mtsnn_cpu_streaming_threshold": (
            mtsnn.cpu_streaming_threshold() if mtsnn.extension_available() else None
        ),
        "mtsnn_built_with_cuda": mtsnn.built_with_cuda(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "mtsnn": mtsnn.__version__,
        "gpus": gpus,
    }
