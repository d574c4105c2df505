"""mtsnn: fused multi-threshold leaky integrate-and-fire (MT-LIF) spiking neurons for PyTorch."""

from mtsnn import functional, nn, reference
from mtsnn._extension import (
    built_with_cuda,
    cpu_capability,
    cpu_streaming_threshold,
    extension_available,
    keep_freed_memory,
    set_cpu_capability,
    set_cpu_streaming_threshold,
)

__version__ = "0.1.0"

__all__ = [
    "built_with_cuda",
    "cpu_capability",
    "cpu_streaming_threshold",
    "extension_available",
    "functional",
    "keep_freed_memory",
    "nn",
    "reference",
    "set_cpu_capability",
    "set_cpu_streaming_threshold",
]
