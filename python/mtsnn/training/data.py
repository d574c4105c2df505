"""The two splits a run trains and tests on, cut to --limit-train / --limit-test."""

from __future__ import annotations

import dataclasses
import os

from mtsnn.data import ImageDataset, load_dataset


def first(dataset: ImageDataset, limit: int | None) -> ImageDataset:
    """The first ``limit`` images of ``dataset`` (all of them when None)."""
    if limit is None or limit >= len(dataset):
        return dataset
    return dataclasses.replace(
        dataset, images=dataset.images[:limit], labels=dataset.labels[:limit]
    )


def load_split(
    name: str,
    split: str,
    limit: int | None,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
) -> ImageDataset:
    """Load ``split`` of dataset ``name`` (see mtsnn.data.load_dataset); keep ``limit`` images."""
    return first(load_dataset(name, split, data_dir=data_dir, download=download), limit)
