// mtsnn::mt_lif and friends: the public C++ calls of the operator, through the dispatcher (so
// through autograd), with the options struct unpacked into the schema's arguments.
#include "mtsnn/functional.h"

#include <ATen/ops/empty_like.h>
#include <ATen/ops/sum.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

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

// The autograd of repeat_over_time: expand forward, a sum into x's own layout backward.
class RepeatOverTime : public torch::autograd::Function<RepeatOverTime> {
 public:
  static constexpr bool is_traceable = true;

  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            int64_t steps) {
    ctx->save_for_backward({x});  // for its layout: the expanded output keeps it alive anyway
    std::vector<int64_t> sizes{steps};
    sizes.insert(sizes.end(), x.sizes().begin(), x.sizes().end());
    return x.unsqueeze(0).expand(sizes);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    at::Tensor grad_x = at::empty_like(x, grads[0].options());
    at::sum_out(grad_x, grads[0], {0});
    return {grad_x, at::Tensor()};
  }
};

}  // namespace

at::Tensor repeat_over_time(const at::Tensor& x, int64_t steps) {
  TORCH_CHECK_VALUE(steps >= 1, "repeat_over_time: steps must be >= 1, got ", steps);
  return RepeatOverTime::apply(x, steps);
}

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
