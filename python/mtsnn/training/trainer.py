"""The training run: epochs of training and testing, with logs, checkpoints, resume and summary."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.nn.functional import cross_entropy
from torch.nn.parallel import DistributedDataParallel

from mtsnn import keep_freed_memory
from mtsnn.data import BatchLoader, ImageDataset
from mtsnn.models import count_parameters
from mtsnn.training import distributed
from mtsnn.training.checkpoint import (
    Checkpoint,
    checkpoint_json,
    load_checkpoint,
    restore_model,
    restore_optimizer,
    save_checkpoint,
)
from mtsnn.training.config import EVAL_BATCH_SIZE, TrainConfig, cosine_lr, make_config
from mtsnn.training.data import load_split, split_validation
from mtsnn.training.errors import ConfigError
from mtsnn.training.evaluation import evaluate
from mtsnn.training.fileio import check_free_space, check_writable
from mtsnn.training.layout import memory_format_of
from mtsnn.training.progress import ProgressBar
from mtsnn.training.reproducibility import (
    restored_torch_settings,
    rng_state,
    seed_everything,
    set_rng_state,
    use_deterministic,
)
from mtsnn.training.runlog import RunLog, read_log
from mtsnn.training.summary import machine_info, versions, write_summary

# Options a resumed run may change: more epochs extend a finished run.
RESUMABLE_CHANGES: tuple[str, ...] = ("epochs",)
# Room for logs, TensorBoard events and the summary, on top of the checkpoints.
_LOG_RESERVE_BYTES = 16 << 20
# Free space asked for, in checkpoints: during a save the previous one and the new one coexist,
# plus a margin.
_CHECKPOINT_COPIES = 3


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How to run: none of this changes the result (apart from device numerics and compile).

    Attributes:
        out: the run directory (None: runs/<default_run_name>).
        data_dir: where to look for the dataset first (see mtsnn.data.load_dataset).
        download: fetch the dataset if it is not found.
        device: "cpu" or "cuda".
        threads: torch's CPU thread count (None: torch's default).
        compile: run training steps through torch.compile.
        channels_last: lay images and conv weights out channels-last (None: on the CPU, where
            pooling and BatchNorm are much faster so; recorded in the checkpoint, which
            `mtsnn eval` follows).
        keep_memory: keep freed memory in the process (mtsnn.keep_freed_memory), so that large
            activations are not faulted in anew at every step.
        quiet: no progress bar and no per-epoch lines on stderr.
        resume: continue the run in ``out`` from its checkpoint.
        dist_timeout: seconds before a collective waiting on a dead peer fails.
        command: the command line, for the summary.
    """

    out: Path | None = None
    data_dir: str | None = None
    download: bool = False
    device: str = "cpu"
    threads: int | None = None
    compile: bool = False
    channels_last: bool | None = None
    keep_memory: bool = True
    quiet: bool = False
    resume: bool = False
    dist_timeout: float = 300.0
    command: str = "mtsnn train"


def default_run_name(config: TrainConfig) -> str:
    """E.g. "mnist-convnet-T2K3-seed0" ("...-ann-..." for the ANN twin)."""
    kind = "ann" if config.ann else f"T{config.timesteps}K{config.num_thresholds}"
    return f"{config.dataset}-{config.model}-{kind}-seed{config.seed}"


def make_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The configured optimizer over all of ``model``'s parameters."""
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    optimizer = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return optimizer(params, lr=config.lr, weight_decay=config.weight_decay)


