// CPU kernels for processors with AVX2 + FMA + F16C (x86-64-v3), chosen at run time.
#include "cpu/kernels_common.h"

#if MTSNN_CPU_MULTI_ISA
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace mtsnn::cpu {
namespace avx2 {
constexpr bool kHalfInstructions = true;  // F16C conversions
constexpr int kStreamBytes = 32;          // streaming stores of 256 bits
#include "cpu/loops.h"
}  // namespace avx2
}  // namespace mtsnn::cpu
#pragma GCC pop_options

namespace mtsnn::cpu {
KernelTable avx2_kernels() { return {avx2::forward, avx2::backward}; }
}  // namespace mtsnn::cpu
#else
namespace mtsnn::cpu {
KernelTable avx2_kernels() { return default_kernels(); }
}  // namespace mtsnn::cpu
#endif
