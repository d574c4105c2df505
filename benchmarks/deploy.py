"""A model exported by `mtsnn export`, run by the C++ runner (examples/cpp/predict.cpp), against
the same model in Python eager and under torch.compile: latency of one image and throughput at a
batch of 256, on the same threads.

The model is the MNIST ConvNet SNN (T = 2) with fresh weights (timings do not depend on them),
saved as a checkpoint and exported here; each implementation runs the same uint8 images.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from cpp_train import write_random_mnist
from timing import Budget, measure

from mtsnn import export
from mtsnn.training import TrainConfig, save_checkpoint

LATENCY_BATCH, THROUGHPUT_BATCH = 1, 256


def _checkpoint(run_dir: Path) -> None:
    config = TrainConfig(dataset="mnist", model="convnet", timesteps=2)
    model = config.model_for((1, 28, 28), 10)
    meta = {"epoch": 0, "config": config.to_dict(), "metrics": {}, "rng": {}}
    save_checkpoint(run_dir, model=model, optimizer=torch.optim.SGD(model.parameters()), meta=meta)


def run_deploy(
    *, program: Path, threads: int, budget: Budget, emit: Callable[[dict], None]
) -> None:
    """Export, then time the runner, eager and compiled at batch 1 and 256; emit a record each."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        _checkpoint(scratch / "run")
        package = export.export_run(scratch / "run", scratch / "model.pt2")
        (scratch / "data").mkdir()
        write_random_mnist(scratch / "data", 500, THROUGHPUT_BATCH)
        model, metadata = export.load_run(scratch / "run")
        images = torch.randint(0, 256, (THROUGHPUT_BATCH, 1, 28, 28), dtype=torch.uint8)
        common = {"section": "deploy", "model": "convnet", "timesteps": 2, "threads": threads}
        compiled = torch.compile(model)
        for variant, run in (("Python eager", model), ("torch.compile", compiled)):
            figures = {}
            for batch in (LATENCY_BATCH, THROUGHPUT_BATCH):
                inputs = images[:batch]
                with torch.no_grad():
                    run(inputs)  # compiles, for torch.compile
                    timing = measure(
                        lambda run=run, inputs=inputs: run(inputs), torch.device("cpu"), budget
                    )
                figures[batch] = timing["median_ms"]
            emit({**common, "variant": variant, **_figures(figures)})
        if not program.is_file():
            emit({**common, "variant": "C++ runner", "skipped": f"{program} is not built"})
            return
        completed = subprocess.run(
            [
                str(program),
                str(package),
                str(scratch / "data"),
                "--benchmark",
                "--threads",
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        runner = json.loads(completed.stdout)
        figures = {
            LATENCY_BATCH: runner["latency_batch1_ms"],
            THROUGHPUT_BATCH: runner["batch_ms"],
        }
        emit(
            {**common, "variant": "C++ runner", "cpu_isa": metadata["cpu_isa"], **_figures(figures)}
        )


def _figures(ms_per_batch: dict[int, float]) -> dict[str, float]:
    return {
        "median_ms": ms_per_batch[LATENCY_BATCH],
        "latency_batch1_ms": ms_per_batch[LATENCY_BATCH],
        f"throughput_batch{THROUGHPUT_BATCH}_images_per_s": THROUGHPUT_BATCH
        / ms_per_batch[THROUGHPUT_BATCH]
        * 1e3,
    }
