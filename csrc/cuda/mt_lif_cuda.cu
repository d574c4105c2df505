// CUDA kernels of the MT-LIF operator, registered for the CUDA key at the bottom: one thread per
// element walks the time loop, with the same per-element math as the CPU kernels (op/neuron.h).
// The backward pass recomputes the forward pass; for T <= kRegisterSteps it keeps h_t in
// registers, beyond that in a workspace.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>

#include "op/kernel_args.h"
#include "op/mt_lif.h"

namespace mtsnn {
namespace {

constexpr int kThreads = 256;
constexpr int kRegisterSteps = 8;

template <typename Acc>
__device__ __forceinline__ NeuronParams<Acc> load_params(NeuronParams<Acc> params,
                                                         const Acc* device_decay) {
  if (device_decay != nullptr) {
    params.decay = *device_decay;
  }
  return params;
}

template <typename Acc>
__device__ __forceinline__ Acc spike_slope(Surrogate surrogate, Acc h, const NeuronParams<Acc>& p) {
  switch (surrogate) {
    case Surrogate::kTriangle:
      return spike_grad<Surrogate::kTriangle>(h, p);
    case Surrogate::kSigmoid:
      return spike_grad<Surrogate::kSigmoid>(h, p);
    default:
      return spike_grad<Surrogate::kRectangle>(h, p);
  }
}

template <typename Acc>
__device__ __forceinline__ Acc first_slope(Surrogate surrogate, Acc h, const NeuronParams<Acc>& p) {
  const Acc z = h - threshold_at(Acc(1), p.threshold);
  switch (surrogate) {
    case Surrogate::kTriangle:
      return surrogate_grad<Surrogate::kTriangle>(z, p.width);
    case Surrogate::kSigmoid:
      return surrogate_grad<Surrogate::kSigmoid>(z, p.width);
    default:
      return surrogate_grad<Surrogate::kRectangle>(z, p.width);
  }
}

template <Reset R, typename Scalar, typename Acc>
__global__ void __launch_bounds__(kThreads) forward_kernel(ForwardArgs<Scalar, Acc> args) {
  const NeuronParams<Acc> p = load_params(args.params, args.device_decay);
  const int64_t n = args.num_elements;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Acc v = args.v0 ? static_cast<Acc>(args.v0[i]) : Acc(0);
    for (int64_t t = 0; t < args.num_steps; ++t) {
      const Acc h = charge(v, static_cast<Acc>(args.x[t * args.x_stride_t + i]), p.decay);
      const Acc s = spike_count(h, p);
      v = reset_membrane<R>(h, s, p.threshold);
      args.spikes[t * n + i] = static_cast<Scalar>(s);
    }
    if (args.v_last) {
      args.v_last[i] = static_cast<Scalar>(v);
    }
  }
}

// h_t storage: registers (unrolled, compile-time indices) or a [T, N] workspace.
template <int kSteps, typename Acc>
struct RegisterMembranes {
  Acc h[kSteps];
  __device__ __forceinline__ Acc& at(int64_t t, int64_t) { return h[t]; }
};

template <typename Acc>
struct WorkspaceMembranes {
  Acc* h;
  int64_t n;
  __device__ __forceinline__ Acc& at(int64_t t, int64_t i) { return h[t * n + i]; }
};

// Loops run to kSteps (a compile-time bound, so register arrays keep constant indices) or, with
// the workspace (kSteps == 0), to T.
template <Reset R, int kSteps, typename Scalar, typename Acc, typename Membranes>
__device__ __forceinline__ Acc backward_element(const BackwardArgs<Scalar, Acc>& args,
                                                const NeuronParams<Acc>& p, int64_t i,
                                                Membranes& membranes) {
  const int64_t n = args.num_elements;
  const int64_t steps = args.num_steps;
  const int64_t bound = kSteps > 0 ? kSteps : steps;
  const Acc v_start = args.v0 ? static_cast<Acc>(args.v0[i]) : Acc(0);
  Acc v = v_start;
#pragma unroll
  for (int64_t t = 0; t < bound; ++t) {
    if (t >= steps) break;
    const Acc h = charge(v, static_cast<Acc>(args.x[t * args.x_stride_t + i]), p.decay);
    membranes.at(t, i) = h;
    v = reset_membrane<R>(h, spike_count(h, p), p.threshold);
  }
  Acc grad_v = args.grad_v_last ? static_cast<Acc>(args.grad_v_last[i]) : Acc(0);
  Acc decay_term = Acc(0);
#pragma unroll
  for (int64_t t = bound - 1; t >= 0; --t) {
    if (t >= steps) continue;
    const Acc h = membranes.at(t, i);
    const Acc grad_h = membrane_grad<R>(
        h, static_cast<Acc>(args.grad_spikes[t * args.grad_spikes_stride_t + i]), grad_v,
        spike_slope(args.surrogate, h, p), first_slope(args.surrogate, h, p), p);
    args.grad_x[t * n + i] = static_cast<Scalar>(grad_h);
    grad_v = p.decay * grad_h;
    if (args.decay_partials) {  // dh_t/d(decay) = v_{t-1}
      Acc v_prev = v_start;
      if (t > 0) {
        const Acc h_prev = membranes.at(t - 1, i);
        v_prev = reset_membrane<R>(h_prev, spike_count(h_prev, p), p.threshold);
      }
      decay_term += grad_h * v_prev;
    }
  }
  if (args.grad_v0) {
    args.grad_v0[i] = static_cast<Scalar>(grad_v);
  }
  return decay_term;
}

template <typename Acc>
__device__ __forceinline__ Acc block_sum(Acc value) {
  __shared__ Acc warp_sums[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) {
    value += __shfl_down_sync(0xffffffffu, value, offset);
  }
  if (threadIdx.x % 32 == 0) {
    warp_sums[threadIdx.x / 32] = value;
  }
  __syncthreads();
  Acc total = Acc(0);
  if (threadIdx.x == 0) {
    for (int w = 0; w < kThreads / 32; ++w) {
      total += warp_sums[w];
    }
  }
  return total;
}

// kSteps > 0: T <= kSteps, h_t in registers; kSteps == 0: h_t in `workspace`.
template <Reset R, int kSteps, typename Scalar, typename Acc>
__global__ void __launch_bounds__(kThreads)
    backward_kernel(BackwardArgs<Scalar, Acc> args, Acc* workspace) {
  const NeuronParams<Acc> p = load_params(args.params, args.device_decay);
  Acc decay_term = Acc(0);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < args.num_elements; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if constexpr (kSteps > 0) {
      RegisterMembranes<kSteps, Acc> membranes;
      decay_term += backward_element<R, kSteps>(args, p, i, membranes);
    } else {
      WorkspaceMembranes<Acc> membranes{workspace, args.num_elements};
      decay_term += backward_element<R, kSteps>(args, p, i, membranes);
    }
  }
  if (args.decay_partials) {  // uniform over the grid, so every thread reaches the barrier
    const Acc total = block_sum(decay_term);
    if (threadIdx.x == 0) {
      args.decay_partials[blockIdx.x] = total;
    }
  }
}

