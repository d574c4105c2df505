"""ImageDataset validates what it holds."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_data_support import mtsnn_data as data

ImageDataset = data.ImageDataset


def make(**overrides) -> ImageDataset:
    fields = {
        "images": torch.zeros(3, 1, 4, 4, dtype=torch.uint8),
        "labels": torch.tensor([0, 1, 1]),
        "classes": ("a", "b"),
        "name": "mnist",
        "split": "train",
        "source": "here",
        "is_sample": False,
    }
    return ImageDataset(**{**fields, **overrides})


def test_valid_and_frozen() -> None:
    dataset = make()
    assert len(dataset) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        dataset.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"images": torch.zeros(3, 1, 4, 4)}, "uint8"),
        ({"images": torch.zeros(3, 4, 4, dtype=torch.uint8)}, r"\[N, C, H, W\]"),
        ({"images": torch.zeros(3, 2, 4, 4, dtype=torch.uint8)}, "1 or 3 channels"),
        ({"labels": torch.tensor([0, 1, 1], dtype=torch.int32)}, "int64"),
        ({"labels": torch.tensor([0, 1])}, "3 images but 2 labels"),
        ({"labels": torch.tensor([0, 2, 1])}, "here: label 2 out of range 0..1"),
        ({"classes": ()}, "classes must not be empty"),
    ],
)
def test_invalid(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**overrides)
