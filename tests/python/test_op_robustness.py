"""NaN/Inf policy, concurrency, and property-based comparison with the reference."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import RESETS, SURROGATES, assert_same, run_both

from mtsnn import functional


@pytest.mark.parametrize("reset", RESETS)
def test_nan_spikes_where_it_lands_and_nowhere_else(device, reset):
    x = torch.full((3, 4), 0.4, device=device)
    x[1, 2] = float("nan")
    spikes, v_last = functional.mt_lif(x, reset=reset, num_thresholds=3, return_state=True)
    nan = torch.isnan(spikes)
    # The NaN membrane spikes NaN from its step on; every other neuron is untouched and in range.
    assert nan[1:, 2].all() and not nan[:1].any() and not nan[:, [0, 1, 3]].any()
    finite = spikes[~nan]
    assert finite.min() >= 0 and finite.max() <= 3
    assert torch.isnan(v_last[2]) and not torch.isnan(v_last[[0, 1, 3]]).any()


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_nan_gradient_stays_with_its_neuron(device, surrogate):
    x = torch.full((2, 3), 0.9, device=device, requires_grad=True)
    with torch.no_grad():
        x[0, 1] = float("nan")
    functional.mt_lif(x, surrogate=surrogate).sum().backward()
    assert torch.isnan(x.grad[:, 1]).all()
    assert torch.isfinite(x.grad[:, [0, 2]]).all()


@pytest.mark.parametrize("reset", RESETS)
def test_infinities(device, reset):
    x = torch.tensor([[math.inf, -math.inf, 1.5]], device=device)
    spikes, v_last = functional.mt_lif(x, reset=reset, num_thresholds=4, return_state=True)
    assert spikes.flatten().tolist() == [4.0, 0.0, 1.0]
    expected_first = {"soft": math.inf, "hard": 0.0, "none": math.inf}[reset]
    assert v_last[0].item() == expected_first
    assert v_last[1].item() == -math.inf


def test_concurrent_calls_from_threads():
    inputs = [torch.randn(4, 64, 37) * 2 for _ in range(8)]
    expected = [functional.mt_lif(x, num_thresholds=3) for x in inputs]
    results: dict[int, torch.Tensor] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for _ in range(20):
                x = inputs[index].clone().requires_grad_()
                spikes = functional.mt_lif(x, num_thresholds=3)
                spikes.sum().backward()
                results[index] = spikes.detach()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for index, spikes in results.items():
        assert torch.equal(spikes, expected[index])


@st.composite
def problems(draw):
    steps = draw(st.integers(1, 6))
    trailing = draw(st.lists(st.integers(1, 6), min_size=0, max_size=3))
    shape = (steps, *trailing)
    num_thresholds = draw(st.integers(1, 6))
    threshold = draw(st.floats(0.05, 4.0))
    scale = draw(st.floats(0.1, 3.0)) * num_thresholds * threshold
    x = torch.randn(shape, dtype=torch.float64) * scale
    layout = draw(st.sampled_from(["contiguous", "expanded", "transposed", "strided"]))
    if layout == "expanded":
        x = x[:1].expand(shape)
    elif layout == "transposed" and len(shape) >= 3:
        x = x.transpose(1, 2).contiguous().transpose(1, 2)
    elif layout == "strided":
        x = torch.cat([x, x], dim=0)[::2]
    options = dict(
        num_thresholds=num_thresholds,
        threshold=threshold,
        decay=draw(st.floats(0.0, 1.0)),
        reset=draw(st.sampled_from(RESETS)),
        surrogate=draw(st.sampled_from(SURROGATES)),
        width=draw(st.floats(0.1, 3.0)),
        detach_reset=draw(st.booleans()),
    )
    if draw(st.booleans()):
        options["v0"] = torch.randn(shape[1:], dtype=torch.float64) * scale
    return x, options


@settings(max_examples=150, deadline=None)
@given(problems())
def test_property_matches_reference(problem):
    x, options = problem
    grad_spikes = torch.randn(x.shape, dtype=x.dtype)
    grad_v = torch.randn(x.shape[1:], dtype=x.dtype)
    fused, ref = run_both(x, grad_spikes, grad_v, **options)
    assert_same(fused, ref, torch.float64)
