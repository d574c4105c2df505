"""Smoke test of the benchmark suite: a tiny --quick run, and the shape of what it writes."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import mtsnn

REPO = Path(__file__).resolve().parents[2]


def _run_suite(*args: str) -> subprocess.CompletedProcess:
    # The subprocess must import the same mtsnn as this test, installed or from the source tree.
    package_root = str(Path(mtsnn.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), *args],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_quick_run_writes_json_and_markdown(device: str, tmp_path: Path) -> None:
    completed = _run_suite(
        "--quick",
        f"--device={device}",
        f"--out={tmp_path}",
        "--impls=mtsnn,reference,snntorch",
        "--steps=2",
        "--sizes=4K",
        "--dtypes=float32,bfloat16",
        "--threads=1",
        "--train-batch=4",
        "--sections=neuron,bandwidth,train,gbench",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    tag = f"{device}-quick"
    (json_path,) = tmp_path.glob(f"{tag}-*.json")
    markdown = (tmp_path / f"{tag}-latest.md").read_text()
    assert markdown in completed.stdout  # the table is printed too
    data = json.loads(json_path.read_text())

    assert data["device"] == device and data["quick"] is True
    # Paths inside the repository are recorded relative to it: no directory of this machine.
    assert data["settings"]["gbench_binary"] == "build/cmake/mtsnn_bench"
    machine = data["machine"]
    assert machine["torch_threads"] == 1
    assert machine["mtsnn_cpu_capability"] in ("avx512", "avx2", "default")
    assert machine["mtsnn_cpu_streaming_threshold"] > 0
    assert {"cpu", "usable_cores", "torch", "load_average_at_start"} <= machine.keys()
    if machine["cpu_signature"]:  # Linux: family, model and stepping name the processor
        assert machine["cpu_signature"] in markdown
        assert ("avx2" in machine["cpu_vector_extensions"]) == (
            machine["mtsnn_cpu_capability"] != "default"
        )

    impls = data["implementations"]
    assert list(impls) == ["mtsnn", "reference", "snntorch"]
    assert impls["mtsnn"]["graded"] is True and "backend" in impls["mtsnn"]
    assert impls["snntorch"]["graded"] is False  # a peer is either measured or says why not
    assert ("backend" in impls["snntorch"]) != ("skipped" in impls["snntorch"])
    runnable = [name for name, entry in impls.items() if "skipped" not in entry]

    records = data["records"]
    neuron = [r for r in records if r["section"] == "neuron"]
    # Two modes x two dtypes, one T and one size.
    assert len(neuron) == 4 * len(runnable)
    for record in neuron:
        assert record["median_ms"] > 0 and record["repeats"] >= 2, record
        assert record["min_ms"] <= record["median_ms"] <= record["max_ms"]
        if record["impl"] != "mtsnn":
            assert record["ratio_to_mtsnn"] > 0

    bandwidth = [r for r in records if r["section"] == "bandwidth"]
    assert sorted(r["kind"] for r in bandwidth) == sorted(
        ["copy_", "clone", "forward", "backward"] * 2
    )
    forward = next(r for r in bandwidth if r["kind"] == "forward" and r["dtype"] == "float32")
    assert forward["bytes"] == 2 * 2 * 4096 * 4  # x and spikes over T (a layer skips v_last)
    assert forward["fraction_of_copy"] > 0 and forward["fraction_of_clone"] > 0

    train = {r["variant"]: r for r in records if r["section"] == "train"}
    assert set(train) == {
        "ann",
        "mtsnn",
        "reference",
        "ann compiled",
        "mtsnn compiled",
        "mtsnn compiled, nn.MaxPool2d",
        "ann bf16",
        "mtsnn bf16",
    }
    assert train["ann"]["timesteps"] == 1 and train["mtsnn bf16"]["timesteps"] == 2
    assert train["ann"]["ratio_to_ann"] == 1.0 and train["mtsnn"]["images_per_s"] > 0

    gbench = [r for r in records if r["section"] == "gbench"]
    if device == "cuda" or "skipped" in data["gbench_context"]:
        assert not gbench
    else:
        assert {r["function"] for r in gbench} == {"copy", "forward", "backward"}

    for heading in ("## Neuron op", "## Effective bandwidth", "## Training step", "## Google"):
        assert heading in markdown
    assert "| forward+backward | bfloat16 | 4K | 2 |" in markdown


def test_quick_cpp_sections(tmp_path: Path) -> None:
    # Training in C++ against Python, and the exported model in C++, Python eager and compiled.
    programs = Path(os.environ.get("MTSNN_CPP_EXAMPLES", REPO / "build" / "examples"))
    if not (programs / "mtsnn-predict").is_file():
        if os.environ.get("MTSNN_REQUIRE_CPP") == "1":
            raise AssertionError(f"{programs} has no C++ programs (tools/test.sh builds them)")
        pytest.skip(f"{programs} has no C++ programs")
    completed = _run_suite(
        "--quick",
        "--device=cpu",
        f"--out={tmp_path}",
        "--threads=1",
        "--train-batch=16",
        "--sections=cpptrain,deploy",
        f"--cpp-examples={programs}",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    data = json.loads(next(tmp_path.glob("cpu-quick-*.json")).read_text())
    cpp = {r["variant"]: r for r in data["records"] if r["section"] == "cpptrain"}
    assert set(cpp) == {"Python (mtsnn train)", "C++ (mtsnn-train-mnist)"}
    assert all(r["images_per_s"] > 0 for r in cpp.values())
    assert cpp["Python (mtsnn train)"]["ratio_to_python"] == 1.0
    deploy = {r["variant"]: r for r in data["records"] if r["section"] == "deploy"}
    assert set(deploy) == {"Python eager", "torch.compile", "C++ runner"}
    for record in deploy.values():
        assert record["latency_batch1_ms"] > 0
        assert record["throughput_batch256_images_per_s"] > 0
    markdown = (tmp_path / "cpu-quick-latest.md").read_text()
    assert "## Training in C++ against Python" in markdown and "## Deployment" in markdown


def test_surrogate_and_streaming_threshold_are_chosen_and_recorded(tmp_path: Path) -> None:
    completed = _run_suite(
        "--quick",
        "--device=cpu",
        f"--out={tmp_path}",
        "--impls=mtsnn,reference",
        "--steps=1",
        "--sizes=4K",
        "--dtypes=float32",
        "--threads=1",
        "--sections=neuron",
        "--surrogate=sigmoid",
        "--cpu-streaming-threshold=12345",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    (json_path,) = tmp_path.glob("cpu-quick-*.json")
    data = json.loads(json_path.read_text())
    assert data["settings"]["surrogate"] == "sigmoid"
    assert data["machine"]["mtsnn_cpu_streaming_threshold"] == 12345


def test_unknown_implementation_is_rejected(tmp_path: Path) -> None:
    completed = _run_suite("--impls=nope", f"--out={tmp_path}")
    assert completed.returncode == 2 and "unknown ['nope']" in completed.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "variable, key, words",
    [
        ("ONEDNN_MAX_CPU_ISA", "onednn_max_cpu_isa", "ONEDNN_MAX_CPU_ISA=AVX2"),
        ("ATEN_CPU_CAPABILITY", "aten_cpu_capability", "ATEN_CPU_CAPABILITY=AVX2"),
    ],
)
def test_report_names_an_instruction_set_cap(monkeypatch, variable, key, words) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import report

    # Upper case: ATen, Inductor and mtsnn ignore it, so the value caps nothing in this process.
    monkeypatch.setenv(variable, "AVX2")
    machine = report.machine_info(torch.device("cpu"))
    data = {"device": "cpu", "quick": False, "created": "now", "json": "cpu.json"}
    data |= {"machine": {**machine, "torch_threads": 1}, "settings": {"sections": []}}
    assert words in report.render_markdown(data)
    monkeypatch.delenv(variable)
    assert key not in report.machine_info(torch.device("cpu"))


def test_calls_per_sample_come_from_a_warm_call(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import timing

    calls = []

    def first_call_slow() -> None:  # a one-time cost, as a first GPU allocation has
        time.sleep(0.02 if not calls else 0.0001)
        calls.append(1)

    budget = timing.Budget(min_repeats=2, max_repeats=2, target_s=0.0)
    result = timing.measure(first_call_slow, torch.device("cpu"), budget)
    assert result["calls_per_sample"] > 1  # sized by the 20 ms first call it would be 1
    assert result["median_ms"] < 5


def test_side_by_side_samples_are_taken_in_turn(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import timing

    order: list[str] = []
    fns = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    budget = timing.Budget(min_repeats=3, max_repeats=3, target_s=0.0)
    result = timing.measure_side_by_side(fns, torch.device("cpu"), budget)
    samples = [name for name, _ in itertools.groupby(order[4:])]  # after two warm-ups each
    assert samples == ["a", "b", "a", "b", "a", "b"]
    assert result["a"]["repeats"] == result["b"]["repeats"] == 3


def test_a_function_with_its_samples_sits_out(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import timing

    fns = {"slow": lambda: time.sleep(0.01), "fast": lambda: None}
    budget = timing.Budget(min_repeats=2, max_repeats=6, target_s=0.015)
    result = timing.measure_side_by_side(fns, torch.device("cpu"), budget)
    assert result["slow"]["repeats"] == 2  # 2 x 10 ms meet the 15 ms target
    assert result["fast"]["repeats"] == 6


def _sweep(ratios: dict[tuple[str, int], float], copy_share: float) -> dict:
    """A results file with neuron rows (mode, T) -> torch.compile over mtsnn, at 4M bfloat16."""
    records = [
        {
            "section": "neuron",
            "impl": "compiled",
            "mode": mode,
            "dtype": "bfloat16",
            "steps": steps,
            "neurons": 4 << 20,
            "ratio_to_mtsnn": ratio,
        }
        for (mode, steps), ratio in ratios.items()
    ]
    records.append(
        {
            "section": "bandwidth",
            "kind": "backward",
            "dtype": "bfloat16",
            "steps": 1,
            "neurons": 4 << 20,
            "fraction_of_copy": copy_share,
        }
    )
    return {"records": records}


def test_compare_takes_the_median_over_sweeps(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import compare

    sweeps = [
        _sweep({("forward", 1): 0.9, ("forward+backward", 1): 1.2}, 0.1),
        _sweep({("forward", 1): 1.5, ("forward+backward", 1): 1.4}, 0.3),
        _sweep({("forward", 1): 0.8, ("forward+backward", 1): 1.6}, 0.2),
    ]
    text = compare.compare({"before": sweeps[:1], "after": sweeps})
    assert "| forward | bfloat16 | 4M | 1 | **0.90x** | **0.90x** (0.80-1.50) |" in text
    assert "| forward+backward | bfloat16 | 4M | 1 | 1.20x | 1.40x (1.20-1.60) |" in text
    assert "**before** (1 sweep): 1 of 2 rows below 1.0x (median over sweeps): 0.90x" in text
    assert "below 1.3x: 1;" in text.splitlines()[-2]  # before: 1.20x
    assert "below 1.3x: 0;" in text.splitlines()[-1]  # after: median 1.40x
    assert text.endswith("backward T = 1: 20%")


def test_compare_refuses_a_missing_file(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare.py"), f"a={tmp_path / 'none.json'}"],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2 and "no such results file" in completed.stderr
