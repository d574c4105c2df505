"""End to end through the CLI: train -> summary -> eval -> resume, bitwise-identical on resume."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from test_training_support import train_argv, write_tiny_mnist

from mtsnn.cli import main
from mtsnn.training import checkpoint as checkpoint_module
from mtsnn.training import load_checkpoint, read_log

TIMING = {"seconds", "train_seconds", "images_per_s"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_tiny_mnist(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def straight(data_dir, tmp_path_factory):
    """A 3-epoch run without interruption."""
    out = tmp_path_factory.mktemp("runs") / "straight"
    assert main(train_argv(data_dir, out)) == 0
    return out


def weights(run_dir):
    checkpoint = load_checkpoint(run_dir)
    return checkpoint.epoch, load_file(checkpoint.tensors_path)


def log_without_timing(run_dir):
    return [{k: v for k, v in record.items() if k not in TIMING} for record in read_log(run_dir)]


def assert_same_run(run_dir, reference):
    epoch, tensors = weights(run_dir)
    reference_epoch, reference_tensors = weights(reference)
    assert epoch == reference_epoch == 3
    assert tensors.keys() == reference_tensors.keys()
    for key, value in tensors.items():  # model weights and optimizer state, bit for bit
        assert value.dtype == reference_tensors[key].dtype, key
        assert value.view(-1).view_as(value).numpy().tobytes() == (
            reference_tensors[key].numpy().tobytes()
        ), key
    assert log_without_timing(run_dir) == log_without_timing(reference)


def test_run_writes_log_checkpoint_and_summary(straight, data_dir):
    records = read_log(straight)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert set(records[0]) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "lr",
        "seconds",
        "train_seconds",
        "images_per_s",
    }
    assert records[0]["lr"] == 1e-3 and records[2]["lr"] < records[1]["lr"] < 1e-3
    assert records[-1]["train_accuracy"] > 0.9  # the tiny task is learnable
    assert [p.name for p in straight.glob("checkpoint-*.safetensors")] == [
        "checkpoint-0003.safetensors"
    ]
    summary = json.loads((straight / "summary.json").read_text())
    assert summary["final_test_accuracy"] == records[-1]["test_accuracy"]
    assert summary["epochs"] == 3 and summary["seed"] == 0
    assert summary["command"].startswith("mtsnn train --dataset mnist --data-dir ")
    assert summary["dataset"] == {
        "name": "mnist",
        "source": str(data_dir),
        "is_sample": False,
        "train_images": 64,
        "validation_images": 0,
        "test_images": 40,
    }
    assert summary["final_validation_accuracy"] is None
    assert summary["wall_clock_s"] > 0 and summary["images_per_s"] > 0
    assert {"cpu", "cpu_cores", "gpus"} <= set(summary["machine"])
    assert {"python", "torch", "mtsnn"} <= set(summary["versions"])
    assert summary["model"]["name"] == "convnet" and summary["model"]["timesteps"] == 2


def test_eval_reproduces_the_final_accuracy(straight, capsys):
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(straight), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = json.loads((straight / "summary.json").read_text())
    assert result["accuracy"] == summary["final_test_accuracy"]
    assert result["loss"] == summary["final_test_loss"]
    assert result["images"] == 40 and result["epoch"] == 3


def test_extending_a_finished_run_matches_a_straight_run(straight, data_dir, tmp_path):
    out = tmp_path / "extended"
    assert main(train_argv(data_dir, out, "--epochs", "1")) == 0
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3", "--quiet"]) == 0
    assert_same_run(out, straight)


def test_resume_with_validation_and_rotation_matches_a_straight_run(data_dir, tmp_path):
    options = ("--validation", "16", "--rotation", "15", "--scaling", "0.1")
    straight_out, resumed_out = tmp_path / "straight", tmp_path / "resumed"
    assert main(train_argv(data_dir, straight_out, *options)) == 0
    assert main(train_argv(data_dir, resumed_out, *options, "--epochs", "1")) == 0
    assert main(["train", "--out", str(resumed_out), "--resume", "--epochs", "3", "--quiet"]) == 0
    assert_same_run(resumed_out, straight_out)
    assert "validation_accuracy" in read_log(resumed_out)[-1]


def test_bf16_run_resumes_in_bfloat16_and_evaluates_in_float32(
    straight, data_dir, tmp_path, capsys
):
    bf16_straight, resumed = tmp_path / "bf16", tmp_path / "resumed"
    assert main(train_argv(data_dir, bf16_straight, "--bf16")) == 0
    _, tensors = weights(bf16_straight)
    _, float32_tensors = weights(straight)
    assert any(not torch.equal(tensors[key], float32_tensors[key]) for key in tensors)
    # Resumed without the flag, the run goes on in bfloat16, as it started.
    assert main(train_argv(data_dir, resumed, "--bf16", "--epochs", "1")) == 0
    assert main(["train", "--out", str(resumed), "--resume", "--epochs", "3", "--quiet"]) == 0
    assert_same_run(resumed, bf16_straight)
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["bf16"] is True
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(resumed), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == summary["final_test_accuracy"]


@pytest.mark.parametrize("has_bfloat16", [True, False])
def test_bf16_warns_on_a_cpu_without_bfloat16_instructions(
    data_dir, tmp_path, capsys, monkeypatch, has_bfloat16
):
    monkeypatch.setattr("mtsnn.training.trainer.cpu_has_bfloat16", lambda: has_bfloat16)
    assert main(train_argv(data_dir, tmp_path / "run", "--bf16", "--epochs", "1")) == 0
    warned = "warning: --bf16 on a CPU without bfloat16 instructions" in capsys.readouterr().err
    assert warned is not has_bfloat16


@pytest.mark.parametrize("interrupt", ["after_checkpoint", "before_checkpoint"])
def test_interrupted_run_resumes_bitwise(straight, data_dir, tmp_path, monkeypatch, interrupt):
    """Stop at epoch 2 just after (or just before) its checkpoint, then resume with --resume."""
    real_save = checkpoint_module.save_checkpoint

    def save_then_stop(run_dir, *, model, optimizer, meta):
        if interrupt == "after_checkpoint" or meta["epoch"] < 2:
            real_save(run_dir, model=model, optimizer=optimizer, meta=meta)
        if meta["epoch"] == 2:
            raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    monkeypatch.setattr("mtsnn.training.trainer.save_checkpoint", save_then_stop)
    assert main(train_argv(data_dir, out)) == 130
    monkeypatch.undo()
    expected_epoch = 2 if interrupt == "after_checkpoint" else 1
    assert load_checkpoint(out).epoch == expected_epoch
    assert len(read_log(out)) == 2  # epoch 2 was logged in both cases
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0
    assert_same_run(out, straight)


def test_resume_refuses_changed_options(straight, capsys):
    code = main(["train", "--out", str(straight), "--resume", "--lr", "0.5"])
    assert code == 2
    assert "cannot change lr when resuming: the checkpoint has 0.001, got 0.5" in (
        capsys.readouterr().err
    )


def test_resume_without_checkpoint_fails(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 1
    assert f"no checkpoint at {tmp_path / 'none' / 'checkpoint.json'}" in capsys.readouterr().err


def test_new_run_refuses_to_overwrite(straight, data_dir, capsys):
    assert main(train_argv(data_dir, straight)) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err


def test_ann_twin_and_grad_accumulation(data_dir, tmp_path):
    out = tmp_path / "ann"
    argv = train_argv(data_dir, out, "--ann", "--epochs", "1", "--grad-accum", "2")
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == {
        "name": "convnet",
        "parameters": 824554,
        "timesteps": 1,
        "ann": True,
    }
    assert summary["config"]["grad_accum"] == 2


def test_tensorboard_events_when_installed(straight):
    pytest.importorskip("tensorboard")
    assert list((straight / "tensorboard").glob("events.out.tfevents.*"))
