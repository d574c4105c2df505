"""The machine's description, and the results as JSON and as markdown tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import mtsnn
import mtsnn.machine

REPO = Path(__file__).resolve().parent.parent


def format_size(neurons: int) -> str:
    """1048576 -> '1M', 65536 -> '64K' (binary multiples, as the sizes are given)."""
    if neurons % 2**20 == 0:
        return f"{neurons >> 20}M"
    if neurons % 2**10 == 0:
        return f"{neurons >> 10}K"
    return str(neurons)


def _num(value: float) -> str:
    """Three significant digits, never an exponent."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _git_commit() -> str:
    completed = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip()


# Environment variables that cap other libraries' code to a lesser instruction set, as when an
# AVX2 machine is imitated on an AVX-512 one; the results keep each under its name in lower case.
# oneDNN runs the convolutions (also under bfloat16 autocast); ATEN_CPU_CAPABILITY picks ATen's
# CPU kernels, the vector width of Inductor's C++ code (torch.compile) and, unless
# MTSNN_CPU_CAPABILITY is set, mtsnn's variant. The report names the variable with its value as
# set, since each library decides what it honours (the kernels columns say what mtsnn ran).
INSTRUCTION_SET_CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")


def machine_info(device: torch.device) -> dict:
    """mtsnn.machine.machine_info, plus the load, the git commit and, on CUDA, the GPU's
    properties."""
    info = {
        **mtsnn.machine.machine_info(),
        "load_average_at_start": list(os.getloadavg()),
        "git_commit": _git_commit(),
    }
    for variable in INSTRUCTION_SET_CAPS:
        if os.environ.get(variable):
            info[variable.lower()] = os.environ[variable]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = {
            "name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count,
        }
    return info


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def section_records(data: dict, section: str) -> list[dict]:
    """The records of one section of a results file."""
    return [record for record in data["records"] if record["section"] == section]


def _neuron_section(data: dict) -> list[str]:
    records = section_records(data, "neuron")
    impls = data["implementations"]
    lines = [
        "## Neuron op",
        "",
        "Median ms per call; in brackets, that time over the mtsnn op's (higher is slower). "
        "forward: inference, no autograd graph; forward+backward: forward, then the gradient "
        "of the input. Neurons per time step, M = 2^20.",
        "",
    ]
    rows = []
    for name, entry in impls.items():
        spikes = f"graded 0..{data['settings']['num_thresholds']}" if entry["graded"] else "0/1"
        library = f"{entry['package']} {entry['version']}".strip()
        backend = entry.get("backend") or f"skipped: {entry.get('skipped')}"
        rows.append([name, library, backend, entry["neuron"], spikes])
    lines += [*_table(["column", "library", "kernels", "neuron", "spikes"], rows), ""]
    columns = [name for name, entry in impls.items() if "skipped" not in entry]
    by_config: dict[tuple, dict[str, dict]] = {}
    for record in records:
        key = (record["mode"], record["dtype"], record["neurons"], record["steps"])
        by_config.setdefault(key, {})[record["impl"]] = record

    def cell(record: dict | None, name: str, faults: bool) -> str:
        if record is None:
            return ""
        if "skipped" in record:
            return "skipped"
        if faults:
            return _num(record.get("page_faults_per_call", float("nan")))
        if "ratio_to_mtsnn" in record and name != "mtsnn":
            return f"{_num(record['median_ms'])} ({_num(record['ratio_to_mtsnn'])}x)"
        return _num(record["median_ms"])

    for faults in (False, True):
        rows = [
            [mode, dtype, format_size(neurons), str(steps)]
            + [cell(cells.get(name), name, faults) for name in columns]
            for (mode, dtype, neurons, steps), cells in by_config.items()
        ]
        if faults:
            lines += [
                "",
                "Minor page faults per call, same runs: each is the first touch of a 4 KiB page "
                "of freshly mapped memory. Outputs above glibc's mmap threshold (at most 32 MiB) "
                "are mapped anew on every call, so at large sizes these faults, not the kernels, "
                "set the times.",
                "",
            ]
        lines += _table(["mode", "dtype", "neurons", "T", *columns], rows)
    reasons = sorted({(r["impl"], r["skipped"]) for r in records if "skipped" in r})
    if reasons:
        lines += ["", "Skipped configurations:", ""]
        lines += [f"- {impl}: {reason}" for impl, reason in reasons]
    return lines


