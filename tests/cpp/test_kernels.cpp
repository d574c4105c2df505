// The tensor-level op (every CPU kernel variant) against a naive scalar loop written from the
// neuron's equations, over all options; plus dispatcher registration and argument errors.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "mtsnn/mt_lif.h"

namespace {

struct Options {
  int64_t num_thresholds = 3;
  double threshold = 1.0;
  double decay = 0.5;
  std::string reset = "soft";
  std::string surrogate = "rectangle";
  double width = 1.0;
  bool detach_reset = false;
};

template <typename Acc>
Acc naive_surrogate(Acc z, const Options& o) {
  const Acc a = static_cast<Acc>(o.width);
  if (o.surrogate == "rectangle") return std::fabs(z) < a / 2 ? Acc(1) / a : Acc(0);
  if (o.surrogate == "triangle") return std::max(Acc(0), Acc(1) - std::fabs(z) / a) / a;
  const Acc sig = Acc(1) / (Acc(1) + std::exp(Acc(-4) * z / a));
  return Acc(4) / a * sig * (Acc(1) - sig);
}

// Forward and backward for one neuron, straight from the equations. Returns spikes, v_last and
// fills the gradients for x and v0 and adds to the decay gradient.
template <typename Acc>
struct NaiveNeuron {
  const Options& o;
  Acc theta, lambda;

