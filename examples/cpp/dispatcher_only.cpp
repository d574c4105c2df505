// Calls torch.ops.mtsnn.mt_lif through the dispatcher alone, as an AOTInductor package or a
// TorchScript model would: no mtsnn header, no mtsnn symbol. Linked with --as-needed, it finds the
// operator only if the package's link rule kept libmtsnn. Exits non-zero if the op is missing.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <iostream>

int main() {
  const auto schema = c10::Dispatcher::singleton().findSchema({"mtsnn::mt_lif", ""});
  if (!schema.has_value()) {
    std::cerr << "mtsnn::mt_lif is not registered: libmtsnn was not loaded" << std::endl;
    return 1;
  }
  const auto op = schema->typed<std::tuple<at::Tensor, at::Tensor>(
      const at::Tensor&, const std::optional<at::Tensor>&, const std::optional<at::Tensor>&, double,
      int64_t, double, c10::string_view, c10::string_view, double, bool, bool)>();
  const at::Tensor x = at::full({2, 4}, 2.5);
  const at::Tensor spikes = std::get<0>(
      op.call(x, std::nullopt, std::nullopt, 0.5, 3, 1.0, "soft", "rectangle", 1.0, false, false));
  std::cout << "mtsnn::mt_lif found; spikes " << spikes[0][0].item<double>() << ", "
            << spikes[1][0].item<double>() << std::endl;
  return spikes[0][0].item<double>() == 2.0 ? 0 : 1;  // h = 2.5: two thresholds crossed
}
