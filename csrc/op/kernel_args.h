// Raw-pointer views of one MT-LIF problem, handed from the tensor-level code to the CPU and CUDA
// kernels, and how they are built from a validated problem. Every [T, N] operand is T slabs of N
// elements laid out in one shared memory order; the time stride of an input may be anything (0 for
// a static input broadcast over time).
#pragma once

#include <cstdint>

#include "op/mt_lif.h"
#include "op/neuron.h"

namespace mtsnn {

template <typename Scalar, typename Acc>
struct ForwardArgs {
  const Scalar* x;
  int64_t x_stride_t;
  const Scalar* v0;         // null: start from rest (v = 0)
  Scalar* spikes;           // [T, N], time stride N
  Scalar* v_last;           // [N]; null: not wanted
  const Acc* device_decay;  // CUDA only: decay read from device memory; null: params.decay
  int64_t num_steps;
  int64_t num_elements;
  NeuronParams<Acc> params;
};

template <typename Scalar, typename Acc>
struct BackwardArgs {
  const Scalar* grad_spikes;
  int64_t grad_spikes_stride_t;
  const Scalar* grad_v_last;  // null: v_last did not reach the loss
  const Scalar* x;
  int64_t x_stride_t;
  const Scalar* v0;     // null: started from rest
  Scalar* grad_x;       // [T, N], time stride N
  Scalar* grad_v0;      // null: not wanted
  Acc* decay_partials;  // null: not wanted; else one partial sum per block of elements
  const Acc* device_decay;
  int64_t num_steps;
  int64_t num_elements;
  NeuronParams<Acc> params;
  Surrogate surrogate;
};

template <typename Acc>
NeuronParams<Acc> make_params(const ValidatedOptions& options) {
  NeuronParams<Acc> params{};
  params.threshold = static_cast<Acc>(options.threshold);
  params.inverse_threshold = Acc(1) / params.threshold;
  params.num_thresholds = static_cast<Acc>(options.num_thresholds);
  params.decay = static_cast<Acc>(options.decay);
  params.width = static_cast<Acc>(options.width);
  params.detach_reset = options.detach_reset;
  return params;
}

template <typename T>
const T* optional_data(const at::Tensor& tensor) {
  return tensor.defined() ? tensor.const_data_ptr<T>() : nullptr;
}

template <typename T>
T* optional_mutable_data(const at::Tensor& tensor) {
  return tensor.defined() ? tensor.mutable_data_ptr<T>() : nullptr;
}

template <typename Scalar, typename Acc>
ForwardArgs<Scalar, Acc> make_forward_args(const ForwardProblem& problem) {
  ForwardArgs<Scalar, Acc> args{};
  args.x = problem.x.const_data_ptr<Scalar>();
  args.x_stride_t = problem.x_stride_t;
  args.v0 = optional_data<Scalar>(problem.v0);
  args.spikes = problem.spikes.mutable_data_ptr<Scalar>();
  args.v_last = optional_mutable_data<Scalar>(problem.v_last);
  args.device_decay = optional_data<Acc>(problem.device_decay);
  args.num_steps = problem.num_steps;
  args.num_elements = problem.spikes.numel() / problem.num_steps;
  args.params = make_params<Acc>(problem.options);
  return args;
}

// decay_partials is left null: the caller allocates partials per its own blocking.
template <typename Scalar, typename Acc>
BackwardArgs<Scalar, Acc> make_backward_args(const BackwardProblem& problem) {
  BackwardArgs<Scalar, Acc> args{};
  args.grad_spikes = problem.grad_spikes.const_data_ptr<Scalar>();
  args.grad_spikes_stride_t = problem.grad_spikes_stride_t;
  args.grad_v_last = optional_data<Scalar>(problem.grad_v_last);
  args.x = problem.x.const_data_ptr<Scalar>();
  args.x_stride_t = problem.x_stride_t;
  args.v0 = optional_data<Scalar>(problem.v0);
  args.grad_x = problem.grad_x.mutable_data_ptr<Scalar>();
  args.grad_v0 = optional_mutable_data<Scalar>(problem.grad_v0);
  args.device_decay = optional_data<Acc>(problem.device_decay);
  args.num_steps = problem.num_steps;
  args.num_elements = problem.grad_x.numel() / problem.num_steps;
  args.params = make_params<Acc>(problem.options);
  args.surrogate = problem.options.surrogate;
  return args;
}

}  // namespace mtsnn
