// Models, the C++ twins of mtsnn.models: the same layers, names and shapes as the Python ones, so
// that a state dict (and an mtsnn checkpoint, see mtsnn/checkpoint.h) moves between the two.
//
//   mtsnn::models::ConvNet net(mtsnn::models::ConvNetOptions().timesteps(2));
//   at::Tensor logits = net->forward(images);        // images: float [B, 1, 28, 28]
//
// Every model uses direct encoding: the encoder (conv + BN) runs once on the static images
// [B, C, H, W] and its output is broadcast over T (repeat_over_time: no copy); the body runs on
// [T, B, ...] and the logits are averaged over T. With ann(true) every MT-LIF layer is a ReLU and
// T is 1: the ANN twin of the SNN.
#pragma once

#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "mtsnn/nn.h"

namespace mtsnn::models {

struct ConvNetOptions {
  TORCH_ARG(int64_t, in_channels) = 1;
  TORCH_ARG(int64_t, num_classes) = 10;
  // (height, width) of the input images.
  TORCH_ARG(torch::ExpandingArray<2>, image_size) = 28;
  TORCH_ARG(int64_t, timesteps) = 2;
  TORCH_ARG(bool, ann) = false;
  // Output channels of each conv block; the first block is the encoder.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{32, 64};
  TORCH_ARG(int64_t, hidden) = 256;
  TORCH_ARG(nn::MTLIFOptions, neuron) = {};
};

// mtsnn.models.ConvNet ("convnet" and "convnet3"): conv blocks, a hidden and an output linear
// layer, sized for 28x28 images on a CPU.
//
//   encoder: conv3x3(C -> c1) + BN, maxpool2                once, on [B, C, H, W]
//   body:    MTLIF                                          over [T, B, ...]
//            SeqToANN(conv3x3(c_i -> c_i+1) + BN, maxpool2), MTLIF    per further block
//            flatten, SeqToANN(linear(c_last * H/2^n * W/2^n -> hidden)), MTLIF
//            SeqToANN(linear(hidden -> num_classes))
class ConvNetImpl : public torch::nn::Cloneable<ConvNetImpl> {
 public:
  explicit ConvNetImpl(ConvNetOptions options = {});
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  // Logits [B, num_classes] for float images [B, C, H, W].
  at::Tensor forward(const at::Tensor& images);
  // T (1 for the ANN twin).
  int64_t timesteps() const;

  ConvNetOptions options;
  nn::Chain encoder{nullptr};
  nn::Chain body{nullptr};
};
TORCH_MODULE(ConvNet);

// The names of mtsnn.models.MODELS that exist in C++: "convnet" (channels 32, 64) and "convnet3"
// (48, 96, 192).
const std::vector<std::string>& model_names();

// The model called `name` (see model_names; c10::ValueError listing them otherwise), with
// options.channels set as that name defines.
ConvNet build_model(const std::string& name, ConvNetOptions options);

}  // namespace mtsnn::models
