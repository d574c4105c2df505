"""The two splits a run trains and tests on, cut to --limit-train / --limit-test."""

from __future__ import annotations

import dataclasses
import os

import torch

from mtsnn.data import ImageDataset, load_dataset


def subset(dataset: ImageDataset, limit: int | None) -> ImageDataset:
    """``limit`` images of ``dataset`` (all of them when None), in the dataset's order.

    The images are drawn uniformly with a fixed seed rather than taken from the front, because
    some layouts (image folders) store the classes one after another: the first N images could be
    a single class.
    """
    if limit is None or limit >= len(dataset):
        return dataset
    chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:limit]
    chosen = chosen.sort().values
    return dataclasses.replace(
        dataset, images=dataset.images[chosen], labels=dataset.labels[chosen]
    )


def load_split(
    name: str,
    split: str,
    limit: int | None,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
) -> ImageDataset:
    """Load ``split`` of dataset ``name`` (see mtsnn.data.load_dataset); keep ``limit`` images."""
    return subset(load_dataset(name, split, data_dir=data_dir, download=download), limit)