  Acc count(Acc h) const {
    Acc s = 0;
    for (int64_t k = 1; k <= o.num_thresholds; ++k) s += h >= Acc(k) * theta ? 1 : 0;
    return s;
  }
  Acc next_v(Acc h, Acc s) const {
    if (o.reset == "soft") return h - theta * s;
    if (o.reset == "hard") return h * (Acc(1) - std::min(s, Acc(1)));
    return h;
  }
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
      for (int64_t k = 1; k <= o.num_thresholds; ++k)
        slope += naive_surrogate(h[t] - Acc(k) * theta, o);
      Acc dv_dh = 1;
      if (o.reset == "soft" && !o.detach_reset) dv_dh = 1 - theta * slope;
      if (o.reset == "hard") {
        const Acc kept = 1 - std::min(count(h[t]), Acc(1));
        dv_dh = o.detach_reset ? kept : kept - h[t] * naive_surrogate(h[t] - theta, o);
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

template <typename Acc>
void check_against_naive(const at::Tensor& x, const Options& o, bool with_v0) {
  const auto dtype = x.scalar_type();
  const int64_t steps = x.size(0), n = x.numel() / steps;
  const at::Tensor v0 = with_v0 ? at::randn(x.sizes().slice(1), x.options()) : at::Tensor();
  const at::Tensor decay = at::tensor(o.decay, at::kDouble);
  const at::Tensor grad_s = at::randn(x.sizes(), x.options());
  const at::Tensor grad_v = at::randn(x.sizes().slice(1), x.options());
  auto [spikes, v_last] = mtsnn::mt_lif_forward(
      x, with_v0 ? std::optional<at::Tensor>(v0) : std::nullopt, decay, 0.5, o.num_thresholds,
      o.threshold, o.reset, o.surrogate, o.width, o.detach_reset);
  auto [grad_x, grad_v0, grad_decay] = mtsnn::mt_lif_backward(
      grad_s, grad_v, x, with_v0 ? std::optional<at::Tensor>(v0) : std::nullopt, decay, 0.5,
      o.num_thresholds, o.threshold, o.reset, o.surrogate, o.width, o.detach_reset, true);

  const NaiveNeuron<Acc> neuron{o, static_cast<Acc>(o.threshold), static_cast<Acc>(o.decay)};
  const at::Tensor xc = x.contiguous().reshape({steps, n}), gs = grad_s.reshape({steps, n});
  const at::Tensor sp = spikes.contiguous().reshape({steps, n}),
                   gx = grad_x.contiguous().reshape({steps, n});
  const at::Tensor vl = v_last.contiguous().reshape({n}), gv = grad_v.reshape({n});
  double grad_lambda = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<Acc> xs(steps), s(steps), g(steps), gxi(steps);
    for (int64_t t = 0; t < steps; ++t) {
      xs[t] = xc[t][i].item<Acc>();
      g[t] = gs[t][i].item<Acc>();
    }
    const Acc start = with_v0 ? v0.reshape({n})[i].item<Acc>() : Acc(0);
    const std::vector<Acc> h = neuron.forward(xs, start, s);
    const Acc g0 = neuron.backward(h, start, g, gv[i].item<Acc>(), gxi, grad_lambda);
    Acc v = start;
    for (int64_t t = 0; t < steps; ++t) {
      ASSERT_EQ(sp[t][i].item<Acc>(), s[t]) << "spike t=" << t << " i=" << i;
      v = neuron.next_v(h[t], s[t]);
      ASSERT_NEAR(gx[t][i].item<Acc>(), gxi[t], 1e-4 * (1 + std::fabs(gxi[t]))) << "grad_x t=" << t;
    }
    ASSERT_EQ(vl[i].item<Acc>(), v) << "v_last i=" << i;
    if (with_v0) {
      ASSERT_NEAR(grad_v0.reshape({n})[i].item<Acc>(), g0, 1e-4 * (1 + std::fabs(g0)));
    }
  }
  EXPECT_NEAR(grad_decay.item<double>(), grad_lambda, 1e-3 * (1 + std::fabs(grad_lambda)));
  EXPECT_EQ(spikes.scalar_type(), dtype);
}

std::vector<std::string> cpu_variants() {
  std::vector<std::string> supported;
  const std::string original = mtsnn::cpu_capability();
  for (const char* name : {"default", "avx2", "avx512"}) {
    try {
      mtsnn::set_cpu_capability(name);
      supported.emplace_back(name);
    } catch (const c10::ValueError&) {
    }
  }
  mtsnn::set_cpu_capability(original);
  return supported;
}

class KernelsMatchNaiveLoop
    : public testing::TestWithParam<std::tuple<std::string, std::string, bool>> {};

TEST_P(KernelsMatchNaiveLoop, AllVariantsThresholdsAndSteps) {
  const auto& [reset, surrogate, detach] = GetParam();
  const std::string original = mtsnn::cpu_capability();
  for (const std::string& variant : cpu_variants()) {
    mtsnn::set_cpu_capability(variant);
    for (int64_t k : {1, 2, 3, 4, 5}) {  // 1-4: compile-time K; 5: run-time K
      for (int64_t steps : {1, 2, 3, 8}) {
        SCOPED_TRACE(variant + " K=" + std::to_string(k) + " T=" + std::to_string(steps));
        Options o{k, 0.75, 0.6, reset, surrogate, 0.8, detach};
        at::manual_seed(k * 100 + steps);
        const at::Tensor x = at::randn({steps, 3, 97}, at::kFloat) * (k * 0.6) + 0.2;
        check_against_naive<float>(x, o, steps % 2 == 1);
        check_against_naive<double>(x.to(at::kDouble).transpose(1, 2), o, steps % 2 == 0);
      }
    }
  }
  mtsnn::set_cpu_capability(original);
}

INSTANTIATE_TEST_SUITE_P(AllOptions, KernelsMatchNaiveLoop,
                         testing::Combine(testing::Values("soft", "hard", "none"),
                                          testing::Values("rectangle", "triangle", "sigmoid"),
                                          testing::Bool()));

TEST(Kernels, ExpandedTimeInputMatchesMaterialised) {
  const at::Tensor slab = at::randn({5, 300}) * 2;
  const at::Tensor expanded = slab.unsqueeze(0).expand({4, 5, 300});
  const auto [s1, v1] = mtsnn::mt_lif_forward(expanded, std::nullopt, std::nullopt, 0.5, 3, 1.0,
                                              "soft", "rectangle", 1.0, false);
  const auto [s2, v2] = mtsnn::mt_lif_forward(expanded.contiguous(), std::nullopt, std::nullopt,
                                              0.5, 3, 1.0, "soft", "rectangle", 1.0, false);
  EXPECT_TRUE(at::equal(s1, s2));
  EXPECT_TRUE(at::equal(v1, v2));
}

// Without the state the spikes are the same, and v_last is an empty tensor.
TEST(Kernels, ReturnStateFalseGivesSameSpikesAndNoState) {
  for (const char* reset : {"soft", "hard", "none"}) {
    for (int64_t k : {2, 7}) {
      const at::Tensor x = at::randn({3, 7, 129}, at::kDouble) * 2 + 0.5;
      const at::Tensor v0 = at::randn({7, 129}, at::kDouble);
      const auto [s1, v1] = mtsnn::mt_lif_forward(x, v0, std::nullopt, 0.6, k, 0.7, reset,
                                                  "rectangle", 1.0, false, true);
      const auto [s2, v2] = mtsnn::mt_lif_forward(x, v0, std::nullopt, 0.6, k, 0.7, reset,
                                                  "rectangle", 1.0, false, false);
      EXPECT_TRUE(at::equal(s1, s2)) << reset << " K=" << k;
      EXPECT_EQ(v1.sizes(), (at::IntArrayRef{7, 129}));
      EXPECT_EQ(v2.numel(), 0);
      EXPECT_EQ(v2.scalar_type(), at::kDouble);
    }
  }
}

TEST(Kernels, RegisteredWithTheDispatcher) {
  const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("mtsnn::mt_lif", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(
              const at::Tensor&, const std::optional<at::Tensor>&, const std::optional<at::Tensor>&,
              double, int64_t, double, c10::string_view, c10::string_view, double, bool, bool)>();
  const at::Tensor x = at::randn({2, 64});
  const auto [spikes, v_last] =
      op.call(x, std::nullopt, std::nullopt, 0.5, 2, 1.0, "hard", "sigmoid", 1.0, false, true);
  const auto [direct, direct_v] = mtsnn::mt_lif_forward(x, std::nullopt, std::nullopt, 0.5, 2, 1.0,
                                                        "hard", "sigmoid", 1.0, false);
  EXPECT_TRUE(at::equal(spikes, direct));
  const auto meta = op.call(x.to(at::kMeta), std::nullopt, std::nullopt, 0.5, 2, 1.0, "hard",
                            "sigmoid", 1.0, false, true);
  EXPECT_TRUE(std::get<0>(meta).is_meta());
  EXPECT_EQ(std::get<0>(meta).sizes(), x.sizes());
}

TEST(Kernels, BadArgumentsThrowValueErrors) {
  const at::Tensor x = at::randn({2, 4});
  auto call = [&](int64_t k, double theta, double decay, const char* reset, double width) {
    mtsnn::mt_lif_forward(x, std::nullopt, std::nullopt, decay, k, theta, reset, "rectangle", width,
                          false);
  };
  EXPECT_THROW(call(0, 1.0, 0.5, "soft", 1.0), c10::ValueError);
  EXPECT_THROW(call(3, 0.0, 0.5, "soft", 1.0), c10::ValueError);
  EXPECT_THROW(call(3, 1.0, 1.5, "soft", 1.0), c10::ValueError);
  EXPECT_THROW(call(3, 1.0, 0.5, "sof", 1.0), c10::ValueError);
  EXPECT_THROW(call(3, 1.0, 0.5, "soft", -1.0), c10::ValueError);
  EXPECT_THROW(mtsnn::mt_lif_forward(at::zeros({2, 4}, at::kInt), std::nullopt, std::nullopt, 0.5,
                                     3, 1.0, "soft", "rectangle", 1.0, false),
               c10::TypeError);
}

}  // namespace
