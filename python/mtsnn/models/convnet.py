"""A small convolutional SNN for MNIST and Fashion-MNIST."""

from __future__ import annotations

from typing import Any

from torch import nn

from mtsnn.models.base import SpikingClassifier, conv_bn, spatial_size
from mtsnn.nn import SeqToANN


class ConvNet(SpikingClassifier):
    """Two conv blocks, a hidden and an output linear layer: sized for 28x28 digits on a CPU.

    Layers (c1, c2 = ``channels``, h = ``hidden``)::

        encoder: conv3x3(C -> c1) + BN, maxpool2              once, on [B, C, H, W]
        body:    MTLIF                                        over [T, B, ...]
                 conv3x3(c1 -> c2) + BN, maxpool2, MTLIF
                 flatten, linear(c2 * H/4 * W/4 -> h), MTLIF
                 linear(h -> num_classes)

    Pooling comes before each neuron layer, so the neurons (and, in the encoder, the pooling
    itself) run on a quarter of the positions; for the ANN twin this order is exactly
    equivalent, since max pooling commutes with ReLU. On a 2-core CPU an MNIST epoch at T=2,
    batch 128 costs about 70 CPU-seconds on one core.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        image_size: int | tuple[int, int] = 28,
        timesteps: int = 2,
        ann: bool = False,
        channels: tuple[int, int] = (32, 64),
        hidden: int = 256,
        **neuron_options: Any,
    ) -> None:
        super().__init__(timesteps=timesteps, ann=ann, neuron_options=neuron_options)
        height, width = spatial_size(image_size, 4, "ConvNet")
        c1, c2 = channels
        self.encoder = nn.Sequential(conv_bn(in_channels, c1), nn.MaxPool2d(2))
        self.body = nn.Sequential(
            self.neuron(),
            SeqToANN(nn.Sequential(conv_bn(c1, c2), nn.MaxPool2d(2))),
            self.neuron(),
            nn.Flatten(2),
            SeqToANN(nn.Linear(c2 * (height // 4) * (width // 4), hidden)),
            self.neuron(),
            SeqToANN(nn.Linear(hidden, num_classes)),
        )
