"""VGG-style SNNs for CIFAR-10."""

from __future__ import annotations

from typing import Any

from torch import nn

from mtsnn.models.base import GlobalAvgPool, SpikingClassifier, conv_bn, spatial_size
from mtsnn.nn import MaxPool2x2, SeqToANN

# Output channels of each 3x3 conv; "M" is a 2x2 max pool after the conv before it. The last
# stage ends in global average pooling instead of a fifth pool, so 28x28 inputs work too.
VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512),
}


class VGG(SpikingClassifier):
    """VGG convolutional stack, global average pooling and one linear readout.

    Each conv is conv3x3 + BN (+ maxpool2 where the config has "M") then MTLIF; the first one is
    the encoder, run once on the static images.

    Args:
        config: a key of VGG_CONFIGS.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        *,
        config: str = "vgg11",
        image_size: int | tuple[int, int] = 32,
        timesteps: int = 2,
        ann: bool = False,
        **neuron_options: Any,
    ) -> None:
        super().__init__(timesteps=timesteps, ann=ann, neuron_options=neuron_options)
        if config not in VGG_CONFIGS:
            raise ValueError(
                f"unknown VGG config {config!r}; choose one of {', '.join(VGG_CONFIGS)}"
            )
        self.config = config
        blocks: list[nn.Sequential] = []
        channels = in_channels
        for item in VGG_CONFIGS[config]:
            if item == "M":
                blocks[-1].append(MaxPool2x2())
            else:
                blocks.append(conv_bn(channels, item))
                channels = item
        spatial_size(image_size, 2 ** VGG_CONFIGS[config].count("M"), config)
        self.encoder = blocks[0]
        layers: list[nn.Module] = [self.neuron()]
        for block in blocks[1:]:
            layers += [SeqToANN(block), self.neuron()]
        self.body = nn.Sequential(
            *layers,
            GlobalAvgPool(),
            SeqToANN(nn.Linear(channels, num_classes)),
        )

    def extra_repr(self) -> str:
        return f"config={self.config!r}, {super().extra_repr()}"
