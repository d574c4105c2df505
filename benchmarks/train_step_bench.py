"""End to end: images/s of one SGD training step of the MNIST ConvNet, SNN against its ANN twin,
eager and under torch.compile, in the memory layout `mtsnn train` uses on the device."""

from __future__ import annotations

from collections.abc import Callable

import torch
from timing import Budget, measure
from torch import nn

import mtsnn
from mtsnn.models import build_model
from mtsnn.nn import MTLIF
from mtsnn.training.layout import memory_format_of

# The ANN first: the others report their cost relative to it.
VARIANTS = ("ann", "mtsnn", "reference", "ann compiled", "mtsnn compiled")


class ReferenceMTLIF(nn.Module):
    """Runs mtsnn.reference.mt_lif with the options of the MTLIF layer it replaces."""

    def __init__(self, layer: MTLIF) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the spikes for input current x ([T, ...])."""
        return mtsnn.reference.mt_lif(x, self.layer.options, decay=self.layer.decay)


def build(variant: str, timesteps: int) -> nn.Module:
    """The ConvNet for 28x28 digits: fused MT-LIF, reference MT-LIF, or the ReLU twin (T = 1)."""
    model = build_model(
        "convnet",
        in_channels=1,
        num_classes=10,
        image_size=28,
        timesteps=timesteps,
        ann=variant.startswith("ann"),
    )
    if variant == "reference":
        for parent in list(model.modules()):
            for child_name, child in parent.named_children():
                if isinstance(child, MTLIF):
                    setattr(parent, child_name, ReferenceMTLIF(child))
    return model


def run_train_step(
    *,
    device: torch.device,
    timesteps: int,
    batch: int,
    budget: Budget,
    emit: Callable[[dict], None],
) -> None:
    """Time forward, backward and an SGD step on random images and labels, per variant.

    Records carry ``images_per_s`` and ``ratio_to_ann``: the step's median time over the ANN
    twin's, i.e. how many times an SNN step costs an ANN step.
    """
    generator = torch.Generator().manual_seed(0)
    memory_format = memory_format_of(None, device)
    images = torch.randn(batch, 1, 28, 28, generator=generator).to(device)
    images = images.contiguous(memory_format=memory_format)
    labels = torch.randint(0, 10, (batch,), generator=generator).to(device)
    ann_ms = None
    for variant in VARIANTS:
        torch.manual_seed(0)  # the same initial weights for every variant
        model = build(variant, timesteps).to(device, memory_format=memory_format).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        network = torch.compile(model) if variant.endswith("compiled") else model

        def step(
            network: nn.Module = network, optimizer: torch.optim.Optimizer = optimizer
        ) -> None:
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(network(images), labels).backward()
            optimizer.step()

        step()  # compiles, for the compiled variants
        timing = measure(step, device, budget)
        ann_ms = ann_ms or timing["median_ms"]
        emit(
            {
                "section": "train",
                "variant": variant,
                "model": "convnet",
                "memory_format": str(memory_format).removeprefix("torch."),
                "timesteps": model.timesteps,
                "batch": batch,
                "images_per_s": batch / timing["median_ms"] * 1e3,
                "ratio_to_ann": timing["median_ms"] / ann_ms,
                **timing,
            }
        )
