"""Loads the compiled extension mtsnn._C, which registers torch.ops.mtsnn.*."""

from __future__ import annotations

import importlib
from types import ModuleType

_BUILD_HINT = (
    "Build it from the source tree with `pip install --no-build-isolation .` "
    "(or `python setup.py build_ext --inplace` for a development checkout)."
)

_module: ModuleType | None = None
_load_error: BaseException | None = None


def _load() -> None:
    global _module, _load_error
    try:
        _module = importlib.import_module("mtsnn._C")
    except ImportError as error:  # keep the pure-Python parts (reference, data) usable
        _load_error = error


def require_extension() -> ModuleType:
    """Return mtsnn._C, or raise a RuntimeError that says how to build it."""
    if _module is None:
        raise RuntimeError(
            f"mtsnn's compiled extension mtsnn._C is not available ({_load_error}). {_BUILD_HINT}"
        )
    return _module


def extension_available() -> bool:
    """Whether the compiled kernels are loaded."""
    return _module is not None


def built_with_cuda() -> bool:
    """Whether the compiled extension contains the CUDA kernels."""
    return extension_available() and bool(require_extension().built_with_cuda())


def cpu_capability() -> str:
    """The CPU kernel variant in use: 'avx512', 'avx2' or 'default'.

    On first use it is the one $MTSNN_CPU_CAPABILITY names (an error if this processor lacks it),
    else the one $ATEN_CPU_CAPABILITY names where this processor has it (that variable also caps
    ATen's kernels and torch.compile's code), else the best this processor supports.
    """
    return str(require_extension().cpu_capability())


def set_cpu_capability(name: str) -> None:
    """Switch the CPU kernel variant ('avx512', 'avx2' or 'default'), e.g. to compare them."""
    require_extension().set_cpu_capability(name)


def cpu_streaming_threshold() -> int:
    """The size in bytes from which the CPU kernels write a float32 or float64 output with
    streaming stores: a forward pass's output, or a backward pass's inputs and output together
    (bfloat16 and float16 outputs never stream: measured slower).

    Streaming stores skip the caches: where a pass moves more than the last-level cache holds, its
    output is evicted before anything reads it, and a streaming store saves reading each line of it
    before writing. The default is the size of the last-level cache, at most 32 MiB (32 MiB where
    the system does not tell it; a large L3 shared by many cores serves a few of them like a
    smaller one). A float32 or float64 forward pass over two or more steps whose input and output
    together reach this size runs in short chunks of neurons, faster than whole blocks when the
    traffic leaves the cache, and streams its output.
    """
    return int(require_extension().cpu_streaming_threshold())


def set_cpu_streaming_threshold(num_bytes: int) -> None:
    """Set the size in bytes from which the CPU kernels stream (see cpu_streaming_threshold; 0:
    every output; a huge value: none), e.g. to compare the two; ValueError if negative."""
    require_extension().set_cpu_streaming_threshold(num_bytes)


def keep_freed_memory() -> bool:
    """Make the C library keep memory the process frees, for its next allocations, instead of
    returning it to the system; return whether it could (glibc only).

    PyTorch's CPU tensors are plain malloc blocks: by default every tensor over 32 MiB is mapped
    anew on each allocation, and freed heap memory is trimmed, so each training step pays a page
    fault per 4 KiB of its large activations. With this the resident memory stays at its peak
    instead. Process-wide; `mtsnn train` calls it unless --no-keep-memory. (Without mtsnn, the
    environment variables MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_, set to a large value
    before the process starts, do the same.)
    """
    return bool(require_extension().keep_freed_memory())


_load()
