"""`mtsnn export`: a trained run as a self-contained AOTInductor package, to run from C++.

The package (``.pt2``) holds the model in eval mode with its input normalisation inside: it takes
raw uint8 images [B, C, H, W] (any batch size from 1 to ``max_batch``) and returns the logits
[B, classes]. It is compiled ahead of time by Inductor into native code for the CPU that exports
it, against this torch; its metadata records both, and the C++ runner (``mtsnn-predict``,
examples/cpp/predict.cpp) refuses a package that does not fit its machine. The runner needs
libmtsnn, which registers the MT-LIF operator the package calls.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from mtsnn.data import CLASSES, IMAGE_SHAPES, normalization_affine
from mtsnn.training.checkpoint import load_checkpoint, restore_model
from mtsnn.training.errors import CheckpointError

PACKAGE_FORMAT = "mtsnn-aoti-1"
DEFAULT_MAX_BATCH = 4096


class PixelClassifier(nn.Module):
    """A model that takes raw uint8 pixels: ``model(pixels.float() * scale + shift)``, the
    normalisation of training batches (mtsnn.data.normalization_affine)."""

    def __init__(self, model: nn.Module, dataset: str, channels: int) -> None:
        super().__init__()
        self.model = model
        scale, shift = normalization_affine(dataset, channels)
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits [B, classes] for uint8 images [B, C, H, W]."""
        return self.model(pixels.float() * self.scale + self.shift)


def cpu_isa() -> tuple[str, str]:
    """The vector instruction set Inductor compiles CPU code for here: its name ("avx512
    avx512_vnni", "avx2", ...; "none" without one) and the compiler flags that select it
    ("-mavx512f -mavx512dq ..."), which name the CPU features the package needs."""
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    isa = pick_vec_isa()
    return (str(isa) or "none"), " ".join(dict.fromkeys(isa.build_arch_flags().split()))


def load_run(path: str | os.PathLike[str]) -> tuple[PixelClassifier, dict[str, str]]:
    """The run's model (eval mode, its weights) behind its normalisation, and the package
    metadata that describes it.

    Raises:
        CheckpointError: an unreadable, tampered or mismatching checkpoint.
    """
    checkpoint = load_checkpoint(path)
    config = checkpoint.config
    shape = IMAGE_SHAPES[config.dataset]
    classes = CLASSES[config.dataset]
    model = config.model_for(shape, len(classes))
    restore_model(checkpoint, model)
    metadata = {
        "mtsnn_format": PACKAGE_FORMAT,
        "dataset": config.dataset,
        "classes": json.dumps(list(classes)),
        "input_shape": ",".join(str(size) for size in shape),
        "input_dtype": "uint8",
        "model": config.model,
        "timesteps": str(model.timesteps),
        "checkpoint_epoch": str(checkpoint.epoch),
        "checkpoint_sha256": checkpoint.meta["sha256"],
        "torch_version": torch.__version__,
    }
    metadata["cpu_isa"], metadata["cpu_flags"] = cpu_isa()
    return PixelClassifier(model, config.dataset, shape[0]).eval(), metadata


def export_run(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> Path:
    """Export the run at ``path`` (a run directory or its checkpoint.json) to the package ``out``.

    torch.export traces the model with a dynamic batch dimension (1 .. ``max_batch``), and
    torch._inductor.aoti_compile_and_package compiles it; the package is written to a temporary
    file beside ``out`` and renamed onto it, so ``out`` is never left half-written.

    Returns:
        The package path.

    Raises:
        CheckpointError: as load_run.
        ValueError: ``max_batch`` below 2 (torch.export specialises a size-1 dimension).
    """
    if max_batch < 2:
        raise ValueError(f"max_batch must be >= 2, got {max_batch}")
    model, metadata = load_run(path)
    out = Path(out)
    if not out.parent.is_dir():
        raise CheckpointError(f"cannot write {out}: {out.parent} is not a directory")
    shape = tuple(int(size) for size in metadata["input_shape"].split(","))
    example = torch.zeros((2, *shape), dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    with torch.no_grad():
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".pt2")
    os.close(handle)
    try:
        torch._inductor.aoti_compile_and_package(
            program,
            package_path=temporary,
            inductor_configs={"aot_inductor.metadata": metadata},
        )
        os.replace(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return out
