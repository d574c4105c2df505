// The CPU kernels below autograd (every instruction-set variant) against a naive scalar loop
// written from the neuron's equations, over all options; plus dispatcher registration and
// argument errors.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "naive_neuron.h"
#include "op/mt_lif.h"

namespace {

using mtsnn::NeuronOptions;

// The CPU kernels below autograd, as the dispatcher's CPU key runs them.
std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& x, const std::optional<at::Tensor>& v0,
                                           const std::optional<at::Tensor>& decay_tensor,
                                           const NeuronOptions& o, bool return_state = true) {
  return mtsnn::mt_lif_kernel<mtsnn::forward_cpu>(
      x, v0, decay_tensor, o.decay(), o.num_thresholds(), o.threshold(), o.reset(), o.surrogate(),
      o.width(), o.detach_reset(), return_state);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(
    const at::Tensor& grad_s, const std::optional<at::Tensor>& grad_v, const at::Tensor& x,
    const std::optional<at::Tensor>& v0, const std::optional<at::Tensor>& decay_tensor,
    const NeuronOptions& o, bool decay_requires_grad) {
  return mtsnn::mt_lif_backward_kernel<mtsnn::backward_cpu>(
      grad_s, grad_v, x, v0, decay_tensor, o.decay(), o.num_thresholds(), o.threshold(), o.reset(),
      o.surrogate(), o.width(), o.detach_reset(), decay_requires_grad);
}

std::optional<at::Tensor> optional_of(const at::Tensor& tensor) {
  return tensor.defined() ? std::optional<at::Tensor>(tensor) : std::nullopt;
}

// One forward and backward pass of the kernels against the naive loop. The decay arrives as a
// CPU tensor (whose value the kernels read), so that its gradient is computed.
template <typename Acc>
void check_against_naive(const at::Tensor& x, const NeuronOptions& o, bool with_v0) {
  const at::Tensor v0 = with_v0 ? at::randn(x.sizes().slice(1), x.options()) : at::Tensor();
  const at::Tensor decay = at::tensor(o.decay(), at::kDouble);
  const at::Tensor grad_s = at::randn(x.sizes(), x.options());
  const at::Tensor grad_v = at::randn(x.sizes().slice(1), x.options());
  mtsnn::testing::PassResult got;
  std::tie(got.spikes, got.v_last) = forward(x, optional_of(v0), decay, o);
  at::Tensor grad_decay;
  std::tie(got.grad_x, got.grad_v0, grad_decay) =
      backward(grad_s, grad_v, x, optional_of(v0), decay, o, true);
  got.grad_decay = grad_decay.item<double>();
  EXPECT_EQ(got.spikes.scalar_type(), x.scalar_type());
  mtsnn::testing::expect_matches(got, mtsnn::testing::naive_pass<Acc>(x, v0, grad_s, grad_v, o),
                                 with_v0);
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
        const NeuronOptions o = mtsnn::testing::swept_options(k, reset, surrogate, detach);
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

// Outputs written with streaming stores (threshold 0, at which the forward also runs in chunks)
// are bit for bit those written through the caches by the blocks, in every variant and in the
// dtypes that stream (bfloat16 and float16 never do): on rows aligned to the stores' width
// ([T, 4096]) and not ([T, 1031]: from the second row on, and a partial last block), and at T = 1,
// where cached outputs run in longer blocks, over several of them and a partial one ([1, 17415]).
TEST(Kernels, StreamedOutputsEqualCachedOnes) {
  const std::string original_variant = mtsnn::cpu_capability();
  const int64_t original_threshold = mtsnn::cpu_streaming_threshold();
  const NeuronOptions o = NeuronOptions().decay(0.7).reset("hard").surrogate("triangle");
  const auto run = [&](const at::Tensor& x, const at::Tensor& v0, const at::Tensor& grad_s,
                       const at::Tensor& grad_v, int64_t threshold) {
    mtsnn::set_cpu_streaming_threshold(threshold);
    const at::Tensor decay = at::tensor(o.decay(), at::kDouble);
    const auto [spikes, v_last] = forward(x, v0, decay, o);
    const auto [grad_x, grad_v0, grad_decay] = backward(grad_s, grad_v, x, v0, decay, o, true);
    return std::vector<at::Tensor>{spikes, v_last, grad_x, grad_v0, grad_decay};
  };
  for (const std::string& variant : cpu_variants()) {
    mtsnn::set_cpu_capability(variant);
    for (const at::ScalarType dtype : {at::kFloat, at::kDouble}) {
      for (const auto& [steps, neurons] :
           {std::pair<int64_t, int64_t>{3, 4096}, {3, 1031}, {1, 17415}}) {
        SCOPED_TRACE(variant + " " + c10::toString(dtype) + " T=" + std::to_string(steps) +
                     " N=" + std::to_string(neurons));
        const at::Tensor x = (at::randn({steps, neurons}) * 2).to(dtype);
        const at::Tensor v0 = at::randn({neurons}).to(dtype);
        const at::Tensor grad_s = at::randn({steps, neurons}).to(dtype);
        const at::Tensor grad_v = at::randn({neurons}).to(dtype);
        const auto streamed = run(x, v0, grad_s, grad_v, 0);
        const auto cached = run(x, v0, grad_s, grad_v, std::numeric_limits<int64_t>::max());
        for (size_t i = 0; i < streamed.size(); ++i) {
          if (i == 4 && steps == 1) {
            // grad_decay sums one partial per block, and at T = 1 a streamed output keeps the
            // shorter blocks (block_elements): the same sum, rounded in another order.
            EXPECT_TRUE(at::allclose(streamed[i], cached[i], 1e-5, 1e-5)) << "grad_decay";
          } else {
            EXPECT_TRUE(at::equal(streamed[i], cached[i])) << "output " << i;
          }
        }
      }
    }
  }
  mtsnn::set_cpu_capability(original_variant);
  mtsnn::set_cpu_streaming_threshold(original_threshold);
}

TEST(Kernels, StreamingThresholdIsABytesCount) {
  // the last-level cache, at most 32 MiB (32 MiB where the system does not tell it); the cap is
  // seen where sysfs reports a larger cache (260 MiB on a Xeon VM)
  EXPECT_GT(mtsnn::cpu_streaming_threshold(), 0);
  EXPECT_LE(mtsnn::cpu_streaming_threshold(), int64_t{32} << 20);
  EXPECT_THROW(mtsnn::set_cpu_streaming_threshold(-1), c10::ValueError);
}

TEST(Kernels, ExpandedTimeInputMatchesMaterialised) {
  const at::Tensor slab = at::randn({5, 300}) * 2;
  const at::Tensor expanded = slab.unsqueeze(0).expand({4, 5, 300});
  const auto [s1, v1] = forward(expanded, std::nullopt, std::nullopt, NeuronOptions());
  const auto [s2, v2] = forward(expanded.contiguous(), std::nullopt, std::nullopt, NeuronOptions());
  EXPECT_TRUE(at::equal(s1, s2));
  EXPECT_TRUE(at::equal(v1, v2));
}

// Without the state the spikes are the same, and v_last is an empty tensor.
TEST(Kernels, ReturnStateFalseGivesSameSpikesAndNoState) {
  for (const char* reset : {"soft", "hard", "none"}) {
    for (int64_t k : {2, 7}) {
      const at::Tensor x = at::randn({3, 7, 129}, at::kDouble) * 2 + 0.5;
      const at::Tensor v0 = at::randn({7, 129}, at::kDouble);
      const NeuronOptions o =
          NeuronOptions().decay(0.6).num_thresholds(k).threshold(0.7).reset(reset);
      const auto [s1, v1] = forward(x, v0, std::nullopt, o, true);
      const auto [s2, v2] = forward(x, v0, std::nullopt, o, false);
      EXPECT_TRUE(at::equal(s1, s2)) << reset << " K=" << k;
      EXPECT_EQ(v1.sizes(), (at::IntArrayRef{7, 129}));
      EXPECT_EQ(v2.numel(), 0);
      EXPECT_EQ(v2.scalar_type(), at::kDouble);
    }
  }
}

TEST(Kernels, RegisteredWithTheDispatcher) {
  const auto& op = mtsnn::mt_lif_op();
  const at::Tensor x = at::randn({2, 64});
  const auto [spikes, v_last] =
      op.call(x, std::nullopt, std::nullopt, 0.5, 2, 1.0, "hard", "sigmoid", 1.0, false, true);
  const auto [direct, direct_v] =
      forward(x, std::nullopt, std::nullopt,
              NeuronOptions().num_thresholds(2).reset("hard").surrogate("sigmoid"));
  EXPECT_TRUE(at::equal(spikes, direct));
  const auto meta = op.call(x.to(at::kMeta), std::nullopt, std::nullopt, 0.5, 2, 1.0, "hard",
                            "sigmoid", 1.0, false, true);
  EXPECT_TRUE(std::get<0>(meta).is_meta());
  EXPECT_EQ(std::get<0>(meta).sizes(), x.sizes());
}

// A CUDA tensor in a build without CUDA kernels meets the fallback kernel (reached here by
// redispatching a CPU tensor to the CUDA key).
TEST(Kernels, ADeviceWithoutKernelsSaysHowToRebuild) {
  if (mtsnn::built_with_cuda()) GTEST_SKIP() << "this build has CUDA kernels";
  try {
    mtsnn::mt_lif_op().redispatch(c10::DispatchKeySet(c10::DispatchKey::CUDA), at::randn({2, 3}),
                                  std::nullopt, std::nullopt, 0.5, 3, 1.0, "soft", "rectangle", 1.0,
                                  false, false);
    FAIL() << "no error";
  } catch (const c10::Error& error) {
    EXPECT_NE(std::string(error.what()).find("rebuild it with CUDA (MTSNN_CUDA=1"),
              std::string::npos)
        << error.what();
  }
}

TEST(Kernels, BadArgumentsThrowValueErrors) {
  const at::Tensor x = at::randn({2, 4});
  auto call = [&](int64_t k, double theta, double decay, const char* reset, double width) {
    forward(
        x, std::nullopt, std::nullopt,
        NeuronOptions().num_thresholds(k).threshold(theta).decay(decay).reset(reset).width(width));
  };
  EXPECT_THROW(call(0, 1.0, 0.5, "soft", 1.0), c10::ValueError);
  EXPECT_THROW(call(3, 0.0, 0.5, "soft", 1.0), c10::ValueError);
  EXPECT_THROW(call(3, 1.0, 1.5, "soft", 1.0), c10::ValueError);
  EXPECT_THROW(call(3, 1.0, 0.5, "sof", 1.0), c10::ValueError);
  EXPECT_THROW(call(3, 1.0, 0.5, "soft", -1.0), c10::ValueError);
  EXPECT_THROW(forward(at::zeros({2, 4}, at::kInt), std::nullopt, std::nullopt, NeuronOptions()),
               c10::TypeError);
}

}  // namespace
