"""Spike statistics of every MT-LIF layer, gathered by forward hooks without changing the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mtsnn.nn import MTLIF


@dataclass
class SpikeStats:
    """Running spike statistics of one MT-LIF layer (sums only: no spikes are kept).

    Attributes:
        name: the layer's module name.
        num_thresholds: K, the largest spike value.
        neurons: neurons per image (the layer's per-sample size).
        steps: time steps T per image.
        images: images seen.
        spike_sum: sum of all spike values.
        level_counts: neuron-steps at each level 0 .. K.
        silent: (image, neuron) pairs that did not fire over the whole input (all T steps).
        ever_fired: per neuron, whether it fired for any image.
    """

    name: str
    num_thresholds: int
    neurons: int = 0
    steps: int = 0
    images: int = 0
    spike_sum: torch.Tensor | None = None
    level_counts: torch.Tensor | None = None
    silent: torch.Tensor | None = None
    ever_fired: torch.Tensor | None = None

    def update(self, spikes: torch.Tensor) -> None:
        """Add a batch of spikes [T, B, ...] (values 0 .. K)."""
        spikes = spikes.detach()
        steps, batch = spikes.shape[:2]
        fired = (spikes != 0).any(0).flatten(1)  # [B, neurons]
        levels = torch.bincount(spikes.flatten().long(), minlength=self.num_thresholds + 1)
        if self.images == 0:  # first batch: the accumulators live on the spikes' device
            self.neurons, self.steps = fired.shape[1], steps
            self.spike_sum = torch.zeros((), dtype=torch.float64, device=spikes.device)
            self.level_counts = torch.zeros_like(levels)
            self.silent = torch.zeros((), dtype=torch.int64, device=spikes.device)
            self.ever_fired = torch.zeros_like(fired[0])
        self.images += batch
        self.spike_sum += spikes.sum(dtype=torch.float64)
        self.level_counts += levels
        self.silent += (~fired).sum()
        self.ever_fired |= fired.any(0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures: firing rate (mean spike value per neuron per step), the fraction
        of neuron-steps at each level, the fraction of (image, neuron) pairs silent over the
        whole input, and the fraction of neurons that never fired on any image (ValueError
        before any batch)."""
        if self.images == 0:
            raise ValueError(f"{self.name}: no spikes recorded")
        neuron_steps = self.images * self.neurons * self.steps
        return {
            "name": self.name,
            "num_thresholds": self.num_thresholds,
            "neurons": self.neurons,
            "steps": self.steps,
            "images": self.images,
            "firing_rate": float(self.spike_sum) / neuron_steps,
            "level_fractions": [count / neuron_steps for count in self.level_counts.tolist()],
            "silent_fraction": int(self.silent) / (self.images * self.neurons),
            "dead_fraction": 1.0 - float(self.ever_fired.float().mean()),
        }


@dataclass
class SpikeRecorder:
    """Record the spike statistics of every :class:`MTLIF` in ``model`` while it runs.

    Use as a context manager; the hooks are removed on exit::

        with SpikeRecorder(model) as recorder:
            for images, _ in loader:
                model(images)
        stats = [layer.to_dict() for layer in recorder.layers.values()]
    """

    model: nn.Module
    layers: dict[str, SpikeStats] = field(default_factory=dict)
    _handles: list[Any] = field(default_factory=list)

    def __enter__(self) -> SpikeRecorder:
        for name, module in self.model.named_modules():
            if isinstance(module, MTLIF):
                stats = self.layers.setdefault(name, SpikeStats(name, module.num_thresholds))
                self._handles.append(
                    module.register_forward_hook(lambda _m, _i, out, s=stats: s.update(out))
                )
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
