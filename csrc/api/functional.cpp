// mtsnn::mt_lif and friends: the public C++ calls of the operator, through the dispatcher (so
// through autograd), with the options struct unpacked into the schema's arguments.
#include "mtsnn/functional.h"

#include <ATen/ops/empty.h>

#include "op/mt_lif.h"

namespace mtsnn {
namespace {

std::tuple<at::Tensor, at::Tensor> call_op(const at::Tensor& x, const NeuronOptions& options,
                                           const std::optional<at::Tensor>& v0,
                                           const std::optional<at::Tensor>& decay,
                                           bool return_state) {
  return mt_lif_op().call(x, v0, decay, options.decay(), options.num_thresholds(),
                          options.threshold(), options.reset(), options.surrogate(),
                          options.width(), options.detach_reset(), return_state);
}

}  // namespace

at::Tensor mt_lif(const at::Tensor& x, const NeuronOptions& options,
                  const std::optional<at::Tensor>& v0, const std::optional<at::Tensor>& decay) {
  return std::get<0>(call_op(x, options, v0, decay, /*return_state=*/false));
}

std::tuple<at::Tensor, at::Tensor> mt_lif_with_state(const at::Tensor& x,
                                                     const NeuronOptions& options,
                                                     const std::optional<at::Tensor>& v0,
                                                     const std::optional<at::Tensor>& decay) {
  return call_op(x, options, v0, decay, /*return_state=*/true);
}

void check_options(const NeuronOptions& options) {
  validate_options(options.num_thresholds(), options.threshold(), options.decay(), options.reset(),
                   options.surrogate(), options.width(), options.detach_reset());
}

}  // namespace mtsnn
