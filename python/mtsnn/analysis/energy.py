"""Energy estimates from operation counts, with configurable costs per operation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class EnergyCosts:
    """Energy per operation in picojoules; defaults: 32-bit float at 45 nm (Horowitz, 2014).

    Pooling additions cost one accumulate each; max-pooling comparisons are given 0 energy
    (they are reported as counts, the same in the SNN and its ANN twin).
    """

    mac_pj: float = 4.6
    ac_pj: float = 0.9

    def __post_init__(self) -> None:
        if not (self.mac_pj >= 0 and self.ac_pj >= 0):
            raise ValueError(f"energy costs must be >= 0, got {self}")


def layer_energy(ops: dict[str, Any], costs: EnergyCosts) -> dict[str, float]:
    """Energy (pJ per image) of one layer's counts (a ``LayerOps.per_image`` dict).

    Returns {"snn_pj": MACs and ACs, "snn_nonzero_mac_pj": the SNN charged one MAC per
    non-zero input instead of its ACs, "ann_pj": the ANN twin}.
    """
    pooling = ops["additions"] * costs.ac_pj
    snn_macs = ops["macs"] * costs.mac_pj
    return {
        "snn_pj": snn_macs + ops["acs"] * costs.ac_pj + pooling,
        "snn_nonzero_mac_pj": snn_macs + ops["nonzero_macs"] * costs.mac_pj + pooling,
        "ann_pj": ops["ann_macs"] * costs.mac_pj + ops["ann_additions"] * costs.ac_pj,
    }


def energy_report(layers: list[dict[str, Any]], costs: EnergyCosts) -> dict[str, Any]:
    """Per-layer and total energy of the SNN and its ANN twin, and their ratio.

    Args:
        layers: ``LayerOps.per_image`` dicts.
        costs: the energy per operation.

    Returns:
        {"costs", "layers": [{"name", "snn_pj", "snn_nonzero_mac_pj", "ann_pj"}], "total":
        the sums, "ann_to_snn_ratio": ANN energy / SNN energy (None when the SNN's is 0)}.
    """
    per_layer = [{"name": ops["name"], **layer_energy(ops, costs)} for ops in layers]
    keys = ("snn_pj", "snn_nonzero_mac_pj", "ann_pj")
    total = {key: sum(layer[key] for layer in per_layer) for key in keys}
    snn = total["snn_pj"]
    return {
        "costs": asdict(costs),
        "layers": per_layer,
        "total": total,
        "ann_to_snn_ratio": total["ann_pj"] / snn if snn > 0 else None,
    }
