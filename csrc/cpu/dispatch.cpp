// Chooses the CPU kernel variant for the processor at run time and the output size from which the
// kernels stream, and registers the CPU kernels.
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

#include "cpu/kernels_common.h"
#include "mtsnn/functional.h"

namespace mtsnn {
namespace {

struct Variant {
  const char* name;
  cpu::KernelTable (*table)();
  bool (*supported)();
};

bool always() { return true; }

#if MTSNN_CPU_MULTI_ISA
bool has_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}
bool has_avx512() {
  return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#else
bool has_avx2() { return false; }
bool has_avx512() { return false; }
#endif

// Best first.
constexpr Variant kVariants[] = {
    {"avx512", cpu::avx512_kernels, has_avx512},
    {"avx2", cpu::avx2_kernels, has_avx2},
    {"default", cpu::default_kernels, always},
};

// The variant called `name`, supported here or not; nullptr for an unknown name.
const Variant* variant_named(const std::string& name) {
  for (const Variant& variant : kVariants) {
    if (name == variant.name) return &variant;
  }
  return nullptr;
}

const Variant* find_variant(const std::string& name) {
  const Variant* variant = variant_named(name);
  TORCH_CHECK_VALUE(variant != nullptr, "mtsnn: unknown CPU capability '", name,
                    "'; expected 'avx512', 'avx2' or 'default'");
  TORCH_CHECK_VALUE(variant->supported(), "mtsnn: this processor or build does not support the '",
                    name, "' CPU kernels");
  return variant;
}

// The variant that ATEN_CPU_CAPABILITY names, where this processor supports it, else none. That
// variable picks ATen's CPU kernels and the vector width of torch.compile's C++ code, so one
// setting imitates a lesser processor for all three. As Inductor does, a name this processor
// lacks is ignored, and so is an unknown one (ATen honours any name it was built with).
const Variant* aten_variant() {
  const char* aten = std::getenv("ATEN_CPU_CAPABILITY");
  const Variant* variant = aten == nullptr ? nullptr : variant_named(aten);
  return variant != nullptr && variant->supported() ? variant : nullptr;
}

// MTSNN_CPU_CAPABILITY pins a variant (for tests and comparisons); without it, ATEN_CPU_CAPABILITY
// chooses one; otherwise the best supported.
const Variant* initial_variant() {
  if (const char* pinned = std::getenv("MTSNN_CPU_CAPABILITY"); pinned && *pinned) {
    return find_variant(pinned);
  }
  if (const Variant* aten = aten_variant()) return aten;
  for (const Variant& variant : kVariants) {
    if (variant.supported()) {
      return &variant;
    }
  }
  return &kVariants[2];
}

std::atomic<const Variant*>& active_variant() {
  static std::atomic<const Variant*> active{initial_variant()};
  return active;
}

cpu::KernelTable active_kernels() { return active_variant().load()->table(); }

// The largest cache of CPU 0 as Linux describes it (sysfs, e.g. "32768K"); 32 MiB where it does
// not. (sysconf's cache sizes come from the processor's own report, which a virtual machine can
// pass through from its host: 320 MiB for a 32 MiB cache, seen.)
int64_t last_level_cache_bytes() {
  int64_t largest = 0;
  for (int index = 0;; ++index) {
    std::ifstream file("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) +
                       "/size");
    int64_t size = 0;
    char unit = 0;
    if (!(file >> size >> unit)) break;
    const int shift = unit == 'K' ? 10 : unit == 'M' ? 20 : 0;
    largest = std::max(largest, size << shift);
  }
  return largest > 0 ? largest : int64_t{32} << 20;
}

// The default streaming threshold: the last-level cache, at most 32 MiB. sysfs describes a shared
// L3 whole, however few of its cores a machine has: on 2 cores of a Xeon (family 6 model 207) in a
// virtual machine it reads 260 MiB, and the threshold there left the forward pass at 4M neurons,
// T = 2-4, in whole blocks at 0.8-0.9x torch.compile; from 32 MiB (chunks, streamed outputs) it
// ran 1.7x, and forward + backward at T = 2-8 1.4-1.6x faster than before.
constexpr int64_t kMaxDefaultStreamingThreshold = int64_t{32} << 20;

std::atomic<int64_t>& streaming_threshold() {
  static std::atomic<int64_t> threshold{
      std::min(last_level_cache_bytes(), kMaxDefaultStreamingThreshold)};
  return threshold;
}

}  // namespace

const char* cpu_capability() { return active_variant().load()->name; }

void set_cpu_capability(const std::string& name) { active_variant().store(find_variant(name)); }

int64_t cpu_streaming_threshold() { return streaming_threshold().load(); }

void set_cpu_streaming_threshold(int64_t bytes) {
  TORCH_CHECK_VALUE(
      bytes >= 0, "mtsnn: the CPU streaming threshold must be a number of bytes >= 0, got ", bytes);
  streaming_threshold().store(bytes);
}

void forward_cpu(const ForwardProblem& problem) { active_kernels().forward(problem); }

void backward_cpu(const BackwardProblem& problem) { active_kernels().backward(problem); }

}  // namespace mtsnn

TORCH_LIBRARY_IMPL(mtsnn, CPU, m) {
  m.impl("mt_lif", &mtsnn::mt_lif_kernel<mtsnn::forward_cpu>);
  m.impl("mt_lif_backward", &mtsnn::mt_lif_backward_kernel<mtsnn::backward_cpu>);
}
