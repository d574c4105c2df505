// Turns validated options into the kernels' NeuronParams in compute precision.
#pragma once

#include "mtsnn/mt_lif.h"

namespace mtsnn {

template <typename Acc>
NeuronParams<Acc> make_params(const NeuronOptions& options) {
  NeuronParams<Acc> params{};
  params.threshold = static_cast<Acc>(options.threshold);
  params.inverse_threshold = Acc(1) / params.threshold;
  params.num_thresholds = static_cast<Acc>(options.num_thresholds);
  params.decay = static_cast<Acc>(options.decay);
  params.width = static_cast<Acc>(options.width);
  params.detach_reset = options.detach_reset;
  return params;
}

}  // namespace mtsnn
