// CPU kernels for any processor the build targets.
#include "cpu/kernels_common.h"

namespace mtsnn::cpu {
namespace baseline {
constexpr bool kHalfInstructions = false;  // F16C conversions
#include "cpu/loops.h"
}  // namespace baseline

KernelTable default_kernels() { return {baseline::forward, baseline::backward}; }
}  // namespace mtsnn::cpu
