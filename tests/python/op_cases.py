"""Helpers that run the fused op and the reference side by side."""

from __future__ import annotations

import torch

from mtsnn import functional, reference
from mtsnn.options import RESETS, SURROGATES

__all__ = ["RESETS", "SURROGATES", "assert_same", "run_both", "spread_input", "tolerances"]


def spread_input(shape, num_thresholds: int, threshold: float, dtype, device) -> torch.Tensor:
    """Random currents that reach every spike level 0..K and go negative."""
    scale = num_thresholds * threshold * 0.6
    return (torch.randn(shape, dtype=torch.float64) * scale + 0.3 * threshold).to(dtype).to(device)


def run_both(x: torch.Tensor, grad_spikes: torch.Tensor, grad_v: torch.Tensor | None, **options):
    """Forward and backward through the fused op and the reference (computed in x's dtype,
    float32 for float16/bfloat16 inputs); returns (fused, reference), each a dict of tensors."""
    results = []
    for impl, dtype in ((functional, x.dtype), (reference, _reference_dtype(x.dtype))):
        leaves = {"x": x.detach().to(dtype).requires_grad_()}
        call = dict(options)
        for name in ("v0", "decay"):
            value = options.get(name)
            if isinstance(value, torch.Tensor):
                value = value.detach()
                if name == "v0":
                    value = value.to(dtype)
                leaves[name] = value.requires_grad_()
                call[name] = leaves[name]
        spikes, v_last = impl.mt_lif(leaves["x"], return_state=True, **call)
        loss = (spikes * grad_spikes.to(spikes.dtype)).sum()
        if grad_v is not None:
            loss = loss + (v_last * grad_v.to(v_last.dtype)).sum()
        loss.backward()
        out = {"spikes": spikes.detach(), "v_last": v_last.detach()}
        out.update({f"grad_{name}": leaf.grad for name, leaf in leaves.items()})
        results.append(out)
    return results


def _reference_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def tolerances(dtype: torch.dtype) -> dict:
    return {
        torch.float64: dict(rtol=1e-10, atol=1e-10),
        torch.float32: dict(rtol=1e-5, atol=1e-5),
        torch.float16: dict(rtol=2e-3, atol=2e-3),
        torch.bfloat16: dict(rtol=1.6e-2, atol=1.6e-2),
    }[dtype]


def assert_same(fused: dict, ref: dict, dtype: torch.dtype) -> None:
    """Spikes exactly equal; membranes and gradients close."""
    torch.testing.assert_close(
        fused["spikes"].to(ref["spikes"].dtype), ref["spikes"], rtol=0, atol=0
    )
    for key in ref:
        if key == "spikes":
            continue
        assert fused[key] is not None, f"{key} is missing"
        torch.testing.assert_close(
            fused[key].to(ref[key].dtype),
            ref[key],
            **tolerances(dtype),
            msg=lambda m, k=key: f"{k}: {m}",
        )
