"""Names and defaults of the MT-LIF neuron's options, shared by the functional API and layers."""

from __future__ import annotations

from typing import Literal

Reset = Literal["soft", "hard", "none"]
Surrogate = Literal["rectangle", "triangle", "sigmoid"]

RESETS: tuple[str, ...] = ("soft", "hard", "none")
SURROGATES: tuple[str, ...] = ("rectangle", "triangle", "sigmoid")

DEFAULT_NUM_THRESHOLDS = 3
DEFAULT_THRESHOLD = 1.0
DEFAULT_DECAY = 0.5
DEFAULT_RESET: Reset = "soft"
DEFAULT_SURROGATE: Surrogate = "rectangle"
DEFAULT_WIDTH = 1.0
