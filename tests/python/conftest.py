"""Shared fixtures: the devices to test on, and a fixed seed per test."""

from __future__ import annotations

import os

import pytest
import torch

import mtsnn


def _devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


def pytest_sessionstart(session: pytest.Session) -> None:
    # Testing without the kernels must fail loudly, not skip.
    if not mtsnn.extension_available():
        raise pytest.UsageError("mtsnn._C is not built; run `pip install --no-build-isolation .`")
    if os.environ.get("MTSNN_REQUIRE_CUDA") == "1":
        assert torch.cuda.is_available(), "MTSNN_REQUIRE_CUDA=1 but no CUDA device is visible"
        assert mtsnn.built_with_cuda(), "MTSNN_REQUIRE_CUDA=1 but mtsnn was built without CUDA"


@pytest.fixture(params=_devices())
def device(request: pytest.FixtureRequest) -> str:
    """Every device the tests can run on here."""
    if request.param == "cuda" and not mtsnn.built_with_cuda():
        pytest.fail("a CUDA device is visible but mtsnn was built without CUDA kernels")
    return request.param


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(1234)
