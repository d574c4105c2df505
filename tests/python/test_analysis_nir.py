"""NIR export: exact mappings only, refusals that say why."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from mtsnn.analysis.expansion import expand_binary
from mtsnn.analysis.nir_export import NIRExportError, to_nir
from mtsnn.models import build_model
from mtsnn.nn import MTLIF, SeqToANN

nir = pytest.importorskip("nir")


def _binary(decay: float = 0.75, **options) -> MTLIF:
    return MTLIF(**{"num_thresholds": 1, "reset": "hard", "decay": decay, **options})


def _network(neuron: MTLIF) -> nn.Sequential:
    conv = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2))
    return nn.Sequential(
        SeqToANN(conv), neuron, nn.Flatten(2), SeqToANN(nn.Linear(32, 3)), _binary(decay=1.0)
    )


def test_binary_hard_reset_network_maps_onto_nir_nodes():
    model = _network(_binary(threshold=0.5))
    model[0].module[1].running_mean.fill_(0.3)  # a non-trivial BatchNorm to fold
    model[0].module[1].running_var.fill_(2.0)
    model.eval()
    graph = to_nir(model, (1, 4, 4))
    kinds = [type(graph.nodes[name]).__name__ for name, _ in graph.edges] + ["Output"]
    assert kinds == ["Input", "Conv2d", "LIF", "Flatten", "Affine", "IF", "Output"]
    lif = graph.nodes["1"]
    assert lif.tau.shape == (2, 4, 4)
    np.testing.assert_allclose(1 - 1 / lif.tau, 0.75)  # Euler, dt = 1: v = decay * v + r/tau * I
    np.testing.assert_allclose(lif.r / lif.tau, 1.0)
    assert (lif.v_threshold == 0.5).all() and (lif.v_reset == 0).all()
    conv = graph.nodes["0.module.0"]
    x = torch.randn(2, 1, 4, 4)
    folded = nn.functional.conv2d(
        x, torch.from_numpy(conv.weight), torch.from_numpy(conv.bias), padding=1
    )
    torch.testing.assert_close(folded, model[0].module(x))
    assert list(graph.nodes["3.module"].weight.shape) == [3, 32]


def test_expanded_network_with_k_1_exports_too():
    graph = to_nir(expand_binary(_network(_binary())).eval(), (1, 4, 4))
    assert type(graph.nodes["1"]).__name__ == "LIF"


@pytest.mark.parametrize(
    ("neuron", "reason"),
    [
        (MTLIF(num_thresholds=3, reset="hard"), "graded spikes"),
        (_binary(reset="soft"), "subtracts the threshold"),
        (_binary(reset="none"), "never resets"),
    ],
)
def test_neurons_without_an_exact_nir_node_are_refused(neuron, reason):
    with pytest.raises(NIRExportError, match=reason):
        to_nir(_network(neuron).eval(), (1, 4, 4))


def test_max_pooling_is_refused_with_the_layer_name():
    model = build_model(
        "convnet", in_channels=1, num_classes=2, image_size=8, num_thresholds=1, reset="hard"
    )
    with pytest.raises(NIRExportError, match=r"encoder\.1: MaxPool2x2"):
        to_nir(model.eval(), (1, 8, 8))


def test_without_the_nir_package_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(ImportError, match="pip install nir"):
        to_nir(_network(_binary()), (1, 4, 4))
