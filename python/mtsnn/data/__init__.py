"""Datasets for mtsnn: MNIST, Fashion-MNIST and CIFAR-10 as in-memory tensors, plus batching.

This package depends only on torch, numpy and the standard library (Pillow for image folders,
safetensors for the decoded-image cache, both imported when needed).
"""

from mtsnn.data.cache import datasets_cache_dir, user_cache_dir
from mtsnn.data.cifar import RestrictedUnpickler, read_cifar
from mtsnn.data.discovery import (
    SYSTEM_DATA_DIRS,
    Located,
    data_roots,
    locate,
    resolve_data_dir,
    search_dirs,
)
from mtsnn.data.download import (
    DOWNLOADS,
    ChecksumMismatchError,
    RemoteFile,
    download_dataset,
    fetch_url,
)
from mtsnn.data.errors import DatasetFormatError
from mtsnn.data.idx import idx_files, read_idx, read_idx_pair
from mtsnn.data.image_dataset import ImageDataset
from mtsnn.data.image_folder import IMAGE_EXTENSIONS, class_order, read_image_folder
from mtsnn.data.loader import (
    BatchLoader,
    crop_flip,
    normalization_affine,
    random_crop_flip,
    random_rotate_scale,
    rotate_scale,
)
from mtsnn.data.loading import SAMPLE_DIR, load_dataset, load_sample, not_found_message
from mtsnn.data.specs import (
    AUGMENTATION,
    CIFAR10_CLASSES,
    CLASSES,
    DATASET_NAMES,
    IMAGE_SHAPES,
    NORMALIZATION,
    SPLITS,
)

__all__ = [
    "AUGMENTATION",
    "CIFAR10_CLASSES",
    "CLASSES",
    "DATASET_NAMES",
    "DOWNLOADS",
    "IMAGE_EXTENSIONS",
    "IMAGE_SHAPES",
    "NORMALIZATION",
    "SAMPLE_DIR",
    "SPLITS",
    "SYSTEM_DATA_DIRS",
    "BatchLoader",
    "ChecksumMismatchError",
    "DatasetFormatError",
    "ImageDataset",
    "Located",
    "RemoteFile",
    "RestrictedUnpickler",
    "class_order",
    "crop_flip",
    "data_roots",
    "datasets_cache_dir",
    "download_dataset",
    "fetch_url",
    "idx_files",
    "load_dataset",
    "load_sample",
    "locate",
    "normalization_affine",
    "not_found_message",
    "random_crop_flip",
    "random_rotate_scale",
    "read_cifar",
    "read_idx",
    "read_idx_pair",
    "read_image_folder",
    "resolve_data_dir",
    "rotate_scale",
    "search_dirs",
    "user_cache_dir",
]
