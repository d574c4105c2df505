"""A real training process killed with SIGKILL at random moments, resumed each time, ends exactly
where an uninterrupted run ends: same weights and optimizer state bit for bit, same log."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from safetensors.torch import load_file
from test_training_support import subprocess_env, train_argv, write_tiny_mnist

from mtsnn.training import load_checkpoint, read_log

EPOCHS = "6"
TIMING = {"seconds", "train_seconds", "images_per_s"}


def _command(data_dir: Path, out: Path, resume: bool) -> list[str]:
    argv = train_argv(data_dir, out, "--threads", "1", "--limit-train", "1024")
    argv[argv.index("--epochs") + 1] = EPOCHS
    return [sys.executable, "-m", "mtsnn", *argv, *(["--resume"] if resume else [])]


def _run_to_end(data_dir: Path, out: Path) -> None:
    resume = (out / "checkpoint.json").exists()
    subprocess.run(_command(data_dir, out, resume), env=subprocess_env(), check=True, timeout=300)


def _state(run_dir: Path) -> tuple[dict, list[dict]]:
    checkpoint = load_checkpoint(run_dir)
    tensors = {k: v.numpy().tobytes() for k, v in load_file(checkpoint.tensors_path).items()}
    log = [{k: v for k, v in r.items() if k not in TIMING} for r in read_log(run_dir)]
    return tensors, log


def _epochs_logged(run_dir: Path) -> int:
    log = run_dir / "log.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_sigkill_at_random_moments_then_resume_matches_straight_run(tmp_path):
    data_dir = write_tiny_mnist(tmp_path / "data", train=1024, test=40)
    straight = tmp_path / "straight"
    _run_to_end(data_dir, straight)
    epoch_seconds = max(record["seconds"] for record in read_log(straight))

    # Each kill lands at a random moment inside an epoch (after 0 or 1 more epochs are logged),
    # so it can hit training steps, evaluation or the checkpoint write.
    rng = random.Random(20261128)
    interrupted = tmp_path / "interrupted"
    kills = 0
    while kills < 3:
        resume = (interrupted / "checkpoint.json").exists()
        process = subprocess.Popen(_command(data_dir, interrupted, resume), env=subprocess_env())
        # Never wait past epoch EPOCHS - 2: at least two epochs, more than the sleep below, remain.
        target = min(_epochs_logged(interrupted) + rng.randint(0, 1), int(EPOCHS) - 2)
        while process.poll() is None and _epochs_logged(interrupted) < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, epoch_seconds))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        kills += 1
    assert kills == 3, "a run ended before it could be killed three times"
    _run_to_end(data_dir, interrupted)

    tensors, log = _state(interrupted)
    straight_tensors, straight_log = _state(straight)
    assert [record["epoch"] for record in log] == list(range(1, int(EPOCHS) + 1))
    assert log == straight_log
    assert tensors.keys() == straight_tensors.keys()
    for key in tensors:
        assert tensors[key] == straight_tensors[key], key
