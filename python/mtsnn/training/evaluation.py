"""Test-set evaluation: during training (over ranks) and of a saved checkpoint (`mtsnn eval`)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch.nn.functional import cross_entropy

from mtsnn.data import BatchLoader
from mtsnn.training import distributed
from mtsnn.training.checkpoint import load_checkpoint, restore_model
from mtsnn.training.config import EVAL_BATCH_SIZE
from mtsnn.training.data import load_split


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


def evaluate_checkpoint(
    path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """Evaluate a saved run on its test set (cut to the run's --limit-test).

    The dataset is searched for as in training, starting from ``data_dir`` or, when None, the
    run's own --data-dir.

    Returns evaluate's figures plus "epoch" (the checkpoint's completed epochs),
    "recorded_accuracy" (the test accuracy the training run logged for that epoch), "source"
    (where the test set was read from) and "recorded_source" (where the run read it from).

    Raises:
        CheckpointError: an unreadable, tampered or mismatching checkpoint.
    """
    checkpoint = load_checkpoint(path)
    config = checkpoint.config
    if data_dir is None:
        data_dir = checkpoint.meta.get("data_dir")
    test_set = load_split(config.dataset, "test", config.limit_test, data_dir, download)
    model = config.build_model(test_set)
    restore_model(checkpoint, model)
    context = distributed.DistContext(device=torch.device(device))
    model.to(context.device)
    loader = BatchLoader(
        test_set, EVAL_BATCH_SIZE, shuffle=False, augment=False, device=context.device
    )
    return {
        **evaluate(model, loader, context),
        "epoch": checkpoint.epoch,
        "recorded_accuracy": checkpoint.meta["metrics"]["test_accuracy"],
        "source": test_set.source,
        "recorded_source": checkpoint.meta.get("dataset", {}).get("source"),
    }
