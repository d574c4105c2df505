"""Downloading with the network replaced by local bytes: verified, cached, atomic."""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from test_data_support import idx_bytes, isolate
from test_data_support import mtsnn_data as data

download = data.download  # the module (the function is download_dataset)


@pytest.fixture(autouse=True)
def cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


def fake_mnist() -> dict[str, bytes]:
    """Served bytes per official file name: small but valid gzipped IDX files."""
    rng = np.random.default_rng(1)
    files = {}
    for n, (images, labels) in zip((6, 4), data.specs.IDX_FILES.values(), strict=True):
        files[f"{images}.gz"] = gzip.compress(idx_bytes(rng.integers(0, 256, (n, 28, 28))))
        files[f"{labels}.gz"] = gzip.compress(idx_bytes(np.arange(n) % 10))
    return files


@dataclass
class FakeServer:
    """Stands in for fetch_url: serves ``files`` by the URL's last component, logs fetches."""

    files: dict[str, bytes]
    fetched: list[str] = field(default_factory=list)

    def fetch(self, url: str, write) -> None:
        self.fetched.append(url)
        body = self.files[url.rsplit("/", 1)[1]]
        write(body[:100])  # in chunks, like the real stream
        write(body[100:])


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """Serve fake_mnist() for MNIST's official URLs, with the checksums made to match it."""
    fake = FakeServer(fake_mnist())
    remotes = tuple(
        download.RemoteFile(r.url, r.filename, hashlib.md5(fake.files[r.filename]).hexdigest())
        for r in download.DOWNLOADS["mnist"]
    )
    monkeypatch.setitem(download.DOWNLOADS, "mnist", remotes)
    monkeypatch.setattr(download, "fetch_url", fake.fetch)
    return fake


def test_official_table() -> None:
    mnist = {r.filename: r for r in download.DOWNLOADS["mnist"]}
    assert mnist["train-images-idx3-ubyte.gz"].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert mnist["t10k-labels-idx1-ubyte.gz"].url == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"
    )
    fashion = {r.filename: r.md5 for r in download.DOWNLOADS["fashion-mnist"]}
    assert fashion["t10k-images-idx3-ubyte.gz"] == "bef4ecab320f06d8554ea6380940ec79"
    (cifar,) = download.DOWNLOADS["cifar10"]
    assert cifar.url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert cifar.md5 == "c58f30108f718f92721af3b95e74349a"


def test_download_is_cached_and_loaded(server: FakeServer, cache_dir: Path) -> None:
    dataset = data.load_dataset("mnist", "test", download=True, allow_sample=False)
    target = cache_dir / "datasets" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(server.files)
    assert len(server.fetched) == 4 and not dataset.is_sample and len(dataset) == 4
    pixels = gzip.decompress(server.files["t10k-images-idx3-ubyte.gz"])[16:]
    assert dataset.images.flatten().tolist() == list(pixels)
    data.load_dataset("mnist", "train", download=True, allow_sample=False)
    assert len(server.fetched) == 4  # found in the cache: nothing fetched again


def test_bad_checksum_raises_and_leaves_nothing(server: FakeServer, cache_dir: Path) -> None:
    server.files["train-labels-idx1-ubyte.gz"] = b"corrupted"
    with pytest.raises(download.ChecksumMismatchError, match=r"train-labels-idx1-ubyte\.gz: md5"):
        data.load_dataset("mnist", "train", download=True)
    target = cache_dir / "datasets" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == ["train-images-idx3-ubyte.gz"]


def test_network_failure_says_where_to_put_the_file(cache_dir: Path, monkeypatch) -> None:
    def offline(url: str, write) -> None:
        write(b"partial")
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(download, "fetch_url", offline)
    target = cache_dir / "datasets" / "cifar10" / "cifar-10-python.tar.gz"
    with pytest.raises(OSError, match=f"cifar-10-python.tar.gz.*save it as {target}"):
        data.download_dataset("cifar10")
    assert list(target.parent.iterdir()) == []
