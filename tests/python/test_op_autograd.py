"""Gradient paths of the op: gradcheck where the function is smooth, and the autograd plumbing."""

from __future__ import annotations

import pytest
import torch

from mtsnn import functional, reference


@pytest.mark.parametrize("reset", ["soft", "hard", "none"])
@pytest.mark.parametrize("steps", [1, 3])
def test_gradcheck_membrane_path(device, reset, steps):
    # With a detached reset, v_last is piecewise smooth in x, v0 and decay (the spike steps only
    # shift it), so finite differences check the recurrence, the decay and the v0 gradients.
    x = torch.randn(steps, 3, 4, dtype=torch.float64, device=device, requires_grad=True)
    v0 = torch.randn(3, 4, dtype=torch.float64, device=device, requires_grad=True)
    decay = torch.tensor(0.7, dtype=torch.float64, device=device, requires_grad=True)

    def final_membrane(x, v0, decay):
        _, v_last = functional.mt_lif(
            x,
            v0=v0,
            decay=decay,
            reset=reset,
            detach_reset=True,
            num_thresholds=2,
            threshold=0.9,
            return_state=True,
        )
        return v_last

    assert torch.autograd.gradcheck(final_membrane, (x, v0, decay))


def test_gradcheck_reference_membrane_path():
    # The oracle itself passes the same check.
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    decay = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)

    def final_membrane(x, decay):
        return reference.mt_lif(x, decay=decay, detach_reset=True, return_state=True)[1]

    assert torch.autograd.gradcheck(final_membrane, (x, decay))


def test_decay_gradient_keeps_shape_dtype_and_device(device):
    x = torch.randn(2, 8, device=device, dtype=torch.float64)
    for decay in (
        torch.tensor(0.5, device=device),
        torch.tensor([0.5], device=device),
        torch.tensor(0.5),
    ):
        decay.requires_grad_()
        functional.mt_lif(x, decay=decay).sum().backward()
        assert decay.grad is not None
        assert decay.grad.shape == decay.shape
        assert decay.grad.dtype == decay.dtype and decay.grad.device == decay.device


def test_no_gradient_for_inputs_that_do_not_require_it(device):
    x = torch.randn(2, 8, device=device, requires_grad=True)
    v0 = torch.randn(8, device=device)
    decay = torch.tensor(0.5, device=device)
    functional.mt_lif(x, v0=v0, decay=decay).sum().backward()
    assert x.grad is not None and v0.grad is None and decay.grad is None


@pytest.mark.parametrize("grad_mode", [True, False])
def test_a_call_without_gradients_records_nothing(device, grad_mode):
    # Nothing requires a gradient, or grad mode is off: the kernel runs without an autograd node
    # (autograd.cpp), with the same outputs as a recorded call.
    x = torch.randn(2, 8, device=device, requires_grad=not grad_mode)
    v0 = torch.randn(8, device=device)
    with torch.set_grad_enabled(grad_mode):
        spikes, v_last = functional.mt_lif(x, v0=v0, decay=0.7, return_state=True)
    assert spikes.grad_fn is None and v_last.grad_fn is None
    assert not spikes.requires_grad and not v_last.requires_grad
    recorded = functional.mt_lif(x.detach().requires_grad_(), v0=v0, decay=0.7, return_state=True)
    assert recorded[0].grad_fn is not None
    assert torch.equal(spikes, recorded[0]) and torch.equal(v_last, recorded[1].detach())


@pytest.mark.parametrize("grad_mode", [True, False])
def test_forward_mode_gradients_are_refused(device, grad_mode):
    # A dual tensor takes the autograd path even where no reverse-mode gradient is wanted, and is
    # refused there instead of losing its tangent.
    import torch.autograd.forward_ad as forward_ad

    x = torch.randn(2, 8, device=device)
    with forward_ad.dual_level(), torch.set_grad_enabled(grad_mode):
        dual = forward_ad.make_dual(x, torch.ones_like(x))
        with pytest.raises(RuntimeError, match="jvp is not implemented"):
            functional.mt_lif(dual)


def test_loss_on_final_membrane_only(device):
    x = torch.randn(3, 16, device=device, dtype=torch.float64, requires_grad=True)
    _, v_last = functional.mt_lif(x, return_state=True)
    v_last.sum().backward()
    x_ref = x.detach().clone().requires_grad_()
    reference.mt_lif(x_ref, return_state=True)[1].sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_without_state_same_spikes_and_gradients(device):
    # return_state=False skips v_last (an empty placeholder): the spikes and every gradient
    # through them are those of the full call, and of the reference.
    x = torch.randn(3, 5, 33, device=device, dtype=torch.float64) * 2 + 0.5
    v0 = torch.randn(5, 33, device=device, dtype=torch.float64)
    grad = torch.randn_like(x)
    options = dict(num_thresholds=3, threshold=0.8, decay=0.6, reset="hard", surrogate="triangle")
    results = []
    for run in (
        lambda x, v0: torch.ops.mtsnn.mt_lif(
            x, v0, None, 0.6, 3, 0.8, "hard", "triangle", 1.0, False, False
        ),
        lambda x, v0: functional.mt_lif(x, v0=v0, return_state=True, **options),
        lambda x, v0: reference.mt_lif(x, v0=v0, return_state=True, **options),
    ):
        x_run, v0_run = x.clone().requires_grad_(), v0.clone().requires_grad_()
        spikes, v_last = run(x_run, v0_run)
        torch.autograd.backward(spikes, grad)
        results.append((spikes.detach(), x_run.grad, v0_run.grad, v_last))
    (no_state, full, ref) = results
    assert no_state[3].numel() == 0 and no_state[3].dtype == x.dtype
    assert full[3].shape == v0.shape
    for got, expected in zip(no_state[:3], full[:3], strict=True):
        assert torch.equal(got, expected)
    for got, expected in zip(no_state[:3], ref[:3], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_second_backward_through_retained_graph(device):
    x = torch.randn(2, 4, device=device, requires_grad=True)
    spikes = functional.mt_lif(x)
    spikes.sum().backward(retain_graph=True)
    first = x.grad.clone()
    spikes.sum().backward()
    torch.testing.assert_close(x.grad, 2 * first)
