// The autograd of torch.ops.mtsnn.mt_lif: one definition, for C++ and Python callers alike.
//
// It is registered for the Autograd key, which covers every backend: its forward runs the op's
// device kernel below autograd, its backward the fused op mt_lif_backward. torch.compile and
// torch.export trace through it (the backward graph calls mt_lif_backward), and compiled autograd
// keeps it in the graph because it is marked traceable.
#include <ATen/core/LegacyTypeDispatch.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/functions/basic_ops.h>
#include <torch/library.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "op/mt_lif.h"

namespace mtsnn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The number of arguments of mt_lif's schema: backward returns one gradient slot per argument.
constexpr size_t kForwardArguments = 11;

std::optional<at::Tensor> optional_of(const at::Tensor& tensor) {
  return tensor.defined() ? std::optional<at::Tensor>(tensor) : std::nullopt;
}

class MTLIFFunction : public torch::autograd::Function<MTLIFFunction> {
 public:
  // The backward is plain tensor code through registered ops, so compiled autograd may trace it.
  static constexpr bool is_traceable = true;

  static variable_list forward(AutogradContext* ctx, const at::Tensor& x,
                               const std::optional<at::Tensor>& v0,
                               const std::optional<at::Tensor>& decay_tensor, double decay,
                               int64_t num_thresholds, double threshold, c10::string_view reset,
                               c10::string_view surrogate, double width, bool detach_reset,
                               bool return_state) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [spikes, v_last] = mt_lif_op().call(x, v0, decay_tensor, decay, num_thresholds, threshold,
                                             reset, surrogate, width, detach_reset, return_state);
    ctx->save_for_backward({x, v0.value_or(at::Tensor()), decay_tensor.value_or(at::Tensor())});
    ctx->saved_data["decay"] = decay;
    ctx->saved_data["num_thresholds"] = num_thresholds;
    ctx->saved_data["threshold"] = threshold;
    ctx->saved_data["reset"] = std::string(reset);
    ctx->saved_data["surrogate"] = std::string(surrogate);
    ctx->saved_data["width"] = width;
    ctx->saved_data["detach_reset"] = detach_reset;
    ctx->saved_data["return_state"] = return_state;
    // An output that did not reach the loss arrives as an undefined tensor rather than zeros: the
    // fused backward treats a missing gradient as zero without reading or allocating one.
    ctx->set_materialize_grads(false);
    return {spikes, v_last};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& v0 = saved[1];
    const at::Tensor& decay_tensor = saved[2];
    at::Tensor grad_spikes = grads[0];
    at::Tensor grad_v_last = grads[1];
    if (!grad_spikes.defined()) {  // only v_last reached the loss: a zero that costs no memory
      grad_spikes = at::zeros({}, x.options()).expand_symint(x.sym_sizes());
    }
    if (!ctx->saved_data["return_state"].toBool()) {
      grad_v_last = at::Tensor();  // v_last was an empty placeholder: nothing flows back
    }
    // needs_input_grad counts only the tensors that were passed: x, then v0 and the decay tensor
    // where present.
    const size_t v0_edge = 1;
    const size_t decay_edge = v0.defined() ? 2 : 1;
    const bool v0_requires_grad = v0.defined() && ctx->needs_input_grad(v0_edge);
    const bool decay_requires_grad = decay_tensor.defined() && ctx->needs_input_grad(decay_edge);

    auto [grad_x, grad_v0, grad_decay] = mt_lif_backward_op().call(
        grad_spikes, optional_of(grad_v_last), x, optional_of(v0), optional_of(decay_tensor),
        ctx->saved_data["decay"].toDouble(), ctx->saved_data["num_thresholds"].toInt(),
        ctx->saved_data["threshold"].toDouble(), ctx->saved_data["reset"].toStringRef(),
        ctx->saved_data["surrogate"].toStringRef(), ctx->saved_data["width"].toDouble(),
        ctx->saved_data["detach_reset"].toBool(), decay_requires_grad);
    variable_list result(kForwardArguments);
    result[0] = grad_x;
    if (v0_requires_grad) result[1] = grad_v0;
    if (decay_requires_grad) {
      result[2] = grad_decay.to(decay_tensor.scalar_type())
                      .reshape_symint(decay_tensor.sym_sizes())
                      .to(decay_tensor.device());
    }
    return refuse_double_backward(std::move(result));
  }

 private:
  // With create_graph=True the gradients would be differentiated again, but mt_lif_backward has
  // no derivative: make any second backward through them fail loudly instead of giving zeros.
  static variable_list refuse_double_backward(variable_list grads) {
    if (!at::GradMode::is_enabled()) {
      return grads;
    }
    for (at::Tensor& grad : grads) {
      if (grad.defined()) {
        grad = grad.detach();
        grad.set_requires_grad(true);
      }
    }
    auto error = std::make_shared<torch::autograd::DelayedError>(
        "mtsnn::mt_lif: double backward (differentiating its gradient again) is not supported",
        static_cast<int64_t>(grads.size()));
    return error->apply(std::move(grads));
  }
};

// Whether a call is recorded for a backward pass: grad mode is on and an input requires a
// gradient, or an input carries a forward-mode gradient (which MTLIFFunction refuses, loudly).
bool is_differentiated(const at::Tensor& x, const std::optional<at::Tensor>& v0,
                       const std::optional<at::Tensor>& decay_tensor) {
  const bool grad_mode = at::GradMode::is_enabled();
  const auto differentiated = [grad_mode](const at::Tensor& tensor) {
    return (grad_mode && tensor.requires_grad()) || tensor._fw_grad(/*level=*/0).defined();
  };
  return differentiated(x) || (v0.has_value() && differentiated(*v0)) ||
         (decay_tensor.has_value() && differentiated(*decay_tensor));
}

std::tuple<at::Tensor, at::Tensor> mt_lif_autograd(const at::Tensor& x,
                                                   const std::optional<at::Tensor>& v0,
                                                   const std::optional<at::Tensor>& decay_tensor,
                                                   double decay, int64_t num_thresholds,
                                                   double threshold, c10::string_view reset,
                                                   c10::string_view surrogate, double width,
                                                   bool detach_reset, bool return_state) {
  if (!is_differentiated(x, v0, decay_tensor)) {
    // Nothing to record: the kernel without the node, its saved state and its bookkeeping, which
    // took about 5 of the 13 microseconds of a small call from Python (2 Zen 3 cores).
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return mt_lif_op().call(x, v0, decay_tensor, decay, num_thresholds, threshold, reset, surrogate,
                            width, detach_reset, return_state);
  }
  variable_list outputs =
      MTLIFFunction::apply(x, v0, decay_tensor, decay, num_thresholds, threshold, reset, surrogate,
                           width, detach_reset, return_state);
  return {outputs[0], outputs[1]};
}

}  // namespace
}  // namespace mtsnn

TORCH_LIBRARY_IMPL(mtsnn, Autograd, m) { m.impl("mt_lif", &mtsnn::mt_lif_autograd); }
