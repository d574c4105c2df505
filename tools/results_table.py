"""Print the markdown results table of the runs whose summary.json files are given.

python tools/results_table.py results/*/summary.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(path: Path) -> str:
    """One table row from a run's summary.json."""
    summary = json.loads(path.read_text())
    config = summary["config"]
    neuron = (
        "ReLU (ANN twin)"
        if config["ann"]
        else (f"MT-LIF K={config['num_thresholds']}, {config['surrogate']}")
    )
    timesteps = 1 if config["ann"] else config["timesteps"]
    return (
        f"| {path.parent.name} | {config['dataset']} | {config['model']} | {neuron} | "
        f"{timesteps} | "
        f"{config['epochs']} | {100 * summary['final_test_accuracy']:.2f} % | "
        f"{summary['wall_clock_s'] / 60:.1f} | {summary['images_per_s']:.0f} |"
    )


def main(paths: list[str]) -> None:
    """Print the header and one row per summary file."""
    print(
        "| run | dataset | model | neuron | T | epochs | test accuracy (final epoch) | minutes "
        "| images/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in paths:
        print(row(Path(name)))


if __name__ == "__main__":
    main(sys.argv[1:])
