// CPU loops of the MT-LIF operator, compiled once per instruction set (see kernels_*.cpp).
//
// Elements are processed in blocks of kBlock: per block the time loop runs over short, contiguous
// inner loops of independent elements, which the compiler vectorises, while the block's membranes
// stay in a small buffer in L1. The backward pass recomputes the forward pass of its block (so the
// forward saves nothing but its inputs) and then walks time backwards.
//
// This header must be included inside `namespace mtsnn::cpu::<capability>` with the
// instruction-set pragma already active; it relies on the includes of kernels_common.h.

constexpr int64_t kBlock = 256;

template <typename Acc>
struct BlockBuffers {
  explicit BlockBuffers(int64_t num_steps) : membranes(static_cast<size_t>(num_steps * kBlock)) {}
  std::vector<Acc> membranes;  // h_t of the block, [T, kBlock]
  Acc v[kBlock];
  Acc grad_v[kBlock];
  Acc grad_h[kBlock];
  Acc slope[kBlock];
  Acc first_slope[kBlock];
  Acc decay_terms[kBlock];
};

template <Reset R, typename Scalar, typename Acc>
void forward_block(const ForwardArgs<Scalar, Acc>& args, int64_t begin, int64_t count, Acc* v) {
  const NeuronParams<Acc> p = args.params;  // a local copy: the stores below cannot alias it
  for (int64_t i = 0; i < count; ++i) {
    v[i] = args.v0 ? static_cast<Acc>(args.v0[begin + i]) : Acc(0);
  }
  for (int64_t t = 0; t < args.num_steps; ++t) {
    const Scalar* x = args.x + t * args.x_stride_t + begin;
    Scalar* spikes = args.spikes + t * args.num_elements + begin;
    for (int64_t i = 0; i < count; ++i) {
      const Acc h = charge(v[i], static_cast<Acc>(x[i]), p.decay);
      const Acc s = spike_count(h, p);
      v[i] = reset_membrane<R>(h, s, p.threshold);
      spikes[i] = static_cast<Scalar>(s);
    }
  }
  for (int64_t i = 0; i < count; ++i) {
    args.v_last[begin + i] = static_cast<Scalar>(v[i]);
  }
}

// slope = sum_k g(h - k*theta) and first_slope = g(h - theta), summed over k in increasing order as
// spike_grad does, one k at a time so that the loop over elements stays innermost.
template <Surrogate S, typename Acc>
void spike_slopes(const Acc* h, int64_t count, const NeuronParams<Acc>& p, Acc* slope,
                  Acc* first_slope) {
  const Acc width = p.width;
  const Acc theta = p.threshold;
  for (int64_t i = 0; i < count; ++i) {
    first_slope[i] = surrogate_grad<S>(h[i] - threshold_at(Acc(1), theta), width);
    slope[i] = first_slope[i];
  }
  for (Acc k = Acc(2); k <= p.num_thresholds; k += Acc(1)) {
    const Acc level = threshold_at(k, theta);
    for (int64_t i = 0; i < count; ++i) {
      slope[i] += surrogate_grad<S>(h[i] - level, width);
    }
  }
}

template <typename Acc>
void spike_slopes(Surrogate surrogate, const Acc* h, int64_t count, const NeuronParams<Acc>& p,
                  Acc* slope, Acc* first_slope) {
  switch (surrogate) {
    case Surrogate::kRectangle:
      return spike_slopes<Surrogate::kRectangle>(h, count, p, slope, first_slope);
    case Surrogate::kTriangle:
      return spike_slopes<Surrogate::kTriangle>(h, count, p, slope, first_slope);
    case Surrogate::kSigmoid:
      return spike_slopes<Surrogate::kSigmoid>(h, count, p, slope, first_slope);
  }
}

