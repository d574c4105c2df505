// The MT-LIF neuron as a function: the C++ twin of mtsnn.functional.mt_lif.
//
//   at::Tensor spikes = mtsnn::mt_lif(x, mtsnn::NeuronOptions().num_thresholds(3).decay(0.5));
//
// x is [T, ...] (time first), float16/bfloat16/float32/float64, on the CPU or a CUDA device, of
// any strides (a static input broadcast over T with expand is read in place). For t = 0..T-1,
// from v_{-1} = v0 (zeros when absent):
//
//   h_t = decay * v_{t-1} + x_t
//   s_t = sum_{k=1..K} H(h_t - k * threshold)     a graded spike 0..K
//   v_t = h_t - threshold * s_t   (reset "soft"),  0 if s_t > 0 else h_t  ("hard"),  h_t  ("none")
//
// The calls go through the dispatcher (torch.ops.mtsnn.mt_lif), so they are differentiable:
// gradients reach x, v0 and a decay tensor that requires grad, through the surrogate derivative
// of the given width ("rectangle", "triangle" or "sigmoid"). Bad options raise c10::ValueError
// with the messages Python shows; a tensor of the wrong dtype raises c10::TypeError.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>

#include "mtsnn/runtime.h"

namespace mtsnn {

// The neuron's options, declared once for C++, in the order and with the defaults of Python's
// mtsnn.options.NeuronOptions (a test holds the two equal): X(type, name, default) per option.
// NeuronOptions below, the stored training configs and the Python binding all expand it.
#define MTSNN_NEURON_OPTIONS(X)                                                       \
  /* K, the largest spike value (1..256). */                                          \
  X(int64_t, num_thresholds, 3)                                                       \
  /* theta > 0: the k-th threshold is k * theta. */                                   \
  X(double, threshold, 1.0)                                                           \
  /* lambda in [0, 1]; ignored when a decay tensor is passed. */                      \
  X(double, decay, 0.5)                                                               \
  /* "soft" (subtract theta * s), "hard" (to zero after a spike) or "none". */        \
  X(std::string, reset, "soft")                                                       \
  /* The approximated derivative of a spike: "rectangle", "triangle" or "sigmoid". */ \
  X(std::string, surrogate, "rectangle")                                              \
  /* a > 0, the surrogate's width (each shape integrates to 1 and peaks at 1/a). */   \
  X(double, width, 1.0)                                                               \
  /* Treat the reset as a constant in the backward pass. */                           \
  X(bool, detach_reset, false)

// The neuron's options, in the LibTorch style: NeuronOptions().num_thresholds(3).decay(0.5).
struct NeuronOptions {
#define MTSNN_NEURON_OPTION_ARG(type, name, default_value) TORCH_ARG(type, name) = default_value;
  MTSNN_NEURON_OPTIONS(MTSNN_NEURON_OPTION_ARG)
#undef MTSNN_NEURON_OPTION_ARG
};

// The spikes s (x's shape and dtype; the layout of x's time slab). v0: the initial membrane,
// shape x.shape[1:], x's dtype and device. decay: a one-element tensor used instead of
// options.decay (learnable: its gradient is computed when it requires grad).
at::Tensor mt_lif(const at::Tensor& x, const NeuronOptions& options = {},
                  const std::optional<at::Tensor>& v0 = std::nullopt,
                  const std::optional<at::Tensor>& decay = std::nullopt);

// (spikes, v_last): as mt_lif, plus the final membrane v_{T-1}, which is differentiable too.
std::tuple<at::Tensor, at::Tensor> mt_lif_with_state(
    const at::Tensor& x, const NeuronOptions& options = {},
    const std::optional<at::Tensor>& v0 = std::nullopt,
    const std::optional<at::Tensor>& decay = std::nullopt);

// x seen at each of `steps` time steps: [B, ...] -> [T, B, ...] without a copy (a view with time
// stride 0, which mt_lif reads in place). Its gradient, the sum over time, comes back in x's
// memory layout, where expand's own gradient is contiguous (and a channels-last network would
// copy it back at the next layer).
at::Tensor repeat_over_time(const at::Tensor& x, int64_t steps);

// Throws the error mt_lif would throw for these options, without running anything.
void check_options(const NeuronOptions& options);

}  // namespace mtsnn
