"""tools/cifar10_gpu.py on the CPU with a tiny CIFAR-10: calibration, the epoch plan, both runs."""

from __future__ import annotations

import importlib.util
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from mtsnn.data import CIFAR10_CLASSES
from mtsnn.training import read_log

TOOL = Path(__file__).resolve().parents[2] / "tools" / "cifar10_gpu.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("cifar10_gpu", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tiny_cifar(directory: Path, per_batch: int = 32, test: int = 40) -> Path:
    """The official cifar-10-batches-py layout with a few random images per batch."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        count = test if name == "test_batch" else per_batch
        batch = {
            b"labels": [int(x) for x in rng.integers(0, 10, count)],
            b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
        }
        (directory / name).write_bytes(pickle.dumps(batch, protocol=3))
    meta = {b"label_names": [name.encode() for name in CIFAR10_CLASSES]}
    (directory / "batches.meta").write_bytes(pickle.dumps(meta, protocol=3))
    return directory


def test_plan_gives_both_runs_the_epochs_that_fit(tool):
    assert tool.plan_epochs(100.0, {"snn": 2.0, "ann": 0.5}, 3, 200) == int(0.85 * 100 / 2.5)
    assert tool.plan_epochs(1e6, {"snn": 2.0, "ann": 0.5}, 3, 30) == 30
    with pytest.raises(SystemExit, match="only 2 epoch"):
        tool.plan_epochs(6.0, {"snn": 2.0, "ann": 0.5}, 3, 200)


def test_commands_are_mtsnn_train_lines(tool):
    command = tool.train_command({"model": "vgg11", "ann": True, "epochs": 4}, "d", "cuda")
    assert command == "mtsnn train --data-dir d --device cuda --model vgg11 --ann --epochs 4"


def test_cpu_run_calibrates_plans_and_trains_both(tool, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # The tool puts the source tree first on PYTHONPATH and sys.path; later tests (and the
    # processes they spawn) must import the same mtsnn as before.
    monkeypatch.setenv("PYTHONPATH", "")
    monkeypatch.setattr(sys, "path", list(sys.path))
    data_dir = write_tiny_cifar(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "out"
    argv = ["--data-dir", str(data_dir), "--device", "cpu", "--out", str(out)]
    argv += ["--runs", str(tmp_path / "runs"), "--budget", "600", "--max-epochs", "1"]
    argv += ["--min-epochs", "1", "--calibration-train", "160", "--calibration-test", "40"]
    assert tool.main(argv) == 0
    plan = json.loads((out / "plan.json").read_text())
    assert plan["epochs"] == 1 and set(plan["estimated_epoch_s"]) == {
        "cifar10-vgg11-T2",
        "cifar10-vgg11-ann",
    }
    for name, estimate in plan["estimated_epoch_s"].items():  # the second, warmed-up epoch
        calibration = read_log(tmp_path / "runs" / f"calibrate-{name}")
        assert len(calibration) == 2 and estimate == calibration[1]["seconds"]
    snn = json.loads((out / "cifar10-vgg11-T2" / "summary.json").read_text())
    ann = json.loads((out / "cifar10-vgg11-ann" / "summary.json").read_text())
    assert (snn["config"]["timesteps"], snn["config"]["ann"], ann["config"]["ann"]) == (
        2,
        False,
        True,
    )
    assert snn["dataset"]["train_images"] == 160 and snn["dataset"]["test_images"] == 40
    assert snn["command"].startswith(f"mtsnn train --data-dir {data_dir} --device cpu ")
    assert (out / "cifar10-vgg11-ann" / "log.jsonl").read_text().count("\n") == 1
    printed = capsys.readouterr().out
    assert "cifar10-vgg11-T2: CIFAR-10 (JPEG q75) test accuracy" in printed


def test_prepare_only_loads_the_dataset(tool, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", "")
    monkeypatch.setattr(sys, "path", list(sys.path))
    data_dir = write_tiny_cifar(tmp_path / "cifar-10-batches-py")
    out, runs = tmp_path / "out", tmp_path / "runs"
    argv = ["--data-dir", str(data_dir), "--prepare", "--out", str(out), "--runs", str(runs)]
    assert tool.main(argv) == 0  # --device cuda by default: --prepare builds nothing either
    assert "decoded CIFAR-10: {'train': 160, 'test': 40}" in capsys.readouterr().out
    assert not out.exists() and not runs.exists()
