"""Operation counts: checked by hand on small layers, graded vs binary spikes, ANN twin."""

from __future__ import annotations

import torch
from torch import nn

from mtsnn.analysis import OpCounter, coverage
from mtsnn.models import GlobalAvgPool, build_model
from mtsnn.nn import MTLIF, SeqToANN

# A spike map with graded values; the conv below has zero padding 1, so a corner input reaches
# 4 outputs, an edge one 6 and an inner one 9.
SPIKES = torch.tensor([[3, 0, 0, 1], [0, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 1]]).float()


def _spiking(layer: nn.Module, num_thresholds: int = 3) -> nn.Sequential:
    """MT-LIF neurons that fire floor(x) (decay 0, threshold 1, no reset), then ``layer``."""
    neuron = MTLIF(num_thresholds=num_thresholds, threshold=1.0, decay=0.0, reset="none")
    return nn.Sequential(neuron, SeqToANN(layer))


def _count(model: nn.Module, x: torch.Tensor, batch_dim: int = 0) -> list[dict]:
    with torch.no_grad(), OpCounter(model, batch_dim=batch_dim) as counter:
        model(x)
    return counter.per_image()


def _conv_ops(spikes: torch.Tensor, num_thresholds: int = 3) -> dict:
    model = _spiking(nn.Conv2d(1, 1, 3, padding=1, bias=False), num_thresholds)
    (ops,) = _count(model, (spikes + 0.5)[None, None, None])  # [T=1, B=1, C=1, 4, 4]
    return ops


def test_coverage_counts_the_outputs_each_input_reaches():
    inner = torch.tensor([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]]).double()
    assert torch.equal(coverage((4, 4), (3, 3), (1, 1), (1, 1), (1, 1)), inner)
    rows = torch.tensor([1.0, 2.0, 1.0, 1.0], dtype=torch.float64)  # stride 2: rows -1..1, 1..3
    assert torch.equal(coverage((4, 4), (3, 3), (2, 2), (1, 1), (1, 1)), torch.outer(rows, rows))


def test_conv_counts_by_hand():
    ops = _conv_ops(SPIKES)
    assert ops["spiking_input"] and ops["steps"] == 1
    assert ops["acs"] == 3 * 4 + 1 * 4 + 2 * 9 + 1 * 4  # value x fan-out
    assert ops["nonzero_macs"] == 4 + 4 + 9 + 4  # fan-out per non-zero input
    assert ops["ann_macs"] == 4 * 4 + 8 * 6 + 4 * 9  # every input, real-valued
    assert ops["macs"] == 0


def test_a_graded_spike_counts_its_value_in_acs_and_once_in_nonzero_macs():
    graded = torch.zeros(4, 4)
    graded[1, 2] = 3
    binary = graded.clamp(max=1)
    graded_ops, binary_ops = _conv_ops(graded), _conv_ops(binary, num_thresholds=1)
    assert graded_ops["acs"] == 3 * binary_ops["acs"] == 3 * 9
    assert graded_ops["nonzero_macs"] == binary_ops["nonzero_macs"] == binary_ops["acs"] == 9


def test_grouped_strided_conv_fan_out_scales_with_outputs_per_group():
    model = _spiking(nn.Conv2d(2, 6, 3, stride=2, padding=1, groups=2))
    x = torch.stack([SPIKES, SPIKES.clamp(max=1)])[None, None] + 0.5  # [1, 1, 2, 4, 4]
    (ops,) = _count(model, x)
    rows = torch.tensor([1.0, 2.0, 1.0, 1.0])
    fan_out = torch.outer(rows, rows) * 3  # 6 outputs / 2 groups
    assert ops["acs"] == float((fan_out * (SPIKES + SPIKES.clamp(max=1))).sum())


def test_linear_counts_by_hand():
    (ops,) = _count(_spiking(nn.Linear(4, 3)), torch.tensor([[[0.5, 2.5, 1.5, 0.0]]]))
    assert (ops["acs"], ops["nonzero_macs"], ops["ann_macs"]) == (9, 6, 12)


def test_counts_are_per_image_over_all_time_steps():
    x = torch.tensor([[[0.5, 2.5], [1.5, 0.0]], [[1.5, 0.0], [0.0, 0.0]]])  # [T=2, B=2, 2]
    (ops,) = _count(_spiking(nn.Linear(2, 5)), x, batch_dim=1)
    assert ops["steps"] == 2
    assert ops["acs"] == (2 + 1 + 1) * 5 / 2  # spikes of both steps, per image
    assert ops["ann_macs"] == 2 * 5  # one step, dense


def test_average_pooled_spikes_count_as_spike_counts_in_the_next_layer():
    spikes = torch.tensor([[[3.0, 1.0], [0.0, 1.0]], [[0.0, 0.0], [1.0, 0.0]]])  # sums 5, 1
    model = nn.Sequential(
        MTLIF(num_thresholds=3, threshold=1.0, decay=0.0, reset="none"),
        GlobalAvgPool(),
        SeqToANN(nn.Linear(2, 4)),
    )
    pool, linear = _count(model, (spikes + 0.5)[None, None])
    assert pool["additions"] == 2 * 3 and pool["spiking_input"]
    assert linear["spiking_input"] and linear["acs"] == (5 + 1) * 4
    assert linear["ann_macs"] == 2 * 4


def test_max_pooling_counts_comparisons():
    (ops,) = _count(nn.MaxPool2d(2), torch.randn(3, 2, 4, 4))
    assert ops["comparisons"] == 2 * 4 * 3 and ops["additions"] == 0  # per image


def test_encoder_runs_once_with_macs_and_the_ann_twin_matches_the_ann_model():
    options = dict(in_channels=1, num_classes=3, image_size=16, timesteps=3)
    images = torch.randn(2, 1, 16, 16)
    snn = _count(build_model("convnet", **options).eval(), images)
    ann = _count(build_model("convnet", ann=True, **options).eval(), images)
    weighted = [ops for ops in snn if ops["kind"] in ("Conv2d", "Linear")]
    assert not weighted[0]["spiking_input"] and weighted[0]["steps"] == 1
    assert weighted[0]["macs"] == weighted[0]["ann_macs"] > 0
    assert all(ops["spiking_input"] and ops["steps"] == 3 for ops in weighted[1:])
    assert all(ops["macs"] == 0 for ops in weighted[1:])
    assert [ops["ann_macs"] for ops in snn] == [ops["macs"] for ops in ann]
    assert [ops["ann_macs"] for ops in ann] == [ops["macs"] for ops in ann]
    assert not any(ops["spiking_input"] for ops in ann)
