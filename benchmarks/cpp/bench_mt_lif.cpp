// Google Benchmark microbenchmarks of the CPU kernels: forward and backward per kernel variant,
// with a plain tensor copy of the same bytes as the memory-bound yardstick. The "bytes_per_second"
// counter is the traffic the op must make: forward reads x and writes spikes (as a layer calls it,
// without the final membrane); backward reads x and grad_spikes and writes grad_x.
//
//   build/cmake/mtsnn_bench --benchmark_filter=T:2 --benchmark_min_time=0.2
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <string>

#include "mtsnn/functional.h"
#include "op/mt_lif.h"

namespace {

// As `mtsnn train` and benchmarks/run.py do: freed memory stays in the process, so that fresh
// outputs are not page-faulted in at every call (which would time the kernel's page faults).
[[maybe_unused]] const bool kKeepFreedMemory = mtsnn::keep_freed_memory();

constexpr int64_t kThresholds = 3;

void set_variant(benchmark::State& state, const std::string& variant) {
  try {
    mtsnn::set_cpu_capability(variant);
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
  }
}

void forward(benchmark::State& state, const std::string& variant) {
  set_variant(state, variant);
  const int64_t steps = state.range(0), neurons = state.range(1);
  const at::Tensor x = at::randn({steps, neurons}) * 2;
  for (auto _ : state) {
    auto out =
        mtsnn::mt_lif_kernel<mtsnn::forward_cpu>(x, std::nullopt, std::nullopt, 0.5, kThresholds,
                                                 1.0, "soft", "rectangle", 1.0, false, false);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * 2 * steps * neurons * 4);
}

void backward(benchmark::State& state, const std::string& variant) {
  set_variant(state, variant);
  const int64_t steps = state.range(0), neurons = state.range(1);
  const at::Tensor x = at::randn({steps, neurons}) * 2;
  const at::Tensor grad = at::randn({steps, neurons});
  for (auto _ : state) {
    auto out = mtsnn::mt_lif_backward_kernel<mtsnn::backward_cpu>(
        grad, std::nullopt, x, std::nullopt, std::nullopt, 0.5, kThresholds, 1.0, "soft",
        "rectangle", 1.0, false, false);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * 3 * steps * neurons * 4);
}

void copy(benchmark::State& state) {
  const int64_t steps = state.range(0), neurons = state.range(1);
  const at::Tensor source = at::randn({steps, neurons});
  at::Tensor target = at::empty_like(source);
  // Untimed first copy: it faults the target's pages in, which the op's outputs (reused memory)
  // do not pay either.
  target.copy_(source);
  for (auto _ : state) {
    target.copy_(source);
    benchmark::DoNotOptimize(target.data_ptr());
  }
  state.SetBytesProcessed(state.iterations() * 2 * steps * neurons * 4);
}

void shapes(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"T", "N"})->Unit(benchmark::kMillisecond)->UseRealTime();
  for (int64_t steps : {1, 2, 4, 8}) {
    for (int64_t neurons : {1 << 20, 1 << 22}) {
      bench->Args({steps, neurons});
    }
  }
}

}  // namespace

BENCHMARK(copy)->Apply(shapes);
BENCHMARK_CAPTURE(forward, avx512, std::string("avx512"))->Apply(shapes);
BENCHMARK_CAPTURE(forward, avx2, std::string("avx2"))->Apply(shapes);
BENCHMARK_CAPTURE(forward, default, std::string("default"))->Apply(shapes);
BENCHMARK_CAPTURE(backward, avx512, std::string("avx512"))->Apply(shapes);
BENCHMARK_CAPTURE(backward, avx2, std::string("avx2"))->Apply(shapes);
BENCHMARK_CAPTURE(backward, default, std::string("default"))->Apply(shapes);

BENCHMARK_MAIN();