int64_t grid_size(int64_t num_elements) {
  const int64_t needed = (num_elements + kThreads - 1) / kThreads;
  const int64_t resident =
      static_cast<int64_t>(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 16;
  return std::max<int64_t>(1, std::min(needed, resident));
}

template <typename Kernel, typename... Args>
void launch(Kernel kernel, int64_t blocks, Args... args) {
  kernel<<<static_cast<unsigned>(blocks), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(args...);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void forward_cuda(const ForwardProblem& problem) {
  const c10::cuda::CUDAGuard guard(problem.x.device());
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, problem.x.scalar_type(), "mt_lif_forward_cuda", [&] {
        using Acc = at::opmath_type<scalar_t>;
        const ForwardArgs<scalar_t, Acc> args = make_forward_args<scalar_t, Acc>(problem);
        const int64_t blocks = grid_size(args.num_elements);
        switch (problem.options.reset) {
          case Reset::kSoft:
            return launch(forward_kernel<Reset::kSoft, scalar_t, Acc>, blocks, args);
          case Reset::kHard:
            return launch(forward_kernel<Reset::kHard, scalar_t, Acc>, blocks, args);
          case Reset::kNone:
            return launch(forward_kernel<Reset::kNone, scalar_t, Acc>, blocks, args);
        }
      });
}

template <Reset R, typename Scalar, typename Acc>
void launch_backward(const BackwardArgs<Scalar, Acc>& args, int64_t blocks, Acc* workspace) {
  if (args.num_steps <= kRegisterSteps) {
    launch(backward_kernel<R, kRegisterSteps, Scalar, Acc>, blocks, args, workspace);
  } else {
    launch(backward_kernel<R, 0, Scalar, Acc>, blocks, args, workspace);
  }
}

void backward_cuda(const BackwardProblem& problem) {
  const c10::cuda::CUDAGuard guard(problem.x.device());
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, problem.x.scalar_type(), "mt_lif_backward_cuda", [&] {
        using Acc = at::opmath_type<scalar_t>;
        BackwardArgs<scalar_t, Acc> args = make_backward_args<scalar_t, Acc>(problem);
        const int64_t blocks = grid_size(args.num_elements);
        const auto acc_options = problem.grad_x.options().dtype(c10::CppTypeToScalarType<Acc>());
        at::Tensor partials;
        if (problem.decay_requires_grad) {
          partials = at::empty({blocks}, acc_options);
          args.decay_partials = partials.mutable_data_ptr<Acc>();
        }
        at::Tensor workspace;
        if (args.num_steps > kRegisterSteps) {
          workspace = at::empty({args.num_steps, args.num_elements}, acc_options);
        }
        Acc* workspace_ptr = workspace.defined() ? workspace.mutable_data_ptr<Acc>() : nullptr;
        switch (problem.options.reset) {
          case Reset::kSoft:
            launch_backward<Reset::kSoft>(args, blocks, workspace_ptr);
            break;
          case Reset::kHard:
            launch_backward<Reset::kHard>(args, blocks, workspace_ptr);
            break;
          case Reset::kNone:
            launch_backward<Reset::kNone>(args, blocks, workspace_ptr);
            break;
        }
        if (problem.decay_requires_grad) {
          problem.grad_decay.copy_(partials.sum(at::kDouble));
        }
      });
}

}  // namespace
}  // namespace mtsnn

TORCH_LIBRARY_IMPL(mtsnn, CUDA, m) {
  m.impl("mt_lif", &mtsnn::mt_lif_kernel<mtsnn::forward_cuda>);
  m.impl("mt_lif_backward", &mtsnn::mt_lif_backward_kernel<mtsnn::backward_cuda>);
}
