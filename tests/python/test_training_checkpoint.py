"""Checkpoints: exact round trip, atomic replacement, and refusal of damaged or foreign files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from mtsnn.models import ConvNet
from mtsnn.training import (
    CheckpointError,
    TrainConfig,
    load_checkpoint,
    restore_model,
    restore_optimizer,
    save_checkpoint,
)
from mtsnn.training.fileio import sha256_file
from mtsnn.training.reproducibility import rng_state


def trained(seed: int = 0, hidden: int = 16):
    """A small ConvNet and its Adam optimizer after one step (so the optimizer has state)."""
    torch.manual_seed(seed)
    model = ConvNet(hidden=hidden, channels=(4, 8))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 1, 28, 28)).sum().backward()
    optimizer.step()
    return model, optimizer


def meta(epoch: int = 1) -> dict:
    return {
        "epoch": epoch,
        "config": TrainConfig().to_dict(),
        "metrics": {"test_accuracy": 0.5},
        "rng": rng_state(),
    }


@pytest.fixture
def saved(tmp_path):
    model, optimizer = trained()
    save_checkpoint(tmp_path, model=model, optimizer=optimizer, meta=meta())
    return tmp_path, model, optimizer


def test_round_trip_is_exact(saved):
    run_dir, model, optimizer = saved
    checkpoint = load_checkpoint(run_dir)
    assert checkpoint.epoch == 1 and checkpoint.config == TrainConfig()
    other, other_optimizer = trained(seed=1)
    restore_model(checkpoint, other)
    restore_optimizer(checkpoint, other_optimizer)
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key
    expected, got = optimizer.state_dict(), other_optimizer.state_dict()
    assert got["param_groups"] == expected["param_groups"]
    for index, state in expected["state"].items():
        for name, value in state.items():
            assert torch.equal(got["state"][index][name], value), (index, name)


def test_new_epoch_replaces_the_files_atomically(saved):
    run_dir, model, optimizer = saved
    save_checkpoint(run_dir, model=model, optimizer=optimizer, meta=meta(epoch=2))
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint-0002.safetensors",
        "checkpoint.json",
    ]  # no temporary file left, the previous epoch's tensors removed
    assert load_checkpoint(run_dir / "checkpoint.json").epoch == 2


def test_checkpoint_files_hold_no_pickle(saved):
    run_dir, _, _ = saved
    document = json.loads((run_dir / "checkpoint.json").read_text())
    assert document["format"] == "mtsnn-checkpoint"
    assert document["sha256"] == sha256_file(run_dir / document["tensors_file"])
    assert b"\x80\x04" not in (run_dir / document["tensors_file"]).read_bytes()[:16]
    assert isinstance(document["rng"]["torch"], str)  # base64 text, not a pickled object


def test_tampered_tensors_are_refused(saved):
    run_dir, _, _ = saved
    path = run_dir / "checkpoint-0001.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"checkpoint-0001\.safetensors: sha256 .* modified"):
        load_checkpoint(run_dir)


def test_truncated_tensors_are_refused(saved):
    run_dir, _, _ = saved
    path = run_dir / "checkpoint-0001.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"checkpoint-0001\.safetensors: sha256"):
        load_checkpoint(run_dir)


def test_truncated_json_is_refused(saved):
    run_dir, _, _ = saved
    path = run_dir / "checkpoint.json"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"checkpoint\.json: unreadable checkpoint"):
        load_checkpoint(run_dir)


def test_missing_tensor_file_is_refused(saved):
    run_dir, _, _ = saved
    (run_dir / "checkpoint-0001.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"checkpoint-0001\.safetensors: missing"):
        load_checkpoint(run_dir)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tensors_file", "../../etc/passwd", "invalid tensors_file"),
        ("format", "other", "format 'other'"),
        ("epoch", "1", "missing or invalid field 'epoch'"),
    ],
)
def test_malformed_json_is_refused(saved, field, value, message):
    run_dir, _, _ = saved
    path = run_dir / "checkpoint.json"
    document = json.loads(path.read_text())
    document[field] = value
    path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(run_dir)


def rewrite_tensors(run_dir, change):
    """Apply ``change`` to the tensors and record the new file's sha256 (a consistent forgery)."""
    path = run_dir / "checkpoint-0001.safetensors"
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)
    document = json.loads((run_dir / "checkpoint.json").read_text())
    document["sha256"] = sha256_file(path)
    (run_dir / "checkpoint.json").write_text(json.dumps(document))


def test_missing_model_key_is_refused(saved):
    run_dir, model, _ = saved
    rewrite_tensors(run_dir, lambda tensors: tensors.pop("model.encoder.0.0.weight"))
    checkpoint = load_checkpoint(run_dir)
    with pytest.raises(
        CheckpointError, match=r"safetensors: .*missing keys \['encoder.0.0.weight'"
    ):
        restore_model(checkpoint, model)


def test_wrong_shapes_are_refused(saved):
    run_dir, _, _ = saved
    checkpoint = load_checkpoint(run_dir)
    bigger, bigger_optimizer = trained(hidden=32)
    with pytest.raises(
        CheckpointError,
        match=r"body.4.module.bias is torch.float32 \(16,\), the model needs torch.float32 \(32,\)",
    ):
        restore_model(checkpoint, bigger)
    with pytest.raises(CheckpointError, match=r"optimizer\.\d+\.exp_avg has shape \(16, 392\)"):
        restore_optimizer(checkpoint, bigger_optimizer)


def test_unknown_optimizer_key_is_refused(saved):
    run_dir, _, optimizer = saved
    rewrite_tensors(
        run_dir, lambda tensors: tensors.update({"optimizer.999.exp_avg": torch.ones(1)})
    )
    with pytest.raises(CheckpointError, match=r"unexpected key 'optimizer\.999\.exp_avg'"):
        restore_optimizer(load_checkpoint(run_dir), optimizer)
