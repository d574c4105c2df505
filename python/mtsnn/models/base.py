"""What every model shares: direct encoding, the time-mean readout, and the neuron factory."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtsnn.functional import repeat_over_time
from mtsnn.nn import MTLIF


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1
) -> nn.Sequential:
    """Conv2d (no bias: BatchNorm's shift replaces it) followed by BatchNorm2d, 'same' padding."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    )


def spatial_size(
    image_size: int | tuple[int, int], downsampling: int, model: str
) -> tuple[int, int]:
    """Return (height, width) from an int (square images) or a pair.

    Raises:
        ValueError: when an image side is smaller than ``downsampling``, the model's total
            stride, which would leave nothing for its last layers.
    """
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    if min(height, width) < downsampling:
        raise ValueError(
            f"{model} downsamples by {downsampling}, so it needs images of at least "
            f"{downsampling}x{downsampling}; got {height}x{width}"
        )
    return int(height), int(width)


class GlobalAvgPool(nn.Module):
    """Average over the two last (spatial) dimensions: [..., C, H, W] -> [..., C].

    A plain mean rather than AdaptiveAvgPool2d, whose CUDA backward has no deterministic
    implementation; it also needs no time folding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x averaged over its last two dimensions."""
        return x.mean((-2, -1))


class SpikingClassifier(nn.Module):
    """Base of the models: direct encoding, a spiking body, and the mean-over-time readout.

    Subclasses set ``self.encoder`` (a stateless module run once on the static images
    [B, C, H, W], normally conv + BN) and ``self.body`` (run on [T, B, ...], ending in logits
    [T, B, classes]). ``forward`` broadcasts the encoder's output over T (repeat_over_time: no
    copy, no recomputation) and returns the logits averaged over T.

    With ``ann=True`` the same layers are built with ReLU in place of every MT-LIF neuron and T is
    forced to 1: the ANN twin of the SNN.

    Args:
        timesteps: T, the number of time steps (ignored, 1, when ``ann``).
        ann: build the ReLU twin instead of the SNN.
        neuron_options: keyword arguments of every :class:`mtsnn.nn.MTLIF`: fields of
            :class:`mtsnn.options.NeuronOptions` by name, and learn_decay.
    """

    encoder: nn.Module
    body: nn.Module

    def __init__(self, *, timesteps: int, ann: bool, neuron_options: dict[str, Any]) -> None:
        super().__init__()
        if timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {timesteps}")
        self.ann = bool(ann)
        self.timesteps = 1 if self.ann else int(timesteps)
        self.neuron_options = dict(neuron_options)
        # Build one neuron now so that bad options fail here, not halfway through a subclass.
        self.neuron()

    def neuron(self) -> nn.Module:
        """A fresh activation layer: MTLIF with the model's options, or ReLU for the ANN twin."""
        return nn.ReLU() if self.ann else MTLIF(**self.neuron_options)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return the logits [B, classes] for static images [B, C, H, W]."""
        return self.body(repeat_over_time(self.encoder(images), self.timesteps)).mean(0)

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}, ann={self.ann}"
