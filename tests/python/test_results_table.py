"""tools/results_table.py: test results and validation-only recipe selection in separate tables."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "results_table.py"


@pytest.fixture(scope="module")
def results_table():
    spec = importlib.util.spec_from_file_location("results_table", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_summary(directory: Path, validation: int, **config: object) -> Path:
    summary = {
        "final_test_accuracy": 0.9957,
        "final_validation_accuracy": 0.9921 if validation else None,
        "final_validation_loss": 0.0312 if validation else None,
        "wall_clock_s": 600.0,
        "images_per_s": 1000.0,
        "dataset": {
            "source": "mnist/train-images-idx3-ubyte.gz",
            "train_images": 60000 - validation,
            "validation_images": validation,
        },
        "device": "cpu",
        "machine": {"cpu_cores": 2, "gpus": []},
        "config": {
            "dataset": "mnist",
            "model": "convnet3",
            "ann": False,
            "timesteps": 2,
            "num_thresholds": 3,
            "surrogate": "rectangle",
            "epochs": 20,
            "augment": True,
            **config,
        },
    }
    directory.mkdir()
    path = directory / "summary.json"
    path.write_text(json.dumps(summary))
    return path


def test_selection_runs_show_validation_figures_only(results_table, tmp_path, capsys):
    full = write_summary(tmp_path / "final", 0)
    held = write_summary(tmp_path / "val-rot", 10000, rotation=10.0, scaling=0.1)
    old = write_summary(tmp_path / "old", 0)
    summary = json.loads(old.read_text())
    del summary["dataset"]["validation_images"]  # written before --validation existed
    old.write_text(json.dumps(summary))
    results_table.main([str(full), str(held), str(old)])
    results, selection = capsys.readouterr().out.split("\n\n")
    assert (
        "| final | mnist | convnet3 | MT-LIF K=3, rectangle | crop ±2 | 2 | 20 | 99.57 % | "
        "2-core CPU | 10.0 |" in results
    )
    assert "val-rot" not in results and "| old |" in results
    assert selection.splitlines()[2] == (
        "| val-rot | mnist | convnet3 | MT-LIF K=3, rectangle | crop ±2, rotation ±10°, "
        "zoom ±10 % | 20 | 50000 / 10000 | 99.21 % | 0.0312 |"
    )
    assert "99.57" not in selection  # the test figure never appears next to the choice


def test_without_selection_runs_only_the_results_table(results_table, tmp_path, capsys):
    results_table.main([str(write_summary(tmp_path / "run", 0, ann=True))])
    out = capsys.readouterr().out
    assert "\n\n" not in out and "ReLU (ANN twin) | crop ±2 | 1 |" in out


def test_bf16_runs_say_so_in_the_model_column(results_table, tmp_path, capsys):
    run = write_summary(tmp_path / "run", 0)
    held = write_summary(tmp_path / "held", 10000)
    for path in (run, held):
        path.write_text(json.dumps({**json.loads(path.read_text()), "bf16": True}))
    results_table.main([str(run), str(held), str(write_summary(tmp_path / "float32", 0))])
    results, selection = capsys.readouterr().out.split("\n\n")
    assert "| run | mnist | convnet3, bf16 | MT-LIF" in results
    assert "| float32 | mnist | convnet3 | MT-LIF" in results
    assert "| held | mnist | convnet3, bf16 | MT-LIF" in selection


def test_gpu_runs_name_the_gpu_and_jpeg_cifar10_says_so(results_table, tmp_path, capsys):
    path = write_summary(tmp_path / "cifar", 0, dataset="cifar10", model="vgg11")
    summary = json.loads(path.read_text())
    summary["dataset"]["source"] = "data/cifar10-jpeg.tar.gz"
    summary.update(device="cuda:0", machine={"cpu_cores": 16, "gpus": ["NVIDIA H200"]})
    path.write_text(json.dumps(summary))
    official = write_summary(tmp_path / "official", 0, dataset="cifar10", model="vgg11")
    summary = json.loads(official.read_text())
    summary["dataset"]["source"] = "data/cifar-10-batches-py"
    official.write_text(json.dumps(summary))
    results_table.main([str(path), str(official)])
    rows = capsys.readouterr().out.splitlines()[2:]
    assert rows[0].startswith("| cifar | cifar10 (JPEG q75) | vgg11 |")
    assert "| 99.57 % | NVIDIA H200 | 10.0 |" in rows[0]
    assert rows[1].startswith("| official | cifar10 | vgg11 |") and "| 2-core CPU |" in rows[1]
