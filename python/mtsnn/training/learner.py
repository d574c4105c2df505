"""The model under training, as one handle: its weights, the module training steps call (the
model under DistributedDataParallel and/or torch.compile), its optimizer, and one epoch of
training and of evaluation."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch.nn.functional import cross_entropy
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from mtsnn.data import BatchLoader, ImageDataset
from mtsnn.models import SpikingClassifier
from mtsnn.training import distributed
from mtsnn.training.checkpoint import Checkpoint, restore_model, restore_optimizer
from mtsnn.training.config import TrainConfig
from mtsnn.training.evaluation import evaluate
from mtsnn.training.reproducibility import set_rng_state

# Seconds between refreshes of the progress bar's running loss and accuracy: reading them waits
# for the device, which is why they are not read at every step.
_PROGRESS_INTERVAL_S = 0.5


def make_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The configured optimizer over all of ``model``'s parameters."""
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    optimizer = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return optimizer(params, lr=config.lr, weight_decay=config.weight_decay)


class Learner:
    """The configured model for ``dataset``, on this rank's device in ``memory_format``.

    Attributes:
        model: the module itself: its weights, evaluation and checkpoints.
        optimizer: the configured optimizer over its parameters.
        autocast: the type the training steps' forward passes run in under torch.autocast
            (None: no autocast); evaluation always runs in the weights' float32.
    """

    def __init__(
        self,
        config: TrainConfig,
        dataset: ImageDataset,
        context: distributed.DistContext,
        *,
        compile: bool,
        memory_format: torch.memory_format,
        autocast: torch.dtype | None = None,
    ) -> None:
        model: SpikingClassifier = config.build_model(dataset)
        if config.sync_bn and context.is_distributed:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(context.device, memory_format=memory_format)
        self.memory_format = memory_format
        self.autocast = autocast
        self.optimizer = make_optimizer(config, self.model)
        self._context = context
        self._ddp = None
        step_module: torch.nn.Module = self.model
        if context.is_distributed:
            device_ids = [context.local_rank] if context.device.type == "cuda" else None
            step_module = self._ddp = DistributedDataParallel(self.model, device_ids=device_ids)
        self._step_module = torch.compile(step_module) if compile else step_module

    def checkpoint_bytes(self) -> int:
        """Approximate size of one checkpoint: weights, buffers and the optimizer's slots."""
        params = sum(p.numel() * p.element_size() for p in self.model.parameters())
        buffers = sum(b.numel() * b.element_size() for b in self.model.buffers())
        slots = 1 if isinstance(self.optimizer, torch.optim.SGD) else 2
        return params * (1 + slots) + buffers

    def restore(self, checkpoint: Checkpoint) -> tuple[int, dict[str, Any]]:
        """Load the checkpoint's weights, optimizer state and random state; return the epochs
        it completed and its last metrics."""
        restore_model(checkpoint, self.model)
        restore_optimizer(checkpoint, self.optimizer)
        set_rng_state(checkpoint.meta["rng"])
        return checkpoint.epoch, checkpoint.meta["metrics"]

    def set_lr(self, lr: float) -> float:
        """Use learning rate ``lr`` from the next step on; return it."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def train_epoch(
        self, loader: BatchLoader, grad_accum: int, label: str, show_progress: bool
    ) -> dict[str, float]:
        """One pass over the training set, ``grad_accum`` micro-batches per optimizer step.

        Returns train_loss and train_accuracy (over all ranks), train_seconds and images_per_s.
        """
        context = self._context
        self._step_module.train()
        started = time.perf_counter()
        # Running sums stay on the device: reading them would wait for it at every step.
        sums = torch.zeros(2, dtype=torch.float64, device=context.device)  # loss, correct
        images = 0
        steps = -(-len(loader) // grad_accum)
        with tqdm(total=steps, desc=label, disable=None if show_progress else True) as bar:
            shown = time.perf_counter()
            for group in _step_groups(loader, grad_accum):
                images += self._step(group, sums)
                bar.update()
                if not bar.disable and time.perf_counter() - shown > _PROGRESS_INTERVAL_S:
                    shown = time.perf_counter()
                    loss, correct = (float(value) for value in sums.cpu())
                    bar.set_postfix(loss=f"{loss / images:.4f}", acc=f"{correct / images:.2%}")
        seconds = time.perf_counter() - started
        distributed.broadcast_buffers(self.model, context)
        totals = torch.cat([sums, sums.new_tensor([images])])
        distributed.all_reduce_sum(totals, context)
        loss_sum, correct, count = (float(value) for value in totals.cpu())
        return {
            "train_loss": loss_sum / count,
            "train_accuracy": correct / count,
            "train_seconds": seconds,
            "images_per_s": len(loader) * loader.batch_size * context.world_size / seconds,
        }

    def _step(self, group: list[tuple[torch.Tensor, torch.Tensor]], sums: torch.Tensor) -> int:
        """One optimizer step over the micro-batches of ``group``, adding their loss and correct
        count to ``sums``; returns the images it saw."""
        step_images = sum(len(labels) for _, labels in group)
        for index, (inputs, labels) in enumerate(group):
            # Gradients are all-reduced once per step, on its last micro-batch.
            last = index == len(group) - 1
            with contextlib.nullcontext() if self._ddp is None or last else self._ddp.no_sync():
                with self._autocast():
                    logits = self._step_module(inputs)
                loss = cross_entropy(logits.float(), labels, reduction="sum")
                (loss / step_images).backward()
            correct = (logits.argmax(1) == labels).sum()
            sums.add_(torch.stack([loss.detach().double(), correct.double()]))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return step_images

    def _autocast(self) -> contextlib.AbstractContextManager:
        """torch.autocast to the configured type on this rank's device, or nothing."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self._context.device.type, dtype=self.autocast)

    def evaluate(self, loaders: dict[str, BatchLoader]) -> dict[str, float]:
        """Loss and accuracy on each split: ``<split>_loss`` and ``<split>_accuracy``."""
        metrics = {}
        for split, loader in loaders.items():
            figures = evaluate(self.model, loader, self._context)
            metrics[f"{split}_loss"] = figures["loss"]
            metrics[f"{split}_accuracy"] = figures["accuracy"]
        return metrics


def _step_groups(
    loader: BatchLoader, grad_accum: int
) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Consecutive micro-batches, ``grad_accum`` per optimizer step (fewer in the last step)."""
    group: list[tuple[torch.Tensor, torch.Tensor]] = []
    for batch in loader:
        group.append(batch)
        if len(group) == grad_accum:
            yield group
            group = []
    if group:
        yield group
