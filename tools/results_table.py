"""Print the markdown results tables of the runs whose summary.json files are given.

python tools/results_table.py results/*/summary.json

Runs trained on the whole training set go into the results table (final-epoch test accuracy);
runs that held validation images out (--validation) go into a separate recipe-selection table
that shows only their validation figures, because recipes are chosen on those, never on the test
set.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mtsnn.data import AUGMENTATION


def dataset_label(summary: dict[str, Any]) -> str:
    """The dataset column; CIFAR-10 read from a JPEG re-encoding is never labelled as the
    original (its compression artefacts lower every model's accuracy)."""
    name = summary["config"]["dataset"]
    if name == "cifar10" and "jpeg" in summary["dataset"]["source"].lower():
        return "cifar10 (JPEG q75)"
    return name


def machine(summary: dict[str, Any]) -> str:
    """The machine column: the GPU a run trained on, else its CPU cores."""
    info = summary["machine"]
    kind, _, index = summary["device"].partition(":")
    if kind == "cuda":
        return info["gpus"][int(index or 0)]
    return f"{info['cpu_cores']}-core CPU"


def model_label(summary: dict[str, Any]) -> str:
    """The model column: the network, and "bf16" when it trained under bfloat16 autocast."""
    name = summary["config"]["model"]
    return f"{name}, bf16" if summary.get("bf16") else name


def neuron(config: dict[str, Any]) -> str:
    """The neuron column: the ReLU twin or MT-LIF with its K and surrogate."""
    if config["ann"]:
        return "ReLU (ANN twin)"
    return f"MT-LIF K={config['num_thresholds']}, {config['surrogate']}"


def augmentation(config: dict[str, Any]) -> str:
    """The augmentation column: the dataset's crop (and flip), plus rotation and zoom when used."""
    if not config["augment"]:
        return "none"
    padding, flip = AUGMENTATION[config["dataset"]]
    extra = [f"crop ±{padding}"] + (["flip"] if flip else [])
    if config.get("rotation"):
        extra.append(f"rotation ±{config['rotation']:g}°")
    if config.get("scaling"):
        extra.append(f"zoom ±{100 * config['scaling']:g} %")
    return ", ".join(extra)


def result_row(path: Path, summary: dict[str, Any]) -> str:
    """One results-table row from a run's summary.json."""
    config = summary["config"]
    timesteps = 1 if config["ann"] else config["timesteps"]
    return (
        f"| {path.parent.name} | {dataset_label(summary)} | {model_label(summary)} | "
        f"{neuron(config)} | {augmentation(config)} | {timesteps} | {config['epochs']} | "
        f"{100 * summary['final_test_accuracy']:.2f} % | {machine(summary)} | "
        f"{summary['wall_clock_s'] / 60:.1f} | {summary['images_per_s']:.0f} |"
    )


def selection_row(path: Path, summary: dict[str, Any]) -> str:
    """One recipe-selection row: the run's validation figures only."""
    config, data = summary["config"], summary["dataset"]
    return (
        f"| {path.parent.name} | {dataset_label(summary)} | {model_label(summary)} | "
        f"{neuron(config)} | {augmentation(config)} | {config['epochs']} | "
        f"{data['train_images']} / {data['validation_images']} | "
        f"{100 * summary['final_validation_accuracy']:.2f} % | "
        f"{summary['final_validation_loss']:.4f} |"
    )


def main(paths: list[str]) -> None:
    """Print the results table, then the recipe-selection table if any run held images out."""
    summaries = [(Path(name), json.loads(Path(name).read_text())) for name in paths]
    held_out = [bool(summary["dataset"].get("validation_images")) for _, summary in summaries]
    results = [item for item, selects in zip(summaries, held_out, strict=True) if not selects]
    selection = [item for item, selects in zip(summaries, held_out, strict=True) if selects]
    print(
        "| run | dataset | model | neuron | augmentation | T | epochs | test accuracy (final "
        "epoch) | machine | minutes | images/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for path, summary in results:
        print(result_row(path, summary))
    if selection:
        print()
        print(
            "| run | dataset | model | neuron | augmentation | epochs | train / validation "
            "images | validation accuracy (final epoch) | validation loss |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for path, summary in selection:
            print(selection_row(path, summary))


if __name__ == "__main__":
    main(sys.argv[1:])
