"""Binary expansion: an MT-LIF network rewritten as an equivalent network of binary spikes.

A graded spike is a sum of binary ones, s_t = sum_{k=1..K} H(h_t - k*theta): MT-LIF neuron i
becomes K binary neurons (i, k) that share its membrane, neuron (i, k) firing H(h_t - k*theta).
The next layer applies its weight w_ji to each of the K binary channels of neuron i (shared
weights), so it receives sum_k w_ji * c_ik = w_ji * s_i: the network computes exactly what the
MT-LIF network does, with binary spikes only, K times as many of them.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from mtsnn.nn import MTLIF


class BinaryMTLIF(nn.Module):
    """The binary expansion of an :class:`MTLIF` layer (whose options and decay it uses).

    ``channels(x)`` returns the K binary spike channels [K, T, B, ...]; ``forward(x)`` returns
    their sum, which is what the next layer's shared weights receive, and equals ``neuron(x)``
    bit for bit.
    """

    def __init__(self, neuron: MTLIF) -> None:
        super().__init__()
        self.neuron = neuron

    def channels(self, x: torch.Tensor) -> torch.Tensor:
        """Binary spikes [K, T, ...] of the K neurons expanding each MT-LIF neuron of x [T, ...].

        The arithmetic is that of the MT-LIF op (float16/bfloat16 computed in float32), so the
        channels sum to its spikes exactly.
        """
        neuron = self.neuron
        work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        theta = torch.tensor(neuron.threshold, dtype=work.dtype, device=work.device)
        # Neuron k's threshold is the product k * theta, rounded as the op rounds it.
        levels = torch.arange(1, neuron.num_thresholds + 1, dtype=work.dtype, device=work.device)
        levels = (levels * theta).view(-1, *([1] * (work.dim() - 1)))
        v = torch.zeros_like(work[0])
        steps = []
        for x_t in work:
            h = neuron.decay * v + x_t
            binary = (h - levels >= 0).to(work.dtype)  # [K, ...]: H(h - k * theta)
            if neuron.reset == "soft":
                v = h - theta * binary.sum(0)
            elif neuron.reset == "hard":
                v = h * (1 - binary[0])  # any spike fires the first neuron
            else:
                v = h
            steps.append(binary)
        return torch.stack(steps, 1).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The sum over the K binary channels: the input the next layer's shared weights see."""
        return self.channels(x).sum(0)


def expand_binary(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every :class:`MTLIF` replaced by its :class:`BinaryMTLIF`.

    The copy computes exactly the same outputs as ``model``; ``model`` is left unchanged.
    """
    expanded = copy.deepcopy(model)
    if isinstance(expanded, MTLIF):
        return BinaryMTLIF(expanded)
    _replace_neurons(expanded)
    return expanded


def _replace_neurons(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, MTLIF):
            setattr(module, name, BinaryMTLIF(child))
        else:
            _replace_neurons(child)
