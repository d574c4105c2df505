"""Fixed facts about the supported datasets: names, splits, classes, files, normalisation."""

from __future__ import annotations

DATASET_NAMES: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
SPLITS: tuple[str, ...] = ("train", "test")

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

CLASSES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": CIFAR10_CLASSES,
}

# Per-channel (mean, std) of the training set in [0, 1] units, as used by the reference pipelines.
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}

# Image shape [C, H, W] per dataset: what a model built for it takes (e.g. an exported one).
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}

# Training augmentation per dataset: (zero padding of the random crop, random horizontal flip).
# Digits are not mirror-symmetric, so MNIST is only shifted; clothes and CIFAR-10 objects are.
AUGMENTATION: dict[str, tuple[int, bool]] = {
    "mnist": (2, False),
    "fashion-mnist": (2, True),
    "cifar10": (4, True),
}

# Official IDX file names (without ".gz") of (images, labels) per split; MNIST and Fashion-MNIST
# share them.
IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

CIFAR_BATCH_DIR = "cifar-10-batches-py"
CIFAR_TARBALL = "cifar-10-python.tar.gz"
CIFAR_BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
CIFAR_META = "batches.meta"

# Sub-directories of a data root that may hold a dataset, besides the root itself: its own name
# first, then the layouts other tools leave behind (torchvision's "<Name>/raw", the JPEG re-encoding
# of CIFAR-10 shipped as "cifar10-jpeg").
SUBDIRS: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
    "cifar10": ("cifar10", "cifar10-jpeg"),
}


def check_name(name: str) -> None:
    """Raise ValueError, listing the valid choices, for an unknown dataset name."""
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")


def check_split(split: str) -> None:
    """Raise ValueError, listing the valid choices, for an unknown split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
