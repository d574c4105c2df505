"""Models by name: build_model("convnet" | "convnet3" | "vgg11" | "vgg16" | "resnet19", ...)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from mtsnn.models.base import SpikingClassifier
from mtsnn.models.convnet import ConvNet
from mtsnn.models.resnet import ResNet19
from mtsnn.models.vgg import VGG

MODELS: dict[str, Callable[..., SpikingClassifier]] = {
    "convnet": ConvNet,
    "convnet3": functools.partial(ConvNet, channels=(48, 96, 192)),
    "vgg11": functools.partial(VGG, config="vgg11"),
    "vgg16": functools.partial(VGG, config="vgg16"),
    "resnet19": ResNet19,
}


def build_model(
    name: str,
    *,
    in_channels: int,
    num_classes: int,
    image_size: int | tuple[int, int],
    timesteps: int = 2,
    ann: bool = False,
    **neuron_options: Any,
) -> SpikingClassifier:
    """Build model ``name`` for images [C, H, W] = [in_channels, *image_size].

    Args:
        name: a key of MODELS.
        in_channels, num_classes, image_size: the dataset's image channels, classes and size.
        timesteps: T (1 for the ANN twin, whatever is passed).
        ann: build the ReLU twin (same layers, ReLU for MTLIF, T = 1).
        neuron_options: keyword arguments of every MTLIF layer: fields of
            mtsnn.options.NeuronOptions by name, and learn_decay.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or bad options.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](
        in_channels=in_channels,
        num_classes=num_classes,
        image_size=image_size,
        timesteps=timesteps,
        ann=ann,
        **neuron_options,
    )


def count_parameters(model: SpikingClassifier) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
