"""Spike statistics recorded by hooks, accumulated over batches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtsnn.analysis import SpikeRecorder
from mtsnn.nn import MTLIF


def test_rates_levels_silence_and_dead_neurons_over_two_batches():
    # decay 0 and no reset: each neuron fires floor(x) clamped to 0..K=2.
    neuron = MTLIF(num_thresholds=2, threshold=1.0, decay=0.0, reset="none")
    model = nn.Sequential(neuron)
    # [T=2, B=1, 3 neurons]; neuron 2 never fires, neuron 1 only in the second batch.
    first = torch.tensor([[[2.5, 0.0, 0.0]], [[1.5, 0.0, 0.0]]])
    second = torch.tensor([[[0.0, 0.0, 0.0]], [[0.0, 2.0, 0.0]]])
    with torch.no_grad(), SpikeRecorder(model) as recorder:
        model(first)
        model(second)
    (stats,) = [layer.to_dict() for layer in recorder.layers.values()]
    assert stats["name"] == "0" and stats["images"] == 2 and stats["steps"] == 2
    neuron_steps = 2 * 2 * 3
    assert stats["firing_rate"] == pytest.approx((2 + 1 + 2) / neuron_steps)
    assert stats["level_fractions"] == pytest.approx([9 / 12, 1 / 12, 2 / 12])
    assert stats["silent_fraction"] == pytest.approx(4 / 6)  # (image, neuron) pairs
    assert stats["dead_fraction"] == pytest.approx(1 / 3)


def test_hooks_are_removed_on_exit():
    model = nn.Sequential(MTLIF())
    with SpikeRecorder(model) as recorder:
        model(torch.ones(1, 1, 2))
    model(torch.ones(1, 1, 2))
    assert recorder.layers["0"].images == 1
