"""An analysis result as a terminal table, a JSON file and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtsnn._pyplot import import_pyplot

JSON_FILE = "analysis.json"
PLOT_FILES = ("firing_rates.png", "spike_levels.png", "energy.png")


def _si(value: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _energy(picojoules: float) -> str:
    for factor, unit in ((1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ")):
        if picojoules >= factor:
            return f"{picojoules / factor:.3g} {unit}"
    return f"{picojoules:.3g} pJ"


def format_table(result: dict[str, Any]) -> str:
    """The ``analyze`` result as plain-text tables: spikes per MT-LIF layer, operations and
    energy per layer (per image), and the totals."""
    lines = [f"{result['images']} images", ""]
    lines.append(f"{'MT-LIF layer':<28}{'rate':>8}{'silent':>8}{'dead':>8}  levels 0..K")
    for layer in result["spikes"]:
        levels = " ".join(f"{fraction:.3f}" for fraction in layer["level_fractions"])
        lines.append(
            f"{layer['name']:<28}{layer['firing_rate']:>8.4f}{layer['silent_fraction']:>8.3f}"
            f"{layer['dead_fraction']:>8.3f}  {levels}"
        )
    lines += ["", "per image:"]
    header = ("layer", "input", "MACs", "ACs", "nz-MACs", "adds", "cmps", "SNN pJ", "ANN pJ")
    lines.append(f"{header[0]:<28}{header[1]:>7}" + "".join(f"{h:>9}" for h in header[2:]))
    energy = {layer["name"]: layer for layer in result["energy"]["layers"]}
    for ops in result["operations"]:
        joules = energy[ops["name"]]
        values = (ops["macs"], ops["acs"], ops["nonzero_macs"], ops["additions"])
        values += (ops["comparisons"], joules["snn_pj"], joules["ann_pj"])
        kind = "spikes" if ops["spiking_input"] else "real"
        lines.append(f"{ops['name']:<28}{kind:>7}" + "".join(f"{_si(v):>9}" for v in values))
    total = result["energy"]["total"]
    ratio = result["energy"]["ann_to_snn_ratio"]
    lines += [
        "",
        f"energy per image: SNN {_energy(total['snn_pj'])} (one MAC per non-zero input: "
        f"{_energy(total['snn_nonzero_mac_pj'])}), ANN twin {_energy(total['ann_pj'])}; "
        f"ANN/SNN {'n/a' if ratio is None else f'{ratio:.2f}'}x",
        "(BatchNorm folded into the layer before it; max-pool comparisons cost 0 pJ)",
    ]
    return "\n".join(lines)


def write_json(result: dict[str, Any], out_dir: Path) -> Path:
    """Write ``result`` to out_dir/analysis.json; return its path."""
    path = out_dir / JSON_FILE
    path.write_text(json.dumps(result, indent=1))
    return path


def write_plots(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Draw the firing rate per layer, the spike-level histogram and the energy per layer (SNN
    vs ANN twin) as PNGs in ``out_dir``; return their paths.

    Raises:
        ImportError: matplotlib is not installed (the message says how to install it).
    """
    plt = import_pyplot("drawing the analysis plots")
    spikes, energy = result["spikes"], result["energy"]["layers"]
    paths = [out_dir / name for name in PLOT_FILES]

    figure, axes = plt.subplots(figsize=(8, 4))
    axes.bar([s["name"] for s in spikes], [s["firing_rate"] for s in spikes])
    axes.set(ylabel="mean spike value per neuron per step", title="firing rate per MT-LIF layer")
    axes.tick_params(axis="x", labelrotation=60)

    figure2, axes2 = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(spikes), 1)
    for index, layer in enumerate(spikes):
        levels = range(len(layer["level_fractions"]))
        positions = [level + index * width for level in levels]
        axes2.bar(positions, layer["level_fractions"], width, label=layer["name"])
    levels = range(max((len(s["level_fractions"]) for s in spikes), default=0))
    axes2.set_xticks([level + 0.4 - width / 2 for level in levels], [str(k) for k in levels])
    axes2.set(xlabel="spike level", ylabel="fraction of neuron-steps", yscale="log")
    axes2.set_title("spike levels per MT-LIF layer")

    figure3, axes3 = plt.subplots(figsize=(8, 4))
    positions = range(len(energy))
    axes3.bar([p - 0.2 for p in positions], [e["snn_pj"] for e in energy], 0.4, label="SNN")
    axes3.bar([p + 0.2 for p in positions], [e["ann_pj"] for e in energy], 0.4, label="ANN twin")
    axes3.set_xticks(list(positions), [e["name"] for e in energy])
    axes3.set(ylabel="pJ per image", title="energy per layer")
    axes3.tick_params(axis="x", labelrotation=60)

    for fig, ax, path in zip((figure, figure2, figure3), (axes, axes2, axes3), paths, strict=True):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
        ax.tick_params(axis="x", labelsize="small")
        ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return paths
