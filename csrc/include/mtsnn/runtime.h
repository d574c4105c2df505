// How this build of mtsnn runs: its CPU kernel variant, its CUDA kernels, and the process's
// handling of freed memory. Every public mtsnn header includes it.
#pragma once

#include <cstdint>
#include <string>

namespace mtsnn {

// The CPU kernel variant in use: "avx512", "avx2" or "default". It is chosen on first use: the
// one $MTSNN_CPU_CAPABILITY names, else the one $ATEN_CPU_CAPABILITY names where the processor
// supports it (PyTorch's variable, which caps ATen's kernels and torch.compile's code too), else
// the best the processor supports; set_cpu_capability switches it (for comparisons;
// c10::ValueError if unsupported here).
const char* cpu_capability();
void set_cpu_capability(const std::string& name);

// A CPU forward pass whose output, or backward pass whose inputs and output together, reach this
// many bytes writes a float32 or float64 output with streaming stores, which skip the caches:
// where a pass moves more than the last-level cache holds, its output is evicted before anything
// reads it, and a streaming store saves reading each line of it before writing (bfloat16 and
// float16 outputs never stream: measured slower). The default is the size of the last-level
// cache, at most 32 MiB (32 MiB where the system does not tell it); 0 streams every output, and
// INT64_MAX none (for comparisons and tests; c10::ValueError if negative). A float32 or float64
// forward pass over two or more steps whose input and output together reach this size runs in
// short chunks of neurons, faster than whole blocks when the traffic leaves the cache, and streams
// its output.
int64_t cpu_streaming_threshold();
void set_cpu_streaming_threshold(int64_t bytes);

// Whether this build registered CUDA kernels.
bool built_with_cuda();

// Makes the C library keep memory the process frees for its next allocations instead of handing
// it back to the operating system (glibc: no mmap for large blocks, no trimming; on other C
// libraries it does nothing and returns false). PyTorch's CPU tensors are plain malloc blocks:
// by default each tensor of more than 32 MiB is mapped anew on every allocation, and heap memory
// is trimmed when freed, so every training step pays one page fault per 4 KiB of its large
// activations (measured: a 4M-neuron, T = 8 layer spends 85 % of its time in them). The cost is
// that the process's resident memory stays at its peak. Process-wide; call it once, early.
bool keep_freed_memory();

namespace detail {
// Loading libmtsnn is what registers the operator. A linker running with --as-needed drops a
// library that no object file references, which would leave a program that calls the operator
// only through the dispatcher without it; so every file that includes an mtsnn header references
// libmtsnn here.
int link_anchor();
namespace {
[[maybe_unused]] const int kLinkAnchor = link_anchor();
}  // namespace
}  // namespace detail

}  // namespace mtsnn
