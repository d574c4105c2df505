"""Wall-clock timing of synchronised calls: a warm-up, then the median of repeated samples."""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Budget:
    """How many samples to take: at least ``min_repeats``, then more (up to ``max_repeats``)
    until ``target_s`` of calls have been timed."""

    min_repeats: int
    max_repeats: int
    target_s: float


# The full budget keeps a 3-second call to five calls (two warm-ups and three samples) so that
# the whole CPU suite fits in about ten minutes; fast calls get up to 50 samples.
FULL = Budget(min_repeats=3, max_repeats=50, target_s=0.5)
QUICK = Budget(min_repeats=2, max_repeats=5, target_s=0.02)
SAMPLE_S = 1e-3  # the shortest sample: fast calls are batched up to this


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that the wall clock covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn: Callable[[], object], device: torch.device, budget: Budget) -> dict[str, float]:
    """Time ``fn``: two untimed warm-up calls, then samples until the budget is met.

    A sample is one synchronised batch of calls, as many as the second warm-up says last
    ``SAMPLE_S`` (at most 100), so that a fast GPU kernel is not timed against the cost of
    synchronising; its time is divided by the number of calls.

    Returns:
        median_ms, min_ms, max_ms and iqr_ms (the spread: 75th minus 25th percentile) of the
        per-call time over the samples, repeats (the number of samples), calls_per_sample, and
        page_faults_per_call: the process's minor page faults per timed call (first touches of
        freshly mapped memory: what fresh large outputs cost on a CPU).
    """
    synchronize(device)
    fn()
    synchronize(device)
    # Sized from a second, warm call: the first pays one-time costs (allocator growth, lazy
    # initialisation) that would make a fast GPU kernel look slow enough to time one call at a time.
    start = time.perf_counter()
    fn()
    synchronize(device)
    calls = min(100, max(1, math.ceil(SAMPLE_S / (time.perf_counter() - start))))
    times: list[float] = []
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    while len(times) < budget.min_repeats or (
        sum(times) * calls < budget.target_s and len(times) < budget.max_repeats
    ):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        synchronize(device)
        times.append((time.perf_counter() - start) / calls)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "max_ms": max(times) * 1e3,
        "iqr_ms": (quartiles[2] - quartiles[0]) * 1e3,
        "repeats": len(times),
        "calls_per_sample": calls,
        "page_faults_per_call": faults / (len(times) * calls),
    }
