// The Python module mtsnn._C: loading it registers torch.ops.mtsnn.*; it also reports how the
// extension was built.
#include <torch/extension.h>

#include "mtsnn/mt_lif.h"

PYBIND11_MODULE(_C, module) {
  module.doc() = "Fused multi-threshold LIF kernels (registered as torch.ops.mtsnn.*)";
  module.def("built_with_cuda", &mtsnn::built_with_cuda,
             "Whether this build contains the CUDA kernels.");
  module.def("cpu_capability", &mtsnn::cpu_capability,
             "The CPU kernel variant in use: 'avx512', 'avx2' or 'default'.");
  module.def("set_cpu_capability", &mtsnn::set_cpu_capability, pybind11::arg("name"),
             "Switch the CPU kernel variant (it must be supported by this processor).");
}
