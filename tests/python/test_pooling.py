"""2x2 max pooling: the pointwise form equals max_pool2d bit for bit, eager and compiled."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional

from mtsnn.nn import MaxPool2x2
from mtsnn.pooling import pointwise_max_pool_2x2


def _inputs(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    # Few distinct values, so that many windows hold equal maxima, and NaNs: two in the first
    # window (ATen's gradient goes to the second), one in the last.
    x = torch.randint(-2, 3, shape).to(dtype)
    flat = x.view(-1)
    flat[0] = flat[1] = float("nan")
    flat[-1] = float("nan")
    return x


LAYOUTS = {
    "contiguous": lambda x: x,
    "channels-last": lambda x: x.contiguous(memory_format=torch.channels_last),
    "strided view": lambda x: x.transpose(-1, -2).contiguous().transpose(-1, -2),
    "sliced": lambda x: torch.cat([x, x], dim=-3)[..., ::2, :, :],
}


def _values_and_gradient(pool, x: torch.Tensor, grad: torch.Tensor):
    x = x.detach().requires_grad_()
    y = pool(x)
    (gx,) = torch.autograd.grad(y, x, grad)
    return y, gx


SHAPES_AND_LAYOUTS = [
    (shape, layout)
    for shape in [(2, 3, 6, 8), (1, 4, 7, 5), (3, 5, 2, 2), (4, 9, 9)]
    for layout in LAYOUTS
    if len(shape) == 4 or layout != "channels-last"
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(("shape", "layout"), SHAPES_AND_LAYOUTS)
def test_pointwise_form_equals_max_pool2d_bit_for_bit(dtype, shape, layout):
    x = LAYOUTS[layout](_inputs(shape, dtype))
    grad = torch.randn(*shape[:-2], shape[-2] // 2, shape[-1] // 2).to(dtype)
    want_y, want_gx = _values_and_gradient(lambda t: functional.max_pool2d(t, 2), x, grad)
    got_y, got_gx = _values_and_gradient(pointwise_max_pool_2x2, x, grad)
    torch.testing.assert_close(got_y, want_y, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(got_gx, want_gx, rtol=0, atol=0)


@pytest.mark.parametrize("channels_last", [False, True])
def test_compiled_module_equals_eager_max_pool2d(channels_last):
    torch._dynamo.reset()
    x = _inputs((2, 8, 6, 7), torch.float32)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    grad = torch.randn(2, 8, 3, 3)
    compiled = torch.compile(MaxPool2x2(), fullgraph=True)
    want_y, want_gx = _values_and_gradient(lambda t: functional.max_pool2d(t, 2), x, grad)
    got_y, got_gx = _values_and_gradient(compiled, x, grad)
    torch.testing.assert_close(got_y, want_y, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(got_gx, want_gx, rtol=0, atol=0)


def test_eager_module_is_max_pool2d(device):
    x = torch.randn(2, 3, 5, 6, device=device)
    assert torch.equal(MaxPool2x2()(x), functional.max_pool2d(x, 2))


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 1, 4), (1, 2, 3, 4, 4)])
def test_pointwise_form_refuses_what_max_pool2d_cannot_pool(shape):
    with pytest.raises(ValueError, match=r"2x2 max pooling needs x of shape"):
        pointwise_max_pool_2x2(torch.zeros(shape))
