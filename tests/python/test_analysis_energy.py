"""Energy arithmetic from operation counts."""

from __future__ import annotations

import pytest

from mtsnn.analysis import EnergyCosts, energy_report, layer_energy


def _ops(name: str, **counts: float) -> dict:
    keys = ("macs", "acs", "nonzero_macs", "additions", "comparisons", "ann_macs", "ann_additions")
    return {"name": name, **dict.fromkeys(keys, 0.0), **counts}


def test_defaults_are_the_45nm_figures():
    assert (EnergyCosts().mac_pj, EnergyCosts().ac_pj) == (4.6, 0.9)


def test_layer_energy_prices_each_kind_of_operation():
    ops = _ops("l", macs=10, acs=100, nonzero_macs=40, additions=5, comparisons=7, ann_macs=50)
    energy = layer_energy(ops, EnergyCosts(mac_pj=2.0, ac_pj=0.5))
    assert energy["snn_pj"] == 10 * 2.0 + 100 * 0.5 + 5 * 0.5  # comparisons are free
    assert energy["snn_nonzero_mac_pj"] == 10 * 2.0 + 40 * 2.0 + 5 * 0.5
    assert energy["ann_pj"] == 50 * 2.0


def test_report_sums_layers_and_gives_the_ratio():
    layers = [_ops("a", macs=10, ann_macs=10), _ops("b", acs=20, ann_macs=30)]
    report = energy_report(layers, EnergyCosts())
    assert [layer["name"] for layer in report["layers"]] == ["a", "b"]
    assert report["total"]["snn_pj"] == pytest.approx(10 * 4.6 + 20 * 0.9)
    assert report["total"]["ann_pj"] == pytest.approx(40 * 4.6)
    assert report["ann_to_snn_ratio"] == pytest.approx(40 * 4.6 / (10 * 4.6 + 20 * 0.9))
    assert energy_report([_ops("silent")], EnergyCosts())["ann_to_snn_ratio"] is None


def test_negative_costs_are_refused():
    with pytest.raises(ValueError, match=">= 0"):
        EnergyCosts(mac_pj=-1.0)
