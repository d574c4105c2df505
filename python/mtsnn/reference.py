"""A plain PyTorch implementation of the MT-LIF neuron, written from its equations.

It loops over time and thresholds with ordinary tensor operations and gets its gradient from
autograd, so it shares no code with the fused kernels: the test suite uses it as their oracle.
It is also a readable statement of what mtsnn.functional.mt_lif computes.
"""

from __future__ import annotations

from typing import Any

import torch

from mtsnn.options import RESETS, NeuronOptions, Surrogate, resolve


def surrogate_grad(z: torch.Tensor, surrogate: Surrogate, width: float) -> torch.Tensor:
    """g(z), the approximated derivative of the Heaviside step H(z)."""
    if surrogate == "rectangle":
        return (z.abs() < width / 2).to(z.dtype) / width
    if surrogate == "triangle":
        return (1 - z.abs() / width).clamp(min=0) / width
    if surrogate == "sigmoid":
        sig = torch.sigmoid(4 * z / width)
        return 4 / width * sig * (1 - sig)
    raise ValueError(f"unknown surrogate {surrogate!r}")


class _Heaviside(torch.autograd.Function):
    """H(z) = 1 if z >= 0 else 0, with the surrogate g(z) as its derivative."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, surrogate: Surrogate, width: float) -> torch.Tensor:
        ctx.save_for_backward(z)
        ctx.surrogate, ctx.width = surrogate, width
        return (z >= 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (z,) = ctx.saved_tensors
        return grad * surrogate_grad(z, ctx.surrogate, ctx.width), None, None


def mt_lif(
    x: torch.Tensor,
    options: NeuronOptions | None = None,
    *,
    v0: torch.Tensor | None = None,
    return_state: bool = False,
    **overrides: Any,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The reference MT-LIF neuron; same signature and semantics as mtsnn.functional.mt_lif.

    Computation happens in x's dtype (the fused kernels compute float16/bfloat16 in float32).
    """
    options, decay_tensor = resolve(options, overrides)
    if options.reset not in RESETS:
        raise ValueError(f"unknown reset {options.reset!r}")
    decay = options.decay if decay_tensor is None else decay_tensor
    surrogate, width = options.surrogate, options.width
    theta = torch.tensor(options.threshold, dtype=x.dtype, device=x.device)
    # The k-th threshold is the product k * theta in x's dtype.
    levels = torch.arange(1, options.num_thresholds + 1, dtype=x.dtype, device=x.device) * theta
    v = torch.zeros_like(x[0]) if v0 is None else v0
    spikes = []
    for t in range(x.shape[0]):
        h = decay * v + x[t]
        s = torch.zeros_like(h)
        for k in range(options.num_thresholds):
            s = s + _Heaviside.apply(h - levels[k], surrogate, width)
        if options.reset == "soft":
            v = h - theta * (s.detach() if options.detach_reset else s)
        elif options.reset == "hard":
            fired = _Heaviside.apply(h - levels[0], surrogate, width)  # min(s, 1)
            v = h * (1 - (fired.detach() if options.detach_reset else fired))
        else:
            v = h
        spikes.append(s)
    out = torch.stack(spikes)
    return (out, v) if return_state else out
