"""Export to NIR (the Neuromorphic Intermediate Representation), only where it is exact.

NIR neurons emit binary spikes and reset to a fixed potential, so an MT-LIF layer maps onto a
NIR node only with K = 1 and ``reset="hard"``: its update v = decay * v + x is NIR's LIF under
forward Euler with dt = 1 (tau = r = 1 / (1 - decay), v_leak = 0, v_reset = 0), or NIR's IF
(r = 1) when decay = 1. Everything else is refused with the reason: graded spikes (K > 1; their
binary expansion shares one membrane between K thresholds, which no NIR node has), soft reset
(subtracting the threshold), no reset, and layers without an NIR node (max pooling, residual
blocks). One difference remains at the threshold itself: NIR fires when v > threshold, MT-LIF
when v >= threshold. The ``nir`` package is an optional dependency: pip install nir.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from mtsnn.analysis.expansion import BinaryMTLIF
from mtsnn.models.base import SpikingClassifier
from mtsnn.nn import MTLIF, SeqToANN


class NIRExportError(ValueError):
    """The network has no exact NIR equivalent; the message says which layer and why."""


def _chain(module: nn.Module, name: str, folded: bool) -> Iterator[tuple[str, nn.Module, bool]]:
    """(name, leaf, folded) in execution order; ``folded``: the leaf sees [N, ...], not [T, B,
    ...]."""
    prefix = f"{name}." if name else ""
    if isinstance(module, SpikingClassifier):
        # The encoder's output is broadcast over T: in NIR the image is presented at every step.
        yield from _chain(module.encoder, prefix + "encoder", True)
        yield from _chain(module.body, prefix + "body", False)
    elif isinstance(module, nn.Sequential):
        for child_name, child in module.named_children():
            yield from _chain(child, prefix + child_name, folded)
    elif isinstance(module, SeqToANN):
        yield from _chain(module.module, prefix + "module", True)
    else:
        yield name, module, folded


def _neuron_node(name: str, neuron: MTLIF, shape: tuple[int, ...]) -> Any:
    import nir

    if neuron.num_thresholds != 1:
        raise NIRExportError(
            f"{name}: graded spikes (K = {neuron.num_thresholds}) have no NIR equivalent: NIR "
            "neurons emit binary spikes, and the binary expansion's K neurons share one membrane"
        )
    if neuron.reset != "hard":
        why = "subtracts the threshold" if neuron.reset == "soft" else "never resets"
        raise NIRExportError(
            f"{name}: reset={neuron.reset!r} {why}; NIR neurons reset to a fixed potential, so "
            "only reset='hard' maps exactly"
        )
    decay = float(neuron.decay)
    full = np.full(shape, 1.0, dtype=np.float32)
    threshold = full * neuron.threshold
    if decay == 1.0:
        return nir.IF(r=full, v_threshold=threshold, v_reset=0 * full)
    tau = full / (1.0 - decay)
    return nir.LIF(tau=tau, r=tau.copy(), v_leak=0 * full, v_threshold=threshold, v_reset=0 * full)


def _weighted_node(layer: nn.Module, norm: nn.Module | None, shape: tuple[int, ...]) -> Any:
    """Conv2d or Linear with the BatchNorm after it (running statistics) folded in."""
    import nir

    weight = layer.weight.detach().double()
    bias = torch.zeros(weight.shape[0], dtype=torch.float64)
    if layer.bias is not None:
        bias = layer.bias.detach().double()
    if norm is not None:
        scale = norm.weight.detach().double() / torch.sqrt(norm.running_var.double() + norm.eps)
        weight = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
        bias = (bias - norm.running_mean.double()) * scale + norm.bias.detach().double()
    weight, bias = weight.float().numpy(), bias.float().numpy()
    if isinstance(layer, nn.Linear):
        return nir.Affine(weight=weight, bias=bias)
    return nir.Conv2d(
        input_shape=shape[-2:],
        weight=weight,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        groups=layer.groups,
        bias=bias,
    )


def to_nir(model: nn.Module, input_shape: tuple[int, ...]) -> Any:
    """An ``nir.NIRGraph`` equivalent to ``model``, a chain of layers over [T, B, ...].

    Args:
        model: an ``nn.Sequential`` (or a model of mtsnn.models) of Linear, Conv2d (each
            optionally followed by BatchNorm, folded into it), Flatten, AvgPool2d and MT-LIF
            (or :class:`BinaryMTLIF`) layers, possibly wrapped in SeqToANN. A SpikingClassifier's
            mean-over-time readout is left to the consumer of the graph's output.
        input_shape: the shape of one sample at one time step, e.g. (C, H, W).

    Raises:
        NIRExportError: a layer has no exact NIR equivalent (the message says why).
        ImportError: the ``nir`` package is not installed.
    """
    try:
        import nir
    except ImportError as err:
        raise ImportError("NIR export needs the nir package: pip install nir") from err
    leaves = list(_chain(model, "", False))
    shape = tuple(input_shape)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    index = 0
    while index < len(leaves):
        name, leaf, folded = leaves[index]
        index += 1
        if isinstance(leaf, BinaryMTLIF):
            leaf = leaf.neuron
        if isinstance(leaf, MTLIF):
            nodes[name] = _neuron_node(name, leaf, shape)
            continue
        if isinstance(leaf, (nn.Conv2d, nn.Linear)):
            following = leaves[index][1] if index < len(leaves) else None
            norm = following if isinstance(following, nn.modules.batchnorm._BatchNorm) else None
            index += norm is not None
            nodes[name] = _weighted_node(leaf, norm, shape)
        elif isinstance(leaf, nn.Flatten) and leaf.end_dim == -1:
            start = leaf.start_dim - (1 if folded else 2)  # NIR shapes have no batch or time
            nodes[name] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start)
        elif isinstance(leaf, nn.AvgPool2d) and leaf.ceil_mode is False:
            nodes[name] = nir.AvgPool2d(
                kernel_size=np.array(leaf.kernel_size),
                stride=np.array(leaf.stride),
                padding=np.array(leaf.padding),
            )
        elif isinstance(leaf, nn.Identity):
            continue
        else:
            raise NIRExportError(
                f"{name or 'model'}: {type(leaf).__name__} has no exact NIR node in this "
                "exporter (NIR has no max pooling; residual blocks are not a chain)"
            )
        if isinstance(leaf, nn.Flatten):
            shape = tuple(int(size) for size in nodes[name].output_type["output"])
        else:
            with torch.no_grad():
                shape = tuple(leaf(torch.zeros(1, *shape)).shape[1:])
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)))
