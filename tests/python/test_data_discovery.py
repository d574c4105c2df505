"""Discovery order and layouts, load_dataset choices, the sample fallback, the not-found message."""

from __future__ import annotations

import pickle
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_support import isolate, write_idx, write_mnist_split
from test_data_support import mtsnn_data as data

MNIST_DIR = Path("/work/shared/datasets/mnist")


@pytest.fixture(autouse=True)
def cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


def write_mnist(directory: Path, n: int = 5, seed: int = 0) -> None:
    for split in ("train", "test"):
        write_mnist_split(directory, split, n, seed)


def test_search_order(tmp_path: Path, cache_dir: Path, monkeypatch) -> None:
    explicit, env, system = tmp_path / "explicit", tmp_path / "env", tmp_path / "system"
    monkeypatch.setattr(data.discovery, "SYSTEM_DATA_DIRS", (system,))
    monkeypatch.setenv("MTSNN_DATA", str(env))
    places = [explicit, env, cache_dir / "datasets", system]
    for place in places:
        write_mnist(place / "mnist")
    for place in places:
        assert data.resolve_data_dir("mnist", explicit) == place / "mnist"
        (place / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    assert data.resolve_data_dir("mnist", explicit) is None


def test_home_cache_when_xdg_unset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    write_mnist(tmp_path / "home" / ".cache" / "mtsnn" / "datasets" / "mnist")
    assert data.resolve_data_dir("mnist") == tmp_path / "home/.cache/mtsnn/datasets/mnist"


def test_mtsnn_data_may_list_several_roots(tmp_path: Path, monkeypatch) -> None:
    write_mnist(tmp_path / "second")
    monkeypatch.setenv("MTSNN_DATA", f"{tmp_path / 'first'}:{tmp_path / 'second'}")
    assert data.resolve_data_dir("mnist") == tmp_path / "second"


@pytest.mark.parametrize(
    ("name", "subdir"),
    [
        ("mnist", "mnist"),
        ("mnist", ""),
        ("mnist", "MNIST/raw"),
        ("fashion-mnist", "fashion-mnist"),
        ("fashion-mnist", "FashionMNIST/raw"),
    ],
)
def test_idx_layouts(tmp_path: Path, name: str, subdir: str) -> None:
    write_mnist(tmp_path / "root" / subdir)
    assert data.resolve_data_dir(name, tmp_path / "root") == tmp_path / "root" / subdir


def test_debian_system_layout(tmp_path: Path, monkeypatch) -> None:
    # dataset-fashion-mnist installs /usr/share/datasets/fashion-mnist/<official name>.gz
    monkeypatch.setattr(data.discovery, "SYSTEM_DATA_DIRS", (tmp_path / "usr-share-datasets",))
    images = write_mnist_split(tmp_path / "usr-share-datasets" / "fashion-mnist", "test", seed=3)
    assert data.resolve_data_dir("fashion-mnist") is None  # train files missing
    dataset = data.load_dataset("fashion-mnist", "test")
    assert torch.equal(dataset.images[:, 0], torch.from_numpy(images))
    assert dataset.classes[0] == "T-shirt/top" and not dataset.is_sample


def test_plain_and_gz_split_files(tmp_path: Path) -> None:
    write_mnist_split(tmp_path / "mnist", "train")
    assert data.locate("mnist", "train", tmp_path) == data.Located("idx", tmp_path / "mnist")
    assert data.locate("mnist", "test", tmp_path) is None


BATCH_NAMES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]


def batch_files(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}
    for name in BATCH_NAMES:
        (directory / name).write_bytes(pickle.dumps(batch, protocol=3))
    return directory


def class_dirs(directory: Path, splits: tuple[str, ...] = ("train", "test")) -> Path:
    for split in splits:
        for cls in data.CIFAR10_CLASSES:
            (directory / split / cls).mkdir(parents=True)
    return directory


def tar_of(directory: Path, archive: Path) -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for child in directory.iterdir():
            tar.add(child, arcname=f"{directory.name}/{child.name}")
    return archive


