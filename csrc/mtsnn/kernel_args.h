// Raw-pointer views of one MT-LIF problem, handed from the tensor-level code to the CPU and CUDA
// kernels. Every [T, N] operand is T slabs of N elements laid out in one shared memory order; the
// time stride of an input may be anything (0 for a static input broadcast over time).
#pragma once

#include <cstdint>

#include "mtsnn/neuron.h"

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

}  // namespace mtsnn
