"""IDX reader (MNIST / Fashion-MNIST): exact round trips and clear errors naming the file."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_data_support import idx_bytes, write_idx
from test_data_support import mtsnn_data as data

MNIST_DIR = Path("/work/shared/datasets/mnist")
DatasetFormatError = data.DatasetFormatError
read_idx, read_idx_pair, idx_files = data.read_idx, data.read_idx_pair, data.idx_files


def names(path: Path) -> str:
    return re.escape(path.name)


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip_images_and_labels(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    img_path = write_idx(tmp_path / "imgs", images, gz)
    lbl_path = write_idx(tmp_path / "lbls", labels, gz)
    assert torch.equal(read_idx(img_path), torch.from_numpy(images))
    assert torch.equal(read_idx(lbl_path), torch.from_numpy(labels))
    got_images, got_labels = read_idx_pair(img_path, lbl_path, num_classes=10)
    assert got_images.shape == (7, 1, 28, 28) and got_images.dtype == torch.uint8
    assert torch.equal(got_images[:, 0], torch.from_numpy(images))
    assert got_labels.dtype == torch.int64
    assert got_labels.tolist() == labels.tolist()


@settings(max_examples=25, deadline=None, database=None)
@given(
    shape=st.tuples(st.integers(0, 4), st.integers(1, 5), st.integers(1, 5)),
    gz=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_round_trip_any_shape(tmp_path_factory, shape, gz, seed) -> None:
    images = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    path = write_idx(tmp_path_factory.mktemp("idx") / "x", images, gz)
    assert torch.equal(read_idx(path), torch.from_numpy(images))


def test_idx_files_prefers_plain_and_accepts_gz(tmp_path: Path) -> None:
    one = np.zeros((1, 28, 28), np.uint8)
    assert idx_files(tmp_path, "test") is None
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", one, True)
    assert idx_files(tmp_path, "test") is None  # labels still missing
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(1, np.uint8), True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", one, False)
    assert idx_files(tmp_path, "test") == (
        tmp_path / "t10k-images-idx3-ubyte",
        tmp_path / "t10k-labels-idx1-ubyte.gz",
    )


@pytest.mark.parametrize("gz", [False, True])
def test_wrong_magic(tmp_path: Path, gz: bool) -> None:
    data = bytearray(idx_bytes(np.zeros((2, 3, 3), np.uint8)))
    data[2] = 0x0D  # float32 IDX: not a uint8 image/label file
    path = tmp_path / "bad-magic"
    path.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))
    with pytest.raises(DatasetFormatError, match=names(path) + ".*wrong magic number 0x00000d03"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("keep", [3, 10, 30])
def test_truncated(tmp_path: Path, gz: bool, keep: int) -> None:
    data = idx_bytes(np.ones((2, 4, 4), np.uint8))[:keep]  # inside header, dims, data
    path = tmp_path / "truncated"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DatasetFormatError, match=names(path) + ".*truncated"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    packed = gzip.compress(idx_bytes(np.ones((50, 28, 28), np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DatasetFormatError, match=names(path)):
        read_idx(path)


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 40)
    with pytest.raises(DatasetFormatError, match=names(path) + ".*corrupt gzip"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_oversized_header_is_refused_before_allocating(tmp_path: Path, gz: bool) -> None:
    # 2**32-1 cubed bytes could never be allocated: reaching the allocation would crash the test.
    data = struct.pack(">IIII", 0x803, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + b"\x00" * 64
    path = tmp_path / "huge"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DatasetFormatError, match=names(path) + ".*more than the file can hold"):
        read_idx(path)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"\x00")
    with pytest.raises(DatasetFormatError, match=names(path) + ".*unexpected bytes"):
        read_idx(path)


def test_count_mismatch_names_both_files(tmp_path: Path) -> None:
    img = write_idx(tmp_path / "images.gz", np.zeros((3, 28, 28), np.uint8), True)
    lbl = write_idx(tmp_path / "labels.gz", np.zeros(4, np.uint8), True)
    with pytest.raises(DatasetFormatError, match=names(lbl) + ".*4 labels.*" + names(img)):
        read_idx_pair(img, lbl, num_classes=10)


def test_label_out_of_range(tmp_path: Path) -> None:
    img = write_idx(tmp_path / "images", np.zeros((3, 28, 28), np.uint8), False)
    lbl = write_idx(tmp_path / "labels", np.array([0, 10, 2], np.uint8), False)
    with pytest.raises(DatasetFormatError, match=names(lbl) + ".*label 10 out of range 0..9"):
        read_idx_pair(img, lbl, num_classes=10)


def test_swapped_files(tmp_path: Path) -> None:
    img = write_idx(tmp_path / "images", np.zeros((3, 28, 28), np.uint8), False)
    lbl = write_idx(tmp_path / "labels", np.zeros(3, np.uint8), False)
    with pytest.raises(DatasetFormatError, match=names(lbl) + ".*expected images"):
        read_idx_pair(lbl, img, num_classes=10)


def test_shipped_sample() -> None:
    train, test = data.load_sample("train"), data.load_sample("test")
    assert train.images.shape == (6000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
    assert train.is_sample and test.is_sample and train.name == "mnist"
    assert test.labels[:3].tolist() == [7, 2, 1]
    assert set(train.labels.unique().tolist()) == set(range(10))


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="real MNIST files absent")
def test_real_mnist_test_set() -> None:
    images, labels = read_idx_pair(*idx_files(MNIST_DIR, "test"), num_classes=10)
    assert images.shape == (10000, 1, 28, 28)
    assert labels.min() >= 0 and labels.max() <= 9
    assert int(labels[0]) == 7
    sample = data.load_sample("test")  # the shipped sample is the head of the real test set
    assert torch.equal(sample.images, images[:1000]) and torch.equal(sample.labels, labels[:1000])
