"""Drop-in layers: multi-step MT-LIF neurons, a single-step cell, and a time-folding wrapper."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from mtsnn import functional, pooling
from mtsnn.options import NEURON_OPTION_NAMES, NeuronOptions, resolve


class _MTLIFBase(nn.Module):
    """The options, their validation, the optional learnable decay and the repr of both layers.

    Each option is also readable as an attribute of the layer (``layer.num_thresholds``, ...);
    ``layer.decay`` is the decay in use: a float, or sigmoid(decay_logit) when it is learned.
    """

    def __init__(
        self, options: NeuronOptions | None = None, *, learn_decay: bool = False, **overrides: Any
    ) -> None:
        super().__init__()
        self.options, decay_tensor = resolve(options, overrides)
        if decay_tensor is not None:
            raise TypeError("a layer takes a float decay (learn_decay=True learns it)")
        functional.check_options(self.options)
        self.learn_decay = bool(learn_decay)
        if learn_decay:
            decay = self.options.decay
            if not 0 < decay < 1:
                raise ValueError(f"learn_decay needs an initial decay in (0, 1), got {decay}")
            # decay = sigmoid(logit) stays inside (0, 1) whatever the optimiser does.
            self.decay_logit = nn.Parameter(torch.tensor(math.log(decay / (1 - decay))))

    @property
    def decay(self) -> float | torch.Tensor:
        """The decay in use: a float, or sigmoid(decay_logit) when it is learned."""
        return torch.sigmoid(self.decay_logit) if self.learn_decay else self.options.decay

    def _call_options(self) -> dict[str, Any]:
        """Keyword arguments of functional.mt_lif: the options, and the learned decay if any."""
        return {"options": self.options, **({"decay": self.decay} if self.learn_decay else {})}

    def extra_repr(self) -> str:
        def shown(name: str, value: Any) -> str:
            if name == "decay" and self.learn_decay:
                return f"learned, now {float(self.decay.detach()):.4g}"
            return f"{value:g}" if isinstance(value, float) else repr(value)

        return ", ".join(f"{name}={shown(name, v)}" for name, v in self.options.as_dict().items())


# The options as read-only attributes of the layers, generated from their one declaration.
for _name in NEURON_OPTION_NAMES:
    if _name != "decay":
        setattr(_MTLIFBase, _name, property(lambda self, name=_name: getattr(self.options, name)))


class MTLIF(_MTLIFBase):
    """Multi-threshold LIF neurons over a whole sequence: ``spikes = MTLIF(...)(x)``.

    ``x`` is [T, B, ...] (time first); each call starts from rest unless ``v0`` is given, so no
    state lingers between batches. The spikes are graded: integers 0 .. num_thresholds. The
    layer takes a NeuronOptions and/or its fields by name (``MTLIF(num_thresholds=3)``); with
    ``learn_decay=True`` the decay is a learned scalar, sigmoid(decay_logit), starting at
    ``decay``.
    """

    def forward(self, x: torch.Tensor, v0: torch.Tensor | None = None) -> torch.Tensor:
        """Return the spikes for input current x ([T, ...]), starting from membrane v0."""
        return functional.mt_lif(x, v0=v0, **self._call_options())


class MTLIFCell(_MTLIFBase):
    """One time step of multi-threshold LIF neurons with explicit state.

    ``s_t, v_t = cell(x_t, v)``: ``v`` is the membrane from the previous step (None: at rest). The
    cell keeps no hidden state, so there is nothing to reset between sequences.
    """

    def forward(
        self, x: torch.Tensor, v: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (spikes, membrane) after one step with input current x (any shape)."""
        spikes, v_next = functional.mt_lif(
            x.unsqueeze(0), v0=v, return_state=True, **self._call_options()
        )
        return spikes.squeeze(0), v_next


class SeqToANN(nn.Module):
    """Run a stateless layer (Conv2d, BatchNorm2d, Linear, pooling, ...) over [T, B, ...].

    Time is folded into the batch, so the layer sees [T*B, ...] and BatchNorm normalises over
    T*B samples; the result is unfolded back to [T, B, ...].
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the wrapped layer to x of shape [T, B, ...]."""
        if x.dim() < 2:
            raise ValueError(f"SeqToANN expects [T, B, ...], got shape {tuple(x.shape)}")
        out = self.module(x.flatten(0, 1))
        return out.unflatten(0, x.shape[:2])


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)`` that stays fast under torch.compile on the CPU.

    The same values and gradients as nn.MaxPool2d(2) on [N, C, H, W] or [C, H, W] (and a
    MaxPool2d to whatever inspects the model); see :mod:`mtsnn.pooling` for why and how.
    """

    def __init__(self) -> None:
        super().__init__(kernel_size=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the maxima of x's 2x2 windows."""
        return pooling.max_pool_2x2(x)
