"""Builds the mtsnn._C extension (CPU kernels, plus CUDA kernels when available).

Environment switches:
  MTSNN_CUDA=1   build the CUDA kernels (fails without the CUDA toolkit)
  MTSNN_CUDA=0   CPU-only build
  (unset)        CUDA kernels when torch has CUDA and the CUDA toolkit is found
  TORCH_CUDA_ARCH_LIST  the GPU architectures to compile for (default here: "8.0;9.0+PTX")
  MTSNN_DEBUG=1  build without optimisation, with debug symbols
"""

import os
from pathlib import Path

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = Path(__file__).resolve().parent
CSRC = ROOT / "csrc"


def want_cuda() -> bool:
    choice = os.environ.get("MTSNN_CUDA", "").strip().lower()
    available = torch.version.cuda is not None and CUDA_HOME is not None
    if choice in {"1", "on", "true", "yes"}:
        if not available:
            raise RuntimeError(
                "MTSNN_CUDA=1 but CUDA cannot be built here: torch.version.cuda="
                f"{torch.version.cuda!r}, CUDA_HOME={CUDA_HOME!r}"
            )
        return True
    if choice in {"0", "off", "false", "no"}:
        return False
    if choice:
        raise RuntimeError(f"MTSNN_CUDA must be 1 or 0, got {choice!r}")
    return available


def extension():
    debug = os.environ.get("MTSNN_DEBUG") == "1"
    optimise = ["-O0", "-g"] if debug else ["-O3"]
    # No fused multiply-add: the kernels must round exactly like the PyTorch reference. OpenMP:
    # at::parallel_for is inline and runs serially unless the extension itself is built with it
    # (it then shares torch's libgomp, loaded first, so torch.set_num_threads applies).
    cxx_flags = [
        *optimise,
        "-std=c++17",
        "-ffp-contract=off",
        "-fno-trapping-math",
        "-fopenmp",
        "-Wall",
    ]
    sources = [
        "csrc/mt_lif.cpp",
        "csrc/ops.cpp",
        "csrc/python_module.cpp",
        "csrc/cpu/dispatch.cpp",
        "csrc/cpu/kernels_default.cpp",
        "csrc/cpu/kernels_avx2.cpp",
        "csrc/cpu/kernels_avx512.cpp",
    ]
    common = dict(name="mtsnn._C", include_dirs=[str(CSRC)], extra_link_args=["-fopenmp"])
    if want_cuda():
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0+PTX")
        nvcc_flags = [*optimise, "-std=c++17", "--fmad=false", "--expt-relaxed-constexpr"]
        return CUDAExtension(
            sources=[*sources, "csrc/cuda/mt_lif_cuda.cu"],
            extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags},
            **common,
        )
    return CppExtension(
        sources=[*sources, "csrc/cuda_absent.cpp"],
        extra_compile_args={"cxx": cxx_flags},
        **common,
    )


setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
