#!/usr/bin/env bash
# The GPU check in one call of under ten minutes, on a machine with an NVIDIA GPU, torch 2.11 +
# CUDA 13 and nvcc (no internet needed), run from the repository root:
#   1. build the extension with its CUDA kernels for Hopper (sm_90), in place;
#   2. run the Python tests with MTSNN_REQUIRE_CUDA=1 (in parallel when pytest-xdist is there);
#   3. the stages named in GPU_CHECK_STAGES (default "bench"), in that order:
#        bench    the benchmark suite on the GPU;
#        cifar10  tools/cifar10_gpu.py on the CIFAR-10 files in MTSNN_CIFAR10_DIR, with all of the
#                 budget that is left (their decoding overlaps the build).
# Each stage has a time limit, all of them together at most GPU_CHECK_BUDGET_S (570) seconds.
# GPU_CHECK_TESTS selects the tests (a pytest -k expression, default "not distributed"), and
# GPU_CHECK_TESTS_S caps their time (default 180 seconds).
# Logs and results go to $OUT when it is set, else to benchmarks/results; a summary ends the run.
#
#   bash benchmarks/gpu_check.sh
#   GPU_CHECK_STAGES=cifar10 GPU_CHECK_TESTS="cuda and not distributed" \
#     MTSNN_CIFAR10_DIR=.carry/cifar10-jpeg bash benchmarks/gpu_check.sh
#
# Python packages missing there (the peers spikingjelly, snntorch, norse) can come along as wheels
# in .whl/ (or $MTSNN_WHEELS); they are installed into /tmp/site without their dependencies.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
py=${PYTHON:-python3}
out=${OUT:-benchmarks/results}
wheels=${MTSNN_WHEELS:-.whl}
mkdir -p "$out"
deadline=$(($(date +%s) + ${GPU_CHECK_BUDGET_S:-570}))
summary=()
failed=0

# stage NAME CAP_S COMMAND...: run COMMAND for at most CAP_S seconds (less if the budget is
# nearly spent), its output shown and kept in $out/NAME.log; record the outcome in the summary.
stage() {
  local name=$1 cap=$2
  shift 2
  local left=$((deadline - $(date +%s) - 10))
  local limit=$((cap < left ? cap : left))
  if ((limit < 20)); then
    summary+=("$name: not run, the time budget is spent")
    failed=1
    return 1
  fi
  echo "== $name (limit ${limit}s)"
  local start rc
  start=$(date +%s)
  timeout -k 10 "$limit" "$@" 2>&1 | tee "$out/$name.log"
  rc=${PIPESTATUS[0]}
  local took=$(($(date +%s) - start))
  if ((rc == 0)); then
    summary+=("$name: ok in ${took}s")
  elif ((rc == 124 || rc == 137)); then
    summary+=("$name: TIMED OUT after ${limit}s")
  else
    summary+=("$name: FAILED (exit $rc) after ${took}s, see $name.log")
  fi
  ((rc == 0)) || failed=1
  return "$rc"
}

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nvcc --version | tail -n 1
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'

if compgen -G "$wheels/*.whl" >/dev/null; then
  stage wheels 120 "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site "$wheels"/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi

export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
stages=${GPU_CHECK_STAGES:-bench}
# Bad settings stop the check here, before the build spends any of the budget.
for name in ${stages//,/ }; do
  [[ $name == bench || $name == cifar10 ]] ||
    { echo "GPU_CHECK_STAGES: unknown stage '$name' (known: bench, cifar10)" >&2; exit 2; }
done
decoding=
if [[ ,$stages, == *,cifar10,* ]]; then
  : "${MTSNN_CIFAR10_DIR:?GPU_CHECK_STAGES has cifar10: set MTSNN_CIFAR10_DIR}"
  # Decoding fills mtsnn's per-user cache; it needs no kernels, so it runs beside the build.
  "$py" tools/cifar10_gpu.py --prepare --data-dir "$MTSNN_CIFAR10_DIR" &
  decoding=$!
fi
xdist=()
"$py" -c 'import xdist' 2>/dev/null && xdist=(-n 8)
if stage build 330 env MTSNN_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS="$(nproc)" \
  "$py" setup.py build_ext --inplace; then
  stage tests "${GPU_CHECK_TESTS_S:-180}" env MTSNN_REQUIRE_CUDA=1 "$py" -m pytest -q \
    -p no:cacheprovider "${xdist[@]}" tests/python -k "${GPU_CHECK_TESTS:-not distributed}"
  [[ -n $decoding ]] && wait "$decoding"
  for name in ${stages//,/ }; do
    case $name in
      # Cheap sections first: results are saved as they are measured, so a time-out keeps them.
      bench) stage bench 600 "$py" benchmarks/run.py --device cuda --out "$out" \
        --sections bandwidth,train,neuron ;;
      # The tool plans its epochs to end inside its --budget, a little under the stage's limit.
      cifar10) left=$((deadline - $(date +%s) - 10))
        stage cifar10 "$left" "$py" tools/cifar10_gpu.py --data-dir "$MTSNN_CIFAR10_DIR" \
          --budget $((left - 20)) --out "$out" ;;
    esac
  done
else
  summary+=("tests, $stages: not run, the build failed")
fi

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
[[ -f $out/tests.log ]] && echo "pytest: $(tail -n 1 "$out/tests.log")"
[[ -f $out/cuda-latest.md ]] && cat "$out/cuda-latest.md"
exit "$failed"
