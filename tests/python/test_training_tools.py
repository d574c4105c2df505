"""The training toolkit's parts: config, schedule, progress bar, run log, RNG state, file checks."""

from __future__ import annotations

import io
import json
import math
import random

import numpy as np
import pytest
import torch

from mtsnn import machine
from mtsnn.data import CLASSES, BatchLoader, ImageDataset
from mtsnn.nn import MTLIF
from mtsnn.training import (
    DATASET_DEFAULTS,
    ConfigError,
    DistContext,
    Learner,
    OutputDirError,
    RunLog,
    TrainConfig,
    cosine_lr,
    make_config,
    read_log,
)
from mtsnn.training import learner as learner_module
from mtsnn.training.config import LATER_FIELDS
from mtsnn.training.fileio import atomic_write, check_free_space, check_writable
from mtsnn.training.reproducibility import restored_torch_settings, rng_state, set_rng_state
from mtsnn.training.splits import split_validation


def test_defaults_come_from_the_dataset():
    assert make_config({}) == TrainConfig(**DATASET_DEFAULTS["mnist"])
    cifar = make_config({"dataset": "cifar10", "epochs": 3, "lr": None})
    assert (cifar.model, cifar.optimizer, cifar.epochs, cifar.lr) == ("resnet19", "sgd", 3, 0.1)
    assert cifar.augment and make_config({}).augment  # MNIST is only shifted: data.AUGMENTATION


def test_resume_keeps_stored_values_and_refuses_changes():
    stored = make_config({"lr": 0.01, "epochs": 2})
    resumed = make_config({"epochs": 5, "lr": None}, stored, changeable=("epochs",))
    assert (resumed.lr, resumed.epochs) == (0.01, 5)
    assert make_config({"lr": 0.01}, stored) == stored  # the same value is no change
    with pytest.raises(ConfigError, match="cannot change seed when resuming"):
        make_config({"seed": 3}, stored, changeable=("epochs",))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"model": "lenet"}, "model must be one of convnet, convnet3, vgg11"),
        ({"width": 0.0}, "width must be a finite number > 0"),
        ({"num_thresholds": 300}, "num_thresholds must be an integer in"),
        ({"validation": -1}, "validation must be >= 0"),
        ({"validation": 10, "limit_train": 10}, r"must be smaller than limit_train \(10\)"),
        ({"rotation": 190.0}, r"rotation must be in \[0, 180\]"),
        ({"scaling": 1.0}, r"scaling must be in \[0, 1\)"),
        ({"rotation": 5.0, "augment": False}, "they need augment on"),
    ],
)
def test_invalid_config_is_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        make_config(options)


def test_config_dict_round_trip():
    config = make_config({"dataset": "fashion-mnist", "limit_train": 10})
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match=r"unknown \['extra'\]"):
        TrainConfig.from_dict({**config.to_dict(), "extra": 1})


def test_configs_stored_before_later_fields_load_with_their_defaults():
    config = make_config({"dataset": "mnist", "epochs": 2})
    old = {k: v for k, v in config.to_dict().items() if k not in LATER_FIELDS}
    assert TrainConfig.from_dict(old) == config
    assert {"validation", "rotation", "scaling"} <= set(LATER_FIELDS)
    with pytest.raises(ValueError, match=r"missing \['seed'\]"):
        TrainConfig.from_dict({k: v for k, v in old.items() if k != "seed"})


def labelled(count: int) -> ImageDataset:
    images = torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 1, 2, 2)
    return ImageDataset(
        images.clone(), torch.arange(count) % 10, CLASSES["mnist"], "mnist", "train", "t"
    )


def test_validation_split_is_fixed_disjoint_and_ordered():
    full = labelled(200)
    train_part, held_out = split_validation(full, 30)
    assert (len(train_part), len(held_out)) == (170, 30)
    assert (train_part.split, held_out.split) == ("train", "validation")
    kept, out = train_part.images[:, 0, 0, 0].tolist(), held_out.images[:, 0, 0, 0].tolist()
    assert sorted(kept + out) == list(range(200)) and not set(kept) & set(out)
    assert kept == sorted(kept) and out == sorted(out)
    assert torch.equal(held_out.labels, torch.tensor(out) % 10)
    torch.manual_seed(123)  # the global RNG (the run's seed) plays no part
    assert torch.equal(split_validation(full, 30)[1].images, held_out.images)
    assert out != list(range(30))  # drawn over the whole set, not its first images
    assert len(split_validation(full, 0)[0]) == 200


@pytest.mark.parametrize("count", [-1, 200, 201])
def test_validation_split_must_leave_training_images(count):
    with pytest.raises(ValueError, match="cannot hold"):
        split_validation(labelled(200), count)