def checkpoint_bytes(model: torch.nn.Module, optimizer_name: str) -> int:
    """Approximate size of one checkpoint: weights, buffers and the optimizer's state slots."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    slots = 1 if optimizer_name == "sgd" else 2
    return params * (1 + slots) + buffers


def train(options: dict[str, Any], run: RunOptions) -> dict[str, Any] | None:
    """Train (or resume) a run; return its summary on rank 0, None on the other ranks.

    Args:
        options: TrainConfig fields given explicitly (None or absent: default, or the
            checkpoint's value when resuming).
        run: how to run.

    Raises:
        ConfigError: invalid options, or a new run in a directory that already holds one.
        CheckpointError: --resume with a missing, damaged or mismatching checkpoint.
        OutputDirError: the run directory is not writable or lacks space.
        FileNotFoundError: the dataset was not found.
    """
    context = distributed.setup(run.device, run.dist_timeout)
    try:
        with restored_torch_settings():
            return _train(options, run, context)
    finally:
        distributed.teardown(context)


def _train(
    options: dict[str, Any], run: RunOptions, context: distributed.DistContext
) -> dict[str, Any] | None:
    run_dir, checkpoint, config, run = _open_run(options, run)
    _check_parallel(config, run, context)
    if context.is_main:
        check_writable(run_dir)
    if run.threads is not None:
        torch.set_num_threads(run.threads)
    if run.keep_memory:
        keep_freed_memory()
    use_deterministic(config.deterministic)
    seed_everything(config.seed)

    splits = _load_data(config, run, context)
    if checkpoint is not None:
        _check_same_data(checkpoint.meta.get("dataset", {}), splits)
    model = config.build_model(splits.train)
    if config.sync_bn and context.is_distributed:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    memory_format = memory_format_of(run.channels_last, context.device)
    model.to(context.device, memory_format=memory_format)
    optimizer = make_optimizer(config, model)
    if context.is_main:
        needed = _CHECKPOINT_COPIES * checkpoint_bytes(model, config.optimizer)
        check_free_space(run_dir, needed + _LOG_RESERVE_BYTES)
    start, metrics = 0, {}
    if checkpoint is not None:
        restore_model(checkpoint, model)
        restore_optimizer(checkpoint, optimizer)
        set_rng_state(checkpoint.meta["rng"])
        start, metrics = checkpoint.epoch, checkpoint.meta["metrics"]
    network, ddp = _wrap(model, run, context)
    train_loader, eval_loaders = _loaders(config, splits, context, memory_format)

    log = RunLog(run_dir, start) if context.is_main else None
    verbose = context.is_main and not run.quiet
    if verbose and start >= config.epochs:
        print(
            f"{run_dir} already completed its {config.epochs} epochs; pass a larger --epochs "
            f"to extend it",
            file=sys.stderr,
        )
    elif verbose:
        held_out = f" / {len(splits.validation)} validation" if splits.validation else ""
        print(
            f"training {config.model} on {config.dataset} ({len(splits.train)} train{held_out} / "
            f"{len(splits.test)} test images), {count_parameters(model):,} parameters, "
            f"{context.world_size} process(es) on {context.device}, epochs {start + 1} to "
            f"{config.epochs}; writing to {run_dir}",
            file=sys.stderr,
        )
    for epoch in range(start, config.epochs):
        started = time.perf_counter()
        lr = cosine_lr(config.lr, epoch, config.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        train_loader.set_epoch(epoch)
        bar = ProgressBar(
            math.ceil(len(train_loader) / config.grad_accum),
            f"epoch {epoch + 1}/{config.epochs}",
            enabled=verbose,
        )
        train_loss, train_accuracy, train_seconds = _train_epoch(
            network, ddp, train_loader, optimizer, config.grad_accum, context, bar
        )
        bar.close()
        distributed.broadcast_buffers(model, context)
        images = len(train_loader) * train_loader.batch_size * context.world_size
        metrics = {"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_accuracy}
        for split, loader in eval_loaders.items():
            figures = evaluate(model, loader, context)
            metrics[f"{split}_loss"] = figures["loss"]
            metrics[f"{split}_accuracy"] = figures["accuracy"]
        metrics |= {
            "lr": lr,
            "seconds": time.perf_counter() - started,
            "train_seconds": train_seconds,
            "images_per_s": images / train_seconds,
        }
        if context.is_main:
            log.write(metrics)
            meta = _checkpoint_meta(config, run, metrics, splits, context)
            save_checkpoint(run_dir, model=model, optimizer=optimizer, meta=meta)
            if verbose:
                print(_epoch_line(metrics, config.epochs), file=sys.stderr)
        distributed.barrier(context)
    if not context.is_main:
        return None
    log.close()
    summary = _summary(config, run, context, model, metrics, splits, run_dir)
    write_summary(run_dir, summary)
    return summary


def _open_run(
    options: dict[str, Any], run: RunOptions
) -> tuple[Path, Checkpoint | None, TrainConfig, RunOptions]:
    """Find the run directory, its checkpoint when resuming, and the run's configuration."""
    run_dir = run.out or Path("runs", default_run_name(make_config(options)))
    if not run.resume:
        if checkpoint_json(run_dir).exists():
            raise ConfigError(
                f"{run_dir} already holds a run; pass --resume to continue it, or choose "
                f"another --out"
            )
        return run_dir, None, make_config(options), run
    checkpoint = load_checkpoint(run_dir)
    if run.data_dir is None:  # read the data from where the run found it
        run = dataclasses.replace(run, data_dir=checkpoint.meta.get("data_dir"))
    config = make_config(options, checkpoint.config, RESUMABLE_CHANGES)
    return run_dir, checkpoint, config, run


def _wrap(
    model: torch.nn.Module, run: RunOptions, context: distributed.DistContext
) -> tuple[torch.nn.Module, DistributedDataParallel | None]:
    """The module that training calls (DDP and/or compiled), and the DDP wrapper if any."""
    ddp = None
    network = model
    if context.is_distributed:
        device_ids = [context.local_rank] if context.device.type == "cuda" else None
        network = ddp = DistributedDataParallel(model, device_ids=device_ids)
    if run.compile:
        network = torch.compile(network)
    return network, ddp


def _loaders(
    config: TrainConfig,
    splits: Splits,
    context: distributed.DistContext,
    memory_format: torch.memory_format,
) -> tuple[BatchLoader, dict[str, BatchLoader]]:
    """This rank's shards: shuffled micro-batches for training, and fixed batches for each
    evaluated split ("validation" when held out, then "test")."""
    micro_batch = config.batch_size // (context.world_size * config.grad_accum)
    shard = dict(
        rank=context.rank,
        world_size=context.world_size,
        device=context.device,
        memory_format=memory_format,
    )
    train_loader = BatchLoader(
        splits.train,
        micro_batch,
        shuffle=True,
        augment=config.augment,
        rotation=config.rotation,
        scaling=config.scaling,
        drop_last=True,
        seed=config.seed,
        **shard,
    )
    if len(train_loader) == 0:
        raise ConfigError(
            f"the training set ({len(splits.train)} images) is smaller than one batch of "
            f"{micro_batch} images per process"
        )
    evaluated = {"validation": splits.validation, "test": splits.test}
    eval_loaders = {
        split: BatchLoader(dataset, EVAL_BATCH_SIZE, shuffle=False, augment=False, **shard)
        for split, dataset in evaluated.items()
        if dataset is not None
    }
    return train_loader, eval_loaders


def _check_parallel(config: TrainConfig, run: RunOptions, context: distributed.DistContext) -> None:
    shares = context.world_size * config.grad_accum
    if config.batch_size % shares:
        raise ConfigError(
            f"--batch-size {config.batch_size} (the global batch) must be divisible by the "
            f"number of processes times --grad-accum ({context.world_size} x "
            f"{config.grad_accum} = {shares})"
        )
    if config.sync_bn and context.is_distributed and run.device != "cuda":
        raise ConfigError("--sync-bn needs --device cuda (SyncBatchNorm has no CPU version)")


def _check_same_data(recorded: dict[str, Any], splits: Splits) -> None:
    found = _dataset_info(splits)
    # Checkpoints from before validation splits do not record a validation count.
    recorded = {"validation_images": 0, **recorded}
    keys = ("train_images", "validation_images", "test_images", "is_sample")
    if any(recorded.get(key) != found[key] for key in keys):
        raise ConfigError(
            f"the checkpoint was trained on {recorded.get('train_images')} / "
            f"{recorded.get('test_images')} images from {recorded.get('source')}, but "
            f"{found['train_images']} / {found['test_images']} were found at {found['source']}; "
            f"pass the run's --data-dir"
        )


@dataclasses.dataclass(frozen=True)
class Splits:
    """The images of a run: training, held-out validation (None without) and test."""

    train: ImageDataset
    validation: ImageDataset | None
    test: ImageDataset


def _load_data(config: TrainConfig, run: RunOptions, context: distributed.DistContext) -> Splits:
    def load() -> Splits:
        train_set = load_split(
            config.dataset, "train", config.limit_train, run.data_dir, run.download
        )
        test_set = load_split(config.dataset, "test", config.limit_test, run.data_dir, run.download)
        if not config.validation:
            return Splits(train_set, None, test_set)
        if config.validation >= len(train_set):
            raise ConfigError(
                f"--validation {config.validation} leaves no training image: the training set "
                f"has {len(train_set)} images"
            )
        return Splits(*split_validation(train_set, config.validation), test_set)

    if not (run.download and context.is_distributed):
        return load()
    # Rank 0 downloads; the others wait, then read what it fetched.
    data = load() if context.is_main else None
    distributed.barrier(context)
    return data if data is not None else load()


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


def _train_epoch(
    network: torch.nn.Module,
    ddp: DistributedDataParallel | None,
    loader: BatchLoader,
    optimizer: torch.optim.Optimizer,
    grad_accum: int,
    context: distributed.DistContext,
    bar: ProgressBar,
) -> tuple[float, float, float]:
    """One pass over the training set; return (mean loss, accuracy, seconds) over all ranks."""
    network.train()
    started = time.perf_counter()
    # Running sums stay on the device: reading them would wait for it at every step.
    sums = torch.zeros(2, dtype=torch.float64, device=context.device)  # loss, correct
    images = 0
    for step, group in enumerate(_step_groups(loader, grad_accum), 1):
        step_images = sum(len(labels) for _, labels in group)
        for index, (inputs, labels) in enumerate(group):
            # Gradients are all-reduced once per step, on its last micro-batch.
            last = index == len(group) - 1
            with contextlib.nullcontext() if ddp is None or last else ddp.no_sync():
                logits = network(inputs)
                loss = cross_entropy(logits.float(), labels, reduction="sum")
                (loss / step_images).backward()
            correct = (logits.argmax(1) == labels).sum()
            sums.add_(torch.stack([loss.detach().double(), correct.double()]))
            images += len(labels)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        bar.update(
            step,
            images * context.world_size,
            lambda n=images: {"loss": float(sums[0]) / n, "acc": float(sums[1]) / n},
        )
    seconds = time.perf_counter() - started
    totals = torch.cat([sums, sums.new_tensor([images])])
    distributed.all_reduce_sum(totals, context)
    loss_sum, correct, count = (float(v) for v in totals.cpu())
    return loss_sum / count, correct / count, seconds


def _checkpoint_meta(
    config: TrainConfig,
    run: RunOptions,
    metrics: dict[str, Any],
    splits: Splits,
    context: distributed.DistContext,
) -> dict[str, Any]:
    return {
        "epoch": metrics["epoch"],
        "config": config.to_dict(),
        "metrics": metrics,
        "rng": rng_state(),
        "world_size": context.world_size,
        "data_dir": run.data_dir,
        "channels_last": memory_format_of(run.channels_last, context.device) == torch.channels_last,
        "dataset": _dataset_info(splits),
        "versions": versions(),
    }


def _dataset_info(splits: Splits) -> dict[str, Any]:
    return {
        "name": splits.train.name,
        "source": splits.train.source,
        "is_sample": splits.train.is_sample or splits.test.is_sample,
        "train_images": len(splits.train),
        "validation_images": len(splits.validation) if splits.validation else 0,
        "test_images": len(splits.test),
    }


def _epoch_line(metrics: dict[str, Any], epochs: int) -> str:
    figures = "".join(
        f"  {split} loss {metrics[f'{split}_loss']:.4f} "
        f"acc {100 * metrics[f'{split}_accuracy']:.2f}%"
        for split in ("train", "validation", "test")
        if f"{split}_loss" in metrics
    )
    return (
        f"epoch {metrics['epoch']}/{epochs}{figures}  lr {metrics['lr']:.3g}  "
        f"{metrics['seconds']:.1f} s  {metrics['images_per_s']:.0f} img/s"
    )


def _summary(
    config: TrainConfig,
    run: RunOptions,
    context: distributed.DistContext,
    model: torch.nn.Module,
    metrics: dict[str, Any],
    splits: Splits,
    run_dir: Path,
) -> dict[str, Any]:
    records = read_log(run_dir)
    train_seconds = sum(r["train_seconds"] for r in records)
    train_images = sum(r["images_per_s"] * r["train_seconds"] for r in records)
    return {
        "final_test_accuracy": metrics["test_accuracy"],
        "final_test_loss": metrics["test_loss"],
        "final_train_accuracy": metrics["train_accuracy"],
        "final_train_loss": metrics["train_loss"],
        "final_validation_accuracy": metrics.get("validation_accuracy"),
        "final_validation_loss": metrics.get("validation_loss"),
        "epochs": metrics["epoch"],
        "wall_clock_s": sum(r["seconds"] for r in records),
        "images_per_s": train_images / train_seconds if train_seconds else None,
        "seed": config.seed,
        "command": run.command,
        "dataset": _dataset_info(splits),
        "model": {
            "name": config.model,
            "parameters": count_parameters(model),
            "timesteps": model.timesteps,
            "ann": config.ann,
        },
        "device": str(context.device),
        "world_size": context.world_size,
        "machine": machine_info(),
        "versions": versions(),
        "config": config.to_dict(),
        "run_dir": os.fspath(run_dir),
    }
