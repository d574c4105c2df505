"""The one autograd of torch.ops.mtsnn.mt_lif, defined in C++: what Python gets from it.

The gradients must be bitwise those of composing the two registered ops by hand (what the
autograd registered from Python computed before it moved to C++); torch.compile, compiled
autograd and torch.export must trace through it; a second differentiation must fail loudly.
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.backends.common import aot_autograd

import mtsnn
from mtsnn import functional
from mtsnn.options import NeuronOptions

OPTIONS = [
    dict(num_thresholds=3, threshold=1.0, reset="soft", surrogate="rectangle", width=1.0),
    dict(num_thresholds=2, threshold=0.7, reset="hard", surrogate="sigmoid", width=0.5),
    dict(num_thresholds=5, threshold=0.6, reset="none", surrogate="triangle", width=2.0),
    dict(num_thresholds=1, threshold=1.2, reset="hard", surrogate="triangle", detach_reset=True),
]


class _ByHand(torch.autograd.Function):
    """mt_lif's derivative composed from the two ops in Python, independently of the C++ one."""

    @staticmethod
    def forward(ctx, x, v0, decay_tensor, decay, options, return_state):
        ctx.save_for_backward(x, v0, decay_tensor)
        ctx.decay, ctx.options = decay, options
        o = options
        spikes, v_last = torch.ops.mtsnn.mt_lif(
            x,
            v0,
            decay_tensor,
            decay,
            o["num_thresholds"],
            o["threshold"],
            o["reset"],
            o["surrogate"],
            o["width"],
            o.get("detach_reset", False),
            return_state,
        )
        return spikes, v_last

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_last):
        x, v0, decay_tensor = ctx.saved_tensors
        o = ctx.options
        grad_x, grad_v0, grad_decay = torch.ops.mtsnn.mt_lif_backward(
            grad_spikes,
            grad_v_last,
            x,
            v0,
            decay_tensor,
            ctx.decay,
            o["num_thresholds"],
            o["threshold"],
            o["reset"],
            o["surrogate"],
            o["width"],
            o.get("detach_reset", False),
            decay_tensor is not None,
        )
        decay_grad = None
        if decay_tensor is not None:
            decay_grad = grad_decay.to(decay_tensor.dtype).reshape(decay_tensor.shape)
        return grad_x, grad_v0 if v0 is not None else None, decay_grad, None, None, None


def _options_for_op(options: dict) -> dict:
    return {"width": 1.0, **options}


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("with_v0", [False, True])
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_gradients_bitwise_equal_to_the_ops_composed_by_hand(
    device, options, dtype, with_v0, steps
):
    x = (torch.randn(steps, 3, 33, device=device) * 2 + 0.3).to(dtype)
    v0 = torch.randn(3, 33, device=device).to(dtype) if with_v0 else None
    grad_s = torch.randn(x.shape, device=device).to(dtype)
    grad_v = torch.randn(x.shape[1:], device=device).to(dtype)
    results = []
    for use_cpp in (True, False):
        leaves = [x.clone().requires_grad_()]
        v0_leaf = v0.clone().requires_grad_() if with_v0 else None
        decay = torch.tensor(0.6, device=device, requires_grad=True)
        if use_cpp:
            spikes, v_last = functional.mt_lif(
                leaves[0], v0=v0_leaf, decay=decay, return_state=True, **options
            )
        else:
            spikes, v_last = _ByHand.apply(
                leaves[0], v0_leaf, decay, 0.5, _options_for_op(options), True
            )
        torch.autograd.backward((spikes, v_last), (grad_s, grad_v))
        grads = [leaves[0].grad, decay.grad] + ([v0_leaf.grad] if with_v0 else [])
        results.append([spikes.detach(), v_last.detach(), *grads])
    for got, want in zip(*results, strict=True):
        assert torch.equal(got, want)


