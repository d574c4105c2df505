// Tensor-level API of the MT-LIF operator: validation, memory layout, and the per-device entry
// points. `mt_lif_forward` and `mt_lif_backward` are what torch.ops.mtsnn.* run.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <optional>
#include <string>
#include <tuple>

#include "mtsnn/neuron.h"

namespace mtsnn {

// The neuron's scalar options, validated.
struct NeuronOptions {
  int64_t num_thresholds = 1;
  double threshold = 1.0;
  double decay = 0.5;  // the value in use (a CPU decay tensor's value is copied here)
  Reset reset = Reset::kSoft;
  Surrogate surrogate = Surrogate::kRectangle;
  double width = 1.0;
  bool detach_reset = false;
};

// A validated forward problem. Every tensor below shares the slab layout of `v_last`.
struct ForwardProblem {
  at::Tensor x;  // [T, N] with time stride x_stride_t, or one slab when x_stride_t == 0
  int64_t x_stride_t = 0;
  at::Tensor v0;            // undefined: start from rest
  at::Tensor device_decay;  // 0-dim, compute dtype, on x's device; undefined: options.decay
  at::Tensor spikes;        // output [T, N]
  at::Tensor v_last;        // output [N]; undefined: not wanted
  int64_t num_steps = 0;
  NeuronOptions options;
};

// A validated backward problem, laid out like ForwardProblem.
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
  NeuronOptions options;
};

Reset parse_reset(c10::string_view name);
Surrogate parse_surrogate(c10::string_view name);

// Kernels per device. The CUDA ones exist only in builds with CUDA.
void forward_cpu(const ForwardProblem& problem);
void backward_cpu(const BackwardProblem& problem);
void forward_cuda(const ForwardProblem& problem);
void backward_cuda(const BackwardProblem& problem);
bool built_with_cuda();

// The CPU kernel variant in use: "avx512", "avx2" or "default". The best one the processor
// supports is chosen at load time unless $MTSNN_CPU_CAPABILITY names one; set_cpu_capability
// switches it (for tests and benchmarks that compare variants).
const char* cpu_capability();
void set_cpu_capability(const std::string& name);

// torch.ops.mtsnn.mt_lif: returns (spikes, v_last); v_last has zero elements unless return_state
// (then neither memory nor bandwidth is spent on it). The surrogate options do not change the
// forward pass; they are validated here and travel with the call to its backward pass.
std::tuple<at::Tensor, at::Tensor> mt_lif_forward(const at::Tensor& x,
                                                  const std::optional<at::Tensor>& v0,
                                                  const std::optional<at::Tensor>& decay_tensor,
                                                  double decay, int64_t num_thresholds,
                                                  double threshold, c10::string_view reset,
                                                  c10::string_view surrogate, double width,
                                                  bool detach_reset, bool return_state = true);

// torch.ops.mtsnn.mt_lif_backward: returns (grad_x, grad_v0, grad_decay). grad_v0 has zero
// elements when v0 is absent; grad_decay is a 0-dim tensor in compute precision (zero unless
// decay_requires_grad).
std::tuple<at::Tensor, at::Tensor, at::Tensor> mt_lif_backward(
    const at::Tensor& grad_spikes, const std::optional<at::Tensor>& grad_v_last,
    const at::Tensor& x, const std::optional<at::Tensor>& v0,
    const std::optional<at::Tensor>& decay_tensor, double decay, int64_t num_thresholds,
    double threshold, c10::string_view reset, c10::string_view surrogate, double width,
    bool detach_reset, bool decay_requires_grad);

}  // namespace mtsnn
