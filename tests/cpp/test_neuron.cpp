// The per-element math of mtsnn/neuron.h against its definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "op/neuron.h"

namespace {

using mtsnn::NeuronParams;
using mtsnn::Surrogate;

template <typename Acc>
NeuronParams<Acc> params(Acc threshold, int64_t num_thresholds) {
  NeuronParams<Acc> p{};
  p.threshold = threshold;
  p.inverse_threshold = Acc(1) / threshold;
  p.num_thresholds = static_cast<Acc>(num_thresholds);
  p.decay = Acc(0.5);
  p.width = Acc(1);
  return p;
}

// The definition: s = sum_{k=1..K} [h >= k*theta], with k*theta one product in Acc.
template <typename Acc>
Acc count_by_definition(Acc h, Acc threshold, int64_t num_thresholds) {
  Acc count = 0;
  for (int64_t k = 1; k <= num_thresholds; ++k) {
    count += h >= static_cast<Acc>(k) * threshold ? Acc(1) : Acc(0);
  }
  return count;
}

// spike_count with the thresholds fixed at compile time, for K = 1..4 (what the CPU loops unroll).
template <typename Acc>
Acc fixed_count(Acc h, Acc theta, int64_t num_thresholds) {
  switch (num_thresholds) {
    case 1:
      return mtsnn::spike_count(h, mtsnn::FixedThresholds<1, Acc>(theta));
    case 2:
      return mtsnn::spike_count(h, mtsnn::FixedThresholds<2, Acc>(theta));
    case 3:
      return mtsnn::spike_count(h, mtsnn::FixedThresholds<3, Acc>(theta));
    default:
      return mtsnn::spike_count(h, mtsnn::FixedThresholds<4, Acc>(theta));
  }
}

template <typename Acc>
void check_spike_count_on_and_around_every_threshold() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> log_theta(-6.0, 6.0);
  for (int trial = 0; trial < 400; ++trial) {
    const Acc theta = static_cast<Acc>(std::exp(log_theta(rng)));
    const int64_t k_max = 1 + trial % mtsnn::kMaxThresholds;
    const auto p = params<Acc>(theta, k_max);
    std::vector<Acc> probes = {Acc(0), -theta, Acc(-0.0), std::numeric_limits<Acc>::infinity(),
                               -std::numeric_limits<Acc>::infinity()};
    for (int64_t k = 1; k <= k_max + 1; ++k) {
      const Acc level = static_cast<Acc>(k) * theta;
      Acc below = level, above = level;
      for (int step = 0; step < 3; ++step) {
        below = std::nextafter(below, -std::numeric_limits<Acc>::infinity());
        above = std::nextafter(above, std::numeric_limits<Acc>::infinity());
        probes.push_back(below);
        probes.push_back(above);
      }
      probes.push_back(level);
      probes.push_back(level * Acc(0.5) + Acc(0.5) * (level - theta));
    }
    for (const Acc h : probes) {
      ASSERT_EQ(mtsnn::spike_count(h, p), count_by_definition(h, theta, k_max))
          << "h=" << h << " theta=" << theta << " K=" << k_max;
      if (k_max <= 4) {
        ASSERT_EQ(fixed_count(h, theta, k_max), count_by_definition(h, theta, k_max))
            << "fixed K: h=" << h << " theta=" << theta << " K=" << k_max;
      }
    }
  }
}

TEST(SpikeCount, MatchesDefinitionFloat) {
  check_spike_count_on_and_around_every_threshold<float>();
}

TEST(SpikeCount, MatchesDefinitionDouble) {
  check_spike_count_on_and_around_every_threshold<double>();
}

TEST(SpikeCount, NanMembraneGivesNanSpike) {
  const auto p = params<float>(1.0f, 3);
  EXPECT_TRUE(std::isnan(mtsnn::spike_count(std::nanf(""), p)));
  EXPECT_TRUE(
      std::isnan(mtsnn::spike_count(std::nanf(""), mtsnn::FixedThresholds<3, float>(1.0f))));
}

// The unrolled surrogate sum for a compile-time K is the run-time sum, bit for bit, and its first
// term is g(h - theta).
template <Surrogate S, int K>
void check_fixed_spike_grad() {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal(1.5, 2.0);
  for (const double theta : {0.3, 1.0, 1.7}) {
    auto p = params<double>(theta, K);
    p.width = 0.8;
    const mtsnn::FixedThresholds<K, double> levels(theta);
    std::vector<double> probes = {std::nan(""), std::numeric_limits<double>::infinity(),
                                  -std::numeric_limits<double>::infinity(), 0.0};
    for (int i = 0; i < 2000; ++i) {
      probes.push_back(normal(rng));
    }
    for (const double h : probes) {
      double first = 0;
      const double total = mtsnn::spike_grad<S>(h, levels, p.width, first);
      const double expected = mtsnn::spike_grad<S>(h, p);
      if (std::isnan(expected)) {
        ASSERT_TRUE(std::isnan(total)) << "h=" << h;
        continue;
      }
      ASSERT_EQ(total, expected) << "h=" << h << " theta=" << theta << " K=" << K;
      ASSERT_EQ(first, (mtsnn::surrogate_grad<S>(h - theta, p.width))) << "h=" << h;
    }
  }
}

