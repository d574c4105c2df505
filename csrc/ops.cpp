// Registers the operator schemas and their kernels as torch.ops.mtsnn.*.
#include <torch/library.h>

#include <vector>

#include "mtsnn/mt_lif.h"

// Tags: the kernels take inputs of any strides (flexible_layout), so torch.compile need not
// force a layout on them; the ops pass torch.library.opcheck (pt2_compliant_tag).
TORCH_LIBRARY(mtsnn, m) {
  const std::vector<at::Tag> tags{at::Tag::flexible_layout, at::Tag::pt2_compliant_tag};
  m.def(
      "mt_lif(Tensor x, Tensor? v0, Tensor? decay_tensor, float decay, int num_thresholds, "
      "float threshold, str reset, str surrogate, float width, bool detach_reset, "
      "bool return_state=True) -> (Tensor spikes, Tensor v_last)",
      tags);
  m.def(
      "mt_lif_backward(Tensor grad_spikes, Tensor? grad_v_last, Tensor x, Tensor? v0, "
      "Tensor? decay_tensor, float decay, int num_thresholds, float threshold, str reset, "
      "str surrogate, float width, bool detach_reset, bool decay_requires_grad) "
      "-> (Tensor grad_x, Tensor grad_v0, Tensor grad_decay)",
      tags);
}

// One implementation serves every key: it validates, lays out, then runs the kernel of x's device
// (on Meta it only allocates the outputs, which is what fake tensors need).
TORCH_LIBRARY_IMPL(mtsnn, CPU, m) {
  m.impl("mt_lif", &mtsnn::mt_lif_forward);
  m.impl("mt_lif_backward", &mtsnn::mt_lif_backward);
}

TORCH_LIBRARY_IMPL(mtsnn, CUDA, m) {
  m.impl("mt_lif", &mtsnn::mt_lif_forward);
  m.impl("mt_lif_backward", &mtsnn::mt_lif_backward);
}

TORCH_LIBRARY_IMPL(mtsnn, Meta, m) {
  m.impl("mt_lif", &mtsnn::mt_lif_forward);
  m.impl("mt_lif_backward", &mtsnn::mt_lif_backward);
}
