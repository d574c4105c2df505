// Layers as torch::nn modules, the C++ twins of mtsnn.nn: multi-step MT-LIF neurons, a one-step
// cell with explicit state, and a wrapper that runs a stateless layer over [T, B, ...].
//
//   torch::nn::Sequential net(mtsnn::nn::SeqToANN(torch::nn::Linear(784, 256)),
//                             mtsnn::nn::MTLIF(mtsnn::NeuronOptions().num_thresholds(3)),
//                             mtsnn::nn::SeqToANN(torch::nn::Linear(256, 10)));
//   at::Tensor logits = net->forward(x).mean(0);     // x: [T, B, 784]
//
// Parameter and buffer names are those of the Python layers, so weights move between the two.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/common.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <ostream>
#include <tuple>

#include "mtsnn/functional.h"

namespace mtsnn::nn {

// Options of MTLIF and MTLIFCell: the neuron's options, and whether the decay is learned.
struct MTLIFOptions {
  /* implicit */ MTLIFOptions(NeuronOptions neuron = {}) : neuron_(std::move(neuron)) {}
  TORCH_ARG(NeuronOptions, neuron);
  // Learn the decay as sigmoid(decay_logit), a parameter starting at neuron.decay (in (0, 1)).
  TORCH_ARG(bool, learn_decay) = false;
};

// Options, the optional learned decay and the printout shared by MTLIF and MTLIFCell.
template <typename Derived>
class MTLIFBase : public torch::nn::Cloneable<Derived> {
 public:
  explicit MTLIFBase(MTLIFOptions options);
  void reset() override;
  // Prints e.g. "mtsnn::nn::MTLIF(num_thresholds=3, threshold=1, decay=0.5, reset=soft, ...)".
  void pretty_print(std::ostream& stream) const override;
  // The decay tensor the op gets: sigmoid(decay_logit) when learned, else none (options' float).
  std::optional<at::Tensor> decay_tensor() const;

  MTLIFOptions options;
  // The learned decay's logit (0-dim); undefined unless options.learn_decay().
  at::Tensor decay_logit;
};

// Multi-threshold LIF neurons over a whole sequence: spikes = MTLIF(...)->forward(x, v0), x of
// shape [T, B, ...] (time first). Each call starts from rest unless v0 is given, so no state
// lingers between batches. The spikes are graded: integers 0..num_thresholds.
class MTLIFImpl : public MTLIFBase<MTLIFImpl> {
 public:
  static constexpr const char* kName = "mtsnn::nn::MTLIF";
  explicit MTLIFImpl(MTLIFOptions options = {});
  at::Tensor forward(const at::Tensor& x, const at::Tensor& v0 = {});

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(at::Tensor())})
};
TORCH_MODULE(MTLIF);

// One time step with explicit state: auto [s, v_next] = cell->forward(x_t, v); v undefined (or
// omitted) means at rest. The cell keeps no hidden state.
class MTLIFCellImpl : public MTLIFBase<MTLIFCellImpl> {
 public:
  static constexpr const char* kName = "mtsnn::nn::MTLIFCell";
  explicit MTLIFCellImpl(MTLIFOptions options = {});
  std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& v = {});

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(at::Tensor())})
};
TORCH_MODULE(MTLIFCell);

// Runs a stateless layer (Conv2d, BatchNorm2d, Linear, pooling, a Sequential of them, ...) over
// [T, B, ...]: time is folded into the batch, so the layer sees [T*B, ...] (BatchNorm normalises
// over T*B samples), and the result is unfolded back. The layer is the child "module".
class SeqToANNImpl : public torch::nn::Cloneable<SeqToANNImpl> {
 public:
  explicit SeqToANNImpl(torch::nn::AnyModule module);
  template <typename ModuleType>
  explicit SeqToANNImpl(const torch::nn::ModuleHolder<ModuleType>& module)
      : SeqToANNImpl(torch::nn::AnyModule(module)) {}
  // The layer is built once, in the constructor; clone() deep-copies it.
  void reset() override {}
  std::shared_ptr<torch::nn::Module> clone(
      const std::optional<torch::Device>& device = std::nullopt) const override;
  void pretty_print(std::ostream& stream) const override;
  at::Tensor forward(const at::Tensor& x);

 private:
  torch::nn::AnyModule module_;
};
TORCH_MODULE(SeqToANN);

// Layers applied one after the other, like torch::nn::Sequential (children "0", "1", ...), but
// with a Tensor-to-Tensor forward, so that it nests inside a Sequential or a SeqToANN (which a
// torch::nn::Sequential cannot: its forward is a template).
class ChainImpl : public torch::nn::SequentialImpl {
 public:
  using SequentialImpl::SequentialImpl;
  std::shared_ptr<torch::nn::Module> clone(
      const std::optional<torch::Device>& device = std::nullopt) const override;
  void pretty_print(std::ostream& stream) const override;
  at::Tensor forward(const at::Tensor& x);
};
TORCH_MODULE(Chain);

// Lays out every 4-D parameter and buffer of module (conv weights) channels-last, as Python's
// module.to(memory_format=torch.channels_last) does. With channels-last images, convolutions,
// pooling and BatchNorm then run channels-last, several times faster on a CPU.
void to_channels_last(torch::nn::Module& module);

}  // namespace mtsnn::nn
