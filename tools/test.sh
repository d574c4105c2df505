#!/usr/bin/env bash
# Runs every check of the project: lint and format, the C++ build with the GoogleTest suite, the
# same suite under AddressSanitizer + UndefinedBehaviorSanitizer, and the Python test suite.
# Expects tools/bootstrap.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
py="$PWD/.venv/bin/python"

echo "== lint"
"$py" -m ruff check python tests tools benchmarks
"$py" -m ruff format --check python tests tools benchmarks
clang-format --dry-run --Werror csrc/*.cpp csrc/*/*.h csrc/*/*.cpp csrc/cuda/*.cu tests/cpp/*.cpp \
  benchmarks/cpp/*.cpp

echo "== C++ build and GoogleTest"
cmake -S . -B build/cmake -G Ninja -DPython3_EXECUTABLE="$py" >/dev/null
cmake --build build/cmake -j2
ctest --test-dir build/cmake --output-on-failure -j2

echo "== GoogleTest under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build/asan -G Ninja -DPython3_EXECUTABLE="$py" -DMTSNN_SANITIZE=ON \
  -DMTSNN_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/asan -j2
ctest --test-dir build/asan --output-on-failure -j2

echo "== Python tests"
"$py" -m pytest -q tests/python
