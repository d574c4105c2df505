"""The MT-LIF neuron as a function, running the fused CPU/CUDA kernels (torch.ops.mtsnn.mt_lif)."""

from __future__ import annotations

from typing import Any

import torch

from mtsnn._extension import require_extension
from mtsnn.options import NeuronOptions, resolve


def mt_lif(
    x: torch.Tensor,
    options: NeuronOptions | None = None,
    *,
    v0: torch.Tensor | None = None,
    return_state: bool = False,
    **overrides: Any,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Run multi-threshold LIF neurons over time.

    For t = 0 .. T-1, starting from v_{-1} = v0 (zeros when None)::

        h_t = decay * v_{t-1} + x_t
        s_t = sum_{k=1..K} H(h_t - k * threshold)          (a graded spike 0 .. K)
        v_t = h_t - threshold * s_t        (reset="soft")
              0 if s_t > 0 else h_t        (reset="hard")
              h_t                          (reset="none")

    The backward pass replaces dH/dz by the surrogate g(z) of the given width ("rectangle",
    "triangle" or "sigmoid"; each integrates to 1 and peaks at 1/width).

    Args:
        x: input current, shape [T, ...] (time first), float16/bfloat16/float32/float64, any
            strides (a static input broadcast with ``expand`` over T is not copied T times).
        options: the neuron's options (NeuronOptions(): the defaults, when None).
        v0: initial membrane, shape x.shape[1:], same dtype and device as x.
        return_state: also return the final membrane v_{T-1}.
        **overrides: NeuronOptions fields by name on top of ``options``, e.g.
            ``mt_lif(x, num_thresholds=3, decay=0.5)``. ``decay`` may be a one-element tensor
            instead of a float: its gradient is computed when it requires grad (a tensor on a
            CUDA device is not range-checked).

    Returns:
        The spikes (x's shape and dtype, layout of x's time slab), or (spikes, v_last).
    """
    require_extension()
    options, decay_tensor = resolve(options, overrides)
    spikes, v_last = torch.ops.mtsnn.mt_lif(
        x,
        v0,
        decay_tensor,
        float(options.decay),  # not read when a decay tensor is given
        options.num_thresholds,
        float(options.threshold),
        options.reset,
        options.surrogate,
        float(options.width),
        options.detach_reset,
        return_state,
    )
    return (spikes, v_last) if return_state else spikes


def check_options(options: NeuronOptions) -> None:
    """Raise the error the op would raise for ``options``, without running any kernel."""
    mt_lif(torch.empty(1, 0, device="meta"), options)


class _RepeatOverTime(torch.autograd.Function):
    """The forward of repeat_over_time, with a backward that sums into x's own memory layout."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, steps: int) -> torch.Tensor:
        ctx.save_for_backward(x)  # for its layout: the expanded output keeps it alive anyway
        return x.unsqueeze(0).expand(steps, *x.shape)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        if torch.compiler.is_compiling():
            # Dynamo cannot trace a strided out= (a graph break, fatal under fullgraph=True);
            # Inductor lays the sum out as the graph's next op needs it anyway.
            return grad.sum(0), None
        (x,) = ctx.saved_tensors
        return torch.sum(grad, 0, out=torch.empty_like(x, dtype=grad.dtype)), None


def repeat_over_time(x: torch.Tensor, steps: int) -> torch.Tensor:
    """``x`` seen at each of ``steps`` time steps: [B, ...] -> [T, B, ...], without a copy.

    The same values as ``x.unsqueeze(0).expand(steps, *x.shape)`` (a view with time stride 0,
    which the fused op reads in place), but its gradient (the sum over time) comes back in ``x``'s
    memory layout: expand's own gradient is contiguous, which makes a channels-last network copy
    it back at the next layer.
    """
    return _RepeatOverTime.apply(x, steps)
