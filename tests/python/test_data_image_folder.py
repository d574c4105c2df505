"""Image folders (directory or .tar.gz): exact pixels, class order, decoded cache, clear errors."""

from __future__ import annotations

import io
import os
import re
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_data_support import isolate
from test_data_support import mtsnn_data as data

CIFAR10_CLASSES, DatasetFormatError = data.CIFAR10_CLASSES, data.DatasetFormatError
read_image_folder = data.read_image_folder


@pytest.fixture(autouse=True)
def cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def make_folder(
    root: Path,
    classes: tuple[str, ...],
    per_split: dict[str, int],
    fmt: str = "PNG",
    shape=(32, 32, 3),
) -> dict[str, list[tuple[str, str, bytes]]]:
    """Write random images; return per split the (class, file, encoded bytes) in label order."""
    rng = np.random.default_rng(0)
    written: dict[str, list[tuple[str, str, bytes]]] = {}
    suffix = ".png" if fmt == "PNG" else ".jpg"
    for split, count in per_split.items():
        written[split] = []
        for class_name in classes:
            (root / split / class_name).mkdir(parents=True)
            for i in range(count):
                encoded = encode(rng.integers(0, 256, shape, dtype=np.uint8), fmt)
                name = f"{i:04d}{suffix}"
                (root / split / class_name / name).write_bytes(encoded)
                written[split].append((class_name, name, encoded))
    return written


def decoded(encoded: bytes) -> torch.Tensor:
    array = np.asarray(Image.open(io.BytesIO(encoded)))
    array = array[..., None] if array.ndim == 2 else array
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def make_tar(root: Path, archive: Path, prefix: str = "") -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(root / split, arcname=f"{prefix}{split}")
    return archive


def test_cifar_png_directory_round_trip(tmp_path: Path) -> None:
    written = make_folder(tmp_path / "folder", CIFAR10_CLASSES, {"train": 2, "test": 1})
    for split in ("train", "test"):
        images, labels, classes = read_image_folder(tmp_path / "folder", split, use_cache=False)
        assert classes == CIFAR10_CLASSES
        assert images.dtype == torch.uint8 and images.shape == (len(written[split]), 3, 32, 32)
        assert torch.equal(images, torch.stack([decoded(e) for _, _, e in written[split]]))
        want = [CIFAR10_CLASSES.index(c) for c, _, _ in written[split]]
        assert labels.dtype == torch.int64 and labels.tolist() == want


@pytest.mark.parametrize("prefix", ["", "cifar10/"])
def test_jpeg_tarball_matches_directory_and_is_not_extracted(tmp_path: Path, prefix: str) -> None:
    written = make_folder(tmp_path / "folder", CIFAR10_CLASSES, {"train": 1, "test": 2}, "JPEG")
    archive = make_tar(tmp_path / "folder", tmp_path / "arch" / "cifar10-jpeg.tar.gz", prefix)
    images, labels, classes = read_image_folder(archive, "test")
    assert torch.equal(images, torch.stack([decoded(e) for _, _, e in written["test"]]))
    assert classes == CIFAR10_CLASSES and labels.tolist() == [i // 2 for i in range(20)]
    assert os.listdir(archive.parent) == [archive.name]


def test_generic_classes_sorted_grayscale(tmp_path: Path) -> None:
    written = make_folder(tmp_path / "f", ("zebra", "ant", "mole"), {"train": 2}, shape=(6, 8))
    images, labels, classes = read_image_folder(tmp_path / "f", "train")
    assert classes == ("ant", "mole", "zebra") and images.shape == (6, 1, 6, 8)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]
    by_class = sorted(written["train"], key=lambda e: (classes.index(e[0]), e[1]))
    assert torch.equal(images, torch.stack([decoded(e) for _, _, e in by_class]))


def test_classes_come_from_both_splits(tmp_path: Path) -> None:
    make_folder(tmp_path / "f", ("a", "b"), {"train": 1}, shape=(4, 4))
    make_folder(tmp_path / "f", ("c",), {"test": 1}, shape=(4, 4))
    _, labels, classes = read_image_folder(tmp_path / "f", "test")
    assert classes == ("a", "b", "c") and labels.tolist() == [2]


