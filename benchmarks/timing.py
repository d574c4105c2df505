"""Wall-clock timing of synchronised calls: a warm-up, then the median of repeated samples,
taken in turn when several functions are compared."""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Callable, Mapping
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
    """Time ``fn`` alone: ``measure_side_by_side`` with one function."""
    return measure_side_by_side({"fn": fn}, device, budget)["fn"]


def measure_side_by_side(
    fns: Mapping[str, Callable[[], object]], device: torch.device, budget: Budget
) -> dict[str, dict[str, float]]:
    """Time each of ``fns``: two untimed warm-up calls each, then samples taken in turn.

    A sample is one synchronised batch of calls, as many as the function's second warm-up says
    last ``SAMPLE_S`` (at most 100), so that a fast GPU kernel is not timed against the cost of
    synchronising; its time is divided by the number of calls. The functions take their samples
    in rounds, one each (a function that has met the budget sits the next rounds out), so that
    a slow spell of a shared machine, which lasts longer than a sample, slows all of them alike
    rather than the one that happened to be running: their ratios are then measured side by
    side.

    Returns, per name: median_ms, min_ms, max_ms and iqr_ms (the spread: 75th minus 25th
    percentile) of the per-call time over the samples, repeats (the number of samples),
    calls_per_sample, and page_faults_per_call: the process's minor page faults per timed call
    (first touches of freshly mapped memory: what fresh large outputs cost on a CPU).
    """
    calls: dict[str, int] = {}
    for name, fn in fns.items():
        synchronize(device)
        fn()
        synchronize(device)
        # Sized from a second, warm call: the first pays one-time costs (allocator growth, lazy
        # initialisation) that would make a fast GPU kernel look slow enough to time one call
        # at a time.
        start = time.perf_counter()
        fn()
        synchronize(device)
        calls[name] = min(100, max(1, math.ceil(SAMPLE_S / (time.perf_counter() - start))))
    times: dict[str, list[float]] = {name: [] for name in fns}
    faults = dict.fromkeys(fns, 0)

    def wants_samples(name: str) -> bool:
        taken = times[name]
        return len(taken) < budget.min_repeats or (
            sum(taken) * calls[name] < budget.target_s and len(taken) < budget.max_repeats
        )

    while pending := [name for name in fns if wants_samples(name)]:
        for name in pending:
            fn = fns[name]
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            synchronize(device)
            times[name].append((time.perf_counter() - start) / calls[name])
            faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    return {name: _summary(times[name], calls[name], faults[name]) for name in fns}


def _summary(times: list[float], calls: int, faults: int) -> dict[str, float]:
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
