"""A real training process killed with SIGKILL at random moments, resumed each time, ends exactly
where an uninterrupted run ends: same weights and optimizer state bit for bit, same log."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from safetensors.torch import load_file
from test_training_support import train_argv, write_tiny_mnist

import mtsnn
from mtsnn.training import load_checkpoint, read_log

EPOCHS = "6"
TIMING = {"seconds", "train_seconds", "images_per_s"}
PACKAGE_ROOT = str(Path(mtsnn.__file__).resolve().parent.parent)


def _command(data_dir: Path, out: Path, resume: bool) -> list[str]:
    argv = train_argv(data_dir, out, "--threads", "1", "--limit-train", "256")
    argv[argv.index("--epochs") + 1] = EPOCHS
    return [sys.executable, "-m", "mtsnn", *argv, *(["--resume"] if resume else [])]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": PACKAGE_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }


def _run_to_end(data_dir: Path, out: Path) -> None:
    resume = (out / "checkpoint.json").exists()
    subprocess.run(_command(data_dir, out, resume), env=_env(), check=True, timeout=300)


def _state(run_dir: Path) -> tuple[dict, list[dict]]:
    checkpoint = load_checkpoint(run_dir)
    tensors = {k: v.numpy().tobytes() for k, v in load_file(checkpoint.tensors_path).items()}
    log = [{k: v for k, v in r.items() if k not in TIMING} for r in read_log(run_dir)]
    return tensors, log


def test_sigkill_at_random_moments_then_resume_matches_straight_run(tmp_path):
    data_dir = write_tiny_mnist(tmp_path / "data", train=256, test=40)
    straight = tmp_path / "straight"
    _run_to_end(data_dir, straight)
    started = time.monotonic()
    _run_to_end(data_dir, tmp_path / "timing")
    duration = time.monotonic() - started

    rng = random.Random(20261128)
    interrupted = tmp_path / "interrupted"
    kills = 0
    for _ in range(4):
        resume = (interrupted / "checkpoint.json").exists()
        process = subprocess.Popen(_command(data_dir, interrupted, resume), env=_env())
        time.sleep(rng.uniform(0.3, duration))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
    assert kills >= 2, "the runs ended before they could be killed; lengthen them"
    _run_to_end(data_dir, interrupted)

    tensors, log = _state(interrupted)
    straight_tensors, straight_log = _state(straight)
    assert [record["epoch"] for record in log] == list(range(1, int(EPOCHS) + 1))
    assert log == straight_log
    assert tensors.keys() == straight_tensors.keys()
    for key in tensors:
        assert tensors[key] == straight_tensors[key], key
