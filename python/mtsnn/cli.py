"""The `mtsnn` command: train, eval, plot and analyze MT-LIF spiking networks.

    mtsnn train --dataset mnist                       # a good MNIST run with the defaults
    mtsnn train --dataset mnist --resume              # continue it after an interruption
    mtsnn eval --checkpoint runs/mnist-convnet-T2K3-seed0
    mtsnn plot runs/mnist-convnet-T2K3-seed0
    mtsnn analyze --checkpoint runs/mnist-convnet-T2K3-seed0
    mtsnn export --checkpoint runs/mnist-convnet-T2K3-seed0 --out mnist.pt2   # for C++

`mtsnn train` also runs under `torchrun --nproc_per_node=N` (data-parallel over N processes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from mtsnn import analysis, built_with_cuda, export
from mtsnn.data import DATASET_NAMES, DatasetFormatError
from mtsnn.fields import Bounds, spec_of
from mtsnn.training import (
    EVAL_SPLITS,
    CheckpointError,
    ConfigError,
    OutputDirError,
    RunOptions,
    TrainConfig,
    evaluate_checkpoint,
    plot_run,
    train,
)
from mtsnn.training.config import dataset_default
from mtsnn.training.summary import command_line

# TrainConfig fields set by `mtsnn train` options of the same name (dashes for underscores).
_CONFIG_FIELDS = tuple(field.name for field in dataclasses.fields(TrainConfig))
# The groups of `mtsnn train --help`, in order, by the group names the fields declare.
_GROUPS = {
    "data and model": "data and model",
    "neuron": "MT-LIF neurons",
    "optimisation": "optimisation (cosine learning-rate schedule)",
    "running": "running",
}


def number(bounds: Bounds) -> Callable[[str], int | float]:
    """An argparse type that parses a number within ``bounds`` (mtsnn.fields.Bounds)."""

    def parse(text: str) -> int | float:
        try:
            return bounds.parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = bounds.kind.__name__  # argparse names the type in its messages
    return parse


POSITIVE_INT = number(Bounds(int, 1))
POSITIVE_FLOAT = number(Bounds(float, 0.0, low_open=True))
NON_NEGATIVE_FLOAT = number(Bounds(float, 0.0))


def _default_text(name: str) -> str:
    def shown(value: object) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        return "none" if value is None else str(value)

    values = {dataset: shown(dataset_default(dataset, name)) for dataset in DATASET_NAMES}
    if len(set(values.values())) == 1:
        return f"default: {values[DATASET_NAMES[0]]}"
    return "default per dataset: " + ", ".join(f"{k} {v}" for k, v in values.items())


def _add_config_option(group: argparse._ArgumentGroup, field: dataclasses.Field) -> None:
    """The option of a TrainConfig field, from its declaration: None when not given, so that
    the dataset's default (or, on --resume, the checkpoint's value) applies."""
    spec = spec_of(field)
    flag = "--" + field.name.replace("_", "-")
    arguments: dict = {"help": f"{spec.help} ({_default_text(field.name)})", "default": None}
    if isinstance(field.default, bool):
        # A switch that is on by default can be turned off; one that is off, turned on.
        arguments["action"] = argparse.BooleanOptionalAction if field.default else "store_true"
    elif spec.choices is not None:
        arguments["choices"] = spec.choices
    elif spec.bounds is not None:
        arguments["type"] = number(spec.bounds)
    if spec.metavar:
        arguments["metavar"] = spec.metavar
    group.add_argument(flag, **arguments)


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() and built_with_cuda() else "cpu"


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model (also under torchrun)",
        description="Train an MT-LIF SNN (or its ANN twin). Options not given take the "
        "dataset's defaults, or with --resume the checkpoint's values.",
    )
    parser.set_defaults(handler=_train, parser=parser)
    groups = {key: parser.add_argument_group(title) for key, title in _GROUPS.items()}
    for field in dataclasses.fields(TrainConfig):
        _add_config_option(groups[spec_of(field).group], field)
    data = groups["data and model"]
    data.add_argument("--data-dir", help="look for the dataset here first")
    data.add_argument(
        "--download", action="store_true", help="download the dataset if it is not found"
    )
    run = groups["running"]
    run.add_argument(
        "--out", type=Path, help="run directory (default: runs/DATASET-MODEL-TtKk-seedS)"
    )
    run.add_argument("--resume", action="store_true", help="continue the run in --out")
    run.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=_default_device(),
        help="default: cuda when available, else cpu",
    )
    run.add_argument("--threads", type=POSITIVE_INT, help="CPU threads (default: torch's)")
    run.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the training step (on a CPU an SNN's step ran 1.05-1.18x faster than "
        "eager, after 10-25 s of compiling, yet a whole MNIST run on 2 Zen 3 cores took as long; "
        "ANN twins run slower: see docs/training.md)",
    )
    run.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        help="train under torch.autocast with bfloat16: faster on CPUs with AVX-512 BF16 or "
        "AMX (a step 1.45x on Zen 4), many times slower on the others (see docs/training.md); "
        "weights, optimizer and evaluation stay float32 (default: off; with --resume, as the "
        "run trained)",
    )
    run.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="channels-last images and conv weights (default: on with --device cpu)",
    )
    run.add_argument(
        "--keep-memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep freed memory in the process instead of returning it to the system, so that "
        "large activations are not page-faulted in at every step (glibc; default: on)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    run.add_argument(
        "--dist-timeout",
        type=POSITIVE_FLOAT,
        default=300.0,
        metavar="SECONDS",
        help="fail a distributed job whose peers stop answering (default: 300)",
    )


def _add_eval_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="test accuracy of a saved run",
        description="Evaluate a run's checkpoint on its test set, or on the validation images "
        "it held out (the same images as in training).",
    )
    parser.set_defaults(handler=_eval, parser=parser)
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="run directory or its checkpoint.json"
    )
    parser.add_argument(
        "--split",
        choices=EVAL_SPLITS,
        default="test",
        help="validation: the images held out by train --validation (default: test)",
    )
    parser.add_argument("--data-dir", help="look for the dataset here first")
    parser.add_argument("--download", action="store_true", help="download it if not found")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=_default_device())
    parser.add_argument("--threads", type=POSITIVE_INT, help="CPU threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _add_plot_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "plot",
        help="draw a run's training curves (needs matplotlib)",
        description="Plot loss and accuracy per epoch (train and test) of a run as a PNG.",
    )
    parser.set_defaults(handler=_plot, parser=parser)
    parser.add_argument("run_dir", type=Path, help="the run directory")
    parser.add_argument("--output", type=Path, help="PNG to write (default: RUN_DIR/curves.png)")


def _add_analyze_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "analyze",
        help="spike statistics, operation counts and energy of a saved run",
        description="Record firing rates and spike levels per MT-LIF layer over the test set, "
        "count MACs and ACs per layer and estimate the energy of the SNN and its ANN twin; "
        "print a table, write analysis.json and PNG plots (these need matplotlib).",
    )
    parser.set_defaults(handler=_analyze, parser=parser)
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="run directory or its checkpoint.json"
    )
    parser.add_argument("--data-dir", help="look for the dataset here first")
    parser.add_argument("--download", action="store_true", help="download it if not found")
    parser.add_argument(
        "--limit-test",
        type=POSITIVE_INT,
        metavar="N",
        help="N test images, the subset train uses (default: run's)",
    )
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/analysis)")
    for kind in ("mac", "ac"):
        default = getattr(analysis.EnergyCosts, f"{kind}_pj")
        parser.add_argument(
            f"--{kind}-pj",
            type=NON_NEGATIVE_FLOAT,
            default=default,
            help=f"energy per {kind.upper()} in pJ (default: {default}, 45 nm)",
        )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=_default_device())
    parser.add_argument("--threads", type=POSITIVE_INT, help="CPU threads (default: torch's)")


def _add_export_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="compile a saved run into a package that C++ runs (AOTInductor, CPU)",
        description="Export a run's model, with its input normalisation, as an AOTInductor "
        "package (.pt2) that takes uint8 images [B, C, H, W] and returns logits; "
        "examples/cpp/predict.cpp runs it from C++. The package is native code for this CPU's "
        "instruction set and this torch version (both recorded in it).",
    )
    parser.set_defaults(handler=_export, parser=parser)
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="run directory or its checkpoint.json"
    )
    parser.add_argument("--out", required=True, type=Path, help="the package to write (.pt2)")
    parser.add_argument(
        "--max-batch",
        type=number(Bounds(int, 2)),
        default=export.DEFAULT_MAX_BATCH,
        help=f"largest batch the package accepts (default: {export.DEFAULT_MAX_BATCH})",
    )
    parser.add_argument("--threads", type=POSITIVE_INT, help="CPU threads (default: torch's)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `mtsnn` command."""
    parser = argparse.ArgumentParser(
        prog="mtsnn", description="Multi-threshold LIF spiking neural networks."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_parser(commands)
    _add_eval_parser(commands)
    _add_plot_parser(commands)
    _add_analyze_parser(commands)
    _add_export_parser(commands)
    return parser


def _train(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    options = {field: getattr(args, field) for field in _CONFIG_FIELDS}
    # Every RunOptions field is an option of the same name, but for the command line itself.
    fields = (f.name for f in dataclasses.fields(RunOptions) if f.name != "command")
    run = RunOptions(**{name: getattr(args, name) for name in fields}, command=command_line(argv))
    summary = train(options, run)
    if summary is not None:
        print(
            f"final test accuracy {100 * summary['final_test_accuracy']:.2f}% after "
            f"{summary['epochs']} epochs; {summary['run_dir']}/summary.json"
        )
    return 0


def _eval(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = evaluate_checkpoint(
        args.checkpoint,
        split=args.split,
        data_dir=args.data_dir,
        download=args.download,
        device=args.device,
    )
    if result["source"] != result["recorded_source"]:
        print(
            f"mtsnn eval: warning: the {args.split} images were read from {result['source']}, "
            f"the run's from {result['recorded_source']}",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.split} accuracy {100 * result['accuracy']:.2f}% ({result['correct']}/"
            f"{result['images']} images), loss {result['loss']:.4f}; the run recorded "
            f"{100 * result['recorded_accuracy']:.2f}% after epoch {result['epoch']}"
        )
    return 0


def _plot(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    print(plot_run(args.run_dir, args.output))
    return 0


def _analyze(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result, files = analysis.analyze_checkpoint(
        args.checkpoint,
        data_dir=args.data_dir,
        download=args.download,
        limit_test=args.limit_test,
        out=args.out,
        device=args.device,
        costs=analysis.EnergyCosts(mac_pj=args.mac_pj, ac_pj=args.ac_pj),
        plots=not args.no_plots,
    )
    print(analysis.format_table(result))
    print("wrote " + ", ".join(str(path) for path in files))
    return 0


def _export(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(export.export_run(args.checkpoint, args.out, max_batch=args.max_batch))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `mtsnn` command with ``argv`` (default: sys.argv[1:]); return the exit status.

    Usage errors (unknown options, bad values, a resumed run given other options) exit with 2,
    other failures (missing data, damaged checkpoint, unwritable output) with 1; both print a
    one-line message rather than a traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse has already reported
        return int(exit_.code or 0)
    handler: Callable[[argparse.Namespace, Sequence[str] | None], int] = args.handler
    try:
        return handler(args, argv)
    except ConfigError as err:
        args.parser.print_usage(sys.stderr)
        print(f"mtsnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (
        CheckpointError,
        OutputDirError,
        FileNotFoundError,
        DatasetFormatError,
        ImportError,
    ) as err:
        print(f"mtsnn {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mtsnn {args.command}: interrupted", file=sys.stderr)
        return 130
