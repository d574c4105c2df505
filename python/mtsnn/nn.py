"""Drop-in layers: multi-step MT-LIF neurons, a single-step cell, and a time-folding wrapper."""

from __future__ import annotations

import math

import torch
from torch import nn

from mtsnn import functional
from mtsnn.options import (
    DEFAULT_DECAY,
    DEFAULT_NUM_THRESHOLDS,
    DEFAULT_RESET,
    DEFAULT_SURROGATE,
    DEFAULT_THRESHOLD,
    DEFAULT_WIDTH,
    Reset,
    Surrogate,
)


class _MTLIFBase(nn.Module):
    """Options, validation, the optional learnable decay and the repr shared by the two layers."""

    def __init__(
        self,
        num_thresholds: int = DEFAULT_NUM_THRESHOLDS,
        threshold: float = DEFAULT_THRESHOLD,
        decay: float = DEFAULT_DECAY,
        reset: Reset = DEFAULT_RESET,
        surrogate: Surrogate = DEFAULT_SURROGATE,
        width: float = DEFAULT_WIDTH,
        detach_reset: bool = False,
        learn_decay: bool = False,
    ) -> None:
        super().__init__()
        functional.check_options(
            num_thresholds=num_thresholds,
            threshold=threshold,
            decay=decay,
            reset=reset,
            surrogate=surrogate,
            width=width,
            detach_reset=detach_reset,
        )
        self.num_thresholds = int(num_thresholds)
        self.threshold = float(threshold)
        self.reset = reset
        self.surrogate = surrogate
        self.width = float(width)
        self.detach_reset = bool(detach_reset)
        self.learn_decay = bool(learn_decay)
        if learn_decay:
            if not 0 < decay < 1:
                raise ValueError(f"learn_decay needs an initial decay in (0, 1), got {decay}")
            # decay = sigmoid(logit) stays inside (0, 1) whatever the optimiser does.
            self.decay_logit = nn.Parameter(torch.tensor(math.log(decay / (1 - decay))))
            self._decay = None
        else:
            self._decay = float(decay)

    @property
    def decay(self) -> float | torch.Tensor:
        """The decay in use: a float, or sigmoid(decay_logit) when it is learned."""
        if self._decay is not None:
            return self._decay
        return torch.sigmoid(self.decay_logit)

    def _options(self) -> dict:
        return dict(
            num_thresholds=self.num_thresholds,
            threshold=self.threshold,
            decay=self.decay,
            reset=self.reset,
            surrogate=self.surrogate,
            width=self.width,
            detach_reset=self.detach_reset,
        )

    def extra_repr(self) -> str:
        decay = (
            f"learned, now {float(self.decay.detach()):.4g}"
            if self.learn_decay
            else f"{self._decay:g}"
        )
        return (
            f"num_thresholds={self.num_thresholds}, threshold={self.threshold:g}, "
            f"decay={decay}, reset={self.reset!r}, surrogate={self.surrogate!r}, "
            f"width={self.width:g}, detach_reset={self.detach_reset}"
        )


class MTLIF(_MTLIFBase):
    """Multi-threshold LIF neurons over a whole sequence: ``spikes = MTLIF(...)(x)``.

    ``x`` is [T, B, ...] (time first); each call starts from rest unless ``v0`` is given, so no
    state lingers between batches. The spikes are graded: integers 0 .. num_thresholds. With
    ``learn_decay=True`` the decay is a learned scalar, sigmoid(decay_logit), starting at
    ``decay``.
    """

    def forward(self, x: torch.Tensor, v0: torch.Tensor | None = None) -> torch.Tensor:
        """Return the spikes for input current x ([T, ...]), starting from membrane v0."""
        return functional.mt_lif(x, v0=v0, **self._options())


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
            x.unsqueeze(0), v0=v, return_state=True, **self._options()
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
