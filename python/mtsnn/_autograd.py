"""Autograd for torch.ops.mtsnn.mt_lif, whose backward is the fused op mt_lif_backward.

Registered with torch.library so that eager mode, torch.compile and opcheck all use it.
"""

from __future__ import annotations

import torch

from mtsnn._extension import extension_available

_X, _V0, _DECAY = 0, 1, 2


def _setup_context(ctx, inputs, output) -> None:
    x, v0, decay_tensor, *options, return_state = inputs
    ctx.return_state = return_state
    ctx.save_for_backward(x, v0, decay_tensor)
    # An output that did not reach the loss arrives as None rather than a tensor of zeros: the
    # fused backward treats a missing gradient as zero without reading or allocating one.
    ctx.set_materialize_grads(False)
    ctx.options = tuple(options)  # decay, K, threshold, reset, surrogate, width, detach_reset


def _backward(ctx, grad_spikes, grad_v_last):
    x, v0, decay_tensor = ctx.saved_tensors
    decay, num_thresholds, threshold, reset, surrogate, width, detach = ctx.options
    if grad_spikes is None:  # only v_last reached the loss: a zero that costs no memory
        grad_spikes = x.new_zeros(()).expand(x.shape)
    if not ctx.return_state:  # v_last was an empty placeholder: nothing flows back through it
        grad_v_last = None
    decay_requires_grad = decay_tensor is not None and ctx.needs_input_grad[_DECAY]
    grad_x, grad_v0, grad_decay = torch.ops.mtsnn.mt_lif_backward(
        grad_spikes,
        grad_v_last,
        x,
        v0,
        decay_tensor,
        decay,
        num_thresholds,
        threshold,
        reset,
        surrogate,
        width,
        detach,
        decay_requires_grad,
    )
    grads = [None] * 11
    grads[_X] = grad_x
    if v0 is not None and ctx.needs_input_grad[_V0]:
        grads[_V0] = grad_v0
    if decay_requires_grad:
        grads[_DECAY] = (
            grad_decay.to(decay_tensor.dtype).reshape(decay_tensor.shape).to(decay_tensor.device)
        )
    return tuple(grads)


if extension_available():
    torch.library.register_autograd("mtsnn::mt_lif", _backward, setup_context=_setup_context)
