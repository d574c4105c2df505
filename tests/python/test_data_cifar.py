"""CIFAR-10 python batches: exact round trips, Python-2 pickles, and refusal of unsafe pickles."""

from __future__ import annotations

import pickle
import re
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_support import mtsnn_data as data

CIFAR10_CLASSES, DatasetFormatError = data.CIFAR10_CLASSES, data.DatasetFormatError
load_dataset, read_cifar = data.load_dataset, data.read_cifar

BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]


def batch_dict(seed: int, n: int = 4) -> dict[bytes, object]:
    """A batch laid out like the official ones: bytes keys, uint8 [N, 3072] data, list labels."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": f"batch {seed}".encode(),
        b"labels": [int(x) for x in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


META = {b"num_cases_per_batch": 10000, b"label_names": [c.encode() for c in CIFAR10_CLASSES]}


def dumps(obj: object) -> bytes:
    # Protocol 3 names numpy's globals with GLOBAL opcodes like the official Python 2 files;
    # protocol 2 under Python 3 would add _codecs.encode calls the real files do not contain.
    return pickle.dumps(obj, protocol=3)


def write_batches(directory: Path) -> dict[str, dict[bytes, object]]:
    directory.mkdir(parents=True)
    batches = {name: batch_dict(i) for i, name in enumerate([*BATCHES, "test_batch"])}
    for name, batch in batches.items():
        (directory / name).write_bytes(dumps(batch))
    (directory / "batches.meta").write_bytes(dumps(META))
    return batches


def expected(batches: list[dict[bytes, object]]) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)
    labels = [label for b in batches for label in b[b"labels"]]
    return torch.from_numpy(data), torch.tensor(labels, dtype=torch.int64)


def make_tarball(directory: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory, arcname="cifar-10-batches-py")


def test_directory_round_trip(tmp_path: Path) -> None:
    batches = write_batches(tmp_path / "cifar-10-batches-py")
    for split, names in (("train", BATCHES), ("test", ["test_batch"])):
        images, labels, classes = read_cifar(tmp_path / "cifar-10-batches-py", split)
        want_images, want_labels = expected([batches[n] for n in names])
        assert images.dtype == torch.uint8 and images.shape == (4 * len(names), 3, 32, 32)
        assert torch.equal(images, want_images) and torch.equal(labels, want_labels)
        assert classes == CIFAR10_CLASSES


def test_tarball_round_trip_without_extracting(tmp_path: Path) -> None:
    batches = write_batches(tmp_path / "src" / "cifar-10-batches-py")
    root = tmp_path / "root"
    root.mkdir()
    make_tarball(tmp_path / "src" / "cifar-10-batches-py", root / "cifar-10-python.tar.gz")
    dataset = load_dataset("cifar10", "train", data_dir=root)
    want_images, want_labels = expected([batches[n] for n in BATCHES])
    assert torch.equal(dataset.images, want_images) and torch.equal(dataset.labels, want_labels)
    assert dataset.source.endswith("cifar-10-python.tar.gz") and not dataset.is_sample
    assert [p.name for p in root.iterdir()] == ["cifar-10-python.tar.gz"]  # nothing extracted


def py2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """Hand-assemble the opcodes Python 2's cPickle writes for a batch (str, not bytes)."""

    def short_str(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b

    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + short_str(b"b")
    array += b"\x87R(K\x01(" + b"".join(b"J" + struct.pack("<i", d) for d in data.shape) + b"t"
    array += b"cnumpy\ndtype\n" + short_str(b"u1") + b"K\x00K\x01\x87R(K\x03" + short_str(b"|")
    array += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
    array += b"T" + struct.pack("<i", data.nbytes) + data.tobytes() + b"tb"
    label_ops = b"](" + b"".join(b"K" + bytes([x]) for x in labels) + b"e"
    return b"\x80\x02}(" + short_str(b"data") + array + short_str(b"labels") + label_ops + b"u."


def test_python2_pickle_with_legacy_numpy_module(tmp_path: Path) -> None:
    data = np.arange(2 * 3072, dtype=np.uint64).astype(np.uint8).reshape(2, 3072)
    directory = tmp_path / "cifar-10-batches-py"
    directory.mkdir()
    (directory / "test_batch").write_bytes(py2_pickle(data, [3, 9]))
    images, labels, classes = read_cifar(directory, "test")
    assert torch.equal(images, torch.from_numpy(data.reshape(2, 3, 32, 32)))
    assert labels.tolist() == [3, 9] and classes == CIFAR10_CLASSES  # no meta: standard order


class Exec:
    """Pickles to a call of builtins.exec with the given source."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __reduce__(self):
        return (exec, (self.source,))


class System:
    """Pickles to a call of os.system."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


@pytest.mark.parametrize("payload", ["exec", "system"])
def test_malicious_pickle_is_refused_and_not_run(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "pwned"
    evil = (
        Exec(f"open({str(marker)!r}, 'w').close()")
        if payload == "exec"
        else System(f"touch {marker}")
    )
    batch = batch_dict(0)
    batch[b"data"] = evil
    directory = tmp_path / "cifar-10-batches-py"
    directory.mkdir()
    (directory / "test_batch").write_bytes(dumps(batch))
    refused = "builtins.exec" if payload == "exec" else r"(posix|os|nt)\.system"
    with pytest.raises(DatasetFormatError, match=r"test_batch.*refused to load global " + refused):
        read_cifar(directory, "test")
    assert not marker.exists()
    # Control: the payload is real, plain pickle would have run it.
    pickle.loads(dumps(batch))
    assert marker.exists()


def test_malicious_pickle_inside_tarball_names_member(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    src = tmp_path / "src"
    write_batches(src)
    (src / "data_batch_3").write_bytes(dumps({b"data": Exec(f"open({str(marker)!r}, 'w')")}))
    archive = tmp_path / "cifar-10-python.tar.gz"
    make_tarball(src, archive)
    member = re.escape(f"{archive}:cifar-10-batches-py/data_batch_3")
    with pytest.raises(DatasetFormatError, match=member + ".*refused to load global builtins.exec"):
        read_cifar(archive, "train")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.update({b"labels": b[b"labels"][:-1]}), "4 images but 3 labels"),
        (lambda b: b.update({b"labels": [0, 1, 10, 2]}), "label 10 out of range"),
        (lambda b: b.update({b"data": b[b"data"][:, :100]}), "must be a uint8 array"),
        (lambda b: b.update({b"data": b[b"data"].astype(np.int32)}), "must be a uint8 array"),
        (lambda b: b.pop(b"labels"), "not a CIFAR-10 batch"),
        (lambda b: b.update({b"labels": ["x"] * 4}), "not a list of integers"),
        (lambda b: b.update({b"labels": [[0], [1, 2], [3], [4]]}), "not a list of integers"),
    ],
)
def test_malformed_batch(tmp_path: Path, mutate, message: str) -> None:
    directory = tmp_path / "cifar-10-batches-py"
    batches = write_batches(directory)
    mutate(batches["test_batch"])
    (directory / "test_batch").write_bytes(dumps(batches["test_batch"]))
    where = re.escape(str(directory / "test_batch"))
    with pytest.raises(DatasetFormatError, match=f"{where}: .*{re.escape(message)}"):
        read_cifar(directory, "test")


