// A naive scalar model of the MT-LIF neuron, written straight from the equations (forward and
// backward, one neuron at a time, a loop over the thresholds): the oracle the C++ tests hold the
// kernels and the autograd to.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mtsnn/functional.h"

namespace mtsnn::testing {

template <typename Acc>
Acc naive_surrogate(Acc z, const NeuronOptions& o) {
  const Acc a = static_cast<Acc>(o.width());
  if (o.surrogate() == "rectangle") return std::fabs(z) < a / 2 ? Acc(1) / a : Acc(0);
  if (o.surrogate() == "triangle") return std::max(Acc(0), Acc(1) - std::fabs(z) / a) / a;
  const Acc sig = Acc(1) / (Acc(1) + std::exp(Acc(-4) * z / a));
  return Acc(4) / a * sig * (Acc(1) - sig);
}

template <typename Acc>
struct NaiveNeuron {
  const NeuronOptions& o;
  Acc theta, lambda;

  Acc count(Acc h) const {
    Acc s = 0;
    for (int64_t k = 1; k <= o.num_thresholds(); ++k) s += h >= Acc(k) * theta ? 1 : 0;
    return s;
  }
  Acc next_v(Acc h, Acc s) const {
    if (o.reset() == "soft") return h - theta * s;
    if (o.reset() == "hard") return h * (Acc(1) - std::min(s, Acc(1)));
    return h;
  }
  // Returns h_t; writes s_t.
  std::vector<Acc> forward(const std::vector<Acc>& x, Acc v0, std::vector<Acc>& spikes) const {
    std::vector<Acc> h(x.size());
    Acc v = v0;
    for (size_t t = 0; t < x.size(); ++t) {
      h[t] = lambda * v + x[t];
      spikes[t] = count(h[t]);
      v = next_v(h[t], spikes[t]);
    }
    return h;
  }
  // Returns dL/dv0; writes dL/dx_t; accumulates dL/dlambda.
  Acc backward(const std::vector<Acc>& h, Acc v0, const std::vector<Acc>& grad_s, Acc grad_v_last,
               std::vector<Acc>& grad_x, double& grad_lambda) const {
    Acc grad_v = grad_v_last;
    for (size_t t = h.size(); t-- > 0;) {
      Acc slope = 0;
      for (int64_t k = 1; k <= o.num_thresholds(); ++k)
        slope += naive_surrogate(h[t] - Acc(k) * theta, o);
      Acc dv_dh = 1;
      if (o.reset() == "soft" && !o.detach_reset()) dv_dh = 1 - theta * slope;
      if (o.reset() == "hard") {
        const Acc kept = 1 - std::min(count(h[t]), Acc(1));
        dv_dh = o.detach_reset() ? kept : kept - h[t] * naive_surrogate(h[t] - theta, o);
      }
      const Acc grad_h = grad_s[t] * slope + grad_v * dv_dh;
      grad_x[t] = grad_h;
      const Acc v_prev = t > 0 ? next_v(h[t - 1], count(h[t - 1])) : v0;
      grad_lambda += static_cast<double>(grad_h * v_prev);
      grad_v = lambda * grad_h;
    }
    return grad_v;
  }
};

// What a forward and backward pass produce, for comparison.
struct PassResult {
  at::Tensor spikes, v_last, grad_x, grad_v0;
  double grad_decay = 0;
};

// The naive model over x [T, ...] in x's dtype (float or double), from v0 (undefined: rest),
// with loss gradients grad_s ([T, ...]) and grad_v (for v_last); decay is options.decay().
template <typename Acc>
PassResult naive_pass(const at::Tensor& x, const at::Tensor& v0, const at::Tensor& grad_s,
                      const at::Tensor& grad_v, const NeuronOptions& o) {
  const int64_t steps = x.size(0), n = x.numel() / steps;
  const NaiveNeuron<Acc> neuron{o, static_cast<Acc>(o.threshold()), static_cast<Acc>(o.decay())};
  const at::Tensor xs = x.contiguous().reshape({steps, n});
  const at::Tensor gs = grad_s.contiguous().reshape({steps, n});
  const at::Tensor gv = grad_v.contiguous().reshape({n});
  const at::Tensor starts =
      v0.defined() ? v0.contiguous().reshape({n}) : at::zeros({n}, x.options());
  PassResult result;
  result.spikes = at::empty({steps, n}, x.options());
  result.grad_x = at::empty({steps, n}, x.options());
  result.v_last = at::empty({n}, x.options());
  result.grad_v0 = at::empty({n}, x.options());
  for (int64_t i = 0; i < n; ++i) {
    std::vector<Acc> xi(steps), s(steps), g(steps), gx(steps);
    for (int64_t t = 0; t < steps; ++t) {
      xi[t] = xs[t][i].item<Acc>();
      g[t] = gs[t][i].item<Acc>();
    }
    const Acc start = starts[i].item<Acc>();
    const std::vector<Acc> h = neuron.forward(xi, start, s);
    const Acc g0 = neuron.backward(h, start, g, gv[i].item<Acc>(), gx, result.grad_decay);
    for (int64_t t = 0; t < steps; ++t) {
      result.spikes[t][i] = s[t];
      result.grad_x[t][i] = gx[t];
    }
    result.v_last[i] = neuron.next_v(h[steps - 1], s[steps - 1]);
    result.grad_v0[i] = g0;
  }
  result.spikes = result.spikes.reshape(x.sizes());
  result.grad_x = result.grad_x.reshape(x.sizes());
  result.v_last = result.v_last.reshape(x.sizes().slice(1));
  result.grad_v0 = result.grad_v0.reshape(x.sizes().slice(1));
  return result;
}

// The options both sweeps over the neuron's cases use (test_kernels, test_autograd): K thresholds,
// with every reset x surrogate x detach combination coming from the test parameters.
inline NeuronOptions swept_options(int64_t num_thresholds, const std::string& reset,
                                   const std::string& surrogate, bool detach_reset) {
  return NeuronOptions()
      .num_thresholds(num_thresholds)
      .threshold(0.75)
      .decay(0.6)
      .reset(reset)
      .surrogate(surrogate)
      .width(0.8)
      .detach_reset(detach_reset);
}

// Spikes and v_last equal; gradients close (the naive loop sums in another order).
inline void expect_matches(const PassResult& got, const PassResult& want, bool with_v0) {
  const double tolerance = got.grad_x.scalar_type() == at::kDouble ? 1e-10 : 1e-4;
  EXPECT_TRUE(at::equal(got.spikes, want.spikes)) << "spikes";
  EXPECT_TRUE(at::equal(got.v_last, want.v_last)) << "v_last";
  EXPECT_TRUE(at::allclose(got.grad_x, want.grad_x, tolerance, tolerance)) << "grad_x";
  if (with_v0) {
    EXPECT_TRUE(at::allclose(got.grad_v0, want.grad_v0, tolerance, tolerance)) << "grad_v0";
  }
  EXPECT_NEAR(got.grad_decay, want.grad_decay, 1e-3 * (1 + std::fabs(want.grad_decay)))
      << "grad_decay";
}

}  // namespace mtsnn::testing
