"""mtsnn's benchmark suite: one command writes a JSON of every measurement and a markdown table.

    python benchmarks/run.py [--quick] [--device cpu|cuda] [--out DIR]

Sections: the neuron op against its reference, torch.compile and peer libraries (neuron); the
op's effective bandwidth against a tensor copy (bandwidth); a training step of the MNIST ConvNet
against its ANN twin, eager and compiled (train); the C++ Google Benchmark binary (gbench);
training in C++ against `mtsnn train` (cpptrain); an exported model in C++, Python and compiled
(deploy). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import bandwidth
import cpp_train
import deploy
import gbench
import neuron_bench
import torch
import train_step_bench
from neurons import IMPLEMENTATIONS, OPTIONS
from report import REPO, Report, machine_info
from timing import FULL, QUICK

import mtsnn
from mtsnn.machine import usable_cores
from mtsnn.options import SURROGATES

SECTIONS = ("neuron", "bandwidth", "train", "gbench", "cpptrain", "deploy")
DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float64": torch.float64,
}
# Neurons per time step: 4K and 64K (small layers of a small network, where per-call costs show),
# 1M and 4M.
DEFAULT_SIZES = {"cpu": "4K,64K,1M,4M", "cuda": "16M"}
QUICK_SIZES = {"cpu": "64K", "cuda": "1M"}
GBENCH_FILTER = {False: "/T:(2|8)/", True: "/T:1/N:1048576/"}
GBENCH_MIN_TIME_S = {False: 0.2, True: 0.01}


def parse_size(text: str) -> int:
    """'4M' -> 4 * 2**20, '64K' -> 65536, '1000' -> 1000."""
    text = text.strip().upper()
    scale = {"K": 2**10, "M": 2**20}.get(text[-1:], 1)
    return int(text[:-1] if scale > 1 else text) * scale


def _list(
    parse: Callable[[str], object], choices: Sequence[str] | None = None
) -> Callable[[str], list]:
    """An argparse type for a comma-separated list."""

    def parse_list(text: str) -> list:
        items = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [item for item in items if choices is not None and item not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {list(choices)}")
        return [parse(item) for item in items]

    return parse_list


def _shown(path: Path) -> str:
    """A path as the results record it: relative to the repository when inside it, so that the
    committed results name no directory of the machine that wrote them."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; defaults that depend on --quick and --device are filled in."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, few repeats")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--sections", type=_list(str, SECTIONS), default=list(SECTIONS))
    parser.add_argument("--impls", type=_list(str, list(IMPLEMENTATIONS)), default=None)
    parser.add_argument("--steps", type=_list(int), default=None, help="T values (1,2,4,8)")
    parser.add_argument("--sizes", type=_list(parse_size), default=None, help="e.g. 1M,4M")
    parser.add_argument("--dtypes", type=_list(str, list(DTYPES)), default=None)
    parser.add_argument(
        "--surrogate",
        choices=SURROGATES,
        default=OPTIONS["surrogate"],
        help="the approximated derivative of mtsnn, the reference and torch.compile's (peers keep "
        "their own)",
    )
    parser.add_argument(
        "--cpu-streaming-threshold",
        type=int,
        default=None,
        metavar="BYTES",
        help="mtsnn.set_cpu_streaming_threshold before the run (default: the CPU's own)",
    )
    parser.add_argument("--threads", type=int, default=usable_cores(), help="torch threads")
    parser.add_argument("--train-timesteps", type=int, default=2)
    parser.add_argument("--train-batch", type=int, default=None, help="128 (quick: 16)")
    parser.add_argument("--gbench-binary", type=Path, default=REPO / "build/cmake/mtsnn_bench")
    parser.add_argument("--gbench-filter", default=None)
    parser.add_argument(
        "--cpp-examples",
        type=Path,
        default=REPO / "build/examples",
        help="where examples/cpp is built (cpptrain, deploy)",
    )
    parser.add_argument(
        "--keep-memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep freed memory in the process, as `mtsnn train` does (default: on)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.impls = [name for name in IMPLEMENTATIONS if name in (args.impls or IMPLEMENTATIONS)]
    args.steps = args.steps or ([1, 2] if quick else [1, 2, 4, 8])
    sizes = (QUICK_SIZES if quick else DEFAULT_SIZES)[args.device]
    args.sizes = args.sizes or _list(parse_size)(sizes)
    args.dtypes = args.dtypes or ["float32", "bfloat16"]
    args.train_batch = args.train_batch or (16 if quick else 128)
    args.gbench_filter = args.gbench_filter or GBENCH_FILTER[quick]
    return args


def _run_section(
    section: str, args: argparse.Namespace, report: Report, implementations: dict
) -> None:
    """Run one section of the suite, its records going to ``report``."""
    device = torch.device(args.device)
    budget = QUICK if args.quick else FULL
    common = dict(device=device, budget=budget, emit=report.emit)
    dtypes = [DTYPES[name] for name in args.dtypes]
    if section == "neuron":
        neuron_bench.run_neuron_bench(
            names=[name for name in args.impls if "skipped" not in implementations[name]],
            steps=args.steps,
            sizes=args.sizes,
            dtypes=dtypes,
            **common,
        )
    elif section == "bandwidth":
        bandwidth.run_bandwidth(steps=args.steps, sizes=args.sizes, dtypes=dtypes, **common)
    elif section == "train":
        train_step_bench.run_train_step(
            timesteps=args.train_timesteps, batch=args.train_batch, **common
        )
    elif section == "cpptrain":
        cpp_train.run_cpp_train(
            program=args.cpp_examples / "mtsnn-train-mnist",
            threads=args.threads,
            batch=args.train_batch,
            timesteps=args.train_timesteps,
            images=1280 if args.quick else 12800,
            epochs=2,
            repeats=1 if args.quick else 3,
            emit=report.emit,
        )
    elif section == "deploy" and device.type == "cuda":
        report.emit({"section": "deploy", "variant": "all", "skipped": "exports run on CPUs"})
    elif section == "deploy":
        deploy.run_deploy(
            program=args.cpp_examples / "mtsnn-predict",
            threads=args.threads,
            budget=budget,
            emit=report.emit,
        )
    elif device.type == "cuda":
        report.data["gbench_context"] = {"skipped": "it times CPU kernels: use --device cpu"}
    else:
        report.data["gbench_context"] = gbench.run_gbench(
            binary=args.gbench_binary,
            benchmark_filter=args.gbench_filter,
            min_time_s=GBENCH_MIN_TIME_S[args.quick],
            timeout_s=600,
            emit=report.emit,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected sections, save as they go, print the markdown table."""
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda, but torch sees no CUDA device")
    torch.set_num_threads(args.threads)
    OPTIONS["surrogate"] = args.surrogate  # read by every implementation when it is built
    if args.cpu_streaming_threshold is not None:
        mtsnn.set_cpu_streaming_threshold(args.cpu_streaming_threshold)
    if args.keep_memory:
        mtsnn.keep_freed_memory()
    torch.manual_seed(0)
    created = datetime.datetime.now(datetime.timezone.utc)
    tag = device.type + ("-quick" if args.quick else "")
    args.out.mkdir(parents=True, exist_ok=True)
    implementations = neuron_bench.describe(args.impls, device) if "neuron" in args.sections else {}
    paths = ("out", "gbench_binary", "cpp_examples")
    settings = {
        **{key: value for key, value in vars(args).items() if key not in paths},
        **{key: _shown(getattr(args, key)) for key in paths[1:]},
        "budget": asdict(QUICK if args.quick else FULL),
        **OPTIONS,
    }
    report = Report(
        {
            "created": f"{created:%Y-%m-%d %H:%M} UTC",
            "device": device.type,
            "quick": args.quick,
            "machine": machine_info(device),
            "settings": settings,
            "implementations": implementations,
        },
        args.out / f"{tag}-{created:%Y%m%d-%H%M}.json",
        args.out / f"{tag}-latest.md",
    )
    report.save()
    for section in args.sections:
        print(f"[{section}]", file=sys.stderr, flush=True)
        _run_section(section, args, report, implementations)
    report.data["machine"]["load_average_at_end"] = list(os.getloadavg())
    report.save()
    print(report.markdown_path.read_text())
    print(f"Wrote {report.json_path} and {report.markdown_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
