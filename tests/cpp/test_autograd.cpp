// The C++ autograd of the operator, as a C++ caller sees it through mtsnn::mt_lif: gradients
// against the naive scalar loop over every option, a finite-difference check in double, the
// gradient slots of inputs that do not require grad, and the refusal of double backward.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <string>
#include <tuple>

#include "mtsnn/functional.h"
#include "naive_neuron.h"

namespace {

using mtsnn::NeuronOptions;

// Forward and backward through the public call with a learned decay and, optionally, v0.
template <typename Acc>
void check_autograd_against_naive(const at::Tensor& x, const NeuronOptions& o, bool with_v0) {
  const at::Tensor input = x.detach().clone().requires_grad_();
  const at::Tensor v0 =
      with_v0 ? at::randn(x.sizes().slice(1), x.options()).requires_grad_() : at::Tensor();
  const at::Tensor decay = at::tensor(o.decay(), x.options()).requires_grad_();
  const at::Tensor grad_s = at::randn(x.sizes(), x.options());
  const at::Tensor grad_v = at::randn(x.sizes().slice(1), x.options());
  const auto [spikes, v_last] = mtsnn::mt_lif_with_state(
      input, o, with_v0 ? std::optional<at::Tensor>(v0) : std::nullopt, decay);
  ((spikes * grad_s).sum() + (v_last * grad_v).sum()).backward();

  mtsnn::testing::PassResult got{spikes.detach(), v_last.detach(), input.grad(),
                                 with_v0 ? v0.grad() : at::Tensor(), decay.grad().item<double>()};
  ASSERT_TRUE(got.grad_x.defined());
  ASSERT_EQ(decay.grad().sizes(), decay.sizes());
  mtsnn::testing::expect_matches(
      got,
      mtsnn::testing::naive_pass<Acc>(x, with_v0 ? v0.detach() : at::Tensor(), grad_s, grad_v, o),
      with_v0);
}

class AutogradMatchesNaiveLoop
    : public testing::TestWithParam<std::tuple<std::string, std::string, bool>> {};

TEST_P(AutogradMatchesNaiveLoop, ThresholdsAndSteps) {
  const auto& [reset, surrogate, detach] = GetParam();
  for (int64_t k : {1, 2, 3, 4, 5}) {
    for (int64_t steps : {1, 2, 3, 8}) {
      SCOPED_TRACE("K=" + std::to_string(k) + " T=" + std::to_string(steps));
      const NeuronOptions o = mtsnn::testing::swept_options(k, reset, surrogate, detach);
      at::manual_seed(k * 100 + steps);
      const at::Tensor x = at::randn({steps, 3, 41}, at::kDouble) * (k * 0.6) + 0.2;
      check_autograd_against_naive<double>(x, o, steps % 2 == 1);
      check_autograd_against_naive<float>(x.to(at::kFloat), o, steps % 2 == 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOptions, AutogradMatchesNaiveLoop,
                         testing::Combine(testing::Values("soft", "hard", "none"),
                                          testing::Values("rectangle", "triangle", "sigmoid"),
                                          testing::Bool()));

// With a detached reset, v_last is piecewise smooth in x, v0 and the decay (the spikes only shift
// it), so central differences check the recurrence and the v0 and decay gradients.
TEST(Autograd, FiniteDifferencesOfTheMembranePath) {
  for (const char* reset : {"soft", "hard", "none"}) {
    SCOPED_TRACE(reset);
    const NeuronOptions o =
        NeuronOptions().num_thresholds(2).threshold(0.9).reset(reset).detach_reset(true);
    at::manual_seed(7);
    const at::Tensor x = at::randn({3, 6}, at::kDouble).requires_grad_();
    const at::Tensor v0 = at::randn({6}, at::kDouble).requires_grad_();
    const at::Tensor decay = at::tensor(0.7, at::kDouble).requires_grad_();
    const at::Tensor weights = at::randn({6}, at::kDouble);
    const auto loss = [&](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) {
      return (std::get<1>(mtsnn::mt_lif_with_state(a, o, b, c)) * weights).sum();
    };
    const auto grads = torch::autograd::grad({loss(x, v0, decay)}, {x, v0, decay});
    const double step = 1e-6;
    const std::vector<at::Tensor> inputs{x, v0, decay};
    for (size_t which = 0; which < inputs.size(); ++which) {
      const at::Tensor flat = inputs[which].detach().reshape({-1});
      for (int64_t i = 0; i < flat.numel(); ++i) {
        std::vector<at::Tensor> plus, minus;
        for (size_t j = 0; j < inputs.size(); ++j) {
          plus.push_back(inputs[j].detach().clone());
          minus.push_back(inputs[j].detach().clone());
        }
        plus[which].view({-1})[i] += step;
        minus[which].view({-1})[i] -= step;
        const at::NoGradGuard no_grad;
        const double numeric = (loss(plus[0], plus[1], plus[2]).item<double>() -
                                loss(minus[0], minus[1], minus[2]).item<double>()) /
                               (2 * step);
        EXPECT_NEAR(grads[which].reshape({-1})[i].item<double>(), numeric, 1e-6)
            << "input " << which << " element " << i;
      }
    }
  }
}

// needs_input_grad counts only the tensors passed: each combination of (v0, decay) present and
// requiring grad must put each gradient in its own slot.
TEST(Autograd, GradientSlotsFollowTheInputsThatRequireThem) {
  const at::Tensor x0 = at::randn({2, 5}, at::kDouble);
  for (bool v0_given : {false, true}) {
    for (bool v0_grad : {false, true}) {
      for (bool decay_given : {false, true}) {
        for (bool decay_grad : {false, true}) {
          const at::Tensor x = x0.clone().requires_grad_();
          at::Tensor v0 = at::randn({5}, at::kDouble);
          at::Tensor decay = at::tensor(0.4, at::kDouble);
          if (v0_grad) v0.requires_grad_();
          if (decay_grad) decay.requires_grad_();
          const auto spikes = mtsnn::mt_lif(
              x, NeuronOptions(), v0_given ? std::optional<at::Tensor>(v0) : std::nullopt,
              decay_given ? std::optional<at::Tensor>(decay) : std::nullopt);
          spikes.sum().backward();
          EXPECT_TRUE(x.grad().defined());
          EXPECT_EQ(v0.grad().defined(), v0_given && v0_grad);
          EXPECT_EQ(decay.grad().defined(), decay_given && decay_grad);
        }
      }
    }
  }
}

TEST(Autograd, OnlyTheFinalMembraneReachesTheLoss) {
  const at::Tensor x = at::randn({3, 9}, at::kDouble).requires_grad_();
  std::get<1>(mtsnn::mt_lif_with_state(x)).sum().backward();
  const at::Tensor grad_v = at::ones({9}, at::kDouble);
  const auto naive = mtsnn::testing::naive_pass<double>(x.detach(), {}, at::zeros_like(x), grad_v,
                                                        NeuronOptions());
  EXPECT_TRUE(at::allclose(x.grad(), naive.grad_x, 1e-12, 1e-12));
}

TEST(Autograd, DoubleBackwardIsRefused) {
  const at::Tensor x = at::randn({2, 8}, at::kDouble).requires_grad_();
  const auto grads = torch::autograd::grad({mtsnn::mt_lif(x).sum()}, {x}, {}, /*retain_graph=*/true,
                                           /*create_graph=*/true);
  try {
    grads[0].sum().backward();
    FAIL() << "a second backward went through";
  } catch (const c10::Error& error) {
    EXPECT_NE(std::string(error.what()).find("double backward"), std::string::npos);
  }
}

TEST(Autograd, NoGradientWithoutGradMode) {
  const at::Tensor x = at::randn({2, 8}).requires_grad_();
  const at::NoGradGuard no_grad;
  EXPECT_FALSE(mtsnn::mt_lif(x).requires_grad());
}

TEST(RepeatOverTime, IsExpandWithAGradientInTheInputsLayout) {
  const at::Tensor x =
      at::randn({3, 4, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
  const at::Tensor repeated = mtsnn::repeat_over_time(x, 2);
  EXPECT_TRUE(at::equal(repeated, x.unsqueeze(0).expand({2, 3, 4, 5, 5})));
  EXPECT_EQ(repeated.stride(0), 0);
  const at::Tensor grad = at::randn(repeated.sizes());
  repeated.backward(grad);
  EXPECT_TRUE(at::equal(x.grad(), grad.sum(0)));
  EXPECT_TRUE(x.grad().is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_THROW(mtsnn::repeat_over_time(x, 0), c10::ValueError);
}

TEST(Autograd, BadOptionsRaiseTheValueErrorsPythonShows) {
  const at::Tensor x = at::randn({2, 4});
  const auto message_of = [&](const NeuronOptions& o) -> std::string {
    try {
      mtsnn::mt_lif(x, o);
    } catch (const c10::ValueError& error) {
      return error.what_without_backtrace();
    }
    return "";
  };
  EXPECT_EQ(message_of(NeuronOptions().num_thresholds(0)),
            "mt_lif: num_thresholds must be an integer in [1, 256], got 0");
  EXPECT_EQ(message_of(NeuronOptions().reset("sof")),
            "mt_lif: unknown reset 'sof'; expected one of 'soft', 'hard', 'none'");
  EXPECT_EQ(message_of(NeuronOptions().surrogate("box")),
            "mt_lif: unknown surrogate 'box'; expected one of 'rectangle', 'triangle', 'sigmoid'");
  EXPECT_EQ(message_of(NeuronOptions().decay(1.5)), "mt_lif: decay must be in [0, 1], got 1.5");
  EXPECT_THROW(mtsnn::check_options(NeuronOptions().width(0)), c10::ValueError);
  EXPECT_NO_THROW(mtsnn::check_options(NeuronOptions()));
}

}  // namespace
