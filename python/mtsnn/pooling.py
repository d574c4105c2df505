"""2x2 max pooling (stride 2) in a form that torch.compile turns into fast CPU code.

Eager PyTorch runs ATen's max_pool2d kernels, which are fast. Under torch.compile on the CPU,
Inductor's own lowering of max_pool2d's backward is a scalar gather loop: the MNIST ConvNet's
compiled training step took 7-8 ms longer with it (of about 63 ms, on 2 Zen 4 cores) than with
the form here, which is pointwise: the forward scans the four corners of each window, the
backward places the gradient with one broadcast select, both of which Inductor vectorises.

Each window's position is kept as a float16 (0..3, exact). Inductor's AVX2 code handles 8-bit
and boolean lanes one at a time: with uint8 positions the backward converted each comparison
mask lane by lane; with float32 positions the partitioner saved the scan's three boolean masks
instead, stored element by element (int32 was as slow). The ConvNet's compiled training step
took 88-90 ms either way against eager's 61 ms on 2 Zen 2 cores, and 61 ms with float16
positions, which F16C converts in vector registers and which are smaller than the three masks.

Both forms give the same values and gradients, bit for bit: the scan follows ATen's CPU kernel
(a value replaces the running maximum when it is greater or NaN), so the gradient of a window goes
to its first maximum, or to its last NaN. On CUDA the compiled model keeps Inductor's lowering,
which this form has not been measured against.
"""

from __future__ import annotations

import torch
from torch.nn import functional

# The dtype of a window's position (see the module's docstring).
_POSITION_DTYPE = torch.float16


def _window_scan(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The maxima of x's 2x2 windows and where each lies in its window (0..3, row-major); a
    trailing odd row or column is dropped, as max_pool2d drops it."""
    rows, cols = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :rows, :cols]
    corners = [x[..., r::2, c::2] for r in (0, 1) for c in (0, 1)]
    best = corners[0]
    position = torch.zeros_like(best, dtype=_POSITION_DTYPE)
    for index, corner in enumerate(corners[1:], start=1):
        replaces = (corner > best) | torch.isnan(corner)
        best = torch.where(replaces, corner, best)
        position = torch.where(replaces, index, position)
    return best, position


class _MaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        best, position = _window_scan(x)
        ctx.save_for_backward(position)  # two bytes per window, not ATen's int64 indices
        ctx.input_size = tuple(x.shape[-2:])
        ctx.channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        return best

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (position,) = ctx.saved_tensors
        # corner[r, c] = 2r + c, broadcast against the windows: the input gradient is written in
        # one pass, in the input's memory order, so its innermost loop runs over contiguous
        # memory (channels for channels-last tensors).
        corner = torch.arange(4, dtype=_POSITION_DTYPE, device=grad.device)
        if ctx.channels_last:
            # [N, C, H/2, W/2] seen as [N, H/2, 1, W/2, 1, C] -> [N, H/2, 2, W/2, 2, C]
            g = grad.permute(0, 2, 3, 1)[:, :, None, :, None, :]
            p = position.permute(0, 2, 3, 1)[:, :, None, :, None, :]
            placed = torch.where(p == corner.view(2, 1, 2, 1), g, 0)
            n, half_rows, _, half_cols, _, channels = placed.shape
            placed = placed.reshape(n, 2 * half_rows, 2 * half_cols, channels).permute(0, 3, 1, 2)
        else:
            # [..., H/2, W/2] seen as [..., H/2, 1, W/2, 1] -> [..., H/2, 2, W/2, 2]
            g = grad[..., :, None, :, None]
            p = position[..., :, None, :, None]
            placed = torch.where(p == corner.view(2, 1, 2), g, 0).flatten(-4, -3).flatten(-2, -1)
        rows, cols = ctx.input_size
        if rows % 2 or cols % 2:  # the dropped odd row or column gets no gradient
            placed = functional.pad(placed, (0, cols % 2, 0, rows % 2))
        return placed


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``max_pool2d(x, 2)`` of x ([C, H, W] or [N, C, H, W]): its values and gradients.

    Under torch.compile on the CPU this runs the pointwise form (``pointwise_max_pool_2x2``),
    otherwise ATen's kernel.
    """
    if torch.compiler.is_compiling() and x.device.type == "cpu":
        return pointwise_max_pool_2x2(x)
    return functional.max_pool2d(x, 2)


def pointwise_max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """The pointwise form of ``max_pool2d(x, 2)``: the same values and gradients, bit for bit."""
    if x.dim() not in (3, 4) or min(x.shape[-2:]) < 2:
        raise ValueError(
            f"2x2 max pooling needs x of shape [C, H, W] or [N, C, H, W] with H, W >= 2; "
            f"got {tuple(x.shape)}"
        )
    return _MaxPool2x2.apply(x)
