// The C++ models: the layer names and shapes of their Python twins, the forward pass, the ANN
// twin, and their errors.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/activation.h>

#include <string>
#include <vector>

#include "mtsnn/models.h"

namespace {

using mtsnn::models::ConvNetOptions;

// The state dict of Python's build_model("convnet", in_channels=1, num_classes=10, image_size=28).
const std::vector<std::pair<std::string, std::vector<int64_t>>> kConvNetState{
    {"encoder.0.0.weight", {32, 1, 3, 3}},
    {"encoder.0.1.weight", {32}},
    {"encoder.0.1.bias", {32}},
    {"encoder.0.1.running_mean", {32}},
    {"encoder.0.1.running_var", {32}},
    {"encoder.0.1.num_batches_tracked", {}},
    {"body.1.module.0.0.weight", {64, 32, 3, 3}},
    {"body.1.module.0.1.weight", {64}},
    {"body.1.module.0.1.bias", {64}},
    {"body.1.module.0.1.running_mean", {64}},
    {"body.1.module.0.1.running_var", {64}},
    {"body.1.module.0.1.num_batches_tracked", {}},
    {"body.4.module.weight", {256, 3136}},
    {"body.4.module.bias", {256}},
    {"body.6.module.weight", {10, 256}},
    {"body.6.module.bias", {10}},
};

std::vector<std::pair<std::string, std::vector<int64_t>>> state_of(torch::nn::Module& model) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> state;
  for (const auto& item : model.named_parameters()) {
    state.emplace_back(item.key(), item.value().sizes().vec());
  }
  for (const auto& item : model.named_buffers()) {
    state.emplace_back(item.key(), item.value().sizes().vec());
  }
  std::sort(state.begin(), state.end());
  return state;
}

TEST(ConvNet, HasThePythonModelsNamesAndShapes) {
  auto model = mtsnn::models::build_model("convnet", ConvNetOptions());
  auto expected = kConvNetState;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(state_of(*model), expected);
  int64_t parameters = 0;
  for (const at::Tensor& parameter : model->parameters()) parameters += parameter.numel();
  EXPECT_EQ(parameters, 824554);  // count_parameters of the Python model
  auto three = mtsnn::models::build_model("convnet3", ConvNetOptions());
  parameters = 0;
  for (const at::Tensor& parameter : three->parameters()) parameters += parameter.numel();
  EXPECT_EQ(parameters, 653658);
}

TEST(ConvNet, ForwardGivesLogitsAndGradients) {
  auto model = mtsnn::models::build_model("convnet", ConvNetOptions().timesteps(2));
  const at::Tensor images = at::randn({4, 1, 28, 28});
  const at::Tensor logits = model->forward(images);
  EXPECT_EQ(logits.sizes(), (at::IntArrayRef{4, 10}));
  logits.square().sum().backward();
  for (const auto& parameter : model->named_parameters()) {
    ASSERT_TRUE(parameter.value().grad().defined()) << parameter.key();
  }
  EXPECT_EQ(model->timesteps(), 2);
}

TEST(ConvNet, AnnTwinHasReluAndOneStep) {
  auto model = mtsnn::models::build_model("convnet", ConvNetOptions().timesteps(4).ann(true));
  EXPECT_EQ(model->timesteps(), 1);
  size_t relus = 0, neurons = 0;
  for (const auto& module : model->modules()) {
    relus += module->as<torch::nn::ReLU>() != nullptr;
    neurons += module->as<mtsnn::nn::MTLIF>() != nullptr;
  }
  EXPECT_EQ(relus, 3u);
  EXPECT_EQ(neurons, 0u);
  EXPECT_EQ(model->forward(at::randn({2, 1, 28, 28})).sizes(), (at::IntArrayRef{2, 10}));
}

TEST(ConvNet, Errors) {
  try {
    mtsnn::models::build_model("vgg99", ConvNetOptions());
    FAIL();
  } catch (const c10::ValueError& error) {
    EXPECT_NE(std::string(error.what()).find("convnet convnet3"), std::string::npos);
  }
  EXPECT_THROW(mtsnn::models::ConvNet(ConvNetOptions().image_size(3)), c10::ValueError);
  EXPECT_THROW(mtsnn::models::ConvNet(ConvNetOptions().channels({})), c10::ValueError);
  EXPECT_THROW(mtsnn::models::ConvNet(ConvNetOptions().timesteps(0)), c10::ValueError);
}

}  // namespace
