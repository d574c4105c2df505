"""The neuron implementations compared with the mtsnn op, each set up to match one MT-LIF layer.

Every implementation is a factory: ``build(device)`` returns ``run(x) -> spikes`` for a fresh
[T, ...] input, or raises ImportError when its library is missing (then it is reported as
skipped). Peers that have no graded neuron run a binary LIF neuron, and say so.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass

import torch

import mtsnn

# The layer every implementation is configured to match (mtsnn's defaults).
NUM_THRESHOLDS = 3
THRESHOLD = 1.0
DECAY = 0.5
OPTIONS = dict(
    num_thresholds=NUM_THRESHOLDS,
    threshold=THRESHOLD,
    decay=DECAY,
    reset="soft",
    surrogate="rectangle",
    width=1.0,
)

Run = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Implementation:
    """One column of the neuron table."""

    name: str
    package: str  # the distribution whose version is reported
    neuron: str  # the neuron model it computes, in words
    graded: bool  # spikes 0..K (True) or 0/1 (False)
    build: Callable[[torch.device], Run]
    backend: Callable[[torch.device], str] = lambda device: "eager PyTorch"  # its kernels

    def version(self) -> str:
        """The version of its package ("" when not installed)."""
        if self.package == "mtsnn":  # also when run from a source tree, not installed
            return mtsnn.__version__
        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return ""


def make_inputs(
    generator: torch.Generator, steps: int, neurons: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """The input current x [T, N] (2 * randn: every spike level occurs) and a gradient for the
    spikes, on the generator's device."""
    options = dict(generator=generator, device=generator.device, dtype=dtype)
    return torch.randn(steps, neurons, **options) * 2, torch.randn(steps, neurons, **options)


def _mtsnn(device: torch.device) -> Run:
    return functools.partial(mtsnn.functional.mt_lif, **OPTIONS)


def _reference(device: torch.device) -> Run:
    return functools.partial(mtsnn.reference.mt_lif, **OPTIONS)


def _compiled(device: torch.device) -> Run:
    # A clean slate per call, so every shape is compiled exactly once (on its first call).
    torch._dynamo.reset()
    return torch.compile(_reference(device), dynamic=False)


def _spikingjelly(device: torch.device) -> Run:
    from spikingjelly.activation_based import neuron, surrogate

    node = neuron.ILIFNode(
        tau=1 / (1 - DECAY),  # h = (1 - 1/tau) v + x
        v_threshold=THRESHOLD,
        surrogate_function=surrogate.MultiLevelSpikeCount(NUM_THRESHOLDS),
        step_mode="m",
    ).to(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        node.reset()  # start from rest, like the other implementations
        return node(x)

    return run


def _snntorch(device: torch.device) -> Run:
    import snntorch

    leaky = snntorch.Leaky(beta=DECAY, threshold=THRESHOLD, reset_mechanism="subtract").to(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        mem = leaky.init_leaky()
        spikes = []
        for current in x:
            spike, mem = leaky(current, mem)
            spikes.append(spike)
        return torch.stack(spikes)

    return run


def _norse(device: torch.device) -> Run:
    import norse.torch as norse

    # With dt = 1 ms the membrane keeps DECAY = 0.5 of itself per step, and the synaptic current
    # is replaced by each step's input.
    parameters = norse.LIFParameters(
        tau_mem_inv=torch.tensor(500.0),
        tau_syn_inv=torch.tensor(1000.0),
        v_th=torch.tensor(THRESHOLD),
    )
    module = norse.LIF(parameters).to(device)
    return lambda x: module(x)[0]


def _mtsnn_backend(device: torch.device) -> str:
    return "CUDA kernel" if device.type == "cuda" else f"CPU kernel, {mtsnn.cpu_capability()}"


def _compiled_backend(device: torch.device) -> str:
    return "inductor, Triton" if device.type == "cuda" else "inductor, C++"


def _spikingjelly_backend(device: torch.device) -> str:
    # SpikingJelly picks its fastest available CUDA kernels (native, Triton, torch) by itself.
    if device.type != "cuda":
        return "torch (its CPU path)"
    try:
        from spikingjelly._ops.ilif import _selection

        return str(_selection.diagnostics(device)["implementation"])
    except Exception as error:  # a private API: report, never fail the run
        return f"unknown ({error})"


IMPLEMENTATIONS: dict[str, Implementation] = {
    impl.name: impl
    for impl in (
        Implementation(
            "mtsnn",
            "mtsnn",
            "MT-LIF, fused op (torch.ops.mtsnn.mt_lif)",
            True,
            _mtsnn,
            _mtsnn_backend,
        ),
        Implementation(
            "reference",
            "torch",
            "MT-LIF, mtsnn.reference (eager PyTorch, loops over T and K)",
            True,
            _reference,
        ),
        Implementation(
            "compiled",
            "torch",
            "MT-LIF, torch.compile of mtsnn.reference (compile time excluded)",
            True,
            _compiled,
            _compiled_backend,
        ),
        Implementation(
            "spikingjelly",
            "spikingjelly",
            "I-LIF multi-step (ILIFNode, step_mode='m'): graded 0..K = round(h/theta) "
            "clipped, soft reset",
            True,
            _spikingjelly,
            _spikingjelly_backend,
        ),
        Implementation(
            "snntorch",
            "snntorch",
            "binary LIF (Leaky, subtract reset), Python loop over T",
            False,
            _snntorch,
        ),
        Implementation(
            "norse",
            "norse",
            "binary current-based LIF (norse.torch.LIF, hard reset), Python loop over T",
            False,
            _norse,
        ),
    )
}
