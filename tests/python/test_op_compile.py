"""Registration: opcheck, and torch.compile(fullgraph=True) equal to eager."""

from __future__ import annotations

import torch
from torch import nn

import mtsnn
import mtsnn.nn as snn
from mtsnn.models import build_model


def _sample_args(device):
    x = torch.randn(2, 3, 4, 5, device=device)
    yield (x, None, None, 0.5, 3, 1.0, "soft", "rectangle", 1.0, False)
    yield (
        x.requires_grad_(),
        torch.randn(3, 4, 5, device=device),
        None,
        0.3,
        2,
        0.7,
        "hard",
        "sigmoid",
        0.5,
        True,
    )
    decay = torch.tensor(0.6, device=device, requires_grad=True)
    x64 = torch.randn(3, 2, 7, dtype=torch.float64, device=device, requires_grad=True)
    v0 = torch.randn(2, 7, dtype=torch.float64, device=device, requires_grad=True)
    yield (x64, v0, decay, 0.5, 1, 1.2, "none", "triangle", 2.0, False)
    yield (x64[:, :, ::2], None, decay, 0.5, 4, 0.5, "soft", "sigmoid", 1.0, False)
    yield (x64, v0, decay, 0.5, 2, 0.8, "hard", "rectangle", 1.0, False, False)  # no state


def test_opcheck(device):
    for args in _sample_args(device):
        torch.library.opcheck(torch.ops.mtsnn.mt_lif.default, args)


def test_opcheck_backward_op(device):
    x = torch.randn(2, 3, 4, device=device)
    args = (
        torch.randn_like(x),
        torch.randn(3, 4, device=device),
        x,
        torch.randn(3, 4, device=device),
        torch.tensor(0.4, device=device),
        0.5,
        3,
        1.0,
        "hard",
        "triangle",
        1.0,
        False,
        True,
    )
    torch.library.opcheck(torch.ops.mtsnn.mt_lif_backward.default, args)


def _conv_snn(timesteps: int) -> nn.Module:
    class ConvSNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encode = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8))
            self.body = nn.Sequential(
                snn.MTLIF(num_thresholds=3, learn_decay=True),
                snn.SeqToANN(nn.Conv2d(8, 8, 3, padding=1, bias=False)),
                snn.SeqToANN(nn.BatchNorm2d(8)),
                snn.MTLIF(num_thresholds=2, reset="hard", surrogate="sigmoid"),
                snn.SeqToANN(nn.AvgPool2d(2)),
                snn.SeqToANN(nn.Flatten()),
                snn.SeqToANN(nn.Linear(8 * 4 * 4, 10)),
            )

        def forward(self, images):
            static = self.encode(images)  # computed once, broadcast over time
            return self.body(static.unsqueeze(0).expand(timesteps, *static.shape)).mean(0)

    return ConvSNN()


def _assert_one_graph_equal_to_eager(model: nn.Module, images: torch.Tensor) -> None:
    """torch.compile(model, fullgraph=True): outputs and parameter gradients equal eager's."""
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)
    eager_out = model(images)
    eager_out.square().sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled_out = compiled(images)
    compiled_out.square().sum().backward()
    torch.testing.assert_close(compiled_out, eager_out, rtol=1e-5, atol=1e-5)
    for eager_grad, param in zip(eager_grads, model.parameters(), strict=True):
        torch.testing.assert_close(param.grad, eager_grad, rtol=1e-4, atol=1e-5)


def test_compiled_model_matches_eager(device):
    model = _conv_snn(timesteps=2).to(device)
    _assert_one_graph_equal_to_eager(model, torch.randn(4, 1, 8, 8, device=device))


def test_compiled_convnet_is_one_graph_equal_to_eager():
    """The model the trainer compiles: no graph break (repeat_over_time's backward, pooling)."""
    model = build_model(
        "convnet", in_channels=1, num_classes=3, image_size=8, channels=(4, 8), hidden=16
    ).to(memory_format=torch.channels_last)
    images = torch.randn(4, 1, 8, 8).contiguous(memory_format=torch.channels_last)
    _assert_one_graph_equal_to_eager(model, images)


def test_compiled_op_with_dynamic_shapes(device):
    torch._dynamo.reset()
    decay = torch.tensor(0.6, device=device, requires_grad=True)

    def step(static, v0):
        x = static.unsqueeze(0).expand(3, *static.shape)
        spikes, v_last = mtsnn.functional.mt_lif(
            x, v0=v0, decay=decay, reset="hard", return_state=True
        )
        return spikes.sum(0) * 2 + v_last

    compiled = torch.compile(step, fullgraph=True, dynamic=True)
    for shape in [(4, 6, 6), (4, 9, 9), (2, 5, 5)]:
        static = (2 * torch.randn(shape, device=device)).requires_grad_()
        v0 = torch.randn(shape, device=device).requires_grad_()
        out = compiled(static, v0)
        out.square().sum().backward()
        grads = (static.grad, v0.grad, decay.grad.clone())
        static.grad = v0.grad = decay.grad = None
        eager = step(static, v0)
        eager.square().sum().backward()
        torch.testing.assert_close(out, eager)
        for got, want in zip(grads, (static.grad, v0.grad, decay.grad), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        decay.grad = None
