"""torch.distributed set-up for runs launched by torchrun, and the few collectives training needs.

A run is distributed when torchrun's WORLD_SIZE / RANK / LOCAL_RANK variables say so; otherwise
every helper here is a no-op for the single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist

from mtsnn.training.errors import ConfigError

# Fault injection for the tests: the rank named here exits right after joining the group, as a
# crashed worker would.
EXIT_RANK_ENV = "MTSNN_TEST_EXIT_RANK"


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: rank, world size, local rank and device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Whether this process logs, shows progress and writes files (rank 0)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError as err:
        raise ConfigError(f"environment variable {name}={text!r} is not an integer") from err


def setup(device: str, timeout_s: float) -> DistContext:
    """Join the process group if launched by torchrun, and pick this process's device.

    The backend is gloo on the CPU, nccl on CUDA (each rank on GPU LOCAL_RANK). ``timeout_s``
    bounds every collective, so a job whose peer died fails instead of hanging.

    Raises:
        ConfigError: bad torchrun variables, or CUDA asked for but unavailable.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"invalid torchrun variables: RANK={rank}, WORLD_SIZE={world_size}")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available")
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA devices"
            )
        torch.cuda.set_device(local_rank)
        torch_device = torch.device("cuda", local_rank)
    else:
        torch_device = torch.device("cpu")
    context = DistContext(rank, world_size, local_rank, torch_device)
    if context.is_distributed:
        dist.init_process_group(
            backend="nccl" if device == "cuda" else "gloo",
            timeout=timedelta(seconds=timeout_s),
            device_id=torch_device if device == "cuda" else None,
        )
        if _env_int(EXIT_RANK_ENV, -1) == rank:
            os._exit(3)
    return context


def teardown(context: DistContext) -> None:
    """Leave the process group (if any)."""
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistContext) -> None:
    """Wait until every rank gets here."""
    if context.is_distributed:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, context: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over ranks, in place; return it."""
    if context.is_distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_buffers(module: torch.nn.Module, context: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP syncs buffers at the start of each training forward, after which each rank updates its
    own; broadcasting them before evaluation makes every rank evaluate the model that rank 0
    saves.
    """
    if context.is_distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)
