"""Checkpoints as safetensors (tensors) + JSON (everything else): written atomically, loaded safely.

A run directory holds ``checkpoint.json`` and the ``checkpoint-EEEE.safetensors`` it names. The
tensor file of each epoch gets a new name and the JSON (with that file's sha256) replaces the old
one atomically afterwards, so a crash at any moment leaves a consistent pair. Loading parses JSON
and safetensors only: no pickle, so a checkpoint cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from mtsnn.training.config import TrainConfig
from mtsnn.training.errors import CheckpointError
from mtsnn.training.fileio import atomic_write, sha256_file

CHECKPOINT_JSON = "checkpoint.json"
FORMAT = "mtsnn-checkpoint"
FORMAT_VERSION = 1
_TENSORS_FILE = re.compile(r"checkpoint-\d{4,}\.safetensors")
_MODEL, _OPTIMIZER = "model.", "optimizer."


@dataclass(frozen=True)
class Checkpoint:
    """A loaded, verified checkpoint.

    Attributes:
        path: the checkpoint.json file.
        tensors_path: the safetensors file it names.
        meta: the JSON content (config, epoch, metrics, rng, optimizer scalars, ...).
        tensors: every tensor, on the CPU.
    """

    path: Path
    tensors_path: Path
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    @property
    def config(self) -> TrainConfig:
        """The run's configuration."""
        return TrainConfig.from_dict(self.meta["config"])

    @property
    def epoch(self) -> int:
        """Number of completed epochs."""
        return int(self.meta["epoch"])


