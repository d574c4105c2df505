"""Operation counts per layer from the real input tensors, gathered by forward hooks.

A weighted layer (Conv2d, Linear) fed by real values performs multiply-accumulates (MACs): the
encoding layer of an SNN (run once per image, not T times) and every layer of the ANN twin. A
layer fed by spikes performs accumulates (ACs): a graded spike of value k adds its weight k times
into each output it reaches, so it costs k x fan-out ACs. The alternative "one MAC per non-zero
input" count charges it 1 x fan-out MACs instead. Fan-outs are exact: the number of outputs each
input element reaches, so padded zeros cost nothing. BatchNorm folds into the layer before it (no
extra operations); biases and membrane updates are not counted. Pooling is counted densely:
average pooling as additions, max pooling as comparisons.

The ANN twin's counts come from the same layer shapes with T = 1 and every input dense.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from mtsnn.models.base import GlobalAvgPool
from mtsnn.nn import MTLIF

_COUNTED = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d, GlobalAvgPool)


@dataclass
class LayerOps:
    """Operation counts of one layer, summed over the images seen (see ``per_image``)."""

    name: str
    kind: str
    spiking_input: bool = False
    steps: int = 0
    macs: float = 0.0
    acs: float = 0.0
    nonzero_macs: float = 0.0
    additions: float = 0.0
    comparisons: float = 0.0
    ann_macs: float = 0.0
    ann_additions: float = 0.0
    ann_comparisons: float = 0.0

    def per_image(self, images: int) -> dict[str, Any]:
        """The counts divided by ``images``, as a JSON-ready dict.

        ``macs``/``acs``/``additions``/``comparisons`` are the SNN's (``nonzero_macs``: the
        "one MAC per non-zero input" alternative to ``acs``); ``ann_*`` are the ANN twin's.
        """
        counts = {
            f.name: getattr(self, f.name) / max(images, 1)
            for f in fields(self)
            if f.type == "float"
        }
        return {
            "name": self.name,
            "kind": self.kind,
            "spiking_input": self.spiking_input,
            "steps": self.steps,
            **counts,
        }


@functools.lru_cache(maxsize=64)
def coverage(
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] | str,
    dilation: tuple[int, int],
) -> torch.Tensor:
    """How many output positions of a (1-channel) convolution each input position reaches.

    It is the gradient of sum(conv2d(x, ones)) with respect to x: exact for any stride,
    padding and dilation. Returns an [H, W] float64 tensor on the CPU.
    """
    x = torch.ones(1, 1, *size, dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        out = F.conv2d(
            x,
            torch.ones(1, 1, *kernel, dtype=torch.float64),
            stride=stride,
            padding=padding,
            dilation=dilation,
        )
        (grad,) = torch.autograd.grad(out.sum(), x)
    return grad[0, 0]


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _conv_fan_out(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """Outputs reached by one input element at each position [H, W] (same for every channel)."""
    if layer.padding_mode != "zeros":
        raise NotImplementedError(f"counting needs zero padding, not {layer.padding_mode!r}")
    padding = layer.padding if isinstance(layer.padding, str) else _pair(layer.padding)
    cover = coverage(
        tuple(x.shape[-2:]),
        _pair(layer.kernel_size),
        _pair(layer.stride),
        padding,
        _pair(layer.dilation),
    )
    return cover.to(x.device) * (layer.out_channels // layer.groups)


def _per_sample_dims(layer: nn.Module) -> int:
    """How many trailing dimensions of the layer's input make one sample."""
    return 1 if isinstance(layer, nn.Linear) else 3


def _weighted_counts(
    layer: nn.Module, x: torch.Tensor, spike_scale: float | None
) -> tuple[float, float, float]:
    """(dense MACs, graded ACs, non-zero MACs) of a Conv2d or Linear on input x.

    The dense count is that of every input being real-valued. ``spike_scale``: x = scale x
    graded spikes, or None for a real-valued input (then the last two are 0).
    """
    if isinstance(layer, nn.Conv2d):
        fan_out = _conv_fan_out(layer, x)
        reduce = tuple(range(x.dim() - 2))  # the fan-out depends on the position only
        dense = float(fan_out.sum()) * x[..., 0, 0].numel()
    else:
        fan_out = torch.tensor(float(layer.out_features), dtype=torch.float64, device=x.device)
        reduce = tuple(range(x.dim()))
        dense = float(x.numel()) * layer.out_features
    if spike_scale is None:
        return dense, 0.0, 0.0
    graded = (x.detach().double() / spike_scale).round()
    acs = float((graded.sum(reduce) * fan_out).sum())
    nonzero = float(((graded != 0).double().sum(reduce) * fan_out).sum())
    return dense, acs, nonzero


