// The layers of mtsnn/nn.h.
#include "mtsnn/nn.h"

#include <ATen/ops/sigmoid.h>
#include <ATen/ops/tensor.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace mtsnn::nn {

template <typename Derived>
MTLIFBase<Derived>::MTLIFBase(MTLIFOptions options) : options(std::move(options)) {
  reset();
}

template <typename Derived>
void MTLIFBase<Derived>::reset() {
  const NeuronOptions& neuron = options.neuron();
  check_options(neuron);
  decay_logit = at::Tensor();
  if (options.learn_decay()) {
    const double decay = neuron.decay();
    TORCH_CHECK_VALUE(decay > 0 && decay < 1, "learn_decay needs an initial decay in (0, 1), got ",
                      decay);
    // decay = sigmoid(logit) stays inside (0, 1) whatever the optimiser does.
    decay_logit = this->register_parameter("decay_logit",
                                           at::tensor(std::log(decay / (1 - decay)), at::kFloat));
  }
}

template <typename Derived>
void MTLIFBase<Derived>::pretty_print(std::ostream& stream) const {
  const NeuronOptions& neuron = options.neuron();
  stream << Derived::kName << "(" << std::boolalpha;
  const char* separator = "";
  const auto print = [&](const char* name, const auto& value) {
    stream << separator << name << "=";
    separator = ", ";
    if (std::string(name) == "decay" && decay_logit.defined()) {
      stream << "learned, now " << at::sigmoid(decay_logit.detach()).item<double>();
    } else {
      stream << value;
    }
  };
#define MTSNN_PRINT_OPTION(type, name, default_value) print(#name, neuron.name());
  MTSNN_NEURON_OPTIONS(MTSNN_PRINT_OPTION)
#undef MTSNN_PRINT_OPTION
  stream << std::noboolalpha << ")";
}

template <typename Derived>
std::optional<at::Tensor> MTLIFBase<Derived>::decay_tensor() const {
  if (!decay_logit.defined()) return std::nullopt;
  return at::sigmoid(decay_logit);
}

template class MTLIFBase<MTLIFImpl>;
template class MTLIFBase<MTLIFCellImpl>;

namespace {

std::optional<at::Tensor> optional_of(const at::Tensor& tensor) {
  return tensor.defined() ? std::optional<at::Tensor>(tensor) : std::nullopt;
}

}  // namespace

MTLIFImpl::MTLIFImpl(MTLIFOptions options) : MTLIFBase(std::move(options)) {}

at::Tensor MTLIFImpl::forward(const at::Tensor& x, const at::Tensor& v0) {
  return mt_lif(x, options.neuron(), optional_of(v0), decay_tensor());
}

MTLIFCellImpl::MTLIFCellImpl(MTLIFOptions options) : MTLIFBase(std::move(options)) {}

std::tuple<at::Tensor, at::Tensor> MTLIFCellImpl::forward(const at::Tensor& x,
                                                          const at::Tensor& v) {
  auto [spikes, v_next] =
      mt_lif_with_state(x.unsqueeze(0), options.neuron(), optional_of(v), decay_tensor());
  return {spikes.squeeze(0), v_next};
}

SeqToANNImpl::SeqToANNImpl(torch::nn::AnyModule module) : module_(std::move(module)) {
  TORCH_CHECK_VALUE(!module_.is_empty(), "SeqToANN needs a module to wrap");
  register_module("module", module_.ptr());
}

std::shared_ptr<torch::nn::Module> SeqToANNImpl::clone(
    const std::optional<torch::Device>& device) const {
  return std::make_shared<SeqToANNImpl>(module_.clone(device));
}

void SeqToANNImpl::pretty_print(std::ostream& stream) const { stream << "mtsnn::nn::SeqToANN"; }

at::Tensor SeqToANNImpl::forward(const at::Tensor& x) {
  TORCH_CHECK_VALUE(x.dim() >= 2, "SeqToANN expects [T, B, ...], got shape ", x.sizes());
  const at::Tensor out = module_.forward<at::Tensor>(x.flatten(0, 1));
  return out.unflatten(0, {x.size(0), x.size(1)});
}

std::shared_ptr<torch::nn::Module> ChainImpl::clone(
    const std::optional<torch::Device>& device) const {
  auto copy = std::make_shared<ChainImpl>();
  for (const torch::nn::AnyModule& module : *this) copy->push_back(module.clone(device));
  return copy;
}

void ChainImpl::pretty_print(std::ostream& stream) const { stream << "mtsnn::nn::Chain"; }

at::Tensor ChainImpl::forward(const at::Tensor& x) { return SequentialImpl::forward(x); }

void to_channels_last(torch::nn::Module& module) {
  const at::NoGradGuard no_grad;
  for (at::Tensor tensor : module.parameters()) {
    if (tensor.dim() == 4) tensor.set_data(tensor.contiguous(at::MemoryFormat::ChannelsLast));
  }
  for (at::Tensor tensor : module.buffers()) {
    if (tensor.dim() == 4) tensor.set_data(tensor.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

}  // namespace mtsnn::nn
