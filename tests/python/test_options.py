"""The options of a functional call with keywords, which are kept for the next call (options.py)."""

from __future__ import annotations

import math

import pytest
import torch

from mtsnn import options as neuron_options
from mtsnn.options import NeuronOptions, resolve


def test_keywords_give_the_same_options_on_every_call():
    first, decay_tensor = resolve(None, {"num_thresholds": 2, "decay": 0.25})
    again, _ = resolve(None, {"num_thresholds": 2, "decay": 0.25})
    assert first == NeuronOptions(num_thresholds=2, decay=0.25) and decay_tensor is None
    assert again is first  # kept, not rebuilt


def test_equal_keys_of_other_types_or_signs_stay_apart():
    # 1 == 1.0 == True and 0.0 == -0.0 as dictionary keys; the options must still be the caller's.
    assert type(resolve(None, {"threshold": 1})[0].threshold) is int
    assert type(resolve(None, {"threshold": 1.0})[0].threshold) is float
    assert type(resolve(None, {"threshold": True})[0].threshold) is bool
    assert math.copysign(1, resolve(None, {"decay": 0.0})[0].decay) == 1
    assert math.copysign(1, resolve(None, {"decay": -0.0})[0].decay) == -1


def test_keywords_on_top_of_other_options_are_their_own():
    base = NeuronOptions(reset="hard")
    assert resolve(base, {"decay": 0.5})[0] == NeuronOptions(reset="hard", decay=0.5)
    assert resolve(None, {"decay": 0.5})[0] == NeuronOptions(decay=0.5)
    equal_base = NeuronOptions(reset="hard")  # equal, but another object: built anew
    assert resolve(equal_base, {"decay": 0.5})[0] == NeuronOptions(reset="hard", decay=0.5)


def test_unknown_keywords_fail_on_every_call():
    for _ in range(2):
        with pytest.raises(TypeError, match="unknown neuron option"):
            resolve(None, {"decay": 0.5, "tau": 2.0})


def test_a_decay_tensor_and_other_values_are_not_kept():
    decay = torch.tensor(0.3)
    resolved, decay_tensor = resolve(None, {"decay": decay, "num_thresholds": 2})
    assert decay_tensor is decay and resolved == NeuronOptions(num_thresholds=2)
    threshold = torch.tensor(2.0)  # not a plain value: built, and left to the op to judge
    kept = len(neuron_options._WITH_OVERRIDES)
    assert resolve(None, {"threshold": threshold})[0].threshold is threshold
    assert len(neuron_options._WITH_OVERRIDES) == kept


def test_kept_options_are_bounded():
    for index in range(3 * neuron_options._WITH_OVERRIDES_SIZE):
        resolve(None, {"width": 1.0 + index})
    assert len(neuron_options._WITH_OVERRIDES) <= neuron_options._WITH_OVERRIDES_SIZE
