// The Python module mtsnn._C: loading it registers torch.ops.mtsnn.* (kernels and autograd); it
// also reports how the extension was built.
#include <torch/extension.h>

#include "mtsnn/functional.h"

namespace {

// The C++ defaults of the neuron's options, so that a test can hold Python's to them.
pybind11::dict default_neuron_options() {
  const mtsnn::NeuronOptions options;
  pybind11::dict values;
#define MTSNN_DEFAULT_VALUE(type, name, default_value) values[#name] = options.name();
  MTSNN_NEURON_OPTIONS(MTSNN_DEFAULT_VALUE)
#undef MTSNN_DEFAULT_VALUE
  return values;
}

}  // namespace

PYBIND11_MODULE(_C, module) {
  module.doc() = "Fused multi-threshold LIF kernels (registered as torch.ops.mtsnn.*)";
  module.def("built_with_cuda", &mtsnn::built_with_cuda,
             "Whether this build contains the CUDA kernels.");
  module.def("cpu_capability", &mtsnn::cpu_capability,
             "The CPU kernel variant in use: 'avx512', 'avx2' or 'default'.");
  module.def("set_cpu_capability", &mtsnn::set_cpu_capability, pybind11::arg("name"),
             "Switch the CPU kernel variant (it must be supported by this processor).");
  module.def("cpu_streaming_threshold", &mtsnn::cpu_streaming_threshold,
             "The size in bytes from which the CPU kernels use streaming stores (a forward "
             "pass's output, a backward pass's inputs and output).");
  module.def("set_cpu_streaming_threshold", &mtsnn::set_cpu_streaming_threshold,
             pybind11::arg("bytes"), "Set the size from which the CPU kernels stream.");
  module.def("keep_freed_memory", &mtsnn::keep_freed_memory,
             "Keep memory the process frees for reuse instead of returning it to the system.");
  module.def("default_neuron_options", &default_neuron_options,
             "The defaults of mtsnn::NeuronOptions, the C++ declaration of the neuron's options.");
}
