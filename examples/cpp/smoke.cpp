// The smallest complete use of the installed package: a two-layer SNN trained one step from C++.
// Exits non-zero unless every parameter gets a finite, non-zero gradient and the step lowers the
// loss on its batch.
#include <mtsnn/mtsnn.h>
#include <torch/torch.h>

#include <cmath>
#include <iostream>

int main() {
  torch::manual_seed(0);
  torch::nn::Sequential net(mtsnn::nn::SeqToANN(torch::nn::Linear(16, 32)),
                            mtsnn::nn::MTLIF(mtsnn::nn::MTLIFOptions().learn_decay(true)),
                            mtsnn::nn::SeqToANN(torch::nn::Linear(32, 4)));
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.05));
  const torch::Tensor x = torch::randn({2, 8, 16}) * 2;  // [T, B, features]
  const torch::Tensor labels = torch::randint(0, 4, {8});

  const auto loss_of = [&] {
    return torch::nn::functional::cross_entropy(net->forward(x).mean(0), labels);
  };
  const torch::Tensor before = loss_of();
  before.backward();
  int failures = 0;
  for (const auto& parameter : net->named_parameters()) {
    const torch::Tensor grad = parameter.value().grad();
    const bool arrived = grad.defined() && grad.abs().sum().item<double>() > 0 &&
                         std::isfinite(grad.sum().item<double>());
    std::cout << (arrived ? "gradient  " : "NO GRADIENT  ") << parameter.key() << "\n";
    failures += !arrived;
  }
  optimizer.step();
  const double after = loss_of().item<double>();
  std::cout << "loss " << before.item<double>() << " -> " << after << "\n";
  if (!(after < before.item<double>())) ++failures;
  std::cout << (failures == 0 ? "ok" : "FAILED") << std::endl;
  return failures == 0 ? 0 : 1;
}