@pytest.mark.parametrize("content", [b"not a pickle at all", dumps(batch_dict(0))[:200]])
def test_garbage_or_truncated_pickle(tmp_path: Path, content: bytes) -> None:
    directory = tmp_path / "cifar-10-batches-py"
    write_batches(directory)
    (directory / "data_batch_2").write_bytes(content)
    with pytest.raises(DatasetFormatError, match="data_batch_2: not a valid CIFAR-10 pickle"):
        read_cifar(directory, "train")


def test_missing_batch(tmp_path: Path) -> None:
    directory = tmp_path / "cifar-10-batches-py"
    write_batches(directory)
    (directory / "data_batch_5").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_5"):
        read_cifar(directory, "train")


def test_corrupt_tarball(tmp_path: Path) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 100)
    with pytest.raises(DatasetFormatError, match=re.escape(str(archive))):
        read_cifar(archive, "test")


def test_meta_class_names_are_used(tmp_path: Path) -> None:
    directory = tmp_path / "cifar-10-batches-py"
    write_batches(directory)
    names = [f"c{i}".encode() for i in range(10)]
    (directory / "batches.meta").write_bytes(dumps({b"label_names": names}))
    assert read_cifar(directory, "test")[2] == tuple(f"c{i}" for i in range(10))
    (directory / "batches.meta").write_bytes(dumps({b"label_names": names[:3]}))
    with pytest.raises(DatasetFormatError, match=r"batches\.meta: expected 10 classes"):
        read_cifar(directory, "test")
