"""CIFAR-10 (JPEG q75) on one GPU within a time budget: an MT-LIF SNN at T = 2 and its ANN twin,
trained on the full training set and tested on the full test set, with the same recipe.

    python3 tools/cifar10_gpu.py --data-dir DIR [--budget 540] [--out DIR] [--model vgg11]
    python3 tools/cifar10_gpu.py --data-dir DIR --prepare   # step 2 alone (beside a build)

Steps, all inside ``--budget`` seconds from the start:
1. build the extension with its CUDA kernels in place, when the importable one has none;
2. load the dataset once (decoding the JPEG archive fills mtsnn's per-user cache);
3. time a two-epoch calibration run of each model on a subset (the second epoch: the first pays
   for CUDA's and cuDNN's start-up);
4. give both full runs the same number of epochs, as many as fit in what is left of the budget
   (the cosine schedule spans exactly those epochs), and run them;
5. copy each full run's summary.json and log.jsonl to ``--out/<run>/`` and print the results.

The plan (calibration timings, epochs) goes to ``--out/plan.json`` before the full runs start. Run
directories with the checkpoints stay under ``--runs`` (default runs/cifar10-gpu-<time>).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Calibration subset: the same train/test proportion as the full sets, so that one epoch of it
# scales to one full epoch.
CALIBRATION_TRAIN, CALIBRATION_TEST = 5_000, 1_000
# Share of the remaining budget planned for the full runs: the rest absorbs estimation error and
# the time to load data and write results.
SAFETY = 0.85


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="CIFAR-10 (image folder or archive)")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for everything")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "runs")))
    parser.add_argument("--runs", type=Path, help="run directories (default: a new one)")
    parser.add_argument("--model", default="vgg11", help="model for both runs (default: vgg11)")
    parser.add_argument("--timesteps", type=int, default=2)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--min-epochs", type=int, default=3, help="refuse to run fewer")
    parser.add_argument("--max-epochs", type=int, default=200, help="never plan more")
    parser.add_argument("--calibration-train", type=int, default=CALIBRATION_TRAIN)
    parser.add_argument("--calibration-test", type=int, default=CALIBRATION_TEST)
    parser.add_argument(
        "--prepare", action="store_true", help="only decode the dataset into the cache, then stop"
    )
    return parser.parse_args(argv)


def ensure_cuda_build() -> None:
    """Build the extension in place with CUDA kernels for Hopper unless the importable one has
    them (checked in a child process, so this one imports the result fresh)."""
    check = "import mtsnn, sys; sys.exit(0 if mtsnn.built_with_cuda() else 1)"
    if subprocess.run([sys.executable, "-c", check], cwd=REPO).returncode == 0:
        return
    env = {
        **os.environ,
        "MTSNN_CUDA": "1",
        "TORCH_CUDA_ARCH_LIST": os.environ.get("TORCH_CUDA_ARCH_LIST", "9.0"),
        "MAX_JOBS": str(os.cpu_count() or 1),
    }
    command = [sys.executable, "setup.py", "build_ext", "--inplace"]
    subprocess.run(command, cwd=REPO, env=env, check=True)


def plan_epochs(
    remaining_s: float, epoch_s: dict[str, float], min_epochs: int, max_epochs: int
) -> int:
    """Epochs that both runs can take within ``SAFETY`` of ``remaining_s``.

    Raises:
        SystemExit: fewer than ``min_epochs`` fit.
    """
    per_epoch = sum(epoch_s.values())
    epochs = min(max_epochs, int(SAFETY * remaining_s / per_epoch))
    if epochs < min_epochs:
        raise SystemExit(
            f"only {epochs} epoch(s) of both runs fit in the {remaining_s:.0f} s left "
            f"({per_epoch:.1f} s per epoch of both); give a larger --budget"
        )
    return epochs


def train_command(options: dict[str, Any], data_dir: str, device: str) -> str:
    """The `mtsnn train` command line equivalent to ``options`` (recorded in summary.json)."""
    words = ["mtsnn", "train", "--data-dir", data_dir, "--device", device]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        words += [flag] if value is True else [flag, str(value)]
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    package_dir = str(REPO / "python")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [package_dir, os.getenv("PYTHONPATH")]))
    if args.device == "cuda" and not args.prepare:
        ensure_cuda_build()
    sys.path.insert(0, package_dir)
    from mtsnn.data import load_dataset
    from mtsnn.training import RunOptions, read_log, train

    # Decoding once fills the cache that every run below reads.
    sizes = {
        split: len(load_dataset("cifar10", split, args.data_dir)) for split in ("train", "test")
    }
    if args.prepare:
        print(f"decoded CIFAR-10: {sizes}", flush=True)
        return 0
    runs_dir = args.runs or REPO / "runs" / time.strftime("cifar10-gpu-%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    base = {"dataset": "cifar10", "model": args.model}
    variants = {
        f"cifar10-{args.model}-T{args.timesteps}": {**base, "timesteps": args.timesteps},
        f"cifar10-{args.model}-ann": {**base, "ann": True},
    }

    def run(options: dict[str, Any], out: Path, quiet: bool) -> dict[str, Any]:
        command = train_command(options, args.data_dir, args.device)
        run_options = RunOptions(
            out=out, data_dir=args.data_dir, device=args.device, quiet=quiet, command=command
        )
        return train(options, run_options)

    calibration = {
        "epochs": 2,
        "limit_train": args.calibration_train,
        "limit_test": args.calibration_test,
    }
    calibrated = min(args.calibration_train, sizes["train"]) + min(
        args.calibration_test, sizes["test"]
    )
    scale = (sizes["train"] + sizes["test"]) / calibrated
    epoch_s = {}
    for name, options in variants.items():
        calibration_dir = runs_dir / f"calibrate-{name}"
        run({**options, **calibration}, calibration_dir, quiet=True)
        epoch_s[name] = scale * read_log(calibration_dir)[-1]["seconds"]
    remaining = args.budget - (time.monotonic() - started)
    epochs = plan_epochs(remaining, epoch_s, args.min_epochs, args.max_epochs)
    plan = {"epochs": epochs, "estimated_epoch_s": epoch_s, "remaining_s": remaining, **base}
    (args.out / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")
    print(f"plan: {json.dumps(plan)}", flush=True)

    for name, options in variants.items():
        # Epoch lines on stderr show progress even if the caller's time limit cuts the run short.
        summary = run({**options, "epochs": epochs}, runs_dir / name, quiet=False)
        result_dir = args.out / name
        result_dir.mkdir(exist_ok=True)
        for file in ("summary.json", "log.jsonl"):
            shutil.copy2(runs_dir / name / file, result_dir / file)
        print(
            f"{name}: CIFAR-10 (JPEG q75) test accuracy {100 * summary['final_test_accuracy']:.2f}%"
            f" after {epochs} epochs in {summary['wall_clock_s']:.0f} s",
            flush=True,
        )
    print(f"total {time.monotonic() - started:.0f} s of the {args.budget:.0f} s budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
