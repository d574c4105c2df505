"""The layers: MTLIF, MTLIFCell and SeqToANN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mtsnn.nn as snn
from mtsnn import functional, reference


def test_mtlif_is_the_functional_op(device):
    layer = snn.MTLIF(
        num_thresholds=4, threshold=0.5, decay=0.3, reset="hard", surrogate="triangle"
    )
    x = torch.randn(3, 2, 10, device=device) * 2
    expected = functional.mt_lif(x, num_thresholds=4, threshold=0.5, decay=0.3, reset="hard")
    assert torch.equal(layer(x), expected)
    v0 = torch.randn(2, 10, device=device)
    assert torch.equal(
        layer(x, v0),
        reference.mt_lif(x, v0=v0, num_thresholds=4, threshold=0.5, decay=0.3, reset="hard"),
    )


@pytest.mark.parametrize("reset", ["soft", "hard", "none"])
def test_cell_steps_equal_the_multistep_layer(device, reset):
    options = dict(num_thresholds=3, threshold=0.7, decay=0.8, reset=reset, surrogate="sigmoid")
    cell, layer = snn.MTLIFCell(**options), snn.MTLIF(**options)
    x = (torch.randn(5, 4, 6, dtype=torch.float64, device=device) * 2).requires_grad_()
    x_cell = x.detach().clone().requires_grad_()
    v = None
    steps = []
    for t in range(x.shape[0]):
        s, v = cell(x_cell[t], v)
        assert s.shape == v.shape == x.shape[1:]
        steps.append(s)
    cell_spikes = torch.stack(steps)
    layer_spikes = layer(x)
    assert torch.equal(cell_spikes, layer_spikes)
    cell_spikes.sum().backward()
    layer_spikes.sum().backward()
    torch.testing.assert_close(x_cell.grad, x.grad)


def test_learned_decay_trains(device):
    layer = snn.MTLIF(decay=0.25, learn_decay=True).to(device)
    assert [name for name, _ in layer.named_parameters()] == ["decay_logit"]
    assert float(layer.decay.detach()) == pytest.approx(0.25)
    x = torch.randn(4, 8, 16, device=device) * 2
    layer(x).sum().backward()
    assert layer.decay_logit.grad is not None and layer.decay_logit.grad.abs() > 0
    before = float(layer.decay.detach())
    with torch.no_grad():
        layer.decay_logit -= layer.decay_logit.grad
    assert float(layer.decay.detach()) != before
    assert 0 < float(layer.decay.detach()) < 1
    state = layer.state_dict()
    clone = snn.MTLIF(decay=0.5, learn_decay=True)
    clone.load_state_dict(state)
    assert float(clone.decay.detach()) == pytest.approx(float(layer.decay.detach().cpu()))


def test_fixed_decay_has_no_parameters():
    assert list(snn.MTLIF().parameters()) == []


def test_reprs_state_every_option():
    text = repr(
        snn.MTLIF(
            num_thresholds=2,
            threshold=0.5,
            decay=0.9,
            reset="hard",
            surrogate="sigmoid",
            width=2.0,
            detach_reset=True,
        )
    )
    assert text == (
        "MTLIF(num_thresholds=2, threshold=0.5, decay=0.9, reset='hard', surrogate='sigmoid', "
        "width=2, detach_reset=True)"
    )
    assert "decay=learned, now 0.5" in repr(snn.MTLIFCell(learn_decay=True))
    assert repr(snn.SeqToANN(nn.Flatten())).startswith("SeqToANN(\n  (module): Flatten")


def test_seq_to_ann_folds_time_into_batch(device):
    conv = nn.Conv2d(3, 5, 3, padding=1).to(device)
    wrapped = snn.SeqToANN(conv)
    x = torch.randn(2, 4, 3, 6, 6, device=device)
    out = wrapped(x)
    assert out.shape == (2, 4, 5, 6, 6)
    for t in range(2):
        torch.testing.assert_close(out[t], conv(x[t]))


def test_seq_to_ann_needs_time_and_batch():
    with pytest.raises(ValueError, match=r"SeqToANN expects \[T, B, \.\.\.\]"):
        snn.SeqToANN(nn.Identity())(torch.randn(5))


def test_layers_follow_module_dtype_and_device(device):
    layer = snn.MTLIF(learn_decay=True).to(device=device, dtype=torch.float64)
    out = layer(torch.randn(2, 3, device=device, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.device.type == device


def test_repeat_over_time_is_expand_with_a_gradient_in_the_inputs_layout():
    x = torch.randn(3, 4, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    repeated = functional.repeat_over_time(x, 2)
    assert torch.equal(repeated, x.unsqueeze(0).expand(2, *x.shape))
    assert repeated.stride(0) == 0
    grad = torch.randn(repeated.shape)
    repeated.backward(grad)
    assert torch.equal(x.grad, grad.sum(0))
    assert x.grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(
        lambda a: functional.repeat_over_time(a, 3),
        (torch.randn(2, 3, dtype=torch.float64, requires_grad=True),),
    )
