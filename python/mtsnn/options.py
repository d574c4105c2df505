"""The MT-LIF neuron's options, declared once: NeuronOptions.

The functional API, the layers, the reference, the models, the training configuration and the
command line all take their option names, defaults, help texts and ranges from this class. (Its
C++ twin is mtsnn::NeuronOptions in csrc/include/mtsnn/functional.h; a test holds the defaults of
the two equal. The operator validates the values, in C++, with the same messages for both.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from math import copysign
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
    return _with_overrides(options or _DEFAULTS, overrides), decay_tensor


# NeuronOptions built from keyword overrides, by the call's options and overrides: a functional
# call with keywords (``mt_lif(x, num_thresholds=3, decay=0.5)``) would otherwise build a frozen
# dataclass per call, about 8 microseconds, as long as the kernel of a 64K-neuron layer takes.
# Emptied when full, so that a sweep over many values does not grow it without end.
_WITH_OVERRIDES: dict[tuple, tuple[NeuronOptions, NeuronOptions]] = {}
_WITH_OVERRIDES_SIZE = 256
_PLAIN_TYPES = (bool, int, float, str)


def _with_overrides(options: NeuronOptions, overrides: dict[str, Any]) -> NeuronOptions:
    if not overrides:
        return options
    if torch.compiler.is_compiling():  # traced once into a constant: nothing to look up
        return _replace(options, overrides)
    # The options by identity (held in the entry, so that the identity stays theirs); each value
    # with its type (1, 1.0 and True are equal keys) and, for a zero, its sign (-0.0 == 0.0):
    # equal keys give identical options.
    items: list[Any] = [id(options)]
    for name, value in overrides.items():
        if type(value) not in _PLAIN_TYPES:  # e.g. a tensor: built, and left to the op to judge
            return _replace(options, overrides)
        items.append((name, type(value), value, value == 0 and copysign(1, value) < 0))
    key = tuple(items)
    entry = _WITH_OVERRIDES.get(key)
    if entry is not None and entry[0] is options:
        return entry[1]
    resolved = _replace(options, overrides)
    if len(_WITH_OVERRIDES) >= _WITH_OVERRIDES_SIZE:
        _WITH_OVERRIDES.clear()
    _WITH_OVERRIDES[key] = (options, resolved)
    return resolved


def _replace(options: NeuronOptions, overrides: dict[str, Any]) -> NeuronOptions:
    unknown = sorted(set(overrides) - set(NEURON_OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"unknown neuron option(s) {', '.join(unknown)}; the options are "
            f"{', '.join(NEURON_OPTION_NAMES)}"
        )
    return options.replace(**overrides)
