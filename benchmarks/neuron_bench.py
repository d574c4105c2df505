"""The neuron op against the reference, torch.compile and peer libraries, on the same inputs."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable

import torch
from neurons import IMPLEMENTATIONS, Run, make_inputs
from timing import Budget, measure_side_by_side, synchronize

MODES = ("forward", "forward+backward")


def describe(names: Iterable[str], device: torch.device) -> dict[str, dict]:
    """What each implementation is, for the report; ``skipped`` says why one cannot run."""
    described = {}
    for name in names:
        impl = IMPLEMENTATIONS[name]
        entry = {
            "package": impl.package,
            "version": impl.version(),
            "neuron": impl.neuron,
            "graded": impl.graded,
        }
        try:
            impl.build(device)
            entry["backend"] = impl.backend(device)
        except ImportError as error:
            entry["skipped"] = f"not importable: {error}"
        described[name] = entry
    return described


def _call(
    run: Run, x: torch.Tensor, grads: dict[torch.dtype, torch.Tensor], mode: str
) -> Callable[[], object]:
    """The timed call: inference, or forward then backward to the input."""
    if mode == "forward":

        def call() -> torch.Tensor:
            with torch.no_grad():
                return run(x)

        return call
    x = x.detach().requires_grad_()

    def call_backward() -> tuple[torch.Tensor, ...]:
        spikes = run(x)
        # Some peers return float32 spikes for bfloat16 input; the gradient must match.
        return torch.autograd.grad(spikes, x, grads[spikes.dtype])

    return call_backward


def _error_text(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:200] if lines else ''}"


def _prepare(
    name: str,
    mode: str,
    x: torch.Tensor,
    grads: dict[torch.dtype, torch.Tensor],
    device: torch.device,
) -> tuple[Callable[[], object] | None, dict]:
    """Build ``name`` and make its first call untimed (it compiles, where there is compiling to
    do). Returns the call and its record so far: ``first_call_s``, or the ``skipped`` reason of
    a failure (and no call)."""
    try:
        call = _call(IMPLEMENTATIONS[name].build(device), x, grads, mode)
        start = time.perf_counter()
        call()
        synchronize(device)
        return call, {"first_call_s": time.perf_counter() - start}
    except Exception as error:  # one failing configuration is a result, not the end of the run
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return None, {"skipped": _error_text(error)}


def run_neuron_bench(
    *,
    names: list[str],
    device: torch.device,
    steps: list[int],
    sizes: list[int],
    dtypes: list[torch.dtype],
    budget: Budget,
    emit: Callable[[dict], None],
) -> None:
    """Time every implementation in ``names`` for each mode, dtype, size and T.

    The implementations of one configuration are timed side by side (``measure_side_by_side``)
    and their records go to ``emit`` as soon as it is measured; ``ratio_to_mtsnn`` is the
    implementation's median over the mtsnn op's median in the same configuration.
    """
    generator = torch.Generator(device).manual_seed(0)
    for mode, dtype, size, num_steps in itertools.product(MODES, dtypes, sizes, steps):
        x, grad = make_inputs(generator, num_steps, size, dtype)
        grads = {dtype: grad, torch.float32: grad.float()}
        calls, records = {}, {}
        for name in names:
            call, records[name] = _prepare(name, mode, x, grads, device)
            if call is not None:
                calls[name] = call
        try:
            timings = measure_side_by_side(calls, device, budget)
        except Exception as error:  # a call that failed only when timed skips the whole row
            timings = {name: {"skipped": _error_text(error)} for name in calls}
        baseline = timings.get("mtsnn", {}).get("median_ms")
        for name in names:
            record = {
                "section": "neuron",
                "impl": name,
                "mode": mode,
                "dtype": str(dtype).removeprefix("torch."),
                "steps": num_steps,
                "neurons": size,
                **records[name],
                **timings.get(name, {}),
            }
            if baseline and "median_ms" in record:
                record["ratio_to_mtsnn"] = record["median_ms"] / baseline
            emit(record)
