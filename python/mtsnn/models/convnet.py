"""Small convolutional SNNs for MNIST and Fashion-MNIST."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from torch import nn

from mtsnn.models.base import SpikingClassifier, conv_bn, spatial_size
from mtsnn.nn import MaxPool2x2, SeqToANN


class ConvNet(SpikingClassifier):
    """Conv blocks, a hidden and an output linear layer: sized for 28x28 images on a CPU.

    Layers (c1, c2, ... = ``channels``, h = ``hidden``)::

        encoder: conv3x3(C -> c1) + BN, maxpool2              once, on [B, C, H, W]
        body:    MTLIF                                        over [T, B, ...]
                 conv3x3(c1 -> c2) + BN, maxpool2, MTLIF      one block per further channel
                 ...
                 flatten, linear(c_last * H/2^n * W/2^n -> h), MTLIF
                 linear(h -> num_classes)

    Pooling comes before each neuron layer, so the neurons (and, in the encoder, the pooling
    itself) run on a quarter of the positions; for the ANN twin this order is exactly
    equivalent, since max pooling commutes with ReLU. With the default (32, 64) an MNIST epoch
    at T=2, batch 128 costs about 70 CPU-seconds; the three-block (48, 96, 192) variant
    ("convnet3") is wider and deeper and costs about 1.8 times as much.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        image_size: int | tuple[int, int] = 28,
        timesteps: int = 2,
        ann: bool = False,
        channels: Sequence[int] = (32, 64),
        hidden: int = 256,
        **neuron_options: Any,
    ) -> None:
        super().__init__(timesteps=timesteps, ann=ann, neuron_options=neuron_options)
        if len(channels) < 1:
            raise ValueError("ConvNet needs at least one conv block")
        downsampling = 2 ** len(channels)
        height, width = spatial_size(image_size, downsampling, "ConvNet")
        self.encoder = nn.Sequential(conv_bn(in_channels, channels[0]), MaxPool2x2())
        layers: list[nn.Module] = [self.neuron()]
        for previous, current in itertools.pairwise(channels):
            layers += [SeqToANN(nn.Sequential(conv_bn(previous, current), MaxPool2x2()))]
            layers += [self.neuron()]
        features = channels[-1] * (height // downsampling) * (width // downsampling)
        layers += [
            nn.Flatten(2),
            SeqToANN(nn.Linear(features, hidden)),
            self.neuron(),
            SeqToANN(nn.Linear(hidden, num_classes)),
        ]
        self.body = nn.Sequential(*layers)
