"""Builds the mtsnn._C extension (CPU kernels, plus CUDA kernels when available).

The sources and compiler flags come from csrc/sources.json, which CMakeLists.txt reads too.

Environment switches:
  MTSNN_CUDA=1   build the CUDA kernels (fails without the CUDA toolkit)
  MTSNN_CUDA=0   CPU-only build
  (unset)        CUDA kernels when torch has CUDA and the CUDA toolkit is found
  TORCH_CUDA_ARCH_LIST  the GPU architectures to compile for (default: sources.json's)
  MTSNN_DEBUG=1  build without optimisation, with debug symbols
"""

import json
import os
from pathlib import Path

import torch
from setuptools import setup
from torch.utils.cpp_extension import (
    CUDA_HOME,
    BuildExtension,
    CppExtension,
    CUDAExtension,
    include_paths,
)

ROOT = Path(__file__).resolve().parent
BUILD = json.loads((ROOT / "csrc" / "sources.json").read_text())


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
    # setuptools passes Python's own CFLAGS first, and they hold -g: with debug information a CPU
    # kernel file compiles a third slower (2 Zen 3 cores: 139 s against 105 s) and its object is
    # 8 times as large.
    cxx_debug_info = [] if debug else ["-g0"]
    sources = [*BUILD["operator"], *BUILD["python_module"]]
    common = dict(
        name="mtsnn._C",
        include_dirs=[str(ROOT / "csrc"), str(ROOT / "csrc" / "include")],
        extra_link_args=BUILD["link_flags"],
    )
    # torch's headers as system headers (GCC then ignores their -I), so that the warning flags
    # apply to mtsnn's own code only, as in the CMake build.
    system_headers = [f"-isystem{path}" for path in include_paths()]
    cxx_flags = [*optimise, *cxx_debug_info, "-std=c++17", *BUILD["cxx_flags"], *system_headers]
    if want_cuda():
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", BUILD["cuda_architectures"])
        nvcc_flags = [*optimise, "-std=c++17", *BUILD["cuda_flags"]]
        return CUDAExtension(
            sources=[*sources, *BUILD["operator_cuda"]],
            extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags},
            **common,
        )
    return CppExtension(sources=sources, extra_compile_args={"cxx": cxx_flags}, **common)


setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
