"""The in-memory dataset container shared by every reader."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from mtsnn.data.errors import DatasetFormatError


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """One split of an image classification dataset, held whole in memory.

    Attributes:
        images: uint8 tensor [N, C, H, W].
        labels: int64 tensor [N], each in ``range(len(classes))``.
        classes: class names, indexed by label.
        name: dataset name (e.g. ``"mnist"``).
        split: ``"train"``, ``"test"`` or ``"validation"`` (held out of "train").
        source: human-readable origin (a path, an archive, "shipped sample", ...).
        is_sample: True when this is the small shipped sample, not the full dataset.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str
    split: str
    source: str
    is_sample: bool = False

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be a uint8 tensor [N, C, H, W], got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.images.shape[1] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got {self.images.shape[1]}")
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise ValueError(
                f"labels must be an int64 tensor [N], got {self.labels.dtype} "
                f"{tuple(self.labels.shape)}"
            )
        if self.labels.shape[0] != self.images.shape[0]:
            raise ValueError(f"{self.images.shape[0]} images but {self.labels.shape[0]} labels")
        if not self.classes:
            raise ValueError("classes must not be empty")
        check_labels(self.labels, len(self.classes), self.source)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def check_labels(labels: torch.Tensor, num_classes: int, source: str | os.PathLike[str]) -> None:
    """Raise DatasetFormatError naming ``source`` if a label is outside ``[0, num_classes)``."""
    if labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise DatasetFormatError(
            source, f"label {bad} out of range 0..{num_classes - 1} ({num_classes} classes)"
        )
