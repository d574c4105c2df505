"""The fused op against the pure-PyTorch reference, forward and backward, over the option space."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
import torch
from op_cases import RESETS, SURROGATES, assert_same, run_both, spread_input

import mtsnn
from mtsnn import functional, reference

THRESHOLD_COUNTS = (1, 2, 3, 4, 5)  # the CPU kernels fix K = 1..4 at compile time; 5: run time
STEPS = (1, 2, 3, 8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("num_thresholds", THRESHOLD_COUNTS)
@pytest.mark.parametrize("steps", STEPS)
def test_forward_matches_reference_exactly(device, dtype, reset, num_thresholds, steps):
    x = spread_input((steps, 3, 7, 5), num_thresholds, 0.8, dtype, device)
    v0 = spread_input((3, 7, 5), num_thresholds, 0.8, dtype, device)
    for start in (None, v0):
        options = dict(
            num_thresholds=num_thresholds, threshold=0.8, decay=0.7, reset=reset, v0=start
        )
        spikes, v_last = functional.mt_lif(x, return_state=True, **options)
        ref_spikes, ref_v = reference.mt_lif(x, return_state=True, **options)
        assert spikes.dtype == dtype and spikes.shape == x.shape
        assert torch.equal(spikes, ref_spikes)
        assert torch.equal(v_last, ref_v)  # same roundings, no fused multiply-add
        assert spikes.min() >= 0 and spikes.max() <= num_thresholds


@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize(("reset", "surrogate"), list(itertools.product(RESETS, SURROGATES)))
@pytest.mark.parametrize("num_thresholds", THRESHOLD_COUNTS)
@pytest.mark.parametrize("steps", STEPS)
def test_backward_matches_reference(device, steps, num_thresholds, reset, surrogate, detach_reset):
    dtype = torch.float64
    shape = (steps, 4, 33)
    x = spread_input(shape, num_thresholds, 1.0, dtype, device)
    grad_spikes = torch.randn(shape, dtype=dtype, device=device)
    v0 = spread_input(shape[1:], num_thresholds, 1.0, dtype, device)
    grad_v = torch.randn(shape[1:], dtype=dtype, device=device)
    # With v0 and dL/dv_last, and as a layer runs it: from rest, v_last not in the loss.
    for start, grad_v_last in ((v0, grad_v), (None, None)):
        fused, ref = run_both(
            x,
            grad_spikes,
            grad_v_last,
            num_thresholds=num_thresholds,
            threshold=1.0,
            decay=torch.tensor(0.6, dtype=dtype, device=device),
            v0=start,
            reset=reset,
            surrogate=surrogate,
            width=0.9,
            detach_reset=detach_reset,
        )
        assert_same(fused, ref, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    ("reset", "surrogate"), [("soft", "rectangle"), ("hard", "sigmoid"), ("none", "triangle")]
)
def test_reduced_precision_matches_float32_reference(device, dtype, reset, surrogate):
    # float16/bfloat16 are computed in float32 and rounded once on output.
    shape = (2, 5, 40)
    x = spread_input(shape, 3, 1.0, dtype, device)
    fused, ref = run_both(
        x,
        torch.randn(shape, device=device).to(dtype),
        torch.randn(shape[1:], device=device).to(dtype),
        num_thresholds=3,
        decay=0.5,
        reset=reset,
        surrogate=surrogate,
        v0=spread_input(shape[1:], 3, 1.0, dtype, device),
    )
    assert fused["spikes"].dtype == dtype
    assert_same(fused, ref, dtype)


@pytest.mark.parametrize(
    "shape", [(2,), (3, 1), (2, 1, 1, 1), (4, 2, 3, 4, 5), (1, 1000), (2, 257)]
)
def test_shapes(device, shape):
    x = spread_input(shape, 3, 1.0, torch.float32, device)
    grad = torch.randn(shape, device=device)
    fused, ref = run_both(x, grad, None, num_thresholds=3, surrogate="triangle")
    assert_same(fused, ref, torch.float32)


def test_spike_exactly_at_each_threshold(device):
    # h == k*theta must cross threshold k; one ulp below must not.
    theta, k_max = 0.1, 5
    levels = torch.arange(1, k_max + 1, dtype=torch.float32) * torch.tensor(theta)
    below = torch.nextafter(levels, torch.tensor(-1.0))
    x = torch.cat([levels, below]).reshape(1, -1).to(device)
    spikes = functional.mt_lif(x, num_thresholds=k_max, threshold=theta)
    expected = torch.cat([torch.arange(1, k_max + 1.0), torch.arange(0, k_max + 0.0)])
    assert torch.equal(spikes.cpu().flatten(), expected)
    assert torch.equal(spikes, reference.mt_lif(x, num_thresholds=k_max, threshold=theta))


@pytest.mark.parametrize("num_thresholds", [1, 7, 64, 256])
def test_large_inputs_saturate_at_k(device, num_thresholds):
    x = torch.tensor([[1e30, 1e6, -1e30, 3.5]], device=device)
    spikes = functional.mt_lif(x, num_thresholds=num_thresholds, threshold=1.0)
    expected = [num_thresholds, num_thresholds, 0, min(3, num_thresholds)]
    assert spikes.flatten().tolist() == expected


@pytest.fixture(params=["blocks", "streamed"])
def cpu_loops(request):
    """Runs a test through each of the CPU forward's loops, chosen by the streaming threshold
    (loops.h): blocks, outputs through the caches (the default, above these small calls); every
    output streamed (0), in blocks at T = 1 and, for float32/float64 and T >= 2, in chunks (a
    forward in chunks always streams: forward_streams_output)."""
    default = mtsnn.cpu_streaming_threshold()
    mtsnn.set_cpu_streaming_threshold({"blocks": default, "streamed": 0}[request.param])
    yield
    mtsnn.set_cpu_streaming_threshold(default)


def each_cpu_variant():
    """Switches to each CPU kernel variant this processor supports in turn, yielding its name;
    restores the variant in use afterwards."""
    current = mtsnn.cpu_capability()
    try:
        for name in ("default", "avx2", "avx512"):
            try:
                mtsnn.set_cpu_capability(name)
            except ValueError:
                continue
            yield name
    finally:
        mtsnn.set_cpu_capability(current)


# T = 3 and 6: the kernels' blocks are longer up to T = 4 than beyond (block_elements in loops.h);
# T = 1: one step that both starts the recurrence and ends it (the paper's regime), in blocks of
# 8192 where the output is not streamed: 17415 neurons make two whole blocks and a partial one.
@pytest.mark.parametrize("num_steps", [1, 3, 6])
@pytest.mark.usefixtures("cpu_loops")
def test_every_cpu_variant_matches_reference(num_steps):
    variants = []
    for name in each_cpu_variant():
        variants.append(name)
        for reset, surrogate in itertools.product(RESETS, SURROGATES):
            # Not a multiple of the block or vector width: rows after the first are not aligned
            # for streaming stores, and the last block is partial.
            shape = (num_steps, 17415 if num_steps == 1 else 1031)
            x = spread_input(shape, 4, 1.0, torch.float32, "cpu")
            for v0, grad_v_last in ((torch.randn(shape[1:]), torch.randn(shape[1:])), (None, None)):
                fused, ref = run_both(
                    x,
                    torch.randn(shape),
                    grad_v_last,
                    num_thresholds=4,
                    decay=torch.tensor(0.8),
                    v0=v0,
                    reset=reset,
                    surrogate=surrogate,
                )
                assert_same(fused, ref, torch.float32)
    assert "default" in variants


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("num_thresholds", [3, 5])
@pytest.mark.parametrize("num_steps", [1, 3, 6])  # the three block lengths, as above
@pytest.mark.parametrize("from_rest", [False, True])
@pytest.mark.parametrize("learnable_decay", [False, True])
def test_every_cpu_variant_reduced_precision_matches_reference(
    dtype, num_thresholds, num_steps, from_rest, learnable_decay
):
    # Each variant converts float16/bfloat16 blocks its own way (F16C or scalar), around both the
    # compile-time-K and the run-time-K loops. No cpu_loops: 2-byte types run in blocks through
    # the caches at every streaming threshold (streams_output, forward_in_chunks in loops.h).
    # From rest and from v0 (different first steps of the recomputation); with a learnable decay,
    # whose gradient reads the block's dL/dh back before conversion, and without, where the
    # bfloat16 gradient loop keeps no float copy of it (backward_block).
    shape = (num_steps, 17415 if num_steps == 1 else 1031)  # no multiple of block or vector
    for _ in each_cpu_variant():
        x = spread_input(shape, num_thresholds, 1.0, dtype, "cpu")
        fused, ref = run_both(
            x,
            torch.randn(shape).to(dtype),
            torch.randn(shape[1:]).to(dtype),
            num_thresholds=num_thresholds,
            decay=torch.tensor(0.7) if learnable_decay else 0.7,
            v0=None if from_rest else spread_input(shape[1:], num_thresholds, 1.0, dtype, "cpu"),
            reset="hard",
            surrogate="triangle",
        )
        assert fused["spikes"].dtype == dtype
        assert_same(fused, ref, dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("num_thresholds", [3, 256])  # compile-time and run-time K
def test_every_cpu_variant_stores_every_spike_count_exactly(dtype, num_thresholds):
    # The 2-byte types store spike counts with bit operations of their own, not by rounding
    # (store_spike_count in loops.h): every count 0..K, each the float16/bfloat16 of that
    # integer bit for bit, and NaN where the membrane is NaN (the op's policy; the reference
    # counts 0 there). Currents k + 0.5 are exact in both types.
    levels = torch.arange(-2, num_thresholds + 3, dtype=torch.float32) + 0.5
    specials = torch.tensor([float("nan"), -float("nan"), float("inf"), -float("inf"), 0.0, -0.0])
    x = torch.cat([levels, specials]).expand(2, -1).to(dtype)  # T = 2: the second step too
    counts = reference.mt_lif(x.float(), num_thresholds=num_thresholds, reset="none")
    expected = torch.where(torch.isnan(x), float("nan"), counts).to(dtype)
    nan = torch.isnan(expected)
    assert counts.max() == num_thresholds
    for name in each_cpu_variant():
        spikes = functional.mt_lif(x, num_thresholds=num_thresholds, reset="none")
        assert torch.equal(torch.isnan(spikes), nan), name
        assert torch.equal(spikes[~nan].view(torch.int16), expected[~nan].view(torch.int16)), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.usefixtures("cpu_loops")
def test_every_cpu_variant_matches_reference_on_a_static_input(dtype):
    # x expanded over time (time stride 0): every step reads the same slab.
    x = spread_input((1031,), 3, 1.0, dtype, "cpu").expand(5, -1)
    for _ in each_cpu_variant():
        fused, ref = run_both(x, torch.randn(x.shape, dtype=dtype), None, reset="hard")
        assert_same(fused, ref, dtype)


def test_streaming_threshold_must_be_a_bytes_count():
    # the last-level cache, at most 32 MiB (32 MiB where the system does not tell it); the cap is
    # seen where sysfs reports a larger cache (260 MiB on a Xeon VM)
    assert 0 < mtsnn.cpu_streaming_threshold() <= 32 << 20
    with pytest.raises(ValueError, match="streaming threshold"):
        mtsnn.set_cpu_streaming_threshold(-1)


def _start_up_variant(**variables: str) -> str:
    """The CPU kernel variant a fresh process chooses with these environment variables set."""
    unset = ("MTSNN_CPU_CAPABILITY", "ATEN_CPU_CAPABILITY")
    environment = {k: v for k, v in os.environ.items() if k not in unset} | variables
    program = "import mtsnn; print(mtsnn.cpu_capability())"
    completed = subprocess.run(
        [sys.executable, "-c", program],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.split()[-1]


def test_start_up_variant_follows_mtsnn_then_aten_variables():
    supported = list(each_cpu_variant())
    if len(supported) == 1:
        pytest.skip("this build or processor has one CPU variant only")
    best = _start_up_variant()
    assert best == supported[-1]
    for name in supported:
        assert _start_up_variant(ATEN_CPU_CAPABILITY=name) == name
    for name in {"avx2", "avx512"} - set(supported):  # a variant this processor lacks is ignored
        assert _start_up_variant(ATEN_CPU_CAPABILITY=name) == best
    assert _start_up_variant(ATEN_CPU_CAPABILITY="zvector") == best  # so is an unknown name
    pinned = _start_up_variant(ATEN_CPU_CAPABILITY="default", MTSNN_CPU_CAPABILITY=best)
    assert pinned == best  # mtsnn's own variable comes first


def test_unknown_cpu_variant_is_refused():
    with pytest.raises(ValueError, match="unknown CPU capability"):
        mtsnn.set_cpu_capability("sse9")