def test_decoded_cache_is_written_and_reused(tmp_path: Path, cache_dir: Path, monkeypatch) -> None:
    make_folder(tmp_path / "folder", CIFAR10_CLASSES, {"train": 1, "test": 1}, "JPEG")
    archive = make_tar(tmp_path / "folder", tmp_path / "cifar10.tar.gz")
    first = read_image_folder(archive, "train")
    cached = list((cache_dir / "decoded").glob("*.safetensors"))
    assert len(cached) == 1 and not list((cache_dir / "decoded").glob("*.tmp"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(data.image_folder, "_decode_all", no_decoding)
    second = read_image_folder(archive, "train")
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert first[2] == second[2]
    os.utime(archive, ns=(0, 0))  # a changed archive must not be served from the stale cache
    with pytest.raises(AssertionError, match="decoded again"):
        read_image_folder(archive, "train")


def test_damaged_cache_file_is_ignored(tmp_path: Path, cache_dir: Path) -> None:
    make_folder(tmp_path / "f", ("a", "b"), {"train": 1}, shape=(4, 4))
    first = read_image_folder(tmp_path / "f", "train")
    (cache_file,) = (cache_dir / "decoded").glob("*.safetensors")
    cache_file.write_bytes(b"garbage")
    assert torch.equal(read_image_folder(tmp_path / "f", "train")[0], first[0])


def test_load_dataset_reads_cifar_image_folder(tmp_path: Path) -> None:
    make_folder(tmp_path / "cifar10", CIFAR10_CLASSES, {"train": 1, "test": 1})
    dataset = data.load_dataset("cifar10", "test", data_dir=tmp_path)
    assert dataset.images.shape == (10, 3, 32, 32) and dataset.classes == CIFAR10_CLASSES


@pytest.mark.parametrize(
    ("shape", "problem"),
    [((16, 16, 3), "is a 16x16 RGB image"), ((32, 32), "is a 32x32 L image")],
)
def test_cifar_layout_needs_32x32_rgb(tmp_path: Path, shape, problem: str) -> None:
    make_folder(tmp_path / "f", CIFAR10_CLASSES, {"train": 1})
    bad = tmp_path / "f" / "train" / "dog" / "0000.png"
    bad.write_bytes(encode(np.zeros(shape, np.uint8), "PNG"))
    message = re.escape(f"{bad}: {problem}") + ".*needs 32x32 RGB"
    with pytest.raises(DatasetFormatError, match=message):
        read_image_folder(tmp_path / "f", "train")


def test_generic_layout_needs_uniform_size(tmp_path: Path) -> None:
    make_folder(tmp_path / "f", ("a", "b"), {"train": 1}, shape=(4, 4))
    bad = tmp_path / "f" / "train" / "b" / "0000.png"
    bad.write_bytes(encode(np.zeros((5, 4), np.uint8), "PNG"))
    with pytest.raises(DatasetFormatError, match=re.escape(f"{bad}: is a 4x5 L image")):
        read_image_folder(tmp_path / "f", "train")


def test_corrupt_jpeg_in_directory(tmp_path: Path) -> None:
    make_folder(tmp_path / "f", CIFAR10_CLASSES, {"train": 1}, "JPEG")
    bad = tmp_path / "f" / "train" / "cat" / "0000.jpg"
    bad.write_bytes(bad.read_bytes()[:300])
    with pytest.raises(DatasetFormatError, match=re.escape(f"{bad}: cannot decode image")):
        read_image_folder(tmp_path / "f", "train")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_jpeg_in_tarball_names_member(tmp_path: Path, damage: str) -> None:
    make_folder(tmp_path / "f", CIFAR10_CLASSES, {"train": 1, "test": 1}, "JPEG")
    bad = tmp_path / "f" / "test" / "ship" / "0000.jpg"
    content = bad.read_bytes()
    bad.write_bytes(content[:300] if damage == "truncate" else b"\xff\xd8" + b"\x13" * 200)
    archive = make_tar(tmp_path / "f", tmp_path / "cifar10.tar.gz")
    member = re.escape(f"{archive}:test/ship/0000.jpg: cannot decode image")
    with pytest.raises(DatasetFormatError, match=member):
        read_image_folder(archive, "test")


def test_empty_split(tmp_path: Path) -> None:
    make_folder(tmp_path / "f", ("a",), {"train": 1}, shape=(4, 4))
    with pytest.raises(FileNotFoundError, match=r"no .* image under test/"):
        read_image_folder(tmp_path / "f", "test")


def test_non_cifar_classes_refused_as_cifar10(tmp_path: Path) -> None:
    classes = (*CIFAR10_CLASSES[:-1], "lorry")
    make_folder(tmp_path / "f", classes, {"train": 1, "test": 1})
    located = data.Located("image-folder", tmp_path / "f")
    with pytest.raises(DatasetFormatError, match="are not the CIFAR-10 classes"):
        data.loading.read_located("cifar10", "test", located)


def test_missing_pillow_is_explained(tmp_path: Path, monkeypatch) -> None:
    make_folder(tmp_path / "f", ("a",), {"train": 1}, shape=(4, 4))
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="needs Pillow: pip install pillow"):
        read_image_folder(tmp_path / "f", "train", use_cache=False)
