"""Tensor-level batching: shuffling, distributed sharding, augmentation and normalisation.

Everything works on whole index tensors and whole batches; there is no per-sample Python.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from mtsnn.data.image_dataset import ImageDataset
from mtsnn.data.specs import AUGMENTATION, NORMALIZATION

CROP_PADDING = 4


def crop_flip(
    images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int
) -> torch.Tensor:
    """Crop each image out of its zero-padded version, then mirror the flagged ones.

    Args:
        images: [B, C, H, W] tensor.
        offsets: int64 [B, 2] (row, column) of each crop's top-left corner in the padded image,
            each in ``0..2 * padding``; ``padding`` for both gives the original image.
        flips: bool [B]; True mirrors that image horizontally.
        padding: zero padding added on every side before cropping.

    Returns:
        [B, C, H, W] tensor, built by one gather with computed indices (the flip is folded into
        the column indices, so it costs nothing extra).
    """
    batch, channels, height, width = images.shape
    device = images.device
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    rows = offsets[:, 0, None] + torch.arange(height, device=device)
    columns = torch.arange(width, device=device).expand(batch, width)
    columns = torch.where(flips[:, None], width - 1 - columns, columns) + offsets[:, 1, None]
    return padded[
        torch.arange(batch, device=device)[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        rows[:, None, :, None],
        columns[:, None, None, :],
    ]


def random_crop_flip(
    images: torch.Tensor,
    generator: torch.Generator,
    padding: int = CROP_PADDING,
    flip: bool = True,
) -> torch.Tensor:
    """Random crop (same size, ``padding`` zero pixels each side) and, with ``flip``, a random
    horizontal flip.

    The random numbers come from ``generator`` (a CPU generator, so results do not depend on the
    device of ``images``): the same generator state always gives the same batch.
    """
    batch = images.shape[0]
    offsets = torch.randint(0, 2 * padding + 1, (batch, 2), generator=generator)
    flips = torch.randint(0, 2, (batch,), generator=generator).bool()
    if not flip:
        flips = torch.zeros_like(flips)
    return crop_flip(images, offsets.to(images.device), flips.to(images.device), padding)


def rotate_scale(images: torch.Tensor, angles: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre by ``angles`` (radians, counter-clockwise) and zoom it
    by ``scales`` (> 1 enlarges), with bilinear sampling; pixels from outside the image are 0.

    Args:
        images: float [B, C, H, W].
        angles, scales: [B], on the device of ``images``.
    """
    _, _, height, width = images.shape
    # affine_grid works in coordinates normalised per axis to [-1, 1]; the rotation is conjugated
    # by the half-sizes so that non-square images rotate without shearing.
    cos, sin = torch.cos(angles) / scales, torch.sin(angles) / scales
    theta = torch.stack(
        [
            torch.stack([cos, -sin * height / width, torch.zeros_like(cos)], 1),
            torch.stack([sin * width / height, cos, torch.zeros_like(cos)], 1),
        ],
        1,
    ).to(images.dtype)
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return torch.nn.functional.grid_sample(
        images, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )


def random_rotate_scale(
    images: torch.Tensor, generator: torch.Generator, rotation: float, scaling: float
) -> torch.Tensor:
    """rotate_scale with angles uniform in +-``rotation`` degrees and scales uniform in
    1 +- ``scaling``, drawn from ``generator`` (CPU) like random_crop_flip."""
    batch = images.shape[0]
    angles = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(rotation)
    scales = 1 + (torch.rand(batch, generator=generator) * 2 - 1) * scaling
    return rotate_scale(images, angles.to(images.device), scales.to(images.device))