// Returns this block's share of dL/d(decay).
template <Reset R, typename Scalar, typename Acc>
Acc backward_block(const BackwardArgs<Scalar, Acc>& args, int64_t begin, int64_t count,
                   BlockBuffers<Acc>& buf) {
  const NeuronParams<Acc> p = args.params;
  const int64_t num_steps = args.num_steps;
  const int64_t n = args.num_elements;
  Acc* v = buf.v;
  Acc* grad_v = buf.grad_v;
  Acc* grad_h = buf.grad_h;

  // Forward again, keeping h_t.
  for (int64_t i = 0; i < count; ++i) {
    v[i] = args.v0 ? static_cast<Acc>(args.v0[begin + i]) : Acc(0);
  }
  for (int64_t t = 0; t < num_steps; ++t) {
    const Scalar* x = args.x + t * args.x_stride_t + begin;
    Acc* h = buf.membranes.data() + t * kBlock;
    for (int64_t i = 0; i < count; ++i) {
      h[i] = charge(v[i], static_cast<Acc>(x[i]), p.decay);
      v[i] = reset_membrane<R>(h[i], spike_count(h[i], p), p.threshold);
    }
  }

  // Backwards through time.
  for (int64_t i = 0; i < count; ++i) {
    grad_v[i] = args.grad_v_last ? static_cast<Acc>(args.grad_v_last[begin + i]) : Acc(0);
    buf.decay_terms[i] = Acc(0);
  }
  for (int64_t t = num_steps - 1; t >= 0; --t) {
    const Acc* h = buf.membranes.data() + t * kBlock;
    const Scalar* grad_s = args.grad_spikes + t * args.grad_spikes_stride_t + begin;
    Scalar* grad_x = args.grad_x + t * n + begin;
    spike_slopes(args.surrogate, h, count, p, buf.slope, buf.first_slope);
    for (int64_t i = 0; i < count; ++i) {
      grad_h[i] = membrane_grad<R>(h[i], static_cast<Acc>(grad_s[i]), grad_v[i], buf.slope[i],
                                   buf.first_slope[i], p);
      grad_x[i] = static_cast<Scalar>(grad_h[i]);
      grad_v[i] = p.decay * grad_h[i];
    }
    if (args.decay_partials) {  // dh_t/d(decay) = v_{t-1}
      if (t > 0) {
        const Acc* h_prev = h - kBlock;
        for (int64_t i = 0; i < count; ++i) {
          const Acc v_prev = reset_membrane<R>(h_prev[i], spike_count(h_prev[i], p), p.threshold);
          buf.decay_terms[i] += grad_h[i] * v_prev;
        }
      } else if (args.v0) {
        for (int64_t i = 0; i < count; ++i) {
          buf.decay_terms[i] += grad_h[i] * static_cast<Acc>(args.v0[begin + i]);
        }
      }
    }
  }
  if (args.grad_v0) {
    for (int64_t i = 0; i < count; ++i) {
      args.grad_v0[begin + i] = static_cast<Scalar>(grad_v[i]);
    }
  }
  Acc decay_sum = Acc(0);
  for (int64_t i = 0; i < count; ++i) {
    decay_sum += buf.decay_terms[i];
  }
  return decay_sum;
}

inline int64_t num_blocks(int64_t num_elements) { return (num_elements + kBlock - 1) / kBlock; }

// Enough blocks per task that the threading overhead stays small.
inline int64_t block_grain(int64_t num_steps) {
  return std::max<int64_t>(1, 64 / std::max<int64_t>(1, num_steps));
}

template <typename Scalar, typename Acc>
void run_forward(const ForwardArgs<Scalar, Acc>& args, Reset reset) {
  const int64_t blocks = num_blocks(args.num_elements);
  at::parallel_for(0, blocks, block_grain(args.num_steps), [&](int64_t first, int64_t last) {
    Acc v[kBlock];
    for (int64_t b = first; b < last; ++b) {
      const int64_t begin = b * kBlock;
      const int64_t count = std::min(kBlock, args.num_elements - begin);
      switch (reset) {
        case Reset::kSoft:
          forward_block<Reset::kSoft>(args, begin, count, v);
          break;
        case Reset::kHard:
          forward_block<Reset::kHard>(args, begin, count, v);
          break;
        case Reset::kNone:
          forward_block<Reset::kNone>(args, begin, count, v);
          break;
      }
    }
  });
}

// Writes one partial dL/d(decay) per block into args.decay_partials when it is set; the caller sums
// them, so the result does not depend on the number of threads.
template <typename Scalar, typename Acc>
void run_backward(const BackwardArgs<Scalar, Acc>& args, Reset reset) {
  const int64_t blocks = num_blocks(args.num_elements);
  at::parallel_for(0, blocks, block_grain(args.num_steps), [&](int64_t first, int64_t last) {
    BlockBuffers<Acc> buf(args.num_steps);
    for (int64_t b = first; b < last; ++b) {
      const int64_t begin = b * kBlock;
      const int64_t count = std::min(kBlock, args.num_elements - begin);
      Acc partial = Acc(0);
      switch (reset) {
        case Reset::kSoft:
          partial = backward_block<Reset::kSoft>(args, begin, count, buf);
          break;
        case Reset::kHard:
          partial = backward_block<Reset::kHard>(args, begin, count, buf);
          break;
        case Reset::kNone:
          partial = backward_block<Reset::kNone>(args, begin, count, buf);
          break;
      }
      if (args.decay_partials) {
        args.decay_partials[b] = partial;
      }
    }
  });
}

inline void forward(const ForwardProblem& problem) {
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, problem.x.scalar_type(), "mt_lif_forward_cpu", [&] {
        using Acc = at::opmath_type<scalar_t>;
        run_forward(make_forward_args<scalar_t, Acc>(problem), problem.options.reset);
      });
}

inline void backward(const BackwardProblem& problem) {
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, problem.x.scalar_type(), "mt_lif_backward_cpu", [&] {
        using Acc = at::opmath_type<scalar_t>;
        BackwardArgs<scalar_t, Acc> args = make_backward_args<scalar_t, Acc>(problem);
        at::Tensor partials;
        if (problem.decay_requires_grad) {
          partials = at::empty({num_blocks(args.num_elements)},
                               problem.grad_decay.options().dtype(c10::CppTypeToScalarType<Acc>()));
          args.decay_partials = partials.mutable_data_ptr<Acc>();
        }
        run_backward(args, problem.options.reset);
        if (problem.decay_requires_grad) {
          problem.grad_decay.copy_(partials.sum(at::kDouble));
        }
      });
}
