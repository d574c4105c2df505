// The CUDA entry points of a build without CUDA.
#include <c10/util/Exception.h>

#include "mtsnn/mt_lif.h"

namespace mtsnn {

bool built_with_cuda() { return false; }

void forward_cuda(const ForwardProblem&) {
  TORCH_CHECK(false, "mtsnn was built without CUDA kernels");
}

void backward_cuda(const BackwardProblem&) {
  TORCH_CHECK(false, "mtsnn was built without CUDA kernels");
}

}  // namespace mtsnn
