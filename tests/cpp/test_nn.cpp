// The layers of mtsnn/nn.h: forward equals the functional call, parameters, use inside
// torch::nn::Sequential, printing, deep clones, torch::save/torch::load, and option errors.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/serialize.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "mtsnn/nn.h"

namespace {

using mtsnn::NeuronOptions;
using mtsnn::nn::MTLIFOptions;

const NeuronOptions kOptions =
    NeuronOptions().num_thresholds(2).threshold(0.8).decay(0.3).reset("hard").surrogate("triangle");

TEST(MTLIF, ForwardIsTheFunctionalCall) {
  mtsnn::nn::MTLIF layer(kOptions);
  const at::Tensor x = at::randn({3, 4, 17}) * 2;
  const at::Tensor v0 = at::randn({4, 17});
  EXPECT_TRUE(at::equal(layer->forward(x), mtsnn::mt_lif(x, kOptions)));
  EXPECT_TRUE(at::equal(layer->forward(x, v0), mtsnn::mt_lif(x, kOptions, v0)));
  EXPECT_TRUE(layer->parameters().empty());
}

TEST(MTLIF, LearnedDecayIsAParameterThatGetsAGradient) {
  mtsnn::nn::MTLIF layer(MTLIFOptions(kOptions).learn_decay(true));
  const auto named = layer->named_parameters();
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named.begin()->key(), "decay_logit");
  EXPECT_NEAR(at::sigmoid(layer->decay_logit).item<double>(), 0.3, 1e-6);
  const at::Tensor x = at::randn({3, 4, 17}) * 2;
  const at::Tensor spikes = layer->forward(x);
  EXPECT_TRUE(at::equal(spikes, mtsnn::mt_lif(x, kOptions, {}, at::sigmoid(layer->decay_logit))));
  (spikes * at::randn_like(spikes)).sum().backward();
  ASSERT_TRUE(layer->decay_logit.grad().defined());
  EXPECT_NE(layer->decay_logit.grad().item<double>(), 0.0);
}

TEST(MTLIFCell, StepsAddUpToTheMultiStepLayer) {
  mtsnn::nn::MTLIFCell cell(kOptions);
  mtsnn::nn::MTLIF layer(kOptions);
  const at::Tensor x = at::randn({4, 3, 10}) * 2;
  at::Tensor v;
  std::vector<at::Tensor> steps;
  for (int64_t t = 0; t < x.size(0); ++t) {
    auto [spikes, v_next] = cell->forward(x[t], v);
    EXPECT_EQ(spikes.sizes(), x[t].sizes());
    steps.push_back(spikes);
    v = v_next;
  }
  EXPECT_TRUE(at::equal(at::stack(steps), layer->forward(x)));
  EXPECT_TRUE(at::equal(v, std::get<1>(mtsnn::mt_lif_with_state(x, kOptions))));
}

torch::nn::Sequential small_network() {
  return torch::nn::Sequential(mtsnn::nn::SeqToANN(torch::nn::Linear(6, 8)),
                               mtsnn::nn::MTLIF(MTLIFOptions().learn_decay(true)),
                               mtsnn::nn::SeqToANN(torch::nn::Linear(8, 3)));
}

TEST(Layers, WorkInsideSequentialAndEveryParameterLearns) {
  torch::nn::Sequential network = small_network();
  const at::Tensor x = at::randn({2, 5, 6}) * 3;
  const at::Tensor out = network->forward(x);
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{2, 5, 3}));
  out.square().sum().backward();
  for (const auto& parameter : network->named_parameters()) {
    ASSERT_TRUE(parameter.value().grad().defined()) << parameter.key();
  }
  std::vector<std::string> names;
  for (const auto& parameter : network->named_parameters()) names.push_back(parameter.key());
  EXPECT_EQ(names, (std::vector<std::string>{"0.module.weight", "0.module.bias", "1.decay_logit",
                                             "2.module.weight", "2.module.bias"}));
}

TEST(Layers, PrintTheirOptions) {
  std::ostringstream printed;
  printed << *small_network();
  const std::string text = printed.str();
  EXPECT_NE(text.find("mtsnn::nn::SeqToANN"), std::string::npos) << text;
  EXPECT_NE(text.find("torch::nn::Linear(in_features=6, out_features=8, bias=true)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("mtsnn::nn::MTLIF(num_thresholds=3, threshold=1, decay=learned, now 0.5, "
                      "reset=soft, surrogate=rectangle, width=1, detach_reset=false)"),
            std::string::npos)
      << text;
}

TEST(Layers, CloneIsDeep) {
  torch::nn::Sequential network = small_network();
  const auto copy = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(network->clone());
  ASSERT_NE(copy, nullptr);
  const at::Tensor x = at::randn({2, 5, 6}) * 3;
  EXPECT_TRUE(at::equal(copy->forward(x), network->forward(x)));
  const auto original = network->parameters();
  const auto cloned = copy->parameters();
  ASSERT_EQ(original.size(), cloned.size());
  for (size_t i = 0; i < original.size(); ++i) {
    EXPECT_NE(original[i].data_ptr(), cloned[i].data_ptr());
  }
  {
    const at::NoGradGuard no_grad;
    for (const at::Tensor& parameter : cloned) parameter.add_(1.0);
  }
  EXPECT_FALSE(at::equal(copy->forward(x), network->forward(x)));
}

TEST(Layers, SaveAndLoadRoundTrip) {
  torch::nn::Sequential network = small_network();
  torch::nn::Sequential restored = small_network();
  {
    const at::NoGradGuard no_grad;
    network[1]->as<mtsnn::nn::MTLIF>()->decay_logit.fill_(0.25);
  }
  const std::string path = ::testing::TempDir() + "mtsnn_layers.pt";
  torch::save(network, path);
  torch::load(restored, path);
  std::remove(path.c_str());
  const at::Tensor x = at::randn({2, 5, 6}) * 3;
  EXPECT_TRUE(at::equal(restored->forward(x), network->forward(x)));
}

TEST(Layers, ToChannelsLastRelaysOutConvWeightsOnly) {
  torch::nn::Sequential network(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)),
                                torch::nn::Linear(4, 2));
  const at::Tensor before = network[0]->as<torch::nn::Conv2d>()->weight.clone();
  mtsnn::nn::to_channels_last(*network);
  const at::Tensor& weight = network[0]->as<torch::nn::Conv2d>()->weight;
  EXPECT_TRUE(weight.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(weight.is_contiguous());
  EXPECT_TRUE(at::equal(weight, before));
  EXPECT_TRUE(weight.requires_grad());
  EXPECT_TRUE(network[1]->as<torch::nn::Linear>()->weight.is_contiguous());
}

TEST(Layers, BadOptionsFailAtConstruction) {
  EXPECT_THROW(mtsnn::nn::MTLIF(NeuronOptions().num_thresholds(0)), c10::ValueError);
  EXPECT_THROW(mtsnn::nn::MTLIFCell(NeuronOptions().surrogate("box")), c10::ValueError);
  for (double decay : {0.0, 1.0}) {
    try {
      mtsnn::nn::MTLIF(MTLIFOptions(NeuronOptions().decay(decay)).learn_decay(true));
      FAIL() << "decay " << decay << " accepted";
    } catch (const c10::ValueError& error) {
      EXPECT_NE(std::string(error.what()).find("learn_decay needs an initial decay in (0, 1)"),
                std::string::npos);
    }
  }
  mtsnn::nn::SeqToANN wrapper(torch::nn::Linear(3, 2));
  EXPECT_THROW(wrapper->forward(at::randn({3})), c10::ValueError);
}

}  // namespace
