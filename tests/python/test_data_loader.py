"""BatchLoader: coverage, sharding, epochs, normalisation and vectorised augmentation."""

from __future__ import annotations

import pytest
import torch
from test_data_support import mtsnn_data as data

BatchLoader, ImageDataset = data.BatchLoader, data.ImageDataset


def dataset(n: int = 10, name: str = "cifar10", channels: int = 3, size: int = 8) -> ImageDataset:
    """Image i holds distinct random pixels and label i, so batches reveal their indices."""
    images = torch.randint(
        0, 256, (n, channels, size, size), generator=torch.Generator().manual_seed(0)
    )
    classes = tuple(str(i) for i in range(n))
    return ImageDataset(images.to(torch.uint8), torch.arange(n), classes, name, "train", "test")


def epoch_indices(loader: BatchLoader) -> list[int]:
    return [i for _, labels in loader for i in labels.tolist()]


@pytest.mark.parametrize(
    ("n", "batch", "drop_last", "batches"), [(10, 3, False, 4), (10, 3, True, 3), (9, 3, True, 3)]
)
def test_every_sample_once_per_epoch(n: int, batch: int, drop_last: bool, batches: int) -> None:
    loader = BatchLoader(dataset(n), batch, shuffle=True, augment=False, drop_last=drop_last)
    assert len(loader) == batches and len(list(loader)) == batches
    seen = epoch_indices(loader)
    if drop_last:
        assert len(seen) == batches * batch and len(set(seen)) == len(seen)
    else:
        assert sorted(seen) == list(range(n))
    images, labels = next(iter(loader))
    assert images.dtype == torch.float32 and images.shape == (batch, 3, 8, 8)
    assert labels.dtype == torch.int64


def test_no_shuffle_keeps_order() -> None:
    loader = BatchLoader(dataset(), 4, shuffle=False, augment=False)
    assert epoch_indices(loader) == list(range(10))


@pytest.mark.parametrize(("n", "world"), [(10, 2), (11, 2), (7, 3), (2, 3)])
def test_shards_are_disjoint_and_equal(n: int, world: int) -> None:
    shards = []
    for rank in range(world):
        loader = BatchLoader(
            dataset(n), 2, shuffle=True, augment=False, rank=rank, world_size=world, seed=5
        )
        loader.set_epoch(3)
        shards.append(epoch_indices(loader))
        assert len(loader) == len(list(loader))
    padded = -(-n // world) * world
    assert all(len(shard) == padded // world for shard in shards)
    combined = [i for shard in shards for i in shard]
    assert set(combined) == set(range(n))
    assert len(combined) - len(set(combined)) == padded - n  # overlap only from wrap-around padding
    if n % world == 0:
        assert len(set(shards[0]) & set(shards[1])) == 0


def test_set_epoch_changes_order_deterministically() -> None:
    loader = BatchLoader(dataset(50), 8, shuffle=True, augment=False, seed=1)
    twin = BatchLoader(dataset(50), 8, shuffle=True, augment=False, seed=1)
    first = epoch_indices(loader)
    assert epoch_indices(loader) == first == epoch_indices(twin)  # no implicit advance
    loader.set_epoch(1)
    second = epoch_indices(loader)
    assert second != first and sorted(second) == sorted(first)
    twin.set_epoch(1)
    assert epoch_indices(twin) == second
    expected = torch.randperm(50, generator=torch.Generator().manual_seed(1 + 1)).tolist()
    assert second == expected  # permutation from a generator seeded with seed + epoch


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_normalisation(name: str) -> None:
    channels = 3 if name == "cifar10" else 1
    ds = dataset(4, name, channels)
    images, _ = next(iter(BatchLoader(ds, 4, shuffle=False, augment=False)))
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in data.NORMALIZATION[name])
    torch.testing.assert_close(images, (ds.images.float() / 255 - mean) / std)
    raw, _ = next(iter(BatchLoader(ds, 4, shuffle=False, augment=False, normalize=False)))
    torch.testing.assert_close(raw, ds.images.float() / 255)


def test_normalisation_constants() -> None:
    assert data.NORMALIZATION["mnist"] == ((0.1307,), (0.3081,))
    assert data.NORMALIZATION["fashion-mnist"] == ((0.2860,), (0.3530,))
    assert data.NORMALIZATION["cifar10"] == ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


def test_crop_flip_matches_torch_flip_on_fixed_mask() -> None:
    images = dataset(6).images
    flips = torch.tensor([True, False, True, True, False, False])
    centred = torch.full((6, 2), 4)
    out = data.crop_flip(images, centred, flips, padding=4)
    expected = torch.where(flips[:, None, None, None], torch.flip(images, dims=[3]), images)
    assert torch.equal(out, expected)
    assert not torch.equal(out, images)


def test_crop_flip_matches_reference() -> None:
    images = dataset(6).images
    gen = torch.Generator().manual_seed(3)
    offsets = torch.randint(0, 9, (6, 2), generator=gen)
    flips = torch.randint(0, 2, (6,), generator=gen).bool()
    out = data.crop_flip(images, offsets, flips, padding=4)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i in range(6):
        row, col = offsets[i].tolist()
        crop = padded[i, :, row : row + 8, col : col + 8]
        assert torch.equal(out[i], crop.flip(2) if flips[i] else crop)
    corner = data.crop_flip(
        images, torch.zeros(6, 2, dtype=torch.long), torch.zeros(6, dtype=torch.bool), 4
    )
    assert torch.equal(corner[:, :, 4:, 4:], images[:, :, :4, :4])
    assert int(corner[:, :, :4].abs().sum()) == 0 and int(corner[:, :, :, :4].abs().sum()) == 0


def test_augmentation_is_deterministic_and_varies() -> None:
    def run(epoch: int, rank: int = 0) -> list[torch.Tensor]:
        loader = BatchLoader(
            dataset(16), 8, shuffle=True, augment=True, seed=7, rank=rank, world_size=2
        )
        loader.set_epoch(epoch)
        return [images for images, _ in loader]

    first = run(0)
    assert all(b.shape == (8, 3, 8, 8) and b.dtype == torch.float32 for b in first)
    assert all(torch.equal(a, b) for a, b in zip(first, run(0), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, run(1), strict=True))
    plain = BatchLoader(dataset(16), 8, shuffle=True, augment=False, seed=7, world_size=2)
    assert not all(torch.equal(a, b) for a, b in zip(first, [x for x, _ in plain], strict=True))


def test_random_crop_flip_uses_generator() -> None:
    images = dataset(32).images
    a = data.random_crop_flip(images, torch.Generator().manual_seed(0))
    b = data.random_crop_flip(images, torch.Generator().manual_seed(0))
    c = data.random_crop_flip(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == images.shape


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0}, {"rank": 2, "world_size": 2}, {"world_size": 0}, {"seed": -1}],
)
def test_invalid_arguments(kwargs: dict) -> None:
    args = {"batch_size": 2, "shuffle": True, "augment": False, **kwargs}
    with pytest.raises(ValueError):
        BatchLoader(dataset(), **args)


