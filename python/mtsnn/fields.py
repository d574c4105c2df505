"""Dataclass fields that carry their own help text and valid range.

The neuron's options (mtsnn.options.NeuronOptions) and the training configuration
(mtsnn.training.TrainConfig) declare each field once with ``option(...)``: its default, what it
means, and the values it may take. The command line reads its options, help texts and parsers
from these fields, and the configuration checks its values against the same bounds, so the two
cannot disagree.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_META = "mtsnn"


@dataclass(frozen=True)
class Bounds:
    """The values a number may take: ``kind`` (int or float) within [low, high], where
    ``low_open`` / ``high_open`` exclude the end; floats must also be finite."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def violation(self, value: float, shown: object) -> str | None:
        """Why ``value`` (printed as ``shown``) is out of bounds, or None when it is fine."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"{shown!r} is not a finite number"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"{shown} must be {'>' if self.low_open else '>='} {self.low}"
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return f"{shown} must be {'<' if self.high_open else '<='} {self.high}"
        return None

    def describe(self) -> str:
        """The bounds in words, e.g. "a positive number", ">= 1", "in [0, 1)"."""
        if self.high is None:
            if self.low == 0 and self.low_open:
                return "a positive number"
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        opening = "(" if self.low_open else "["
        closing = ")" if self.high_open else "]"
        return f"in {opening}{self.low:g}, {self.high:g}{closing}"

    def parse(self, text: str) -> int | float:
        """The number in ``text``, for argparse: a ValueError with the reason otherwise."""
        try:
            value = self.kind(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid {self.kind.__name__}") from None
        problem = self.violation(value, text)
        if problem is not None:
            raise ValueError(problem)
        return value


@dataclass(frozen=True)
class Spec:
    """What ``option`` attaches to a field: its help text, bounds or choices, and its metavar."""

    help: str
    bounds: Bounds | None = None
    choices: Sequence[str] | None = None
    metavar: str | None = None
    group: str = ""


def option(
    default: Any,
    help: str,
    *,
    bounds: Bounds | None = None,
    choices: Sequence[str] | None = None,
    metavar: str | None = None,
    group: str = "",
) -> Any:
    """A dataclass field with ``default`` and its Spec (``group``: where the command line lists
    it)."""
    return dataclasses.field(
        default=default,
        metadata={_META: Spec(help, bounds, tuple(choices) if choices else None, metavar, group)},
    )


def spec_of(field: dataclasses.Field) -> Spec | None:
    """The Spec of a field declared with ``option``, or None."""
    return field.metadata.get(_META)


def check_bounds(instance: Any) -> str | None:
    """The first field of the dataclass ``instance`` outside its bounds or choices, as a
    message "<name> must be <bounds>, got <value>"; None when every field is fine."""
    for field in dataclasses.fields(instance):
        spec = spec_of(field)
        value = getattr(instance, field.name)
        if spec is None or value is None:
            continue
        if spec.choices is not None and value not in spec.choices:
            return f"{field.name} must be one of {', '.join(spec.choices)}, got {value!r}"
        if spec.bounds is not None and spec.bounds.violation(value, value) is not None:
            return f"{field.name} must be {spec.bounds.describe()}, got {value}"
    return None
