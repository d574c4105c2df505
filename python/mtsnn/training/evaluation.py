"""Evaluation: during training (over ranks) and of a saved checkpoint (`mtsnn eval`)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch.nn.functional import cross_entropy

from mtsnn.data import BatchLoader, ImageDataset
from mtsnn.training import distributed
from mtsnn.training.checkpoint import load_checkpoint, restore_model
from mtsnn.training.config import EVAL_BATCH_SIZE, TrainConfig
from mtsnn.training.errors import ConfigError
from mtsnn.training.layout import memory_format_of
from mtsnn.training.splits import load_split, split_validation

EVAL_SPLITS: tuple[str, ...] = ("test", "validation")


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, loader: BatchLoader, context: distributed.DistContext
) -> dict[str, Any]:
    """Loss and accuracy of ``model`` (in eval mode) on the whole dataset of ``loader``.

    Each rank evaluates its shard; the shards' wrap-around padding is skipped, so every image
    counts exactly once and the figures equal a single-process evaluation.

    Returns:
        {"loss": mean cross-entropy, "accuracy": correct / images, "correct", "images"}.
    """
    model.eval()
    size = len(loader.dataset)
    device = context.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.float64, device=device)
    valid_count = torch.zeros((), dtype=torch.float64, device=device)
    position = 0
    for images, labels in loader:
        local = torch.arange(position, position + len(labels), device=device)
        valid = loader.rank + loader.world_size * local < size
        position += len(labels)
        logits = model(images)
        losses = cross_entropy(logits.float(), labels, reduction="none")
        loss_sum += losses[valid].double().sum()
        correct += ((logits.argmax(1) == labels) & valid).sum()
        valid_count += valid.sum()
    totals = distributed.all_reduce_sum(torch.stack([loss_sum, correct, valid_count]), context)
    loss_total, correct_total, images = (float(v) for v in totals.cpu())
    return {
        "loss": loss_total / images,
        "accuracy": correct_total / images,
        "correct": int(correct_total),
        "images": int(images),
    }


def _load_eval_split(
    config: TrainConfig,
    split: str,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
) -> ImageDataset:
    """The run's ``split`` images: the test set, or the validation images it held out."""
    if split == "test":
        return load_split(config.dataset, "test", config.limit_test, data_dir, download)
    if split != "validation":
        raise ConfigError(f"split must be one of {', '.join(EVAL_SPLITS)}, got {split!r}")
    if not config.validation:
        raise ConfigError(
            "this run held out no validation images (it was trained without --validation)"
        )
    train_set = load_split(config.dataset, "train", config.limit_train, data_dir, download)
    return split_validation(train_set, config.validation)[1]


def evaluate_checkpoint(
    path: str | os.PathLike[str],
    *,
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """Evaluate a saved run on its test set (cut to the run's --limit-test), or with
    ``split="validation"`` on the validation images it held out of training.

    The dataset is searched for as in training, starting from ``data_dir`` or, when None, the
    run's own --data-dir.

    Returns evaluate's figures plus "split", "epoch" (the checkpoint's completed epochs),
    "recorded_accuracy" (the accuracy on that split the training run logged for that epoch),
    "source" (where the images were read from) and "recorded_source" (where the run read them).

    Raises:
        CheckpointError: an unreadable, tampered or mismatching checkpoint.
        ConfigError: an unknown split, or "validation" for a run without one.
    """
    checkpoint = load_checkpoint(path)
    config = checkpoint.config
    if data_dir is None:
        data_dir = checkpoint.meta.get("data_dir")
    images = _load_eval_split(config, split, data_dir, download)
    model = config.build_model(images)
    restore_model(checkpoint, model)
    context = distributed.DistContext(device=torch.device(device))
    # The layout the run evaluated in (rounding differs between layouts); older runs had none.
    memory_format = memory_format_of(checkpoint.meta.get("channels_last", False), context.device)
    model.to(context.device, memory_format=memory_format)
    loader = BatchLoader(
        images,
        EVAL_BATCH_SIZE,
        shuffle=False,
        augment=False,
        device=context.device,
        memory_format=memory_format,
    )
    return {
        **evaluate(model, loader, context),
        "split": split,
        "epoch": checkpoint.epoch,
        "recorded_accuracy": checkpoint.meta["metrics"][f"{split}_accuracy"],
        "source": images.source,
        "recorded_source": checkpoint.meta.get("dataset", {}).get("source"),
    }
