// CPU kernels for processors with AVX-512 F/BW/VL/DQ (x86-64-v4), chosen at run time.
#include "cpu/kernels_common.h"

#if MTSNN_CPU_MULTI_ISA
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
namespace mtsnn::cpu {
namespace avx512 {
constexpr bool kHalfInstructions = true;  // F16C conversions
constexpr int kStreamBytes = 64;          // streaming stores of 512 bits
#include "cpu/loops.h"
}  // namespace avx512
}  // namespace mtsnn::cpu
#pragma GCC pop_options

namespace mtsnn::cpu {
KernelTable avx512_kernels() { return {avx512::forward, avx512::backward}; }
}  // namespace mtsnn::cpu
#else
namespace mtsnn::cpu {
KernelTable avx512_kernels() { return default_kernels(); }
}  // namespace mtsnn::cpu
#endif
