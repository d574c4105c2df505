// The MT-LIF operator below autograd: its validated problems, and the one function every device
// registers for torch.ops.mtsnn.mt_lif and mt_lif_backward. Validation and output allocation are
// shared by every dispatch key, the Meta key included, so fake tensors under torch.compile see
// exactly the checks and output layouts of the real kernels.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/string_view.h>

#include <optional>
#include <tuple>

#include "op/neuron.h"

namespace mtsnn {

// The neuron's scalar options after validation, names parsed.
struct ValidatedOptions {
  int64_t num_thresholds = 1;
  double threshold = 1.0;
  double decay = 0.5;  // the value in use (a CPU decay tensor's value is copied here)
  Reset reset = Reset::kSoft;
  Surrogate surrogate = Surrogate::kRectangle;
  double width = 1.0;
  bool detach_reset = false;
};

// Parses and checks the scalar options (c10::ValueError naming the option).
ValidatedOptions validate_options(int64_t num_thresholds, double threshold, double decay,
                                  c10::string_view reset, c10::string_view surrogate, double width,
                                  bool detach_reset);

// A forward problem ready for a kernel. Every tensor below shares the slab layout of `spikes`.
struct ForwardProblem {
  at::Tensor x;  // [T, N] with time stride x_stride_t, or one slab when x_stride_t == 0
  int64_t x_stride_t = 0;
  at::Tensor v0;            // undefined: start from rest
  at::Tensor device_decay;  // 0-dim, compute dtype, on x's device; undefined: options.decay
  at::Tensor spikes;        // output [T, N]
  at::Tensor v_last;        // output [N]; undefined: not wanted
  int64_t num_steps = 0;
  ValidatedOptions options;
};

// A backward problem, laid out like ForwardProblem.
struct BackwardProblem {
  at::Tensor grad_spikes;
  int64_t grad_spikes_stride_t = 0;
  at::Tensor grad_v_last;  // undefined: zero
  at::Tensor x;
  int64_t x_stride_t = 0;
  at::Tensor v0;
  at::Tensor device_decay;
  at::Tensor grad_x;      // output [T, N]
  at::Tensor grad_v0;     // output [N]; undefined when there is no v0
  at::Tensor grad_decay;  // output, 0-dim in compute dtype; written only if decay_requires_grad
  bool decay_requires_grad = false;
  int64_t num_steps = 0;
  ValidatedOptions options;
};

// The arguments of one call of torch.ops.mtsnn.mt_lif, as its schema lists them.
struct ForwardCall {
  const at::Tensor& x;
  const std::optional<at::Tensor>& v0;
  const std::optional<at::Tensor>& decay_tensor;
  double decay;
  int64_t num_thresholds;
  double threshold;
  c10::string_view reset;
  c10::string_view surrogate;
  double width;
  bool detach_reset;
  bool return_state;
};

// The arguments of one call of torch.ops.mtsnn.mt_lif_backward, as its schema lists them.
struct BackwardCall {
  const at::Tensor& grad_spikes;
  const std::optional<at::Tensor>& grad_v_last;
  const at::Tensor& x;
  const std::optional<at::Tensor>& v0;
  const std::optional<at::Tensor>& decay_tensor;
  double decay;
  int64_t num_thresholds;
  double threshold;
  c10::string_view reset;
  c10::string_view surrogate;
  double width;
  bool detach_reset;
  bool decay_requires_grad;
};

// What validating a call decides: its options, the memory layout of one time slab (a meta tensor:
// sizes and strides only), which every operand and output of the call share, and its outputs.
struct ForwardPlan {
  ValidatedOptions options;
  at::Tensor slab;
  // [T, ...] in the slab layout; and v_last, with zero elements unless return_state (then
  // neither memory nor bandwidth is spent on it).
  at::Tensor spikes, v_last;
};

struct BackwardPlan {
  ValidatedOptions options;
  at::Tensor slab;
  // grad_v0 has zero elements when v0 is absent; grad_decay is a 0-dim tensor in compute
  // precision (zero unless decay_requires_grad).
  at::Tensor grad_x, grad_v0, grad_decay;
};

// Validates a call and allocates its outputs: all that the Meta kernel does.
ForwardPlan plan_forward(const ForwardCall& call);
// Lays the call's inputs out for a kernel that writes into the plan's outputs.
ForwardProblem forward_problem(const ForwardCall& call, const ForwardPlan& plan);

BackwardPlan plan_backward(const BackwardCall& call);
BackwardProblem backward_problem(const BackwardCall& call, const BackwardPlan& plan);

using ForwardKernel = void (*)(const ForwardProblem&);
using BackwardKernel = void (*)(const BackwardProblem&);

// torch.ops.mtsnn.mt_lif for one device: validate, allocate, then run `kernel`. The Meta key
// registers it with no kernel (mt_lif_kernel<>): validation and outputs only. A pack rather than
// a nullptr default because `kernel != nullptr` is not a constant expression under UBSan.
template <ForwardKernel... kernel>
std::tuple<at::Tensor, at::Tensor> mt_lif_kernel(const at::Tensor& x,
                                                 const std::optional<at::Tensor>& v0,
                                                 const std::optional<at::Tensor>& decay_tensor,
                                                 double decay, int64_t num_thresholds,
                                                 double threshold, c10::string_view reset,
                                                 c10::string_view surrogate, double width,
                                                 bool detach_reset, bool return_state) {
  const ForwardCall call{x,     v0,        decay_tensor, decay,        num_thresholds, threshold,
                         reset, surrogate, width,        detach_reset, return_state};
  const ForwardPlan plan = plan_forward(call);
  static_assert(sizeof...(kernel) <= 1, "one kernel per device");
  if constexpr (sizeof...(kernel) == 1) {
    if (plan.spikes.numel() > 0) (kernel(forward_problem(call, plan)), ...);
  }
  return {plan.spikes, plan.v_last};
}

// torch.ops.mtsnn.mt_lif_backward for one device, as mt_lif_kernel.
template <BackwardKernel... kernel>
std::tuple<at::Tensor, at::Tensor, at::Tensor> mt_lif_backward_kernel(
    const at::Tensor& grad_spikes, const std::optional<at::Tensor>& grad_v_last,
    const at::Tensor& x, const std::optional<at::Tensor>& v0,
    const std::optional<at::Tensor>& decay_tensor, double decay, int64_t num_thresholds,
    double threshold, c10::string_view reset, c10::string_view surrogate, double width,
    bool detach_reset, bool decay_requires_grad) {
  const BackwardCall call{
      grad_spikes,        grad_v_last, x,     v0,        decay_tensor, decay,
      num_thresholds,     threshold,   reset, surrogate, width,        detach_reset,
      decay_requires_grad};
  const BackwardPlan plan = plan_backward(call);
  static_assert(sizeof...(kernel) <= 1, "one kernel per device");
  if constexpr (sizeof...(kernel) == 1) {
    if (plan.grad_x.numel() > 0) (kernel(backward_problem(call, plan)), ...);
  }
  return {plan.grad_x, plan.grad_v0, plan.grad_decay};
}

// The two ops as the dispatcher calls them, for code that calls them through it (autograd, the C++
// API): mt_lif_op().call(...) runs the kernel of the arguments' dispatch keys.
using MTLIFSignature = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&,
                                                          const std::optional<at::Tensor>&,
                                                          const std::optional<at::Tensor>&, double,
                                                          int64_t, double, c10::string_view,
                                                          c10::string_view, double, bool, bool);
using MTLIFBackwardSignature = std::tuple<at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const std::optional<at::Tensor>&, const at::Tensor&,
    const std::optional<at::Tensor>&, const std::optional<at::Tensor>&, double, int64_t, double,
    c10::string_view, c10::string_view, double, bool, bool);
const c10::TypedOperatorHandle<MTLIFSignature>& mt_lif_op();
const c10::TypedOperatorHandle<MTLIFBackwardSignature>& mt_lif_backward_op();

// The kernels of the CPU, chosen per instruction set (csrc/cpu/dispatch.cpp).
void forward_cpu(const ForwardProblem& problem);
void backward_cpu(const BackwardProblem& problem);

}  // namespace mtsnn
