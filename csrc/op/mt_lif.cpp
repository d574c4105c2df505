// Validation and memory layout of the MT-LIF operator, shared by every device, and the Meta
// kernel, which is exactly this validation and allocation without a kernel.
#include "op/mt_lif.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/zeros.h>
#include <c10/core/SymIntArrayRef.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

namespace mtsnn {
namespace {

bool is_supported_dtype(at::ScalarType dtype) {
  return dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf ||
         dtype == at::kBFloat16;
}

at::ScalarType compute_dtype(at::ScalarType dtype) {
  return dtype == at::kDouble ? at::kDouble : at::kFloat;
}

void check_ranges(const ValidatedOptions& options) {
  TORCH_CHECK_VALUE(options.num_thresholds >= 1 && options.num_thresholds <= kMaxThresholds,
                    "mt_lif: num_thresholds must be an integer in [1, ", kMaxThresholds, "], got ",
                    options.num_thresholds);
  TORCH_CHECK_VALUE(std::isfinite(options.threshold) && options.threshold > 0,
                    "mt_lif: threshold must be a finite number > 0, got ", options.threshold);
  TORCH_CHECK_VALUE(options.decay >= 0 && options.decay <= 1,
                    "mt_lif: decay must be in [0, 1], got ", options.decay);
  TORCH_CHECK_VALUE(std::isfinite(options.width) && options.width > 0,
                    "mt_lif: width must be a finite number > 0, got ", options.width);
}

Reset parse_reset(c10::string_view name) {
  if (name == "soft") return Reset::kSoft;
  if (name == "hard") return Reset::kHard;
  if (name == "none") return Reset::kNone;
  TORCH_CHECK_VALUE(false, "mt_lif: unknown reset '", name,
                    "'; expected one of 'soft', 'hard', 'none'");
}

Surrogate parse_surrogate(c10::string_view name) {
  if (name == "rectangle") return Surrogate::kRectangle;
  if (name == "triangle") return Surrogate::kTriangle;
  if (name == "sigmoid") return Surrogate::kSigmoid;
  TORCH_CHECK_VALUE(false, "mt_lif: unknown surrogate '", name,
                    "'; expected one of 'rectangle', 'triangle', 'sigmoid'");
}

void check_input(const at::Tensor& x, const char* name) {
  TORCH_CHECK_TYPE(is_supported_dtype(x.scalar_type()), "mt_lif: ", name,
                   " must be float16, bfloat16, float32 or float64, got ", x.scalar_type());
  TORCH_CHECK_VALUE(x.dim() >= 1, "mt_lif: ", name,
                    " must have a leading time dimension [T, ...], got a 0-dim tensor");
  TORCH_CHECK_VALUE(x.sym_size(0) >= 1, "mt_lif: the number of time steps T = ", name,
                    ".shape[0] must be at least 1, got ", x.sym_size(0));
}

// A tensor that must match x in dtype and device, with the given shape.
void check_operand(const at::Tensor& operand, const at::Tensor& x, const char* name,
                   c10::SymIntArrayRef expected_shape) {
  TORCH_CHECK_TYPE(operand.scalar_type() == x.scalar_type(), "mt_lif: ", name,
                   " must have the dtype of x (", x.scalar_type(), "), got ",
                   operand.scalar_type());
  TORCH_CHECK_VALUE(operand.device() == x.device(), "mt_lif: ", name,
                    " must be on the device of x (", x.device(), "), got ", operand.device());
  TORCH_CHECK_VALUE(operand.sym_sizes().equals(expected_shape), "mt_lif: ", name,
                    " must have shape ", expected_shape, ", got ", operand.sym_sizes());
}

void check_decay_tensor(const at::Tensor& decay, const at::Tensor& x) {
  TORCH_CHECK_TYPE(at::isFloatingType(decay.scalar_type()),
                   "mt_lif: a decay tensor must be floating point, got ", decay.scalar_type());
  TORCH_CHECK_VALUE(decay.sym_numel() == 1,
                    "mt_lif: a decay tensor must hold one value, got shape ", decay.sym_sizes());
  TORCH_CHECK_VALUE(decay.device() == x.device() || decay.device().is_cpu(),
                    "mt_lif: a decay tensor must be on the device of x (", x.device(),
                    ") or on the CPU, got ", decay.device());
}

// Whether tensor's dimensions from `first` on have the sizes of slab and, wherever the size
// exceeds 1, its strides (other strides never matter).
bool has_slab_layout(const at::Tensor& tensor, const at::Tensor& slab, int64_t first) {
  if (tensor.dim() - first != slab.dim()) {
    return false;
  }
  for (int64_t d = 0; d < slab.dim(); ++d) {
    const int64_t size = tensor.size(first + d);
    if (size != slab.size(d) || (size > 1 && tensor.stride(first + d) != slab.stride(d))) {
      return false;
    }
  }
  return true;
}

// The layout of one time slab, as a meta tensor (sizes and strides, no memory): x's own slab layout
// when that is dense (so channels_last stays channels_last), else contiguous. Every operand and
// output of a call uses this layout.
at::Tensor slab_layout(const at::Tensor& x) {
  return at::empty_like(x.select(0, 0), x.options().device(at::kMeta));
}

at::Tensor empty_slab(const at::Tensor& slab, const at::TensorOptions& options) {
  return at::empty_strided_symint(slab.sym_sizes(), slab.sym_strides(), options);
}

at::Tensor empty_time_major(const at::Tensor& slab, const c10::SymInt& num_steps,
                            const at::TensorOptions& options) {
  std::vector<c10::SymInt> sizes{num_steps};
  std::vector<c10::SymInt> strides{slab.sym_numel()};
  for (int64_t d = 0; d < slab.dim(); ++d) {
    sizes.push_back(slab.sym_size(d));
    strides.push_back(slab.sym_stride(d));
  }
  return at::empty_strided_symint(sizes, strides, options);
}

// `tensor` (one slab) in the layout of `slab`, copied only when it differs.
at::Tensor in_slab_layout(const at::Tensor& tensor, const at::Tensor& slab) {
  if (has_slab_layout(tensor, slab, 0)) {
    return tensor;
  }
  return empty_slab(slab, tensor.options()).copy_(tensor);
}

// `tensor` ([T, ...]) as time slabs in the layout of `slab`, with its time stride. A tensor that is
// constant over time (stride 0, e.g. a static image broadcast with expand) stays a single slab.
std::pair<at::Tensor, int64_t> in_time_major_layout(const at::Tensor& tensor,
                                                    const at::Tensor& slab) {
  if (tensor.size(0) == 1 || tensor.stride(0) == 0) {
    return {in_slab_layout(tensor.select(0, 0), slab), 0};
  }
  if (has_slab_layout(tensor, slab, 1)) {
    return {tensor, tensor.stride(0)};
  }
  at::Tensor copy = empty_time_major(slab, tensor.size(0), tensor.options());
  copy.copy_(tensor);
  return {copy, slab.numel()};
}

// The decay to run with: a CPU tensor's value goes into options.decay (checked like the float); a
// device tensor is converted to the compute dtype and read by the kernel.
at::Tensor resolve_decay(const std::optional<at::Tensor>& decay_tensor, const at::Tensor& x,
                         ValidatedOptions& options) {
  if (!decay_tensor.has_value()) {
    return at::Tensor();
  }
  if (decay_tensor->device().is_cpu()) {
    options.decay = decay_tensor->item<double>();
    check_ranges(options);
    return at::Tensor();
  }
  return decay_tensor->reshape({}).to(compute_dtype(x.scalar_type())).contiguous();
}

}  // namespace

ValidatedOptions validate_options(int64_t num_thresholds, double threshold, double decay,
                                  c10::string_view reset, c10::string_view surrogate, double width,
                                  bool detach_reset) {
  ValidatedOptions options;
  options.num_thresholds = num_thresholds;
  options.threshold = threshold;
  options.decay = decay;
  options.reset = parse_reset(reset);
  options.surrogate = parse_surrogate(surrogate);
  options.width = width;
  options.detach_reset = detach_reset;
  check_ranges(options);
  return options;
}

ForwardPlan plan_forward(const ForwardCall& call) {
  ForwardPlan plan;
  plan.options = validate_options(call.num_thresholds, call.threshold, call.decay, call.reset,
                                  call.surrogate, call.width, call.detach_reset);
  const at::Tensor& x = call.x;
  check_input(x, "x");
  const c10::SymIntArrayRef state_shape = x.sym_sizes().slice(1);
  if (call.v0.has_value()) check_operand(*call.v0, x, "v0", state_shape);
  if (call.decay_tensor.has_value()) check_decay_tensor(*call.decay_tensor, x);

  plan.slab = slab_layout(x);
  plan.spikes = empty_time_major(plan.slab, x.sym_size(0), x.options());
  plan.v_last =
      call.return_state ? empty_slab(plan.slab, x.options()) : at::empty({0}, x.options());
  return plan;
}

ForwardProblem forward_problem(const ForwardCall& call, const ForwardPlan& plan) {
  ForwardProblem problem;
  problem.options = plan.options;
  problem.device_decay = resolve_decay(call.decay_tensor, call.x, problem.options);
  problem.spikes = plan.spikes;
  std::tie(problem.x, problem.x_stride_t) = in_time_major_layout(call.x, plan.slab);
  if (call.v0.has_value()) problem.v0 = in_slab_layout(*call.v0, plan.slab);
  if (call.return_state) problem.v_last = plan.v_last;
  problem.num_steps = call.x.size(0);
  return problem;
}

BackwardPlan plan_backward(const BackwardCall& call) {
  BackwardPlan plan;
  plan.options = validate_options(call.num_thresholds, call.threshold, call.decay, call.reset,
                                  call.surrogate, call.width, call.detach_reset);
  const at::Tensor& x = call.x;
  check_input(x, "x");
  const c10::SymIntArrayRef state_shape = x.sym_sizes().slice(1);
  check_operand(call.grad_spikes, x, "grad_spikes", x.sym_sizes());
  if (call.grad_v_last.has_value()) {
    check_operand(*call.grad_v_last, x, "grad_v_last", state_shape);
  }
  if (call.v0.has_value()) check_operand(*call.v0, x, "v0", state_shape);
  if (call.decay_tensor.has_value()) check_decay_tensor(*call.decay_tensor, x);

  plan.slab = slab_layout(x);
  plan.grad_x = empty_time_major(plan.slab, x.sym_size(0), x.options());
  plan.grad_v0 =
      call.v0.has_value() ? empty_slab(plan.slab, x.options()) : at::empty({0}, x.options());
  plan.grad_decay = at::zeros({}, x.options().dtype(compute_dtype(x.scalar_type())));
  return plan;
}

BackwardProblem backward_problem(const BackwardCall& call, const BackwardPlan& plan) {
  BackwardProblem problem;
  problem.options = plan.options;
  problem.device_decay = resolve_decay(call.decay_tensor, call.x, problem.options);
  std::tie(problem.grad_spikes, problem.grad_spikes_stride_t) =
      in_time_major_layout(call.grad_spikes, plan.slab);
  if (call.grad_v_last.has_value()) {
    problem.grad_v_last = in_slab_layout(*call.grad_v_last, plan.slab);
  }
  std::tie(problem.x, problem.x_stride_t) = in_time_major_layout(call.x, plan.slab);
  if (call.v0.has_value()) {
    problem.v0 = in_slab_layout(*call.v0, plan.slab);
    problem.grad_v0 = plan.grad_v0;
  }
  problem.grad_x = plan.grad_x;
  problem.grad_decay = plan.grad_decay;
  problem.decay_requires_grad = call.decay_requires_grad;
  problem.num_steps = call.x.size(0);
  return problem;
}

}  // namespace mtsnn

// Fake tensors (torch.compile, torch.export) run exactly the validation and allocation above.
TORCH_LIBRARY_IMPL(mtsnn, Meta, m) {
  m.impl("mt_lif", &mtsnn::mt_lif_kernel<>);
  m.impl("mt_lif_backward", &mtsnn::mt_lif_backward_kernel<>);
}
