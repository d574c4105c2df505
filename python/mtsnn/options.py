"""The MT-LIF neuron's options, declared once: NeuronOptions.

The functional API, the layers, the reference, the models, the training configuration and the
command line all take their option names, defaults, help texts and ranges from this class. (Its
C++ twin is mtsnn::NeuronOptions in csrc/include/mtsnn/functional.h; a test holds the defaults of
the two equal. The operator validates the values, in C++, with the same messages for both.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import torch

from mtsnn.fields import Bounds
from mtsnn.fields import option as _option

Reset = Literal["soft", "hard", "none"]
Surrogate = Literal["rectangle", "triangle", "sigmoid"]

RESETS: tuple[str, ...] = ("soft", "hard", "none")
SURROGATES: tuple[str, ...] = ("rectangle", "triangle", "sigmoid")


def option(default: Any, help: str, **spec: Any) -> Any:
    """A NeuronOptions field (mtsnn.fields.option), listed with the neuron's options."""
    return _option(default, help, group="neuron", **spec)


@dataclass(frozen=True)
class NeuronOptions:
    """Options of multi-threshold LIF neurons (see mtsnn.functional.mt_lif for the equations).

    The bounds are those the command line checks; the operator's own validation (in C++) is the
    authority, and also bounds num_thresholds by 256, the largest count bfloat16 holds exactly.
    """

    num_thresholds: int = option(
        3, "thresholds per neuron K: spikes are 0..K", bounds=Bounds(int, 1), metavar="K"
    )
    threshold: float = option(
        1.0, "threshold theta > 0; the k-th is k * theta", bounds=Bounds(float, 0.0, low_open=True)
    )
    decay: float = option(0.5, "membrane decay lambda in [0, 1]", bounds=Bounds(float, 0.0, 1.0))
    reset: Reset = option("soft", "what a spike does to the membrane", choices=RESETS)
    surrogate: Surrogate = option(
        "rectangle", "shape of the spike's approximated derivative", choices=SURROGATES
    )
    width: float = option(
        1.0, "width a > 0 of the surrogate derivative", bounds=Bounds(float, 0.0, low_open=True)
    )
    detach_reset: bool = option(False, "treat the reset as a constant in the backward pass")

    def replace(self, **changes: Any) -> NeuronOptions:
        """A copy with ``changes`` (option names), e.g. ``options.replace(decay=0.25)``."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The options by name."""
        return dataclasses.asdict(self)


NEURON_OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(NeuronOptions))
_DEFAULTS = NeuronOptions()


def resolve(
    options: NeuronOptions | None, overrides: dict[str, Any]
) -> tuple[NeuronOptions, torch.Tensor | None]:
    """The options of a call: ``options`` (defaults when None) with ``overrides`` by name on top,
    and the decay tensor, when ``decay`` is given as one (a one-element, possibly learnable tensor
    takes the place of the float).

    Raises:
        TypeError: an override that names no option.
    """
    if not overrides:  # a layer's call: nothing to build per call
        return options or _DEFAULTS, None
    decay_tensor = None
    if isinstance(overrides.get("decay"), torch.Tensor):
        overrides = dict(overrides)
        decay_tensor = overrides.pop("decay")
    unknown = sorted(set(overrides) - set(NEURON_OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"unknown neuron option(s) {', '.join(unknown)}; the options are "
            f"{', '.join(NEURON_OPTION_NAMES)}"
        )
    return dataclasses.replace(options or NeuronOptions(), **overrides), decay_tensor
