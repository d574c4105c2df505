"""One pass over a dataset recording spikes and counting operations; `mtsnn analyze`'s work."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtsnn.analysis.counting import OpCounter
from mtsnn.analysis.energy import EnergyCosts, energy_report
from mtsnn.analysis.recording import SpikeRecorder
from mtsnn.analysis.report import write_json, write_plots
from mtsnn.data import BatchLoader
from mtsnn.training.checkpoint import load_checkpoint, restore_model
from mtsnn.training.config import EVAL_BATCH_SIZE
from mtsnn.training.splits import load_split

ANALYSIS_DIR = "analysis"


@torch.no_grad()
def analyze(
    model: nn.Module, batches: Iterable[torch.Tensor], costs: EnergyCosts | None = None
) -> dict[str, Any]:
    """Run ``model`` (in eval mode) over ``batches`` of images, recording as it goes.

    Returns a JSON-ready dict: "images", "spikes" (one ``SpikeStats.to_dict`` per MT-LIF layer),
    "operations" (one ``LayerOps.per_image`` per counted layer, per image) and "energy"
    (``energy_report`` of those counts, per image).
    """
    costs = costs or EnergyCosts()
    model.eval()
    with SpikeRecorder(model) as recorder, OpCounter(model) as counter:
        for images in batches:
            model(images)
    operations = counter.per_image()
    return {
        "images": counter.images,
        "spikes": [stats.to_dict() for stats in recorder.layers.values() if stats.images],
        "operations": operations,
        "energy": energy_report(operations, costs),
    }


def analyze_checkpoint(
    path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    limit_test: int | None = None,
    out: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    costs: EnergyCosts | None = None,
    plots: bool = True,
) -> tuple[dict[str, Any], list[Path]]:
    """Analyze a saved run on its test set; write analysis.json (and PNG plots) into ``out``.

    Args:
        path: the run directory or its checkpoint.json.
        data_dir: where to look for the dataset first (default: the run's own --data-dir).
        download: download the dataset when it is not found.
        limit_test: N test images, training's fixed subset (default: the run's --limit-test).
        out: output directory (default: RUN_DIR/analysis).
        device: where to run the model.
        costs: energy per operation (default: 45 nm figures).
        plots: also draw the PNGs (needs matplotlib).

    Returns:
        (the ``analyze`` result plus "checkpoint" and "epoch", the files written).

    Raises:
        CheckpointError: an unreadable, tampered or mismatching checkpoint.
        ImportError: ``plots`` without matplotlib.
    """
    checkpoint = load_checkpoint(path)
    config = checkpoint.config
    if data_dir is None:
        data_dir = checkpoint.meta.get("data_dir")
    limit = config.limit_test if limit_test is None else limit_test
    test_set = load_split(config.dataset, "test", limit, data_dir, download)
    model = config.build_model(test_set)
    restore_model(checkpoint, model)
    model.to(device)
    loader = BatchLoader(
        test_set, EVAL_BATCH_SIZE, shuffle=False, augment=False, device=torch.device(device)
    )
    result = {
        "checkpoint": str(checkpoint.path),
        "epoch": checkpoint.epoch,
        **analyze(model, (images for images, _ in loader), costs),
    }
    out_dir = Path(out) if out is not None else checkpoint.path.parent / ANALYSIS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [write_json(result, out_dir)]
    if plots:
        files += write_plots(result, out_dir)
    return result, files
