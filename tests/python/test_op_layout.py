"""Inputs of any strides: views, expanded (stride-0) time, channels_last; output layouts."""

from __future__ import annotations

import pytest
import torch
from op_cases import assert_same, run_both, spread_input
from torch.profiler import ProfilerActivity, profile

from mtsnn import functional

OPTIONS = dict(num_thresholds=3, threshold=0.9, decay=0.6, reset="soft", surrogate="sigmoid")


def _views(device):
    """(name, x) pairs of inputs that are not plainly contiguous."""
    base = spread_input((4, 6, 8, 10), 3, 0.9, torch.float64, device)
    static = spread_input((6, 8, 10), 3, 0.9, torch.float64, device)
    return [
        ("transposed", base.transpose(1, 3)),
        ("time-strided", spread_input((8, 6, 8, 10), 3, 0.9, torch.float64, device)[::2]),
        ("sliced", base[:, 1:5, ::2, 3:]),
        ("expanded-time", static.unsqueeze(0).expand(4, -1, -1, -1)),
        ("expanded-inner", static[:, :1].unsqueeze(0).expand(3, -1, 8, -1)),
        ("channels-last", base.contiguous(memory_format=torch.channels_last)),
        ("permuted", base.permute(0, 2, 3, 1)),
    ]


@pytest.mark.parametrize("case", range(7))
def test_strided_inputs_match_reference(device, case):
    _, x = _views(device)[case]
    grad = torch.randn(x.shape, dtype=x.dtype, device=device)
    v0 = spread_input(x.shape[1:], 3, 0.9, x.dtype, device)
    fused, ref = run_both(
        x,
        grad,
        torch.randn_like(v0),
        v0=v0.transpose(0, -1).contiguous().transpose(0, -1),
        **OPTIONS,
    )
    assert_same(fused, ref, x.dtype)


def test_strided_gradients_match_reference(device):
    x = spread_input((3, 5, 6), 3, 0.9, torch.float64, device)
    grad_spikes = torch.randn(3, 6, 5, dtype=torch.float64, device=device).transpose(1, 2)
    grad_v = torch.randn(6, 5, dtype=torch.float64, device=device).t()
    fused, ref = run_both(x, grad_spikes, grad_v, **OPTIONS)
    assert_same(fused, ref, torch.float64)


def test_channels_last_output_stays_channels_last(device):
    x = torch.randn(2, 4, 8, 5, 5, device=device)
    x = x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (2, 4))
    spikes, v_last = functional.mt_lif(x, return_state=True)
    assert spikes.stride()[1:] == x.stride()[1:]
    assert v_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(spikes, functional.mt_lif(x.contiguous()))


def test_non_dense_input_gives_contiguous_output(device):
    x = torch.randn(3, 10, 10, device=device)[:, ::2, ::3]
    spikes = functional.mt_lif(x)
    assert spikes.is_contiguous()


def test_expanded_time_input_is_not_copied():
    static = torch.randn(64, 32)
    x = static.unsqueeze(0).expand(4, -1, -1).requires_grad_(False)
    grad = torch.randn(64, 32).unsqueeze(0).expand(4, -1, -1)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        spikes = functional.mt_lif(x)
        torch.ops.mtsnn.mt_lif_backward(
            grad, None, x, None, None, 0.5, 3, 1.0, "soft", "rectangle", 1.0, False, False
        )
    names = {event.name for event in prof.events()}
    assert "aten::copy_" not in names, sorted(names)
    assert torch.equal(spikes, functional.mt_lif(x.contiguous()))


def test_zero_size_inputs(device):
    x = torch.randn(3, 0, 4, device=device, requires_grad=True)
    spikes, v_last = functional.mt_lif(x, return_state=True)
    assert spikes.shape == (3, 0, 4) and v_last.shape == (0, 4)
    spikes.sum().backward()
    assert x.grad.shape == x.shape
