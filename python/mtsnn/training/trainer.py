"""The training run: setup, then an epoch loop of training, evaluation, logging and checkpoints.

The loop reads top to bottom in ``_train``; the model under training is one handle, a Learner
(mtsnn.training.learner), and what rank 0 writes (log, checkpoints, epoch lines, summary) is a
RunOutput.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from mtsnn import keep_freed_memory
from mtsnn.data import BatchLoader
from mtsnn.machine import cpu_has_bfloat16, machine_info
from mtsnn.models import count_parameters
from mtsnn.training import distributed
from mtsnn.training.checkpoint import Checkpoint, checkpoint_json, load_checkpoint, save_checkpoint
from mtsnn.training.config import EVAL_BATCH_SIZE, TrainConfig, cosine_lr, make_config
from mtsnn.training.errors import ConfigError
from mtsnn.training.fileio import check_free_space, check_writable
from mtsnn.training.layout import memory_format_of
from mtsnn.training.learner import Learner
from mtsnn.training.reproducibility import (
    restored_torch_settings,
    rng_state,
    seed_everything,
    use_deterministic,
)
from mtsnn.training.runlog import RunLog, read_log
from mtsnn.training.splits import Splits, load_splits
from mtsnn.training.summary import versions, write_summary

# Options a resumed run may change: more epochs extend a finished run.
RESUMABLE_CHANGES: tuple[str, ...] = ("epochs",)
# Room for logs, TensorBoard events and the summary, on top of the checkpoints.
_LOG_RESERVE_BYTES = 16 << 20
# Free space asked for, in checkpoints: during a save the previous one and the new one coexist,
# plus a margin.
_CHECKPOINT_COPIES = 3


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How to run: none of this changes the result (apart from device numerics, compile and
    bf16).

    Attributes:
        out: the run directory (None: runs/<default_run_name>).
        data_dir: where to look for the dataset first (see mtsnn.data.load_dataset).
        download: fetch the dataset if it is not found.
        device: "cpu" or "cuda".
        threads: torch's CPU thread count (None: torch's default).
        compile: run training steps through torch.compile.
        bf16: run the training steps' forward passes under torch.autocast with bfloat16 (the
            weights, their gradients and the optimizer stay float32; evaluation runs in float32;
            None: off, or when resuming as the checkpoint's run did).
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
    bf16: bool | None = None
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
    _prepare_process(config, run, context, run_dir)
    if run.bf16 and context.device.type == "cpu" and context.is_main and not cpu_has_bfloat16():
        print(
            "mtsnn train: warning: --bf16 on a CPU without bfloat16 instructions (AVX-512 BF16, "
            "AMX): its convolutions are emulated, and a training step can take many times as "
            "long as in float32",
            file=sys.stderr,
        )
    splits = load_splits(config, run.data_dir, run.download, context)
    if checkpoint is not None:
        splits.check_same_as(checkpoint.meta.get("dataset", {}))
    memory_format = memory_format_of(run.channels_last, context.device)
    learner = Learner(
        config,
        splits.train,
        context,
        compile=run.compile,
        memory_format=memory_format,
        autocast=torch.bfloat16 if run.bf16 else None,
    )
    if context.is_main:
        needed = _CHECKPOINT_COPIES * learner.checkpoint_bytes() + _LOG_RESERVE_BYTES
        check_free_space(run_dir, needed)
    start, metrics = learner.restore(checkpoint) if checkpoint is not None else (0, {})
    train_loader, eval_loaders = _loaders(config, splits, context, memory_format)
    output = RunOutput(run_dir, config, run, splits, context, start)
    output.announce(learner)

    for epoch in range(start, config.epochs):
        started = time.perf_counter()
        lr = learner.set_lr(cosine_lr(config.lr, epoch, config.epochs))
        train_loader.set_epoch(epoch)
        label = f"epoch {epoch + 1}/{config.epochs}"
        trained = learner.train_epoch(train_loader, config.grad_accum, label, output.verbose)
        metrics = {"epoch": epoch + 1, **trained, **learner.evaluate(eval_loaders)}
        metrics |= {"lr": lr, "seconds": time.perf_counter() - started}
        output.epoch_done(metrics, learner)

    return output.finish(metrics, learner)


def _prepare_process(
    config: TrainConfig, run: RunOptions, context: distributed.DistContext, run_dir: Path
) -> None:
    """Check what can be checked before any data is loaded; set threads, memory, determinism
    and seeds."""
    _check_parallel(config, run, context)
    if context.is_main:
        check_writable(run_dir)
    if run.threads is not None:
        torch.set_num_threads(run.threads)
    if run.keep_memory:
        keep_freed_memory()
    use_deterministic(config.deterministic)
    seed_everything(config.seed)


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
    if run.bf16 is None:  # go on in the precision the run trained in
        run = dataclasses.replace(run, bf16=checkpoint.meta.get("bf16", False))
    config = make_config(options, checkpoint.config, RESUMABLE_CHANGES)
    return run_dir, checkpoint, config, run


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


class RunOutput:
    """What a run writes, on rank 0 only: the per-epoch log, a checkpoint after every epoch, the
    epoch lines on stderr (unless quiet), and the summary at the end."""

    def __init__(
        self,
        run_dir: Path,
        config: TrainConfig,
        run: RunOptions,
        splits: Splits,
        context: distributed.DistContext,
        start: int,
    ) -> None:
        self.run_dir, self.config, self.run, self.splits = run_dir, config, run, splits
        self.context, self.start = context, start
        self.log = RunLog(run_dir, start) if context.is_main else None
        self.verbose = context.is_main and not run.quiet

    def announce(self, learner: Learner) -> None:
        """Say what is about to run (or that nothing is left to run)."""
        config, splits = self.config, self.splits
        if not self.verbose:
            return
        if self.start >= config.epochs:
            message = (
                f"{self.run_dir} already completed its {config.epochs} epochs; pass a larger "
                f"--epochs to extend it"
            )
        else:
            held_out = f" / {len(splits.validation)} validation" if splits.validation else ""
            message = (
                f"training {config.model} on {config.dataset} ({len(splits.train)} train"
                f"{held_out} / {len(splits.test)} test images), "
                f"{count_parameters(learner.model):,} parameters, {self.context.world_size} "
                f"process(es) on {self.context.device}, epochs {self.start + 1} to "
                f"{config.epochs}; writing to {self.run_dir}"
            )
        print(message, file=sys.stderr)

    def epoch_done(self, metrics: dict[str, Any], learner: Learner) -> None:
        """Log the epoch, checkpoint it, print its line; then wait for every rank."""
        if self.context.is_main:
            self.log.write(metrics)
            save_checkpoint(
                self.run_dir,
                model=learner.model,
                optimizer=learner.optimizer,
                meta=self._checkpoint_meta(metrics, learner),
            )
            if self.verbose:
                print(_epoch_line(metrics, self.config.epochs), file=sys.stderr)
        distributed.barrier(self.context)

    def finish(self, metrics: dict[str, Any], learner: Learner) -> dict[str, Any] | None:
        """Close the log and write the summary; return it (None on the other ranks)."""
        if not self.context.is_main:
            return None
        self.log.close()
        summary = self._summary(metrics, learner)
        write_summary(self.run_dir, summary)
        return summary

    def _checkpoint_meta(self, metrics: dict[str, Any], learner: Learner) -> dict[str, Any]:
        return {
            "epoch": metrics["epoch"],
            "config": self.config.to_dict(),
            "metrics": metrics,
            "rng": rng_state(),
            "world_size": self.context.world_size,
            "data_dir": self.run.data_dir,
            "channels_last": learner.memory_format == torch.channels_last,
            "bf16": learner.autocast == torch.bfloat16,
            "dataset": self.splits.info(),
            "versions": versions(),
        }

    def _summary(self, metrics: dict[str, Any], learner: Learner) -> dict[str, Any]:
        config = self.config
        records = read_log(self.run_dir)
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
            "command": self.run.command,
            "dataset": self.splits.info(),
            "model": {
                "name": config.model,
                "parameters": count_parameters(learner.model),
                "timesteps": learner.model.timesteps,
                "ann": config.ann,
            },
            "device": str(self.context.device),
            "bf16": learner.autocast == torch.bfloat16,
            "world_size": self.context.world_size,
            "machine": machine_info(),
            "versions": versions(),
            "config": config.to_dict(),
            "run_dir": os.fspath(self.run_dir),
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
