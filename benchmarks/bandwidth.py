"""Effective bandwidth of the op: the bytes it must move over its time, against a tensor copy.

The op is memory bound, so a plain copy of its input, measured in the same run, is the yardstick:
``out.copy_(x)`` into a preallocated tensor (the best case) and ``x.clone()``, which allocates
its output like the op does (fresh large allocations cost page faults on a CPU).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from neurons import DECAY, NUM_THRESHOLDS, OPTIONS, THRESHOLD, make_inputs
from timing import Budget, measure

import mtsnn

KINDS = ("copy_", "clone", "forward", "backward")


def traffic_bytes(kind: str, steps: int, neurons: int, element_size: int) -> int:
    """Bytes a call must read and write, counting each tensor once.

    forward (as a layer calls it, without the final membrane): read x, write spikes; backward:
    read x and grad_spikes, write grad_x; copy_ and clone: read x, write its copy.
    """
    sequence = steps * neurons * element_size
    return {
        "forward": 2 * sequence,
        "backward": 3 * sequence,
        "copy_": 2 * sequence,
        "clone": 2 * sequence,
    }[kind]


def _calls(x: torch.Tensor, grad: torch.Tensor) -> dict[str, Callable[[], object]]:
    target = torch.empty_like(x)

    def backward() -> tuple[torch.Tensor, ...]:
        # The fused backward alone (what autograd calls), without the forward or the graph.
        return torch.ops.mtsnn.mt_lif_backward(
            grad,
            None,
            x,
            None,
            None,
            DECAY,
            NUM_THRESHOLDS,
            THRESHOLD,
            OPTIONS["reset"],
            OPTIONS["surrogate"],
            OPTIONS["width"],
            False,
            False,
        )

    return {
        "copy_": lambda: target.copy_(x),
        "clone": x.clone,
        "forward": lambda: mtsnn.functional.mt_lif(x, **OPTIONS),
        "backward": backward,
    }


def run_bandwidth(
    *,
    device: torch.device,
    steps: list[int],
    sizes: list[int],
    dtypes: list[torch.dtype],
    budget: Budget,
    emit: Callable[[dict], None],
) -> None:
    """Measure the copies, then the op's forward and backward, for each dtype, size and T.

    The op's records carry ``fraction_of_copy`` and ``fraction_of_clone``: its GB/s over the
    copy's GB/s in the same configuration.
    """
    generator = torch.Generator(device).manual_seed(0)
    for dtype, size, num_steps in itertools.product(dtypes, sizes, steps):
        x, grad = make_inputs(generator, num_steps, size, dtype)
        rates = {}
        for kind, call in _calls(x, grad).items():
            nbytes = traffic_bytes(kind, num_steps, size, x.element_size())
            timing = measure(call, device, budget)
            rates[kind] = nbytes / timing["median_ms"] / 1e6
            record = {
                "section": "bandwidth",
                "kind": kind,
                "dtype": str(dtype).removeprefix("torch."),
                "steps": num_steps,
                "neurons": size,
                "bytes": nbytes,
                "gb_per_s": rates[kind],
                **timing,
            }
            if kind in ("forward", "backward"):
                record["fraction_of_copy"] = rates[kind] / rates["copy_"]
                record["fraction_of_clone"] = rates[kind] / rates["clone"]
            emit(record)
