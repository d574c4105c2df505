"""The splits a run uses: training and test (cut to --limit-train / --limit-test) and the
validation images held out of the training set (--validation)."""

from __future__ import annotations

import dataclasses
import os

import torch

from mtsnn.data import ImageDataset, load_dataset

# Seeds of the fixed draws below: independent of the run's --seed, so that runs differing only in
# their seed or recipe see the same images.
_SUBSET_SEED = 0
_VALIDATION_SEED = 1


def _fixed_draw(size: int, count: int, seed: int) -> torch.Tensor:
    """A sorted boolean mask of ``count`` out of ``size`` positions, drawn uniformly."""
    chosen = torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:count]
    mask = torch.zeros(size, dtype=torch.bool)
    mask[chosen] = True
    return mask


def _select(dataset: ImageDataset, mask: torch.Tensor) -> ImageDataset:
    return dataclasses.replace(dataset, images=dataset.images[mask], labels=dataset.labels[mask])


def subset(dataset: ImageDataset, limit: int | None) -> ImageDataset:
    """``limit`` images of ``dataset`` (all of them when None), in the dataset's order.

    The images are drawn uniformly with a fixed seed rather than taken from the front, because
    some layouts (image folders) store the classes one after another: the first N images could be
    a single class.
    """
    if limit is None or limit >= len(dataset):
        return dataset
    return _select(dataset, _fixed_draw(len(dataset), limit, _SUBSET_SEED))


def split_validation(dataset: ImageDataset, count: int) -> tuple[ImageDataset, ImageDataset]:
    """Hold ``count`` images out of ``dataset``: return (the rest, the held-out images).

    The held-out images are drawn uniformly with a fixed seed, so they depend only on the
    dataset and ``count``; both parts keep the dataset's order. The held-out part's ``split`` is
    "validation".

    Raises:
        ValueError: ``count`` is negative or leaves no training image.
    """
    if not 0 <= count < len(dataset):
        raise ValueError(
            f"cannot hold {count} validation images out of {len(dataset)} training images"
        )
    held_out = _fixed_draw(len(dataset), count, _VALIDATION_SEED)
    validation = dataclasses.replace(_select(dataset, held_out), split="validation")
    return _select(dataset, ~held_out), validation


def load_split(
    name: str,
    split: str,
    limit: int | None,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
) -> ImageDataset:
    """Load ``split`` of dataset ``name`` (see mtsnn.data.load_dataset); keep ``limit`` images."""
    return subset(load_dataset(name, split, data_dir=data_dir, download=download), limit)