def _bandwidth_section(data: dict) -> list[str]:
    records = section_records(data, "bandwidth")
    copies = {
        (r["kind"], r["dtype"], r["neurons"], r["steps"]): r
        for r in records
        if r["kind"] in ("copy_", "clone")
    }
    rows = []
    for r in records:
        if r["kind"] in ("copy_", "clone"):
            continue
        config = (r["dtype"], r["neurons"], r["steps"])
        rows.append(
            [
                r["kind"],
                r["dtype"],
                format_size(r["neurons"]),
                str(r["steps"]),
                _num(r["median_ms"]),
                _num(r["gb_per_s"]),
                _num(copies[("copy_", *config)]["gb_per_s"]),
                _num(copies[("clone", *config)]["gb_per_s"]),
                f"{r['fraction_of_copy']:.0%}",
                f"{r['fraction_of_clone']:.0%}",
                _num(r.get("page_faults_per_call", float("nan"))),
                _num(copies[("clone", *config)].get("page_faults_per_call", float("nan"))),
            ]
        )
    header = ["pass", "dtype", "neurons", "T", "op ms", "op GB/s", "copy_ GB/s", "clone GB/s"]
    return [
        "## Effective bandwidth of the op",
        "",
        "GB/s = bytes the pass must move / median time. forward reads x and writes spikes (a "
        "layer does not ask for the final membrane); backward reads x and grad_spikes and writes "
        "grad_x; a copy reads and writes x. copy_ fills a preallocated tensor; clone allocates its "
        "output, as the op does. Faults: minor page faults per call (first touches of freshly "
        "mapped output memory).",
        "",
        *_table([*header, "of copy_", "of clone", "op faults", "clone faults"], rows),
    ]


def _train_section(data: dict) -> list[str]:
    records = section_records(data, "train")
    rows = [
        [
            r["variant"],
            str(r["timesteps"]),
            str(r["batch"]),
            _num(r["median_ms"]),
            _num(r["images_per_s"]),
            _num(r["ratio_to_ann"]),
        ]
        for r in records
    ]
    formats = sorted({r.get("memory_format", "contiguous_format") for r in records})
    return [
        "## Training step, MNIST ConvNet",
        "",
        "One SGD step (forward, backward, update) on random 28x28 images, in the layout "
        f"`mtsnn train` uses here ({', '.join(formats)}). mtsnn: MT-LIF layers; reference: the "
        "same network with mtsnn.reference.mt_lif as the neuron; ann: the ReLU twin at T = 1; "
        "compiled: the same under torch.compile (compile time excluded); bf16: the forward pass "
        "under torch.autocast with bfloat16 (`mtsnn train --bf16`). x ANN: the step's time over "
        "the eager ANN's.",
        "",
        *_table(["variant", "T", "batch", "ms/step", "images/s", "x ANN"], rows),
    ]


def _cpptrain_section(data: dict) -> list[str]:
    rows = [
        [r["variant"], "skipped", r["skipped"], "", ""]
        if "skipped" in r
        else [
            r["variant"],
            f"{r['timesteps']} / {r['batch']} / {r['threads']}",
            _num(r["images_per_s"]),
            " ".join(_num(value) for value in r["images_per_s_repeats"]),
            f"{r['ratio_to_python']:.2f}",
        ]
        for r in section_records(data, "cpptrain")
    ]
    return [
        "## Training in C++ against Python",
        "",
        "Images/s of training the MNIST ConvNet SNN (the last of 2 epochs on 12,800 random "
        "images), by `mtsnn train` and by the C++ program examples/cpp/train_mnist.cpp, same "
        "model, recipe, batch, T and threads, each in its own process, alternating; median over "
        "the repeats. x Python: over `mtsnn train`'s images/s (higher is faster).",
        "",
        *_table(["trainer", "T / batch / threads", "images/s", "repeats", "x Python"], rows),
    ]


def _deploy_section(data: dict) -> list[str]:
    rows = [
        [r["variant"], "skipped", r["skipped"]]
        if "skipped" in r
        else [
            r["variant"],
            _num(r["latency_batch1_ms"]),
            _num(r["throughput_batch256_images_per_s"]),
        ]
        for r in section_records(data, "deploy")
    ]
    return [
        "## Deployment: an exported model",
        "",
        "The MNIST ConvNet SNN (T = 2) exported by `mtsnn export` (AOTInductor) and run by the C++ "
        "runner examples/cpp/predict.cpp, against the same model in Python eager and under "
        "torch.compile, on uint8 images: median latency of one image, and throughput at a batch "
        "of 256.",
        "",
        *_table(["run by", "latency, batch 1 (ms)", "images/s, batch 256"], rows),
    ]


