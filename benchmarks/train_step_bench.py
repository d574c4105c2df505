"""End to end: images/s of one SGD training step of the MNIST ConvNet, SNN against its ANN twin,
eager and under torch.compile, in the memory layout `mtsnn train` uses on the device."""

from __future__ import annotations

from collections.abc import Callable

import torch
from timing import Budget, measure_side_by_side
from torch import nn

import mtsnn
from mtsnn.models import build_model
from mtsnn.nn import MTLIF, MaxPool2x2
from mtsnn.training.layout import memory_format_of

# The ANN first: the others report their cost relative to it. "compiled, nn.MaxPool2d" compiles
# the model with nn.MaxPool2d in place of mtsnn's MaxPool2x2, so that Inductor lowers the pooling
# itself: the yardstick of MaxPool2x2's compiled form. "bf16" runs the forward pass under
# torch.autocast with bfloat16, as `mtsnn train --bf16` does.
VARIANTS = (
    "ann",
    "mtsnn",
    "reference",
    "ann compiled",
    "mtsnn compiled",
    "mtsnn compiled, nn.MaxPool2d",
    "ann bf16",
    "mtsnn bf16",
)


class ReferenceMTLIF(nn.Module):
    """Runs mtsnn.reference.mt_lif with the options of the MTLIF layer it replaces."""

    def __init__(self, layer: MTLIF) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the spikes for input current x ([T, ...])."""
        return mtsnn.reference.mt_lif(x, self.layer.options, decay=self.layer.decay)


def build(variant: str, timesteps: int) -> nn.Module:
    """The ConvNet for 28x28 digits: fused MT-LIF, reference MT-LIF, or the ReLU twin (T = 1);
    with nn.MaxPool2d for the variant that names it."""
    model = build_model(
        "convnet",
        in_channels=1,
        num_classes=10,
        image_size=28,
        timesteps=timesteps,
        ann=variant.startswith("ann"),
    )
    for parent in list(model.modules()):
        for child_name, child in parent.named_children():
            if variant == "reference" and isinstance(child, MTLIF):
                setattr(parent, child_name, ReferenceMTLIF(child))
            if variant.endswith("nn.MaxPool2d") and isinstance(child, MaxPool2x2):
                setattr(parent, child_name, nn.MaxPool2d(2))
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

    The variants take their samples in turn (``measure_side_by_side``), so that a slow spell of
    the machine slows them alike. Records carry ``images_per_s`` and ``ratio_to_ann``: the step's
    median time over the ANN twin's, i.e. how many times an SNN step costs an ANN step.
    """
    generator = torch.Generator().manual_seed(0)
    memory_format = memory_format_of(None, device)
    images = torch.randn(batch, 1, 28, 28, generator=generator).to(device)
    images = images.contiguous(memory_format=memory_format)
    labels = torch.randint(0, 10, (batch,), generator=generator).to(device)
    steps, model_timesteps = {}, {}
    for variant in VARIANTS:
        torch.manual_seed(0)  # the same initial weights for every variant
        model = build(variant, timesteps).to(device, memory_format=memory_format).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        network = torch.compile(model) if "compiled" in variant else model

        def step(
            network: nn.Module = network,
            optimizer: torch.optim.Optimizer = optimizer,
            bf16: bool = "bf16" in variant,
        ) -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = network(images)
            nn.functional.cross_entropy(logits.float(), labels).backward()
            optimizer.step()

        step()  # compiles, for the compiled variants
        steps[variant] = step
        model_timesteps[variant] = model.timesteps
    timings = measure_side_by_side(steps, device, budget)
    ann_ms = timings[VARIANTS[0]]["median_ms"]
    for variant, timing in timings.items():
        emit(
            {
                "section": "train",
                "variant": variant,
                "model": "convnet",
                "memory_format": str(memory_format).removeprefix("torch."),
                "timesteps": model_timesteps[variant],
                "batch": batch,
                "images_per_s": batch / timing["median_ms"] * 1e3,
                "ratio_to_ann": timing["median_ms"] / ann_ms,
                **timing,
            }
        )
