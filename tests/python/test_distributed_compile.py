"""The fused op under DistributedDataParallel, eager and torch.compile'd: two gloo processes on
localhost get the gradients of one process that sees the whole batch."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import mtsnn.nn as snn

TIMESTEPS, BATCH = 2, 8


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        snn.SeqToANN(nn.Linear(12, 16)),
        snn.MTLIF(num_thresholds=3, learn_decay=True),
        snn.SeqToANN(nn.Linear(16, 4)),
    )


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = 2 * torch.randn(TIMESTEPS, BATCH, 12, generator=generator)
    return x, torch.randint(0, 4, (BATCH,), generator=generator)


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x).mean(0), y)


def _worker(rank: int, port: int, compiled: bool, results: dict) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        model = nn.parallel.DistributedDataParallel(_model())
        step = torch.compile(model) if compiled else model
        x, y = _data()
        shard = slice(rank * BATCH // 2, (rank + 1) * BATCH // 2)
        _loss(step, x[:, shard], y[shard]).backward()
        results[rank] = [p.grad.clone() for p in model.module.parameters()]
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("compiled", [False, True])
def test_ddp_gradients_equal_single_process(compiled):
    single = _model()
    _loss(single, *_data()).backward()
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(_free_port(), compiled, results), nprocs=2, join=True)
        per_rank = [results[0], results[1]]
    for rank_grads in per_rank:
        for got, want in zip(rank_grads, (p.grad for p in single.parameters()), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
