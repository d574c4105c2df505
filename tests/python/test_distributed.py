"""`mtsnn train` under torchrun: two gloo processes on localhost, and a job whose rank dies."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist
from test_training_support import subprocess_env, train_argv, write_tiny_mnist

from mtsnn.training import load_checkpoint, read_log
from mtsnn.training.distributed import EXIT_RANK_ENV

# Generous: two processes start torch on a small shared machine; a hang would take far longer.
LAUNCH_TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run `python -m torch.distributed.run --nproc_per_node=2 -m mtsnn ARGV`."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "mtsnn",
        *argv,
    ]
    environment = subprocess_env(OMP_NUM_THREADS="1", **env)
    return subprocess.run(
        command,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=LAUNCH_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_tiny_mnist(tmp_path_factory.mktemp("data"))


def test_two_processes_train_then_resume(data_dir, tmp_path):
    out = tmp_path / "run"
    options = ["--device", "cpu", "--dist-timeout", "60", "--grad-accum", "2"]
    result = torchrun(train_argv(data_dir, out, "--epochs", "1", *options), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name for p in out.glob("checkpoint*")} == {
        "checkpoint.json",
        "checkpoint-0001.safetensors",
    }
    assert [r["epoch"] for r in read_log(out)] == [1]
    assert load_checkpoint(out).meta["world_size"] == 2
    assert result.stdout.count("final test accuracy") == 1  # rank 0 alone reports

    resumed = torchrun(
        ["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"], tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["epoch"] for r in read_log(out)] == [1, 2]
    assert load_checkpoint(out).epoch == 2
    summary = json.loads((out / "summary.json").read_text())
    # Every test image counted once, although each rank evaluated half of them.
    assert summary["world_size"] == 2 and summary["dataset"]["test_images"] == 40


def test_a_dead_rank_fails_the_job_instead_of_hanging(data_dir, tmp_path):
    out = tmp_path / "run"
    argv = train_argv(data_dir, out, "--epochs", "1", "--device", "cpu", "--dist-timeout", "30")
    result = torchrun(argv, tmp_path, **{EXIT_RANK_ENV: "1"})
    assert result.returncode != 0
    assert "exitcode  : 3" in result.stderr  # torchrun names the rank that died
    assert not (out / "checkpoint.json").exists()