def test_unknown_dataset_needs_normalize_false() -> None:
    custom = dataset(4, name="custom")
    with pytest.raises(ValueError, match="no normalisation constants for dataset 'custom'"):
        BatchLoader(custom, 2, shuffle=False, augment=False)
    assert len(BatchLoader(custom, 2, shuffle=False, augment=False, normalize=False)) == 2


def dot_image(height: int, width: int, row: int, column: int) -> torch.Tensor:
    """A float [1, 1, H, W] image, black but for one white pixel at (row, column)."""
    image = torch.zeros(1, 1, height, width)
    image[0, 0, row, column] = 255.0
    return image


def brightest(image: torch.Tensor) -> tuple[int, int]:
    index = int(image.flatten().argmax())
    return divmod(index, image.shape[-1])


def test_rotate_scale_without_change_is_the_identity() -> None:
    images = dataset(4).images.float()
    out = data.rotate_scale(images, torch.zeros(4), torch.ones(4))
    torch.testing.assert_close(out, images, atol=1e-3, rtol=0)


def test_quarter_turn_is_counter_clockwise_like_rot90() -> None:
    images = dataset(4).images.float()
    out = data.rotate_scale(images, torch.full((4,), torch.pi / 2), torch.ones(4))
    torch.testing.assert_close(out, torch.rot90(images, 1, (2, 3)), atol=1e-3, rtol=0)


def test_rotation_of_a_non_square_image_keeps_distances() -> None:
    # 9 x 15 image, centre (4, 7); a dot 3 columns right of it goes 3 rows up, not 3 * 9/15.
    image = dot_image(9, 15, 4, 10)
    quarter = data.rotate_scale(image, torch.tensor([torch.pi / 2]), torch.ones(1))
    assert brightest(quarter) == (1, 7)
    assert float(quarter.max()) == pytest.approx(255.0, abs=1e-2)
    half = data.rotate_scale(image, torch.tensor([torch.pi]), torch.ones(1))
    assert brightest(half) == (4, 4)


def test_scaling_zooms_about_the_centre() -> None:
    image = dot_image(9, 15, 4, 9)  # 2 columns right of the centre
    assert brightest(data.rotate_scale(image, torch.zeros(1), torch.tensor([2.0]))) == (4, 11)
    shrunk = data.rotate_scale(image, torch.zeros(1), torch.tensor([0.5]))
    assert brightest(shrunk) == (4, 8)
    assert float(shrunk.sum()) == pytest.approx(255.0, abs=1e-2)  # sampled: exactly one hit


def test_loader_rotation_is_deterministic_and_adds_to_the_crop() -> None:
    def first_batch(**options: float) -> torch.Tensor:
        loader = BatchLoader(dataset(8, "mnist", 1, 12), 8, shuffle=False, augment=True, **options)
        return next(iter(loader))[0]

    cropped = first_batch()
    assert torch.equal(cropped, first_batch(rotation=0.0, scaling=0.0))  # no extra draws
    rotated = first_batch(rotation=30.0, scaling=0.2)
    assert torch.equal(rotated, first_batch(rotation=30.0, scaling=0.2))
    assert not torch.equal(rotated, cropped)
    assert not torch.equal(rotated, first_batch(rotation=30.0))


def test_random_rotate_scale_stays_within_its_ranges() -> None:
    image = dot_image(31, 31, 15, 25).expand(64, 1, 31, 31)
    out = data.random_rotate_scale(image, torch.Generator().manual_seed(0), 20.0, 0.1)
    for sample in out:
        row, column = brightest(sample)
        radius = ((row - 15) ** 2 + (column - 15) ** 2) ** 0.5
        angle = torch.atan2(torch.tensor(15.0 - row), torch.tensor(column - 15.0))
        assert 9 - 1 <= radius <= 11 + 1
        assert abs(float(angle)) <= torch.pi / 9 + 0.1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rotation": 181.0, "augment": True}, "rotation in"),
        ({"scaling": 1.0, "augment": True}, "scaling in"),
        ({"rotation": 10.0, "augment": False}, "need augment=True"),
    ],
)
def test_invalid_rotation_and_scaling(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BatchLoader(dataset(), 2, shuffle=False, **options)
