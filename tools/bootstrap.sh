#!/usr/bin/env bash
# Sets up a fresh machine for mtsnn: system packages (when run as root with apt), a virtual
# environment in .venv with torch, the test tools, and mtsnn itself built and installed. (The C++
# library and its CMake package are built by CMake: see tools/test.sh and the README.)
#
# Environment: MTSNN_CUDA=1/0 forces the CUDA kernels on/off (default: on when torch and the CUDA
# toolkit are both present); PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    g++ cmake ninja-build libgtest-dev libbenchmark-dev clang-format nlohmann-json3-dev \
    zlib1g-dev dataset-fashion-mnist >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch>=2.11,<2.12" "numpy>=1.24,<3" "setuptools>=64,<82" wheel ninja
.venv/bin/python -m pip install -q --no-build-isolation ".[test,plot,analysis]"
.venv/bin/python -c "import mtsnn; print('mtsnn', mtsnn.__version__, '| CPU kernels:', mtsnn.cpu_capability(), '| CUDA kernels:', mtsnn.built_with_cuda())"
