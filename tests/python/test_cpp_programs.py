"""The C++ programs of examples/cpp, built against the installed mtsnn CMake package, with Python:
train in C++ and evaluate in Python, train in Python and evaluate in C++, export in Python and
predict in C++ (bitwise the logits of Python eager).

The programs are looked for in $MTSNN_CPP_EXAMPLES (default: build/examples, where tools/test.sh
builds them). Without them these tests skip, unless MTSNN_REQUIRE_CPP=1 (tools/test.sh sets it),
where a missing program fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_training_support import train_argv, write_tiny_mnist

from mtsnn import export
from mtsnn.cli import main
from mtsnn.data import load_dataset
from mtsnn.machine import cpu_flags
from mtsnn.training import evaluate_checkpoint, load_checkpoint

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = Path(os.environ.get("MTSNN_CPP_EXAMPLES", REPO / "build" / "examples"))


def program(name: str) -> Path:
    path = PROGRAMS / name
    if not path.is_file():
        message = f"{path} is not built (tools/test.sh builds examples/cpp)"
        if os.environ.get("MTSNN_REQUIRE_CPP") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(name: str, *args: object, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(program(name)), *(str(arg) for arg in args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_tiny_mnist(tmp_path_factory.mktemp("data"), train=256, test=100)


@pytest.fixture(scope="module")
def python_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "python"
    assert main(train_argv(data_dir, out, "--epochs", "2")) == 0
    return out


@pytest.fixture(scope="module")
def package(python_run, tmp_path_factory):
    return export.export_run(python_run, tmp_path_factory.mktemp("export") / "model.pt2")


def test_smoke_program_trains_one_step():
    assert run("mtsnn-smoke").stdout.strip().endswith("ok")


def test_operator_is_registered_under_as_needed():
    assert "mtsnn::mt_lif found" in run("dispatcher-only").stdout


def test_cpp_trained_checkpoint_evaluates_in_python(data_dir, tmp_path):
    out = tmp_path / "cpp"
    log = run(
        "mtsnn-train-mnist",
        *("--data-dir", data_dir, "--out", out, "--epochs", 3, "--batch-size", 32, "--threads", 1),
    ).stdout
    assert len(re.findall(r"^epoch \d/3 .* img/s$", log, re.MULTILINE)) == 3
    checkpoint = load_checkpoint(out)
    assert checkpoint.epoch == 3
    assert checkpoint.config.model == "convnet" and checkpoint.config.timesteps == 2
    result = evaluate_checkpoint(out, data_dir=data_dir)
    assert result["accuracy"] == checkpoint.meta["metrics"]["test_accuracy"]
    assert result["accuracy"] > 0.2  # it learned something (chance: 0.1)
    assert main(["eval", "--checkpoint", str(out)]) == 0
    assert main(["analyze", "--checkpoint", str(out), "--no-plots", "--out", str(tmp_path)]) == 0


def test_cpp_bf16_training_runs_under_autocast_and_evaluates_in_float32(data_dir, tmp_path):
    runs = {}
    for name, extra in (("float32", ()), ("bf16", ("--bf16",))):
        out = tmp_path / name
        args = ("--data-dir", data_dir, "--out", out, "--epochs", 1, "--batch-size", 32)
        log = run("mtsnn-train-mnist", *args, "--threads", 1, *extra).stdout
        assert ("bfloat16 autocast" in log) == bool(extra)
        runs[name] = load_checkpoint(out)
    float32, bf16 = (load_file(runs[name].tensors_path) for name in ("float32", "bf16"))
    assert any(not torch.equal(bf16[key], float32[key]) for key in bf16)  # autocast took effect
    assert {tensor.dtype for tensor in bf16.values()} == {
        tensor.dtype for tensor in float32.values()
    }
    result = evaluate_checkpoint(tmp_path / "bf16", data_dir=data_dir)  # in float32
    assert result["accuracy"] == runs["bf16"].meta["metrics"]["test_accuracy"]


def test_python_trained_checkpoint_evaluates_in_cpp(python_run, data_dir):
    expected = evaluate_checkpoint(python_run, data_dir=data_dir)
    printed = run("mtsnn-train-mnist", "--evaluate", python_run, "--data-dir", data_dir).stdout
    match = re.search(r"test accuracy [\d.]+% \((\d+)/(\d+) images\), loss ([\d.]+)", printed)
    assert match, printed
    assert int(match[1]) == expected["correct"] and int(match[2]) == expected["images"]
    assert float(match[3]) == pytest.approx(expected["loss"], abs=1e-4)


def test_train_program_errors(tmp_path):
    result = run("mtsnn-train-mnist", "--data-dir", tmp_path, check=False)
    assert result.returncode == 1 and "train-images-idx3-ubyte" in result.stderr
    result = run("mtsnn-train-mnist", "--epochs", "0", "--data-dir", tmp_path, check=False)
    assert result.returncode == 2 and "--epochs" in result.stderr
    (tmp_path / "checkpoint.json").write_text("{")
    result = run("mtsnn-train-mnist", "--evaluate", tmp_path, "--data-dir", tmp_path, check=False)
    assert result.returncode == 1 and "checkpoint.json" in result.stderr


def test_exported_package_runs_in_python_bitwise_as_eager(package, python_run, data_dir):
    model, _ = export.load_run(python_run)
    images = load_dataset("mnist", "test", data_dir=data_dir).images
    loaded = torch._inductor.aoti_load_package(str(package))
    with torch.no_grad():
        assert torch.equal(loaded(images), model(images))


def test_predict_gives_python_eager_logits_bitwise(package, python_run, data_dir, tmp_path):
    logits_file = tmp_path / "logits.safetensors"
    printed = run("mtsnn-predict", package, data_dir, "--save-logits", logits_file).stdout
    model, _ = export.load_run(python_run)
    test_set = load_dataset("mnist", "test", data_dir=data_dir)
    with torch.no_grad():
        eager = model(test_set.images)
    assert torch.equal(load_file(logits_file)["logits"], eager)
    correct = int((eager.argmax(1) == test_set.labels).sum())
    assert f"({correct}/{len(test_set.labels)} images)" in printed


def test_predict_benchmark_prints_json(package, data_dir):
    figures = json.loads(run("mtsnn-predict", package, data_dir, "--benchmark").stdout)
    assert figures["latency_batch1_ms"] > 0 and figures["throughput_batch100_images_per_s"] > 0


def rewrite_metadata(package: Path, out: Path, **changes: str) -> None:
    """Copy ``package`` to ``out`` with ``changes`` in its metadata."""
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("_metadata.json"):
                data = json.dumps({**json.loads(data), **changes}).encode()
            target.writestr(item, data)


def test_predict_refuses_what_it_cannot_run(package, data_dir, tmp_path):
    not_zip = tmp_path / "model.pt2"
    not_zip.write_bytes(b"not a package")
    result = run("mtsnn-predict", not_zip, data_dir, check=False)
    assert result.returncode == 1 and "not a .pt2 package" in result.stderr
    result = run("mtsnn-predict", tmp_path / "missing.pt2", data_dir, check=False)
    assert result.returncode == 1 and "missing" in result.stderr
    # The same package claiming another torch, or a CPU feature: refused before it is loaded.
    other = tmp_path / "other-torch.pt2"
    rewrite_metadata(package, other, torch_version="1.0.0")
    result = run("mtsnn-predict", other, data_dir, check=False)
    assert result.returncode == 1 and "compiled with torch 1.0.0" in result.stderr
    other_cpu = tmp_path / "other-cpu.pt2"
    # A feature the runner cannot check is refused on any CPU (flags are checked in order, so it
    # comes alone); one this CPU lacks (if it lacks AMX or AVX-512), with the flag named.
    rewrite_metadata(package, other_cpu, cpu_flags="-mneuromorphic")
    result = run("mtsnn-predict", other_cpu, data_dir, check=False)
    assert result.returncode == 1 and "-mneuromorphic, a CPU feature" in result.stderr
    host_flags = cpu_flags()
    lacking = [
        flag
        for flag, name in [("-mamx-tile", "amx_tile"), ("-mavx512f", "avx512f")]
        if host_flags and name not in host_flags
    ]
    if lacking:
        rewrite_metadata(package, other_cpu, cpu_flags=lacking[0])
        result = run("mtsnn-predict", other_cpu, data_dir, check=False)
        assert (
            result.returncode == 1
            and f"({lacking[0]}), which this processor is not" in result.stderr
        )
    result = run("mtsnn-predict", package, tmp_path, check=False)
    assert result.returncode == 1 and "t10k-images-idx3-ubyte" in result.stderr
