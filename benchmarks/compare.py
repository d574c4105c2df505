"""Compare groups of neuron-section sweeps against torch.compile, row by row, across rounds.

One sweep on a shared machine moves a row by as much as ±30 % (a slow spell of its neighbours),
so a row is judged on several sweeps of the same build: for each group of result files, the
median over its files of torch.compile's time over mtsnn's (above 1: mtsnn is faster), with the
range. Prints markdown: the rows, then per group the rows below 1.0x, the forward + backward rows
at T = 1 and 2 below 1.3x, and bfloat16's share of a copy's bandwidth at 4M neurons.

    python benchmarks/compare.py before=results/cpu-A.json,results/cpu-B.json \\
        after=results/cpu-C.json,results/cpu-D.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterable
from pathlib import Path

from report import format_size, section_records

Row = tuple[str, str, int, int]  # pass, dtype, T, neurons


def _per_row(records: Iterable[dict], pass_key: str, value_key: str) -> dict[Row, float]:
    """value_key of each record that has one, by (pass, dtype, T, neurons)."""
    return {
        (r[pass_key], r["dtype"], r["steps"], r["neurons"]): r[value_key]
        for r in records
        if value_key in r
    }


def compiled_ratios(data: dict) -> dict[Row, float]:
    """torch.compile's median over mtsnn's, per neuron row of one results file."""
    compiled = [r for r in section_records(data, "neuron") if r["impl"] == "compiled"]
    return _per_row(compiled, "mode", "ratio_to_mtsnn")


def copy_fractions(data: dict) -> dict[Row, float]:
    """The op's GB/s over a copy's, per (pass, dtype, T, neurons) of one results file."""
    return _per_row(section_records(data, "bandwidth"), "kind", "fraction_of_copy")


def _by_row(per_file: Iterable[dict[Row, float]]) -> dict[Row, list[float]]:
    """Each row's values over the files."""
    values: dict[Row, list[float]] = {}
    for table in per_file:
        for row, value in table.items():
            values.setdefault(row, []).append(value)
    return values


def _cell(values: list[float] | None) -> str:
    if not values:
        return "-"
    median = statistics.median(values)
    text = f"{median:.2f}x"
    if median < 1.0:
        text = f"**{text}**"
    if len(values) > 1:
        text += f" ({min(values):.2f}-{max(values):.2f})"
    return text


def compare(groups: dict[str, list[dict]]) -> str:
    """The markdown comparison of the groups (name -> loaded results files)."""
    ratios = {name: _by_row(map(compiled_ratios, files)) for name, files in groups.items()}
    fractions = {name: _by_row(map(copy_fractions, files)) for name, files in groups.items()}
    rows = sorted(
        {row for table in ratios.values() for row in table},
        key=lambda row: (row[0], row[1], row[3], row[2]),  # pass, dtype, neurons, then T
    )
    lines = [
        "| pass | dtype | neurons | T | " + " | ".join(groups) + " |",
        "|---|---|---|---|" + "---|" * len(groups),
    ]
    for mode, dtype, steps, neurons in rows:
        cells = [_cell(ratios[name].get((mode, dtype, steps, neurons))) for name in groups]
        row = [mode, dtype, format_size(neurons), str(steps), *cells]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for name, files in groups.items():
        medians = {row: statistics.median(values) for row, values in ratios[name].items()}
        losing = sorted(value for value in medians.values() if value < 1.0)
        short = [
            value
            for (mode, _, steps, _), value in medians.items()
            if mode != "forward" and steps <= 2 and value < 1.3
        ]
        bandwidth = [
            f"{kind} T = {steps}: {statistics.median(values):.0%}"
            for (kind, dtype, steps, neurons), values in sorted(fractions[name].items())
            if dtype == "bfloat16" and neurons == 4 << 20
        ]
        sweeps = f"{len(files)} sweep{'s' * (len(files) != 1)}"
        listed = ": " + ", ".join(f"{value:.2f}x" for value in losing) if losing else ""
        lines.append(
            f"- **{name}** ({sweeps}): {len(losing)} of {len(medians)} rows below 1.0x (median "
            f"over sweeps){listed}; forward + backward at T = 1-2 below 1.3x: {len(short)}; "
            f"bfloat16 at 4M, share of a copy's bandwidth: {', '.join(bandwidth) or '-'}"
        )
    return "\n".join(lines)


def parse_group(text: str) -> tuple[str, list[Path]]:
    """'name=a.json,b.json' -> ('name', [a.json, b.json])."""
    name, sep, files = text.partition("=")
    if not sep or not name or not files:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE[,FILE...], got {text!r}")
    return name, [Path(f) for f in files.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="+", type=parse_group, help="NAME=FILE[,FILE...]")
    args = parser.parse_args()
    missing = [str(path) for _, paths in args.groups for path in paths if not path.is_file()]
    if missing:
        parser.error(f"no such results file: {', '.join(missing)}")
    groups = {name: [json.loads(path.read_text()) for path in paths] for name, paths in args.groups}
    print(compare(groups))


if __name__ == "__main__":
    main()
