"""Facts about the machine and the software, recorded with every run and every benchmark."""

from __future__ import annotations

import functools
import os
import platform
from typing import Any

import torch

import mtsnn

# The x86 vector extensions that decide which mtsnn CPU kernels run and how fast.
_VECTOR_EXTENSIONS = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_bf16")


@functools.cache  # read once: machine_info asks for several of its fields
def _cpuinfo() -> dict[str, str]:
    """The fields of the first processor in /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), or what platform reports."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_signature() -> str | None:
    """The CPU's family, model and stepping (from /proc/cpuinfo), which tell apart processors
    that share a model name (a virtual machine's "AMD EPYC" may be Zen 3 or Zen 4); None where
    unknown."""
    fields = _cpuinfo()
    if "cpu family" not in fields:
        return None
    return (
        f"family {fields['cpu family']} model {fields.get('model', '?')} "
        f"stepping {fields.get('stepping', '?')}"
    )


def cpu_flags() -> set[str]:
    """The feature flags the CPU reports in /proc/cpuinfo (empty where there are none)."""
    return set(_cpuinfo().get("flags", "").split())


def cpu_vector_extensions() -> list[str]:
    """Which of the x86 vector extensions mtsnn's CPU kernels use this CPU reports."""
    flags = cpu_flags()
    return [name for name in _VECTOR_EXTENSIONS if name in flags]


def cpu_has_bfloat16() -> bool:
    """Whether the CPU reports bfloat16 arithmetic (x86: AVX-512 BF16 or AMX; ARM: BF16), without
    which oneDNN emulates bfloat16 convolutions and matrix products, many times slower than
    float32 ones."""
    arm_features = set(_cpuinfo().get("Features", "").split())
    return bool((cpu_flags() | arm_features) & {"avx512_bf16", "amx_bf16", "bf16"})


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0))


def machine_info() -> dict[str, Any]:
    """The CPU (model, signature, vector extensions, cores, those usable here, torch's threads),
    mtsnn's CPU kernel variant, its streaming threshold and build, the platform, the Python, torch
    and CUDA versions, and the GPUs (if any)."""
    gpus = []
    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "cpu": cpu_model(),
        "cpu_signature": cpu_signature(),
        "cpu_vector_extensions": cpu_vector_extensions(),
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
