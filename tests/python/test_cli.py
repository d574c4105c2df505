"""The `mtsnn` command line: usage errors, fast failures, eval and plot."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from test_training_support import subprocess_env, train_argv, write_tiny_mnist

from mtsnn.cli import build_parser, main
from mtsnn.training import TrainConfig


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_tiny_mnist(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def run_dir(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(train_argv(data_dir, out, "--epochs", "2")) == 0
    return out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["train", "--lr", "-1"], "argument --lr: -1 must be > 0.0"),
        (["train", "--lr", "fast"], "argument --lr: 'fast' is not a valid float"),
        (["train", "--epochs", "0"], "argument --epochs: 0 must be >= 1"),
        (["train", "--timesteps", "2.5"], "argument --timesteps: '2.5' is not a valid int"),
        (["train", "--decay", "1.5"], "argument --decay: 1.5 must be <= 1.0"),
        (["train", "--width", "nan"], "argument --width: 'nan' is not a finite number"),
        (["train", "--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet'"),
        (["train", "--model", "lenet"], "argument --model: invalid choice: 'lenet'"),
        (["train", "--surrogate", "gauss"], "argument --surrogate: invalid choice: 'gauss'"),
        (["train", "--optimizer", "lamb"], "argument --optimizer: invalid choice: 'lamb'"),
        (["train", "--validation", "-5"], "argument --validation: -5 must be >= 0"),
        (["train", "--rotation", "200"], "argument --rotation: 200 must be <= 180.0"),
        (["eval", "--checkpoint", "x", "--split", "train"], "argument --split: invalid choice"),
        (["eval"], "the following arguments are required: --checkpoint"),
        (["fly"], "invalid choice: 'fly'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_config_errors_found_after_parsing_also_exit_2(data_dir, tmp_path, capsys):
    argv = train_argv(data_dir, tmp_path / "run", "--num-thresholds", "300")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: mtsnn train")
    assert "mtsnn train: error: mt_lif: num_thresholds must be an integer in [1, 256]" in err
    assert main(train_argv(data_dir, tmp_path / "run", "--grad-accum", "3")) == 2
    assert "must be divisible by the number of processes times --grad-accum" in (
        capsys.readouterr().err
    )


def test_help_lists_options_and_per_dataset_defaults(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--num-thresholds", "--surrogate", "--resume", "--dist-timeout", "--compile"):
        assert option in out
    assert "mnist 20, fashion-mnist 20, cifar10 200" in " ".join(out.split())


def test_every_config_field_has_an_option():
    args = build_parser().parse_args(["train"])
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    assert fields <= set(vars(args))
    assert all(getattr(args, name) is None for name in fields)  # None: not given


def test_unwritable_output_dir_fails_before_loading_data(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(
        "mtsnn.training.splits.load_split", lambda *a: pytest.fail("data loaded before the check")
    )
    started = time.perf_counter()
    assert main(["train", "--out", str(blocker / "run"), "--quiet"]) == 1
    assert time.perf_counter() - started < 5
    assert f"mtsnn train: error: output directory {blocker / 'run'} is not writable" in (
        capsys.readouterr().err
    )


def test_too_little_disk_space_fails_before_training(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        "mtsnn.training.fileio.shutil.disk_usage", lambda path: SimpleNamespace(free=0)
    )
    monkeypatch.setattr(
        "mtsnn.training.learner.Learner.train_epoch", lambda *a: pytest.fail("trained")
    )
    assert main(train_argv(data_dir, tmp_path / "run")) == 1
    assert "has 0.0 MiB free, but the run needs about" in capsys.readouterr().err


def test_eval_prints_the_accuracy_and_the_recorded_one(run_dir, capsys):
    assert main(["eval", "--checkpoint", str(run_dir / "checkpoint.json")]) == 0
    out = capsys.readouterr().out
    recorded = json.loads((run_dir / "summary.json").read_text())["final_test_accuracy"]
    assert out.startswith(f"test accuracy {100 * recorded:.2f}% (")
    assert f"the run recorded {100 * recorded:.2f}% after epoch 2" in out


def test_validation_images_are_held_out_logged_and_evaluated(data_dir, tmp_path, capsys):
    out = tmp_path / "held-out"
    argv = train_argv(data_dir, out, "--validation", "16", "--rotation", "10", "--scaling", "0.1")
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["train_images"] == 48
    assert summary["dataset"]["validation_images"] == 16
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["validation_accuracy"] for r in log][-1] == summary["final_validation_accuracy"]
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(out), "--split", "validation", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["split"], result["images"]) == ("validation", 16)
    assert result["accuracy"] == result["recorded_accuracy"]
    assert result["recorded_accuracy"] == summary["final_validation_accuracy"]


def test_eval_of_validation_needs_a_run_that_held_images_out(run_dir, capsys):
    assert main(["eval", "--checkpoint", str(run_dir), "--split", "validation"]) == 2
    assert "held out no validation images" in capsys.readouterr().err


def test_eval_of_a_damaged_checkpoint_fails_with_the_file_name(run_dir, tmp_path, capsys):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for path in run_dir.glob("checkpoint*"):
        (damaged / path.name).write_bytes(path.read_bytes())
    tensors = next(damaged.glob("*.safetensors"))
    tensors.write_bytes(tensors.read_bytes()[:-10])
    assert main(["eval", "--checkpoint", str(damaged)]) == 1
    assert f"mtsnn eval: error: {tensors}: sha256" in capsys.readouterr().err


def test_plot_writes_a_png(run_dir, capsys):
    pytest.importorskip("matplotlib")
    assert main(["plot", str(run_dir)]) == 0
    png = run_dir / "curves.png"
    assert capsys.readouterr().out.strip() == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install_it(run_dir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    assert main(["plot", str(run_dir)]) == 1
    assert "needs matplotlib, which is not installed: pip install matplotlib" in (
        capsys.readouterr().err
    )


def test_python_dash_m_runs_the_cli():
    env = subprocess_env()
    result = subprocess.run(
        [sys.executable, "-m", "mtsnn", "train", "--epochs", "-3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "argument --epochs: -3 must be >= 1" in result.stderr