def _window(layer: nn.Module, x: torch.Tensor) -> int:
    """Input elements per pooling window."""
    if isinstance(layer, GlobalAvgPool):
        return x.shape[-2] * x.shape[-1]
    kernel = _pair(layer.kernel_size)
    return kernel[0] * kernel[1]


@dataclass
class OpCounter:
    """Count the operations of every Conv2d, Linear and pooling layer of ``model`` as it runs.

    Spike inputs are recognised by where they come from, not by their values: the output of an
    :class:`MTLIF` (scale 1), or an average pooling of such (scale 1/window, its graded value
    being the window's spike count, since the 1/window folds into the next layer's weights).
    Use as a context manager, like :class:`~mtsnn.analysis.recording.SpikeRecorder`. The
    model's first argument holds the batch of images along ``batch_dim`` (0 for the models of
    mtsnn.models, which take [B, C, H, W]; 1 for a network run directly on [T, B, ...]).
    """

    model: nn.Module
    batch_dim: int = 0
    layers: dict[str, LayerOps] = field(default_factory=dict)
    images: int = 0
    _batch: int = 0
    # data_ptr -> (tensor, scale): the tensor is held so that its memory is not reused.
    _spikes: dict[int, tuple[torch.Tensor, float]] = field(default_factory=dict)
    _handles: list[Any] = field(default_factory=list)

    def __enter__(self) -> OpCounter:
        self._handles.append(self.model.register_forward_pre_hook(self._start_batch))
        self._handles.append(self.model.register_forward_hook(self._end_batch))
        for name, module in self.model.named_modules():
            if isinstance(module, MTLIF):
                self._handles.append(module.register_forward_hook(self._mark_spikes))
            elif isinstance(module, _COUNTED):
                ops = self.layers.setdefault(name, LayerOps(name, type(module).__name__))
                self._handles.append(
                    module.register_forward_hook(
                        lambda m, i, o, ops=ops: self._count(m, i[0], o, ops)
                    )
                )
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._spikes.clear()

    def _start_batch(self, _module: nn.Module, inputs: tuple[Any, ...]) -> None:
        self._batch = inputs[0].shape[self.batch_dim]
        self.images += self._batch

    def _end_batch(self, *_args: object) -> None:
        self._spikes.clear()

    def _mark_spikes(self, _module: nn.Module, _inputs: object, out: torch.Tensor) -> None:
        self._spikes[out.data_ptr()] = (out, 1.0)

    def _count(self, layer: nn.Module, x: torch.Tensor, out: torch.Tensor, ops: LayerOps) -> None:
        mark = self._spikes.get(x.data_ptr())
        scale = None if mark is None else mark[1]
        ops.spiking_input = scale is not None
        samples = x.shape[: x.dim() - _per_sample_dims(layer)].numel()
        ops.steps = samples // self._batch
        ann_share = 1.0 / ops.steps  # the ANN twin runs every layer once (T = 1)
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            dense, acs, nonzero = _weighted_counts(layer, x, scale)
            ops.ann_macs += dense * ann_share
            if scale is None:
                ops.macs += dense
            else:
                ops.acs += acs
                ops.nonzero_macs += nonzero
            return
        window = _window(layer, x)
        pooled = float(out.numel()) * (window - 1)
        if isinstance(layer, nn.MaxPool2d):
            ops.comparisons += pooled
            ops.ann_comparisons += pooled * ann_share
        else:
            ops.additions += pooled
            ops.ann_additions += pooled * ann_share
            if scale is not None:
                self._spikes[out.data_ptr()] = (out, scale / window)

    def per_image(self) -> list[dict[str, Any]]:
        """Every counted layer's operations per image, in model order."""
        return [ops.per_image(self.images) for ops in self.layers.values() if ops.steps]