@pytest.mark.parametrize("layout", ["batches", "batches-direct", "tarball", "folder", "jpeg-tar"])
def test_cifar_layouts(tmp_path: Path, layout: str) -> None:
    root, scratch = tmp_path / "root", tmp_path / "scratch"
    if layout == "batches":
        expected = data.Located("cifar-batches", batch_files(root / "cifar10/cifar-10-batches-py"))
    elif layout == "batches-direct":
        expected = data.Located("cifar-batches", batch_files(root))
    elif layout == "tarball":
        archive = root / "cifar10" / "cifar-10-python.tar.gz"
        tar_of(batch_files(scratch / "cifar-10-batches-py"), archive)
        expected = data.Located("cifar-batches", archive)
    elif layout == "folder":
        expected = data.Located("image-folder", class_dirs(root / "cifar10"))
    else:  # the JPEG re-encoding: <root>/cifar10-jpeg/cifar10-jpeg.tar.gz
        archive = tar_of(class_dirs(scratch / "cifar10"), root / "cifar10-jpeg/cifar10-jpeg.tar.gz")
        expected = data.Located("image-folder", archive)
    assert data.locate("cifar10", "train", root) == expected


def test_official_batches_win_over_image_folder(tmp_path: Path) -> None:
    class_dirs(tmp_path / "cifar10", ("test",))
    assert data.locate("cifar10", "test", tmp_path).kind == "image-folder"
    assert data.locate("cifar10", "train", tmp_path) is None
    batch_files(tmp_path / "cifar10" / "cifar-10-batches-py")
    assert data.locate("cifar10", "test", tmp_path).kind == "cifar-batches"


def test_unknown_name_or_split_lists_choices() -> None:
    with pytest.raises(
        ValueError, match=r"unknown dataset 'imagenet'.*mnist, fashion-mnist, cifar10"
    ):
        data.load_dataset("imagenet", "train")
    with pytest.raises(ValueError, match=r"unknown split 'val'.*train, test"):
        data.load_dataset("mnist", "val")
    with pytest.raises(ValueError, match="unknown dataset"):
        data.resolve_data_dir("MNIST")


def test_sample_fallback_warns_and_is_marked() -> None:
    with pytest.warns(UserWarning, match="small sample.*--download.*MTSNN_DATA"):
        dataset = data.load_dataset("mnist", "test")
    assert dataset.is_sample and dataset.images.shape == (1000, 1, 28, 28)
    assert "sample" in dataset.source and dataset.name == "mnist" and dataset.split == "test"


def test_found_data_wins_over_sample(tmp_path: Path) -> None:
    write_mnist(tmp_path / "mnist", n=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = data.load_dataset("mnist", "train", data_dir=tmp_path)
    assert not dataset.is_sample and len(dataset) == 3


@pytest.mark.parametrize(
    ("name", "split", "allow_sample", "files"),
    [
        ("mnist", "train", False, ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]),
        ("fashion-mnist", "test", True, ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]),
        ("cifar10", "test", True, ["cifar-10-batches-py/", "test_batch", "cifar-10-python.tar.gz"]),
    ],
)
def test_not_found_message(tmp_path, cache_dir, name, split, allow_sample, files) -> None:
    with pytest.raises(FileNotFoundError) as info:
        data.load_dataset(name, split, data_dir=tmp_path / "mine", allow_sample=allow_sample)
    message = str(info.value)
    for needed in [*files, str(tmp_path / "mine"), str(cache_dir / "datasets" / name)]:
        assert needed in message
    assert "--download" in message and "$MTSNN_DATA" in message


def test_wrong_image_size_for_mnist(tmp_path: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 8, 8), np.uint8), False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8), False)
    with pytest.raises(data.DatasetFormatError, match=r"t10k-images-idx3-ubyte: .*are 28x28"):
        data.load_dataset("mnist", "test", data_dir=tmp_path)


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="real MNIST files absent")
def test_real_mnist_test_set_via_load_dataset() -> None:
    dataset = data.load_dataset("mnist", "test", data_dir=MNIST_DIR, allow_sample=False)
    assert dataset.images.shape == (10000, 1, 28, 28) and dataset.labels.shape == (10000,)
    assert int(dataset.labels.min()) >= 0 and int(dataset.labels.max()) <= 9
    assert int(dataset.labels[0]) == 7 and not dataset.is_sample