def test_double_backward_is_refused_loudly():
    x = torch.randn(2, 16, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(functional.mt_lif(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match=r"double backward .* is not supported"):
        grad.sum().backward()


def test_no_graph_needed_means_no_error():
    # create_graph=False: the gradient is a plain tensor, nothing is refused.
    x = torch.randn(2, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(functional.mt_lif(x).sum(), x)
    assert not grad.requires_grad


def _model():
    return torch.nn.Sequential(
        torch.nn.Linear(12, 16), mtsnn.nn.MTLIF(num_thresholds=3, learn_decay=True)
    )


def _graph_recorder():
    """An aot_eager backend that keeps the op names of its forward and backward graphs."""
    recorded: dict[str, set[str]] = {"forward": set(), "backward": set()}

    def compiler(kind):
        def compile_graph(graph, _inputs):
            recorded[kind] |= {
                str(node.target) for node in graph.graph.nodes if node.op == "call_function"
            }
            return graph

        return compile_graph

    backend = aot_autograd(fw_compiler=compiler("forward"), bw_compiler=compiler("backward"))
    return backend, recorded


def test_compiled_graphs_call_both_ops():
    torch._dynamo.reset()
    backend, recorded = _graph_recorder()
    model = _model()
    x = torch.randn(2, 5, 12, requires_grad=True)
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    compiled(x).sum().backward()
    assert "mtsnn.mt_lif.default" in recorded["forward"]
    assert "mtsnn.mt_lif_backward.default" in recorded["backward"]
    assert "mtsnn.mt_lif.default" not in recorded["backward"]  # nothing recomputed twice


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_gradients_equal_eager(backend):
    torch._dynamo.reset()
    model = _model()
    x = torch.randn(2, 5, 12)
    model(x).square().sum().backward()
    eager = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch.compile(model, backend=backend, fullgraph=True)(x).square().sum().backward()
    for got, want in zip((p.grad for p in model.parameters()), eager, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_compiled_autograd_traces_the_cpp_backward():
    torch._dynamo.reset()
    model = _model()
    x = torch.randn(2, 5, 12)
    model(x).square().sum().backward()
    eager = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    graphs: list[list[str]] = []

    def compiler(graph, _inputs):
        graphs.append(
            [str(node.target) for node in graph.graph.nodes if node.op == "call_function"]
        )
        return graph

    with torch._dynamo.compiled_autograd._enable(torch.compile(backend=compiler)):
        model(x).square().sum().backward()
    # One graph for the whole backward, with the C++ node inside it (not a graph break).
    assert len(graphs) == 1
    assert any("MTLIFFunction" in target for target in graphs[0])
    for got, want in zip((p.grad for p in model.parameters()), eager, strict=True):
        torch.testing.assert_close(got, want)


def test_export_keeps_the_op_through_decompositions():
    model = _model().eval()
    x = torch.randn(2, 5, 12)
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (x,), dynamic_shapes=({1: batch},)).run_decompositions()
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert "mtsnn.mt_lif.default" in targets
    other = torch.randn(2, 9, 12)
    torch.testing.assert_close(program.module()(other), model(other), rtol=0, atol=0)


def test_a_device_without_kernels_gets_a_clear_error():
    # The entry of a backend without kernels (CUDA in a CPU-only build, PrivateUse1 always) is the
    # fallback kernel; reached here by redispatching a CPU tensor to that backend's key.
    message = "has no kernels for" if mtsnn.built_with_cuda() else "rebuild it with CUDA"
    keys = [torch._C.DispatchKey.PrivateUse1] + [torch._C.DispatchKey.CUDA] * (
        not mtsnn.built_with_cuda()
    )
    for key in keys:
        with pytest.raises(RuntimeError, match=message):
            torch.ops.mtsnn.mt_lif.default.redispatch(
                torch._C.DispatchKeySet(key),
                torch.randn(2, 3),
                None,
                None,
                0.5,
                3,
                1.0,
                "soft",
                "rectangle",
                1.0,
                False,
                False,
            )


def test_python_defaults_are_the_cpp_ones():
    # The two declarations of the neuron's options: mtsnn.options and mtsnn::NeuronOptions.
    from mtsnn import _extension

    cpp = _extension.require_extension().default_neuron_options()
    assert cpp == NeuronOptions().as_dict()
