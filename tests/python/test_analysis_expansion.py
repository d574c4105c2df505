"""Binary expansion: binary channels that sum to the graded spikes, identical network outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtsnn.analysis.expansion import BinaryMTLIF, expand_binary
from mtsnn.models import build_model
from mtsnn.nn import MTLIF, SeqToANN
from mtsnn.options import RESETS


def _neuron(k: int, reset: str, **options) -> MTLIF:
    return MTLIF(num_thresholds=k, threshold=0.7, decay=0.6, reset=reset, **options)


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("k", [1, 3, 6])
def test_random_linear_network_is_reproduced_exactly(k, reset):
    model = nn.Sequential(
        _neuron(k, reset),
        SeqToANN(nn.Linear(6, 5)),
        _neuron(k, reset),
        SeqToANN(nn.Linear(5, 3)),
    )
    x = 3 * torch.randn(4, 2, 6)
    expanded = expand_binary(model)
    assert sum(isinstance(m, BinaryMTLIF) for m in expanded.modules()) == 2
    assert k == 1 or model[0](x).max() > 1  # graded spikes do occur
    with torch.no_grad():
        assert torch.equal(expanded(x), model(x))


@pytest.mark.parametrize("reset", RESETS)
def test_random_conv_network_is_reproduced_exactly(reset):
    model = nn.Sequential(
        _neuron(3, reset, learn_decay=True),
        SeqToANN(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3))),
        _neuron(3, reset),
        SeqToANN(nn.Conv2d(3, 2, 3, stride=2)),
    ).eval()
    x = 3 * torch.randn(3, 2, 2, 6, 6)
    with torch.no_grad():
        assert torch.equal(expand_binary(model)(x), model(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_channels_are_binary_and_sum_to_the_graded_spikes(dtype):
    neuron = _neuron(4, "soft")
    x = (4 * torch.randn(5, 3, 7)).to(dtype)
    channels = BinaryMTLIF(neuron).channels(x)
    assert channels.shape == (4, 5, 3, 7) and channels.dtype == dtype
    assert set(channels.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(channels.sum(0), neuron(x))
    # channel k fires iff the graded spike is at least k
    levels = torch.arange(1, 5).view(4, 1, 1, 1)
    assert torch.equal(channels.bool(), neuron(x).unsqueeze(0) >= levels)


def test_whole_model_is_reproduced_and_left_unchanged():
    model = build_model(
        "convnet",
        in_channels=1,
        num_classes=3,
        image_size=8,
        timesteps=2,
        channels=(2, 3),
        hidden=4,
        threshold=0.2,
    ).eval()
    images = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(expand_binary(model)(images), model(images))
    assert sum(isinstance(m, MTLIF) for m in model.modules()) == 3
