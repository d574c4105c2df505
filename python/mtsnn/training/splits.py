"""The splits a run uses: training and test (cut to --limit-train / --limit-test) and the
validation images held out of the training set (--validation)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch

from mtsnn.data import ImageDataset, load_dataset
from mtsnn.training import distributed
from mtsnn.training.errors import ConfigError

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


@dataclasses.dataclass(frozen=True)
class Splits:
    """The images of a run: training, held-out validation (None without) and test."""

    train: ImageDataset
    validation: ImageDataset | None
    test: ImageDataset

    def info(self) -> dict[str, Any]:
        """What a checkpoint and a summary record of the data (names and sizes)."""
        return {
            "name": self.train.name,
            "source": self.train.source,
            "is_sample": self.train.is_sample or self.test.is_sample,
            "train_images": len(self.train),
            "validation_images": len(self.validation) if self.validation else 0,
            "test_images": len(self.test),
        }

    def check_same_as(self, recorded: dict[str, Any]) -> None:
        """Raise ConfigError unless these are the images a checkpoint recorded."""
        found = self.info()
        # Checkpoints from before validation splits do not record a validation count.
        recorded = {"validation_images": 0, **recorded}
        keys = ("train_images", "validation_images", "test_images", "is_sample")
        if any(recorded.get(key) != found[key] for key in keys):
            raise ConfigError(
                f"the checkpoint was trained on {recorded.get('train_images')} / "
                f"{recorded.get('test_images')} images from {recorded.get('source')}, but "
                f"{found['train_images']} / {found['test_images']} were found at "
                f"{found['source']}; pass the run's --data-dir"
            )


def load_splits(
    config: Any,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    context: distributed.DistContext,
) -> Splits:
    """The splits of a run with TrainConfig ``config``. With ``download`` in a distributed run,
    rank 0 downloads while the others wait, then read what it fetched.

    Raises:
        ConfigError: --validation would leave no training image.
    """

    def load() -> Splits:
        train_set = load_split(config.dataset, "train", config.limit_train, data_dir, download)
        test_set = load_split(config.dataset, "test", config.limit_test, data_dir, download)
        if not config.validation:
            return Splits(train_set, None, test_set)
        if config.validation >= len(train_set):
            raise ConfigError(
                f"--validation {config.validation} leaves no training image: the training set "
                f"has {len(train_set)} images"
            )
        return Splits(*split_validation(train_set, config.validation), test_set)

    if not (download and context.is_distributed):
        return load()
    data = load() if context.is_main else None
    distributed.barrier(context)
    return data if data is not None else load()