def _gbench_section(data: dict) -> list[str]:
    context = data.get("gbench_context", {})
    if "skipped" in context:
        return ["## Google Benchmark (C++ kernels)", "", f"Skipped: {context['skipped']}"]
    rows = []
    for r in section_records(data, "gbench"):
        if "skipped" in r:
            rows.append([r["name"].removesuffix("/real_time"), "skipped", r["skipped"], ""])
            continue
        fraction = f"{r['fraction_of_copy']:.0%}" if "fraction_of_copy" in r else ""
        rows.append(
            [
                r["name"].removesuffix("/real_time"),
                _num(r["real_time_ms"]),
                _num(r["gb_per_s"]),
                fraction,
            ]
        )
    return [
        "## Google Benchmark (C++ kernels)",
        "",
        "build/cmake/mtsnn_bench: the CPU kernels called from C++ on preallocated inputs; GB/s "
        "counts the same bytes as above; of copy: over the copy benchmark with the same T and N.",
        "",
        *_table(["benchmark", "ms", "GB/s", "of copy"], rows),
    ]


SECTIONS = {
    "neuron": _neuron_section,
    "bandwidth": _bandwidth_section,
    "train": _train_section,
    "gbench": _gbench_section,
    "cpptrain": _cpptrain_section,
    "deploy": _deploy_section,
}


def render_markdown(data: dict) -> str:
    """The report as markdown: a header line on the machine, then a table per section run."""
    machine = data["machine"]
    kernels = f"mtsnn {machine['mtsnn']}, CPU kernels {machine['mtsnn_cpu_capability']}"
    if machine.get("mtsnn_cpu_streaming_threshold"):
        kernels += f" streaming from {machine['mtsnn_cpu_streaming_threshold'] >> 20} MiB"
    for variable in INSTRUCTION_SET_CAPS:
        if machine.get(variable.lower()):
            kernels += f", {variable}={machine[variable.lower()]}"
    cpu = machine["cpu"]
    if machine.get("cpu_signature"):  # older files have neither
        extensions = " ".join(machine.get("cpu_vector_extensions", [])) or "no AVX2"
        cpu += f" ({machine['cpu_signature']}; {extensions})"
    where = f"{cpu}, {machine['usable_cores']} cores"
    if "gpu" in machine:
        where = f"{machine['gpu']['name']}; {where}"
    # Other processes' load skews the timings: show it (1, 5, 15-minute averages).
    load = "/".join(f"{value:.1f}" for value in machine["load_average_at_start"])
    if "load_average_at_end" in machine:
        load += ", at end " + "/".join(f"{value:.1f}" for value in machine["load_average_at_end"])
    lines = [
        f"# mtsnn benchmarks: {data['device']}{' (quick run)' if data['quick'] else ''}",
        "",
        f"{data['created']} · {where}, {machine['torch_threads']} torch threads · "
        f"torch {machine['torch']} · {kernels} · load average at start {load} · "
        f"data: {data['json']}",
    ]
    for section in data["settings"]["sections"]:
        if section_records(data, section) or (section == "gbench" and "gbench_context" in data):
            lines += ["", *SECTIONS[section](data)]
    return "\n".join(lines) + "\n"


class Report:
    """Collects the records; rewrites the JSON and the markdown after each one, so a run that is
    cut short (a time limit) still leaves what it measured."""

    def __init__(self, data: dict, json_path: Path, markdown_path: Path) -> None:
        self.data = {**data, "json": json_path.name, "records": []}
        self.json_path = json_path
        self.markdown_path = markdown_path

    def emit(self, record: dict) -> None:
        """Add a record, print a progress line, save."""
        label = " ".join(
            str(record[key])
            for key in ("section", "mode", "kind", "variant", "dtype", "impl", "name")
            if key in record
        )
        if "steps" in record and "name" not in record:
            label += f" T={record['steps']} N={format_size(record['neurons'])}"
        if "skipped" in record:
            result = f"skipped ({record['skipped']})"
        else:
            result = f"{_num(record.get('median_ms', record.get('real_time_ms')))} ms"
        print(f"  {label}: {result}", file=sys.stderr, flush=True)
        self.data["records"].append(record)
        self.save()

    def save(self) -> None:
        """Write the JSON and the markdown."""
        self.json_path.write_text(json.dumps(self.data, indent=1) + "\n")
        self.markdown_path.write_text(render_markdown(self.data))
