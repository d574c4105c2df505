"""Spiking ResNet-19, the standard low-latency CIFAR-10 benchmark model (Zheng et al., 2021)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mtsnn.models.base import GlobalAvgPool, SpikingClassifier, conv_bn, spatial_size
from mtsnn.nn import SeqToANN

# (output channels, blocks, stride of the first block) of each stage.
RESNET19_STAGES: tuple[tuple[int, int, int], ...] = ((128, 3, 1), (256, 3, 2), (512, 2, 2))


class SpikingBasicBlock(nn.Module):
    """Residual block: neuron(BN(conv(neuron(BN(conv(x))))) + shortcut(x)) over [T, B, ...].

    The shortcut is the identity, or conv1x1 + BN when the shape changes; the sum is taken on
    membrane currents, before the last neuron layer, so the block outputs spikes.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, neuron: Callable[[], nn.Module]
    ) -> None:
        super().__init__()
        self.conv1 = SeqToANN(conv_bn(in_channels, out_channels, stride=stride))
        self.neuron1 = neuron()
        self.conv2 = SeqToANN(conv_bn(out_channels, out_channels))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = SeqToANN(
                conv_bn(in_channels, out_channels, kernel_size=1, stride=stride)
            )
        self.neuron2 = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to x of shape [T, B, C, H, W]."""
        return self.neuron2(self.conv2(self.neuron1(self.conv1(x))) + self.shortcut(x))


class ResNet19(SpikingClassifier):
    """Spiking ResNet-19 for 32x32 images.

    Layers: conv3x3(C -> 128) + BN (the encoder, once), MTLIF; three stages of basic blocks
    (3 x 128, 3 x 256 stride 2, 2 x 512 stride 2); global average pooling; linear(512 -> 256),
    MTLIF; linear(256 -> num_classes). 19 weight layers, about 12.7 M parameters.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        *,
        image_size: int | tuple[int, int] = 32,
        timesteps: int = 2,
        ann: bool = False,
        **neuron_options: Any,
    ) -> None:
        super().__init__(timesteps=timesteps, ann=ann, neuron_options=neuron_options)
        spatial_size(image_size, 4, "ResNet19")
        channels = RESNET19_STAGES[0][0]
        self.encoder = conv_bn(in_channels, channels)
        layers: list[nn.Module] = [self.neuron()]
        for out_channels, blocks, stride in RESNET19_STAGES:
            for index in range(blocks):
                block_stride = stride if index == 0 else 1
                layers.append(SpikingBasicBlock(channels, out_channels, block_stride, self.neuron))
                channels = out_channels
        self.body = nn.Sequential(
            *layers,
            GlobalAvgPool(),
            SeqToANN(nn.Linear(channels, 256)),
            self.neuron(),
            SeqToANN(nn.Linear(256, num_classes)),
        )