template <Surrogate S>
void check_fixed_spike_grad_all_k() {
  check_fixed_spike_grad<S, 1>();
  check_fixed_spike_grad<S, 2>();
  check_fixed_spike_grad<S, 3>();
  check_fixed_spike_grad<S, 4>();
}

TEST(SpikeGrad, FixedThresholdsMatchRunTimeSum) {
  check_fixed_spike_grad_all_k<Surrogate::kRectangle>();
  check_fixed_spike_grad_all_k<Surrogate::kTriangle>();
  check_fixed_spike_grad_all_k<Surrogate::kSigmoid>();
}

template <Surrogate S>
void check_surrogate_shape(double width) {
  // Integral 1 (midpoint rule over +-12 widths) and peak 1/width at z = 0.
  const int steps = 200000;
  const double lo = -12 * width, dz = 24 * width / steps;
  double integral = 0;
  for (int i = 0; i < steps; ++i) {
    integral += mtsnn::surrogate_grad<S>(lo + (i + 0.5) * dz, width) * dz;
  }
  EXPECT_NEAR(integral, 1.0, 1e-4);
  EXPECT_NEAR((mtsnn::surrogate_grad<S>(0.0, width)), 1.0 / width, 1e-12);
  EXPECT_TRUE(std::isnan(mtsnn::surrogate_grad<S>(std::nan(""), width)));
}

TEST(Surrogate, ShapesIntegrateToOneAndPeakAtInverseWidth) {
  for (double width : {0.25, 1.0, 3.0}) {
    check_surrogate_shape<Surrogate::kRectangle>(width);
    check_surrogate_shape<Surrogate::kTriangle>(width);
    check_surrogate_shape<Surrogate::kSigmoid>(width);
  }
}

// Distance in units in the last place between two finite floats of the same sign.
int64_t ulps_between(float a, float b) {
  int32_t a_bits;
  int32_t b_bits;
  std::memcpy(&a_bits, &a, sizeof a_bits);
  std::memcpy(&b_bits, &b, sizeof b_bits);
  return std::abs(static_cast<int64_t>(a_bits) - static_cast<int64_t>(b_bits));
}

// Every 127th float from -110 to 95, which takes in subnormal results, results that overflow, and
// each binade of the argument (an exhaustive sweep of all 2.2e9 found at most 1 ulp).
TEST(VectorizableExp, WithinTwoUlpOfTheRoundedExponential) {
  int64_t worst = 0;
  float worst_at = 0;
  for (const float start : {0.0f, -0.0f}) {
    for (float x = start; std::fabs(x) <= (x < 0 ? 110.0f : 95.0f);) {
      const float got = mtsnn::vectorizable_exp(x);
      const auto want = static_cast<float>(std::exp(static_cast<double>(x)));
      const int64_t ulps =
          std::isinf(want) ? (std::isinf(got) ? 0 : 1 << 30) : ulps_between(got, want);
      if (ulps > worst) {
        worst = ulps;
        worst_at = x;
      }
      int32_t bits;
      std::memcpy(&bits, &x, sizeof bits);
      bits += 127;
      std::memcpy(&x, &bits, sizeof x);
    }
  }
  EXPECT_LE(worst, 2) << "at x = " << worst_at;
}

TEST(VectorizableExp, SpecialValues) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isnan(mtsnn::vectorizable_exp(std::nanf(""))));
  EXPECT_EQ(mtsnn::vectorizable_exp(kInf), kInf);
  EXPECT_EQ(mtsnn::vectorizable_exp(-kInf), 0.0f);
  EXPECT_EQ(mtsnn::vectorizable_exp(0.0f), 1.0f);
  EXPECT_EQ(mtsnn::vectorizable_exp(89.0f), kInf);
  EXPECT_EQ(mtsnn::vectorizable_exp(-104.0f), 0.0f);
  EXPECT_EQ(mtsnn::vectorizable_exp(-103.0f), std::numeric_limits<float>::denorm_min());
}

TEST(Reset, SoftHardNone) {
  EXPECT_EQ((mtsnn::reset_membrane<mtsnn::Reset::kSoft>(2.5f, 2.0f, 1.0f)), 0.5f);
  EXPECT_EQ((mtsnn::reset_membrane<mtsnn::Reset::kHard>(2.5f, 2.0f, 1.0f)), 0.0f);
  EXPECT_EQ((mtsnn::reset_membrane<mtsnn::Reset::kHard>(0.5f, 0.0f, 1.0f)), 0.5f);
  EXPECT_EQ((mtsnn::reset_membrane<mtsnn::Reset::kHard>(INFINITY, 3.0f, 1.0f)), 0.0f);
  EXPECT_EQ((mtsnn::reset_membrane<mtsnn::Reset::kNone>(2.5f, 2.0f, 1.0f)), 2.5f);
}

}  // namespace
