// Includes shared by the per-instruction-set CPU kernel files. They come before the instruction-set
// pragma so that library code keeps its default target.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#include "mtsnn/runtime.h"
#include "op/kernel_args.h"
#include "op/mt_lif.h"

namespace mtsnn::cpu {

// The entry points each instruction-set variant provides.
struct KernelTable {
  void (*forward)(const ForwardProblem&);
  void (*backward)(const BackwardProblem&);
};

KernelTable default_kernels();
KernelTable avx2_kernels();
KernelTable avx512_kernels();

}  // namespace mtsnn::cpu

// Tells the compiler that a loop's arrays do not overlap (see backward_block).
#if defined(__GNUC__) && !defined(__clang__)
#define MTSNN_IVDEP _Pragma("GCC ivdep")
#else
#define MTSNN_IVDEP
#endif

// Variants beyond the default one are built with GCC on x86-64, where a function-level target
// pragma compiles them for an instruction set the rest of the build does not assume.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MTSNN_CPU_MULTI_ISA 1
#include <immintrin.h>  // F16C conversions in the variants that have them
#else
#define MTSNN_CPU_MULTI_ISA 0
#endif