def test_cosine_schedule():
    assert cosine_lr(0.1, 0, 10) == 0.1
    assert cosine_lr(0.1, 5, 10) == pytest.approx(0.05)
    assert 0 < cosine_lr(0.1, 9, 10) < 0.003
    lrs = [cosine_lr(1.0, e, 7) for e in range(7)]
    assert lrs == sorted(lrs, reverse=True)
    assert cosine_lr(1.0, 1, 3) == pytest.approx(0.5 * (1 + math.cos(math.pi / 3)))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _tiny_learner(
    num_images: int, autocast: torch.dtype | None = None
) -> tuple[Learner, ImageDataset]:
    """A CPU learner of the MNIST defaults (batch 4) and its random training images."""
    images = torch.randint(0, 256, (num_images, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(num_images) % 10
    dataset = ImageDataset(images, labels, CLASSES["mnist"], "mnist", "train", "t")
    learner = Learner(
        TrainConfig(epochs=1, batch_size=4),
        dataset,
        DistContext(device=torch.device("cpu")),
        compile=False,
        memory_format=torch.contiguous_format,
        autocast=autocast,
    )
    return learner, dataset


def _epoch_with_progress(stream: io.StringIO, show: bool, monkeypatch) -> dict:
    """One training epoch of a tiny run whose progress bar draws on ``stream``."""
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(learner_module, "_PROGRESS_INTERVAL_S", 0.0)
    learner, dataset = _tiny_learner(16)
    loader = BatchLoader(dataset, 4, shuffle=True, augment=False, drop_last=True, normalize=False)
    return learner.train_epoch(loader, 1, "epoch 1/2", show)


@pytest.mark.parametrize("autocast", [None, torch.bfloat16])
def test_autocast_runs_training_steps_in_its_type_and_evaluation_in_float32(autocast):
    learner, dataset = _tiny_learner(8, autocast)
    spike_types: set[torch.dtype] = set()
    for layer in learner.model.modules():
        if isinstance(layer, MTLIF):
            layer.register_forward_hook(lambda _layer, _args, out: spike_types.add(out.dtype))
    loader = BatchLoader(dataset, 4, shuffle=False, augment=False, normalize=False)
    learner.train_epoch(loader, 1, "epoch 1/1", False)
    assert spike_types == {autocast or torch.float32}
    assert {p.dtype for p in learner.model.parameters()} == {torch.float32}
    spike_types.clear()
    learner.evaluate({"test": loader})
    assert spike_types == {torch.float32}


@pytest.mark.parametrize(
    ("fields", "has_bfloat16"),
    [
        ({"flags": "fpu avx2 avx512f avx512_bf16"}, True),
        ({"flags": "fpu avx2 amx_tile amx_bf16"}, True),
        ({"Features": "fp asimd bf16 i8mm"}, True),  # ARM
        ({"flags": "fpu avx2 fma f16c avx512f avx512bw"}, False),
        ({}, False),  # no /proc/cpuinfo
    ],
)
def test_cpu_bfloat16_support_is_read_from_cpuinfo(fields, has_bfloat16, monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo", lambda: fields)
    assert machine.cpu_has_bfloat16() is has_bfloat16


def test_progress_bar_draws_steps_loss_and_accuracy(monkeypatch):
    stream = Terminal()
    metrics = _epoch_with_progress(stream, True, monkeypatch)
    text = stream.getvalue()
    assert "epoch 1/2" in text and "4/4" in text
    assert "loss=" in text and "acc=" in text
    assert metrics["images_per_s"] > 0 and 0 <= metrics["train_accuracy"] <= 1


def test_progress_bar_is_silent_off_a_terminal_or_when_disabled(monkeypatch):
    for stream, show in ((io.StringIO(), True), (Terminal(), False)):
        _epoch_with_progress(stream, show, monkeypatch)
        assert stream.getvalue() == ""


def test_run_log_appends_and_drops_epochs_after_a_resume_point(tmp_path):
    log = RunLog(tmp_path, 0)
    for epoch in (1, 2, 3):
        log.write({"epoch": epoch, "train_loss": 1.0 / epoch})
    log.close()
    assert [r["epoch"] for r in read_log(tmp_path)] == [1, 2, 3]
    RunLog(tmp_path, 2).close()  # resuming after epoch 2: epoch 3 will be redone
    assert read_log(tmp_path / "log.jsonl") == [
        {"epoch": 1, "train_loss": 1.0},
        {"epoch": 2, "train_loss": 0.5},
    ]
    RunLog(tmp_path, 0).close()
    assert read_log(tmp_path) == []


def test_rng_state_round_trip_through_json():
    state = json.loads(json.dumps(rng_state()))
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and got[2] == expected[2]
    with pytest.raises(ValueError, match="malformed random generator state"):
        set_rng_state({**state, "torch": "not base64!"})


def test_torch_settings_are_restored():
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with restored_torch_settings():
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(not deterministic)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_atomic_write_leaves_only_the_file(tmp_path):
    atomic_write(tmp_path / "a.json", b"one")
    atomic_write(tmp_path / "a.json", b"two")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert (tmp_path / "a.json").read_bytes() == b"two"


def test_unwritable_output_dir_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputDirError, match=f"output directory {blocker / 'run'} is not writable"):
        check_writable(blocker / "run")
    check_writable(tmp_path / "new" / "run")  # created on the way
    assert list((tmp_path / "new" / "run").iterdir()) == []  # the probe is gone


def test_too_little_space_is_reported(tmp_path):
    check_free_space(tmp_path, 1)
    with pytest.raises(OutputDirError, match=r"MiB free, but the run needs about"):
        check_free_space(tmp_path, 1 << 60)