def normalization_affine(
    name: str, channels: int, normalize: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), each [1, C, 1, 1] on the CPU, so that ``pixel * scale + shift`` maps uint8
    pixels of dataset ``name`` to [0, 1] and, when ``normalize``, standardises them with
    NORMALIZATION[name]. Training batches and exported models both use it.

    Raises:
        ValueError: no constants for ``name``, or constants for another channel count.
    """
    mean, std = torch.zeros(channels), torch.ones(channels)
    if normalize:
        if name not in NORMALIZATION:
            raise ValueError(
                f"no normalisation constants for dataset {name!r} (known: "
                f"{', '.join(NORMALIZATION)}); pass normalize=False"
            )
        mean = torch.tensor(NORMALIZATION[name][0])
        std = torch.tensor(NORMALIZATION[name][1])
        if mean.numel() != channels:
            raise ValueError(f"{name} constants have {mean.numel()} channels, images {channels}")
    scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
    shift = (-mean / std).view(1, -1, 1, 1)
    return scale, shift


class BatchLoader:
    """Iterate over an ImageDataset in batches of float32 images and int64 labels.

    The whole dataset is moved to ``device`` once; each batch is gathered there with one index
    tensor. Each epoch's order is a permutation drawn from a ``torch.Generator`` seeded with
    ``seed + epoch`` (call set_epoch), identical on every rank. For distributed training, rank
    ``r`` of ``world_size`` takes positions ``r, r + world_size, ...`` of that permutation, padded
    by wrapping around when the dataset size is not divisible (as DistributedSampler does), so the
    shards are disjoint apart from the padding and every rank gets the same number of batches.

    With ``augment``, each batch gets the dataset's random crop/flip (AUGMENTATION), then, when
    ``rotation`` (degrees) or ``scaling`` is non-zero, a random rotation and zoom
    (random_rotate_scale).

    Yields:
        (images float32 [B, C, H, W] in ``memory_format``, labels int64 [B]). Images are scaled
        to [0, 1] and, when ``normalize``, standardised with NORMALIZATION[dataset.name].
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        *,
        shuffle: bool,
        augment: bool,
        rotation: float = 0.0,
        scaling: float = 0.0,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: str | torch.device = "cpu",
        normalize: bool = True,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world {world_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if not 0 <= rotation <= 180 or not 0 <= scaling < 1:
            raise ValueError(
                f"need rotation in [0, 180] degrees and scaling in [0, 1), got {rotation} and "
                f"{scaling}"
            )
        if (rotation or scaling) and not augment:
            raise ValueError("rotation and scaling are augmentations: they need augment=True")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.rotation = rotation
        self.scaling = scaling
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.device = torch.device(device)
        self.memory_format = memory_format
        self.epoch = 0
        self.num_samples = math.ceil(len(dataset) / world_size)
        self._images = dataset.images.to(self.device)
        self._labels = dataset.labels.to(self.device)
        self._scale, self._shift = (
            tensor.to(self.device)
            for tensor in normalization_affine(dataset.name, dataset.images.shape[1], normalize)
        )

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shuffle order (and augmentation draws) the next pass uses."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def __len__(self) -> int:
        """Number of batches per epoch on this rank."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def indices(self) -> torch.Tensor:
        """Return this rank's dataset indices for the current epoch, in iteration order."""
        size = len(self.dataset)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(size, generator=generator)
        else:
            order = torch.arange(size)
        total = self.num_samples * self.world_size
        if total > size:
            order = order.repeat(math.ceil(total / size))[:total]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.indices().to(self.device)
        generator = None
        if self.augment:
            # Differs per (seed, epoch, rank), so ranks do not repeat each other's augmentations.
            state = np.random.SeedSequence([self.seed, self.epoch, self.rank]).generate_state(1)
            generator = torch.Generator().manual_seed(int(state[0]))
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = order[start : start + self.batch_size]
            images = self._images[batch]
            if generator is not None:
                padding, flip = AUGMENTATION.get(self.dataset.name, (CROP_PADDING, True))
                images = random_crop_flip(images, generator, padding, flip)
            images = images.float()
            if generator is not None and (self.rotation or self.scaling):
                # On raw pixel values, so that the zero fill is black before normalisation.
                images = random_rotate_scale(images, generator, self.rotation, self.scaling)
            images = images * self._scale + self._shift
            yield images.contiguous(memory_format=self.memory_format), self._labels[batch]
