"""Seeding, deterministic mode, and the random generators' states as plain JSON values."""

from __future__ import annotations

import base64
import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def use_deterministic(enabled: bool) -> None:
    """Turn torch's deterministic algorithms on (an op without one then raises) or off."""
    if enabled:
        # cuBLAS reads this when it starts; it is needed for deterministic matrix products.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled
    torch.backends.cudnn.deterministic = enabled


@contextlib.contextmanager
def restored_torch_settings() -> Iterator[None]:
    """Undo, on exit, changes to torch's thread count and deterministic-mode flags.

    A run called from Python (a test, a notebook) then leaves the process as it found it.
    """
    saved = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    try:
        yield
    finally:
        threads, deterministic, benchmark, cudnn_deterministic = saved
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.backends.cudnn.benchmark = benchmark
        torch.backends.cudnn.deterministic = cudnn_deterministic


def _encode(state: torch.Tensor) -> str:
    return base64.b64encode(state.numpy().tobytes()).decode("ascii")


def _decode(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text, validate=True)), dtype=torch.uint8)


def rng_state() -> dict[str, Any]:
    """Return the global generators' states as JSON values (lists and base64 strings)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": _encode(torch.get_rng_state()),
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "python": [version, list(python_state), gauss],
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_encode(s) for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states returned by rng_state.

    Raises:
        ValueError: when ``state`` is malformed.
    """
    try:
        torch.set_rng_state(_decode(state["torch"]))
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
        version, python_state, gauss = state["python"]
        random.setstate((version, tuple(python_state), gauss))
        cuda = [_decode(s) for s in state["cuda"]]
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"malformed random generator state: {err}") from err
    if cuda and torch.cuda.is_available():
        # A run resumed on fewer GPUs restores the generators it has.
        for device, device_state in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(device_state, device)
