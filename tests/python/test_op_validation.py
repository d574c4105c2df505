"""Bad arguments get clear errors: from the functional API, the layers and torch.ops directly."""

from __future__ import annotations

import pytest
import torch

import mtsnn.nn as snn
from mtsnn import functional

X = torch.randn(2, 3, 4)

BAD_OPTIONS = [
    (
        dict(num_thresholds=0),
        ValueError,
        "num_thresholds must be an integer in \\[1, 256\\], got 0",
    ),
    (dict(num_thresholds=257), ValueError, "num_thresholds"),
    (dict(num_thresholds=2.5), RuntimeError, "num_thresholds"),
    (dict(threshold=0.0), ValueError, "threshold must be a finite number > 0, got 0"),
    (dict(threshold=-1.0), ValueError, "threshold must be"),
    (dict(threshold=float("inf")), ValueError, "threshold must be"),
    (dict(threshold=float("nan")), ValueError, "threshold must be"),
    (dict(decay=-0.1), ValueError, "decay must be in \\[0, 1\\], got -0.1"),
    (dict(decay=1.5), ValueError, "decay must be in \\[0, 1\\]"),
    (dict(decay=float("nan")), ValueError, "decay must be in"),
    (dict(decay=torch.tensor(1.5)), ValueError, "decay must be in \\[0, 1\\], got 1.5"),
    (dict(decay=torch.tensor([0.5, 0.5])), ValueError, "decay tensor must hold one value"),
    (dict(decay=torch.tensor(1)), TypeError, "decay tensor must be floating point"),
    (dict(width=0.0), ValueError, "width must be a finite number > 0"),
    (dict(width=float("nan")), ValueError, "width must be"),
    (
        dict(reset="soft-ish"),
        ValueError,
        "unknown reset 'soft-ish'; expected one of 'soft', 'hard', 'none'",
    ),
    (dict(surrogate="gauss"), ValueError, "unknown surrogate 'gauss'"),
    (dict(v0=torch.zeros(3, 5)), ValueError, "v0 must have shape \\[3, 4\\], got \\[3, 5\\]"),
    (dict(v0=torch.zeros(2, 3, 4)), ValueError, "v0 must have shape"),
    (dict(v0=torch.zeros(3, 4, dtype=torch.float64)), TypeError, "v0 must have the dtype of x"),
    (dict(v0=torch.zeros(3, 4, device="meta")), ValueError, "v0 must be on the device of x"),
]


@pytest.mark.parametrize(("options", "error", "message"), BAD_OPTIONS)
def test_bad_options(options, error, message):
    with pytest.raises(error, match=message):
        functional.mt_lif(X, **options)


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        (torch.zeros(0, 3), ValueError, "T = x.shape\\[0\\] must be at least 1, got 0"),
        (torch.tensor(1.0), ValueError, "leading time dimension"),
        (
            torch.zeros(2, 3, dtype=torch.int32),
            TypeError,
            "x must be float16, bfloat16, float32 or float64, got Int",
        ),
        (torch.zeros(2, 3, dtype=torch.bool), TypeError, "got Bool"),
        (torch.zeros(2, 3, dtype=torch.complex64), TypeError, "got ComplexFloat"),
    ],
)
def test_bad_inputs(x, error, message):
    with pytest.raises(error, match=message):
        functional.mt_lif(x)


def test_not_a_tensor():
    with pytest.raises((TypeError, RuntimeError)):
        functional.mt_lif([[1.0, 2.0]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mixed_devices():
    x = torch.randn(2, 3, device="cuda")
    with pytest.raises(ValueError, match="v0 must be on the device of x"):
        functional.mt_lif(x, v0=torch.zeros(3))
    # A CPU scalar decay is allowed with CUDA inputs, like a Python float.
    functional.mt_lif(x, decay=torch.tensor(0.5))


def test_backward_op_checks_its_gradients():
    with pytest.raises(ValueError, match="grad_spikes must have shape"):
        torch.ops.mtsnn.mt_lif_backward(
            torch.zeros(2, 3, 5),
            None,
            X,
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
    with pytest.raises(ValueError, match="grad_v_last must have shape"):
        torch.ops.mtsnn.mt_lif_backward(
            torch.zeros_like(X),
            torch.zeros(4),
            X,
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


@pytest.mark.parametrize(("options", "error", "message"), BAD_OPTIONS[:17])
def test_layers_validate_at_construction(options, error, message):
    if isinstance(options.get("decay"), torch.Tensor):
        pytest.skip("layers take a float decay")
    for layer in (snn.MTLIF, snn.MTLIFCell):
        with pytest.raises(error, match=message):
            layer(**options)


@pytest.mark.parametrize("decay", [0.0, 1.0])
def test_learned_decay_needs_an_open_interval(decay):
    with pytest.raises(ValueError, match="learn_decay needs an initial decay in \\(0, 1\\)"):
        snn.MTLIF(decay=decay, learn_decay=True)


def test_missing_extension_says_how_to_build(monkeypatch):
    from mtsnn import _extension

    monkeypatch.setattr(_extension, "_module", None)
    monkeypatch.setattr(_extension, "_load_error", ImportError("no module named mtsnn._C"))
    with pytest.raises(RuntimeError, match="pip install --no-build-isolation"):
        functional.mt_lif(X)
