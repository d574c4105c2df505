// The models of mtsnn/models.h.
#include "mtsnn/models.h"

#include <c10/util/Exception.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <map>
#include <sstream>

namespace mtsnn::models {
namespace {

// Conv2d 3x3, 'same' padding, no bias (BatchNorm's shift replaces it), then BatchNorm2d: the
// layer names "0" and "1" of Python's conv_bn.
nn::Chain conv_bn(int64_t in_channels, int64_t out_channels) {
  return nn::Chain(
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(in_channels, out_channels, 3).padding(1).bias(false)),
      torch::nn::BatchNorm2d(out_channels));
}

// The channels of each named model: the fact mtsnn.models.MODELS declares for Python.
const std::map<std::string, std::vector<int64_t>>& model_channels() {
  static const std::map<std::string, std::vector<int64_t>> channels{
      {"convnet", {32, 64}},
      {"convnet3", {48, 96, 192}},
  };
  return channels;
}

}  // namespace

ConvNetImpl::ConvNetImpl(ConvNetOptions options) : options(std::move(options)) { reset(); }

void ConvNetImpl::reset() {
  const std::vector<int64_t>& channels = options.channels();
  TORCH_CHECK_VALUE(!channels.empty(), "ConvNet needs at least one conv block");
  TORCH_CHECK_VALUE(options.timesteps() >= 1, "timesteps must be >= 1, got ", options.timesteps());
  const int64_t downsampling = int64_t{1} << channels.size();
  const int64_t height = (*options.image_size())[0];
  const int64_t width = (*options.image_size())[1];
  TORCH_CHECK_VALUE(std::min(height, width) >= downsampling, "ConvNet downsamples by ",
                    downsampling, ", so it needs images of at least ", downsampling, "x",
                    downsampling, "; got ", height, "x", width);
  const auto neuron = [&]() -> torch::nn::AnyModule {
    if (options.ann()) return torch::nn::AnyModule(torch::nn::ReLU());
    return torch::nn::AnyModule(nn::MTLIF(options.neuron()));
  };

  encoder = nn::Chain(conv_bn(options.in_channels(), channels[0]), torch::nn::MaxPool2d(2));
  body = nn::Chain();
  body->push_back(neuron());
  for (size_t i = 1; i < channels.size(); ++i) {
    body->push_back(
        nn::SeqToANN(nn::Chain(conv_bn(channels[i - 1], channels[i]), torch::nn::MaxPool2d(2))));
    body->push_back(neuron());
  }
  const int64_t features = channels.back() * (height / downsampling) * (width / downsampling);
  body->push_back(torch::nn::Flatten(torch::nn::FlattenOptions().start_dim(2)));
  body->push_back(nn::SeqToANN(torch::nn::Linear(features, options.hidden())));
  body->push_back(neuron());
  body->push_back(nn::SeqToANN(torch::nn::Linear(options.hidden(), options.num_classes())));
  register_module("encoder", encoder);
  register_module("body", body);
}

void ConvNetImpl::pretty_print(std::ostream& stream) const {
  stream << "mtsnn::models::ConvNet(timesteps=" << timesteps() << ", ann=" << std::boolalpha
         << options.ann() << std::noboolalpha << ")";
}

int64_t ConvNetImpl::timesteps() const { return options.ann() ? 1 : options.timesteps(); }

at::Tensor ConvNetImpl::forward(const at::Tensor& images) {
  return body->forward(repeat_over_time(encoder->forward(images), timesteps())).mean(0);
}

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> result;
    for (const auto& entry : model_channels()) result.push_back(entry.first);
    return result;
  }();
  return names;
}

ConvNet build_model(const std::string& name, ConvNetOptions options) {
  const auto found = model_channels().find(name);
  if (found == model_channels().end()) {
    std::ostringstream known;
    for (const std::string& known_name : model_names()) known << " " << known_name;
    TORCH_CHECK_VALUE(false, "unknown model '", name, "'; the C++ models are:", known.str());
  }
  options.channels(found->second);
  return ConvNet(std::move(options));
}

}  // namespace mtsnn::models