def checkpoint_json(path: str | os.PathLike[str]) -> Path:
    """The checkpoint.json of ``path``: a run directory, or the JSON file itself."""
    path = Path(path)
    return path if path.suffix == ".json" and not path.is_dir() else path / CHECKPOINT_JSON


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    meta: dict[str, Any],
) -> Path:
    """Write the model's and optimizer's state plus ``meta`` (which must hold "epoch").

    Returns the checkpoint.json path. Tensor files of earlier epochs are deleted afterwards.
    """
    run_dir = Path(run_dir)
    tensors = {_MODEL + key: value for key, value in model.state_dict().items()}
    state = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPTIMIZER}{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    payload = save({key: value.detach().cpu().contiguous() for key, value in tensors.items()})
    tensors_name = f"checkpoint-{int(meta['epoch']):04d}.safetensors"
    atomic_write(run_dir / tensors_name, payload)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **meta,
        "optimizer": {"param_groups": state["param_groups"], "scalars": scalars},
        "tensors_file": tensors_name,
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    json_path = run_dir / CHECKPOINT_JSON
    atomic_write(json_path, json.dumps(document, indent=1).encode())
    for old in run_dir.glob("checkpoint-*.safetensors"):
        if old.name != tensors_name and _TENSORS_FILE.fullmatch(old.name):
            old.unlink()
    return json_path


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify a checkpoint (a run directory or its checkpoint.json).

    Raises:
        CheckpointError: naming the faulty file, if the JSON is missing, truncated or malformed,
            or the tensor file is missing, does not match its recorded sha256, or is unreadable.
    """
    json_path = checkpoint_json(path)
    try:
        meta = json.loads(json_path.read_bytes())
    except FileNotFoundError as err:
        raise CheckpointError(f"no checkpoint at {json_path}") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{json_path}: unreadable checkpoint (truncated?): {err}") from err
    _check_meta(json_path, meta)
    tensors_path = json_path.parent / meta["tensors_file"]
    if not tensors_path.is_file():
        raise CheckpointError(f"{tensors_path}: missing (named by {json_path})")
    digest = sha256_file(tensors_path)
    if digest != meta["sha256"]:
        raise CheckpointError(
            f"{tensors_path}: sha256 {digest} does not match {meta['sha256']} recorded in "
            f"{json_path}; the file is truncated or was modified"
        )
    try:
        tensors = load_file(tensors_path)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{tensors_path}: unreadable safetensors file: {err}") from err
    try:
        TrainConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{json_path}: invalid config: {err}") from err
    return Checkpoint(json_path, tensors_path, meta, tensors)


def _check_meta(json_path: Path, meta: Any) -> None:
    expected = {"format": str, "format_version": int, "epoch": int, "config": dict}
    expected |= {
        "tensors_file": str,
        "sha256": str,
        "optimizer": dict,
        "rng": dict,
        "metrics": dict,
    }
    if not isinstance(meta, dict):
        raise CheckpointError(f"{json_path}: not a checkpoint (top level is not an object)")
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind):
            raise CheckpointError(f"{json_path}: missing or invalid field {key!r}")
    if meta["format"] != FORMAT or meta["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{json_path}: format {meta['format']!r} version {meta['format_version']}, expected "
            f"{FORMAT!r} version {FORMAT_VERSION}"
        )
    # Only a sibling file, never a path elsewhere on the disk.
    if not _TENSORS_FILE.fullmatch(meta["tensors_file"]):
        raise CheckpointError(f"{json_path}: invalid tensors_file {meta['tensors_file']!r}")


def restore_model(checkpoint: Checkpoint, model: torch.nn.Module) -> None:
    """Load the checkpoint's weights into ``model``, after checking names, shapes and dtypes.

    Raises:
        CheckpointError: naming the tensor file, on missing or unexpected keys or a mismatch.
    """
    expected = model.state_dict()
    given = {
        key[len(_MODEL) :]: value
        for key, value in checkpoint.tensors.items()
        if key.startswith(_MODEL)
    }
    missing, unexpected = (
        sorted(expected.keys() - given.keys()),
        sorted(given.keys() - expected.keys()),
    )
    if missing or unexpected:
        raise CheckpointError(
            f"{checkpoint.tensors_path}: does not fit the model: missing keys {missing[:5]}, "
            f"unexpected keys {unexpected[:5]}"
        )
    for key, value in given.items():
        want = expected[key]
        if value.shape != want.shape or value.dtype != want.dtype:
            raise CheckpointError(
                f"{checkpoint.tensors_path}: {key} is {value.dtype} {tuple(value.shape)}, the "
                f"model needs {want.dtype} {tuple(want.shape)}"
            )
    model.load_state_dict(given)


def restore_optimizer(checkpoint: Checkpoint, optimizer: torch.optim.Optimizer) -> None:
    """Load the checkpoint's optimizer state into ``optimizer`` (built over the same params).

    Raises:
        CheckpointError: naming the file, when the state does not fit the optimizer's params.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    saved = checkpoint.meta["optimizer"]
    state: dict[int, dict[str, Any]] = {}
    for index, values in saved.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    for key, value in checkpoint.tensors.items():
        if not key.startswith(_OPTIMIZER):
            continue
        index_text, _, name = key[len(_OPTIMIZER) :].partition(".")
        index = int(index_text) if index_text.isdigit() else -1
        if not 0 <= index < len(params) or not name:
            raise CheckpointError(f"{checkpoint.tensors_path}: unexpected key {key!r}")
        if value.dim() > 0 and value.shape != params[index].shape:
            raise CheckpointError(
                f"{checkpoint.tensors_path}: {key} has shape {tuple(value.shape)}, its "
                f"parameter {tuple(params[index].shape)}"
            )
        state.setdefault(index, {})[name] = value
    groups = saved["param_groups"]
    if len(groups) == len(optimizer.param_groups):  # else load_state_dict reports the mismatch
        # JSON turned tuples (Adam's betas) into lists; give them the optimizer's own types back.
        groups = [
            {
                key: tuple(value) if isinstance(current.get(key), tuple) else value
                for key, value in group.items()
            }
            for group, current in zip(groups, optimizer.param_groups, strict=True)
        ]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{checkpoint.path}: optimizer state does not fit the optimizer: {err}"
        ) from err
