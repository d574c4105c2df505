"""Analysis of trained MT-LIF networks: spike statistics, operation counts, energy estimates,
their binary-spike expansion and NIR export.

    mtsnn analyze --checkpoint runs/mnist-convnet-T2K3-seed0
"""

from mtsnn.analysis.counting import LayerOps, OpCounter, coverage
from mtsnn.analysis.energy import EnergyCosts, energy_report, layer_energy
from mtsnn.analysis.expansion import BinaryMTLIF, expand_binary
from mtsnn.analysis.nir_export import NIRExportError, to_nir
from mtsnn.analysis.pipeline import analyze, analyze_checkpoint
from mtsnn.analysis.recording import SpikeRecorder, SpikeStats
from mtsnn.analysis.report import format_table, write_json, write_plots

__all__ = [
    "BinaryMTLIF",
    "EnergyCosts",
    "LayerOps",
    "NIRExportError",
    "OpCounter",
    "SpikeRecorder",
    "SpikeStats",
    "analyze",
    "analyze_checkpoint",
    "coverage",
    "energy_report",
    "expand_binary",
    "format_table",
    "layer_energy",
    "to_nir",
    "write_json",
    "write_plots",
]
