"""`mtsnn analyze` end to end on a tiny checkpoint trained in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_training_support import train_argv, write_tiny_mnist

from mtsnn.analysis.report import JSON_FILE, PLOT_FILES
from mtsnn.cli import main

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = write_tiny_mnist(tmp_path_factory.mktemp("data"), train=16, test=8)
    out = tmp_path_factory.mktemp("runs") / "run"
    argv = train_argv(data, out, "--epochs", "1", "--limit-train", "16", "--limit-test", "8")
    assert main([*argv, "--device", "cpu"]) == 0
    return out


def test_analyze_writes_json_and_plots_and_prints_a_table(run_dir, tmp_path, capsys):
    out = tmp_path / "analysis"
    argv = ["analyze", "--checkpoint", str(run_dir), "--limit-test", "4", "--out", str(out)]
    assert main([*argv, "--device", "cpu", "--ac-pj", "1.0"]) == 0
    printed = capsys.readouterr().out
    assert "MT-LIF layer" in printed and "ANN/SNN" in printed
    result = json.loads((out / JSON_FILE).read_text())
    assert result["images"] == 4 and result["energy"]["costs"] == {"mac_pj": 4.6, "ac_pj": 1.0}
    assert [layer["name"] for layer in result["spikes"]] == ["body.0", "body.2", "body.5"]
    assert all(len(layer["level_fractions"]) == 4 for layer in result["spikes"])  # K = 3
    assert result["operations"][0]["name"] == "encoder.0.0"
    assert not result["operations"][0]["spiking_input"]
    for name in PLOT_FILES:
        assert (out / name).read_bytes().startswith(b"\x89PNG")


def test_analyze_defaults_to_the_run_dir_and_can_skip_plots(run_dir, capsys):
    assert main(["analyze", "--checkpoint", str(run_dir), "--no-plots", "--device", "cpu"]) == 0
    assert json.loads((run_dir / "analysis" / JSON_FILE).read_text())["images"] == 8
    assert not (run_dir / "analysis" / PLOT_FILES[0]).exists()


def test_analyze_of_a_missing_checkpoint_fails_with_exit_1(tmp_path, capsys):
    assert main(["analyze", "--checkpoint", str(tmp_path / "nothing")]) == 1
    assert "no checkpoint" in capsys.readouterr().err
