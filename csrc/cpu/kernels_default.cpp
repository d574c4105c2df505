// CPU kernels for any processor the build targets.
#include "cpu/kernels_common.h"

namespace mtsnn::cpu {
namespace baseline {
constexpr bool kHalfInstructions = false;  // F16C conversions
// Streaming stores of 128 bits (SSE2, part of every x86-64 processor); none elsewhere.
constexpr int kStreamBytes = MTSNN_CPU_MULTI_ISA ? 16 : 0;
#include "cpu/loops.h"
}  // namespace baseline

KernelTable default_kernels() { return {baseline::forward, baseline::backward}; }
}  // namespace mtsnn::cpu
