"""Runs the Google Benchmark binary of the C++ kernels and turns its JSON into report records."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

_MS_PER_UNIT = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def _parse_name(name: str) -> dict:
    """'forward/avx2/T:2/N:1048576/real_time' -> function, isa (kernel variant), steps, neurons."""
    parts = name.split("/")
    args = dict(part.split(":", 1) for part in parts if ":" in part)
    plain = [part for part in parts if ":" not in part and part != "real_time"]
    return {
        "function": plain[0],
        "isa": plain[1] if len(plain) > 1 else "",
        "steps": int(args["T"]),
        "neurons": int(args["N"]),
    }


def run_gbench(
    *,
    binary: Path,
    benchmark_filter: str,
    min_time_s: float,
    timeout_s: float,
    emit: Callable[[dict], None],
) -> dict:
    """Run ``binary`` on the benchmarks matching ``benchmark_filter``, emit one record each.

    Records carry the real time per iteration (ms), the binary's bytes_per_second as GB/s, and
    ``fraction_of_copy``: that rate over the copy benchmark's with the same T and N (when the
    filter selected it). Benchmarks the binary skipped (a kernel variant this CPU lacks) carry
    ``skipped``.

    Returns:
        The binary's context (its view of the machine), or ``{"skipped": reason}``.
    """
    if not binary.is_file():
        return {"skipped": f"{binary} not found (build it with CMake, see the README)"}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "gbench.json"
        # min_time as a plain number of seconds: older Google Benchmark rejects "0.1s".
        command = [
            str(binary),
            f"--benchmark_filter={benchmark_filter}",
            f"--benchmark_min_time={min_time_s}",
            f"--benchmark_out={out}",
            "--benchmark_out_format=json",
        ]
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            return {"skipped": f"timed out after {timeout_s:g} s"}
        if completed.returncode != 0 or not out.is_file():
            return {"skipped": f"exit {completed.returncode}: {completed.stderr.strip()[-300:]}"}
        result = json.loads(out.read_text())
    copy_rates = {}
    for bench in result["benchmarks"]:
        record = {"section": "gbench", "name": bench["name"], **_parse_name(bench["name"])}
        if bench.get("error_occurred"):
            record["skipped"] = bench.get("error_message", "error")
        else:
            record["real_time_ms"] = bench["real_time"] * _MS_PER_UNIT[bench["time_unit"]]
            record["gb_per_s"] = bench["bytes_per_second"] / 1e9
            key = (record["steps"], record["neurons"])
            if record["function"] == "copy":
                copy_rates[key] = record["gb_per_s"]
            if key in copy_rates:
                record["fraction_of_copy"] = record["gb_per_s"] / copy_rates[key]
        emit(record)
    return result["context"]
