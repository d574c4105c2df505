// The operator schemas of torch.ops.mtsnn.*, and what a device without kernels gets. Each device's
// kernels register themselves beside their code (csrc/cpu, csrc/cuda); the Meta kernel beside the
// validation (mt_lif.cpp) and autograd in autograd.cpp.
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <vector>

#include "mtsnn/functional.h"
#include "op/mt_lif.h"

namespace mtsnn {
namespace {

[[noreturn]] void fail_without_kernel(const at::Tensor& x) {
  if (built_with_cuda()) {
    TORCH_CHECK(false, "mt_lif: mtsnn has no kernels for ", x.device().type(),
                " tensors; it has them for the CPU and CUDA");
  }
  TORCH_CHECK(false, "mt_lif: mtsnn has no kernels for ", x.device().type(),
              " tensors; this build has them for the CPU only. For CUDA tensors, rebuild it with "
              "CUDA (MTSNN_CUDA=1 pip install .) on a machine with the CUDA toolkit");
}

std::tuple<at::Tensor, at::Tensor> forward_without_kernel(const at::Tensor& x,
                                                          const std::optional<at::Tensor>&,
                                                          const std::optional<at::Tensor>&, double,
                                                          int64_t, double, c10::string_view,
                                                          c10::string_view, double, bool, bool) {
  fail_without_kernel(x);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_without_kernel(
    const at::Tensor&, const std::optional<at::Tensor>&, const at::Tensor& x,
    const std::optional<at::Tensor>&, const std::optional<at::Tensor>&, double, int64_t, double,
    c10::string_view, c10::string_view, double, bool, bool) {
  fail_without_kernel(x);
}

}  // namespace

const c10::TypedOperatorHandle<MTLIFSignature>& mt_lif_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mtsnn::mt_lif", "").typed<MTLIFSignature>();
  return op;
}

const c10::TypedOperatorHandle<MTLIFBackwardSignature>& mt_lif_backward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mtsnn::mt_lif_backward", "")
                             .typed<MTLIFBackwardSignature>();
  return op;
}

namespace detail {
int link_anchor() { return 0; }
}  // namespace detail

bool built_with_cuda() { return mt_lif_op().hasKernelForDispatchKey(c10::DispatchKey::CUDA); }

}  // namespace mtsnn

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

// Every backend without its own kernels (CUDA in a CPU-only build, MPS, XPU, ...) lands here: a
// clear error instead of the dispatcher's list of keys.
TORCH_LIBRARY_IMPL(mtsnn, CompositeExplicitAutograd, m) {
  m.impl("mt_lif", &mtsnn::forward_without_kernel);
  m.impl("mt_lif_backward", &mtsnn::backward_without_kernel);
}
