// Per-element math of the multi-threshold LIF (MT-LIF) neuron, shared by the CPU and CUDA kernels.
//
// Everything here is a small inline function of scalars so that the CPU kernels (which call it from
// loops the compiler vectorises) and the CUDA kernels (one thread per element) run the same
// arithmetic, but for three helpers that take a vectorisable form on the CPU (vectorizable_exp,
// divided_by_width, minus_unless). The build disables floating-point contraction (no fused
// multiply-add), so every product and sum below is rounded exactly as the pure-PyTorch reference
// rounds it, the surrogates' exponential and division by the width on the CPU excepted (within
// about an ulp). The CPU build also assumes no floating-point traps (-fno-trapping-math, which
// changes no result), without which GCC does not vectorise the selects below.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__CUDACC__)
#define MTSNN_HD __host__ __device__ __forceinline__
#else
#define MTSNN_HD inline __attribute__((always_inline))
#endif

namespace mtsnn {

enum class Reset : int32_t { kSoft = 0, kHard = 1, kNone = 2 };
enum class Surrogate : int32_t { kRectangle = 0, kTriangle = 1, kSigmoid = 2 };

// The largest number of thresholds: spike counts are stored in the input dtype, and bfloat16
// represents every integer exactly only up to 256.
constexpr int64_t kMaxThresholds = 256;

MTSNN_HD float abs_of(float value) { return fabsf(value); }
MTSNN_HD double abs_of(double value) { return ::fabs(value); }
// The float whose bits are `bits`.
MTSNN_HD float float_from_bits(int32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

// e^x from arithmetic, selects and integer operations alone (Cephes' expf), so that a CPU loop
// that calls it vectorises: glibc's expf is a call per element, which held the sigmoid surrogate's
// backward at a quarter of torch.compile's speed (Inductor's exp is vectorised). x = n ln2 + r
// with |r| <= ln2 / 2 (ln2 in two parts, the first of 9 bits, so n * ln2_hi is exact), e^r by
// Cephes' polynomial, and 2^n as two factors, so that results below FLT_MIN round to subnormals and
// results above FLT_MAX overflow to infinity as expf's do. Within 2 ulp of e^x over the floats
// (tests/cpp/test_neuron.cpp); a NaN stays NaN. Arguments are clamped to [-104, 89] first, beyond
// which e^x is 0 or infinity anyway, so that n stays small. NaN fails both comparisons of the
// clamp, so it leaves as 89 (converting NaN to an integer is undefined), a select less than
// replacing it separately; the NaN is restored at the end.
MTSNN_HD float vectorizable_exp(float x) {
  float clamped = x < 89.0f ? x : 89.0f;
  clamped = clamped > -104.0f ? clamped : -104.0f;
  // Adding and subtracting 1.5 * 2^23 rounds x / ln2 to the nearest integer (|x / ln2| < 2^22).
  constexpr float kRoundingShift = 12582912.0f;
  const float n = (clamped * 1.44269504088896341f + kRoundingShift) - kRoundingShift;
  const float r = (clamped - n * 0.693359375f) - n * -2.12194440e-4f;
  float poly = 1.9875691500e-4f;
  poly = poly * r + 1.3981999507e-3f;
  poly = poly * r + 8.3334519073e-3f;
  poly = poly * r + 4.1665795894e-2f;
  poly = poly * r + 1.6666665459e-1f;
  poly = poly * r + 5.0000001201e-1f;
  poly = poly * (r * r) + r + 1.0f;
  const auto exponent = static_cast<int32_t>(n);  // in [-150, 128]
  const int32_t half = exponent >> 1;  // floor(exponent / 2): both factors' exponents in [-75, 64]
  const float result =
      poly * float_from_bits((half + 127) << 23) * float_from_bits((exponent - half + 127) << 23);
  return x != x ? x : result;
}

// The device keeps CUDA's expf; the CPU loops use vectorizable_exp. float64 (for checks, not
// training) keeps the C library's exp, which no polynomial of this precision would match.
MTSNN_HD float exp_of(float value) {
#if defined(__CUDA_ARCH__)
  return expf(value);
#else
  return vectorizable_exp(value);
#endif
}
MTSNN_HD double exp_of(double value) { return ::exp(value); }

// Scalar parameters in compute precision (float for float16/bfloat16/float32, double for float64).
template <typename Acc>
struct NeuronParams {
  Acc threshold;          // theta
  Acc inverse_threshold;  // 1 / theta, only used to guess the spike count
  Acc num_thresholds;     // K, exact in Acc since K <= kMaxThresholds
  Acc decay;              // lambda
  Acc width;              // a, the surrogate's width
  bool detach_reset;
};

// h_t = lambda * v_{t-1} + x_t
template <typename Acc>
MTSNN_HD Acc charge(Acc v_prev, Acc x, Acc decay) {
  return decay * v_prev + x;
}

// The k-th threshold is one product in compute precision, k * theta, as the reference forms it.
template <typename Acc>
MTSNN_HD Acc threshold_at(Acc k, Acc theta) {
  return k * theta;
}

// s_t = sum_{k=1..K} H(h_t - k*theta) without a loop over k: guess floor(h / theta) clamped to
// [0, K], then correct the guess by at most one step each way against the exact thresholds. A NaN
// membrane gives a NaN spike so that it cannot hide as a silent neuron. Every value is computed
// unconditionally and combined with selects, so that loops over elements vectorise; the floor of
// the clamped (non-negative, NaN-free) quotient is an integer truncation, which even baseline
// x86-64 (SSE2) vectorises.
template <typename Acc>
MTSNN_HD Acc spike_count(Acc h, const NeuronParams<Acc>& p) {
  Acc quotient = h * p.inverse_threshold;
  quotient = quotient < Acc(0) ? Acc(0) : quotient;
  quotient = quotient > p.num_thresholds ? p.num_thresholds : quotient;
  quotient = quotient != quotient ? Acc(0) : quotient;
  const Acc guess = static_cast<Acc>(static_cast<int32_t>(quotient));
  const Acc next_level = threshold_at(guess + Acc(1), p.threshold);
  const Acc level = threshold_at(guess, p.threshold);
  const Acc up = h >= next_level ? Acc(1) : Acc(0);
  const Acc down = h < level ? Acc(1) : Acc(0);
  const Acc count =
      guess + (guess < p.num_thresholds ? up : Acc(0)) - (guess > Acc(0) ? down : Acc(0));
  return h != h ? h : count;
}

// The thresholds k*theta, k = 1..K, for a K known at compile time. Small K is by far the common
// case (the paper uses K <= 4); there, K comparisons per element cost fewer operations than the
// closed form of spike_count, and the surrogate sum unrolls.
template <int K, typename Acc>
struct FixedThresholds {
  static_assert(K >= 1, "at least one threshold");
  Acc level[K];
  MTSNN_HD explicit FixedThresholds(Acc theta) {
    for (int k = 0; k < K; ++k) {
      level[k] = threshold_at(static_cast<Acc>(k + 1), theta);
    }
  }
};

// spike_count for K = levels' K: the same count for every h, NaN included.
template <int K, typename Acc>
MTSNN_HD Acc spike_count(Acc h, const FixedThresholds<K, Acc>& levels) {
  Acc count = Acc(0);
  for (int k = 0; k < K; ++k) {
    count += h >= levels.level[k] ? Acc(1) : Acc(0);
  }
  return h != h ? h : count;
}

// v_t from h_t and s_t. Hard reset zeroes every neuron that spiked; this equals h*(1 - min(s,1))
// for finite h and also maps h = +inf to 0 instead of NaN.
template <Reset R, typename Acc>
MTSNN_HD Acc reset_membrane(Acc h, Acc spikes, Acc theta) {
  if constexpr (R == Reset::kSoft) {
    return h - theta * spikes;
  } else if constexpr (R == Reset::kHard) {
    return spikes > Acc(0) ? Acc(0) : h;
  } else {
    return h;
  }
}

// The rectangle's g(z) for a z that is not NaN (a NaN z gives 0 here, not NaN).
template <typename Acc>
MTSNN_HD Acc rectangle_grad_of_number(Acc z, Acc width) {
  return abs_of(z) < Acc(0.5) * width ? Acc(1) / width : Acc(0);
}

// value / width. On the CPU as a product with 1 / width, which the loops compute once: divisions
// bounded the triangle and sigmoid surrogates' loops at T = 1 (two per threshold and one,
// beside the sigmoid's own), and the product is within about an ulp of the quotient. The device
// divides.
template <typename Acc>
MTSNN_HD Acc divided_by_width(Acc value, Acc width) {
#if defined(__CUDA_ARCH__)
  return value / width;
#else
  return value * (Acc(1) / width);
#endif
}

// g(z): the approximated derivative of H(z). Each shape integrates to 1 and peaks at 1/a. A NaN z
// gives NaN, so a NaN membrane's gradient stays visibly NaN whatever the shape.
template <Surrogate S, typename Acc>
MTSNN_HD Acc surrogate_grad(Acc z, Acc width) {
  if constexpr (S == Surrogate::kRectangle) {
    const Acc inside = rectangle_grad_of_number(z, width);
    return z != z ? z : inside;
  } else if constexpr (S == Surrogate::kTriangle) {
    const Acc ramp = Acc(1) - divided_by_width(abs_of(z), width);
    return divided_by_width(ramp < Acc(0) ? Acc(0) : ramp, width);
  } else {
    const Acc sig = Acc(1) / (Acc(1) + exp_of(divided_by_width(Acc(-4) * z, width)));
    return Acc(4) / width * sig * (Acc(1) - sig);
  }
}

// ds_t/dh_t ~= sum_{k=1..K} g(h_t - k*theta)
template <Surrogate S, typename Acc>
MTSNN_HD Acc spike_grad(Acc h, const NeuronParams<Acc>& p) {
  Acc total = Acc(0);
  for (Acc k = Acc(1); k <= p.num_thresholds; k += Acc(1)) {
    total += surrogate_grad<S>(h - threshold_at(k, p.threshold), p.width);
  }
  return total;
}

// spike_grad for K = levels' K (same terms, same order of summation, the same result bit for bit),
// also returning its first term g(h_t - theta), which the hard reset's gradient needs. A NaN h
// makes every term the same NaN (h's), and so their sum: the rectangle's terms leave NaN out and
// the sum is tested for it once, which saves a comparison and a select per threshold (the
// default surrogate's backward ran 5-20 % faster on Zen 4). The other shapes carry a NaN through
// their arithmetic, with no test to save.
template <Surrogate S, int K, typename Acc>
MTSNN_HD Acc spike_grad(Acc h, const FixedThresholds<K, Acc>& levels, Acc width, Acc& first_slope) {
  const Acc first_z = h - levels.level[0];
  first_slope = surrogate_grad<S>(first_z, width);
  if constexpr (S == Surrogate::kRectangle) {
    Acc total = rectangle_grad_of_number(first_z, width);
    for (int k = 1; k < K; ++k) {
      total += rectangle_grad_of_number(h - levels.level[k], width);
    }
    return first_z != first_z ? first_z : total;
  } else {
    Acc total = first_slope;
    for (int k = 1; k < K; ++k) {
      total += surrogate_grad<S>(h - levels.level[k], width);
    }
    return total;
  }
}

// `skip ? value : value - term`, and so `value` exactly even for an infinite or NaN term. On the
// CPU the term is dropped by masking its bits: GCC left the conditional form scalar inside the
// sigmoid surrogate's gradient loops (whose bodies, with K exponentials, are long), which then
// ran at a quarter of torch.compile's speed. The device keeps the conditional form.
template <typename Acc>
MTSNN_HD Acc minus_unless(Acc value, Acc term, bool skip) {
#if defined(__CUDA_ARCH__)
  return skip ? value : value - term;
#else
  using Bits = std::conditional_t<sizeof(Acc) == 4, uint32_t, uint64_t>;
  Bits bits;
  memcpy(&bits, &term, sizeof bits);
  bits &= skip ? Bits{0} : ~Bits{0};
  memcpy(&term, &bits, sizeof term);
  return value - term;
#endif
}

// dv_t/dh_t given ds_t/dh_t (spike_slope) and g(h_t - theta) (first_slope, used by hard reset).
template <Reset R, typename Acc>
MTSNN_HD Acc reset_grad(Acc h, Acc spike_slope, Acc first_slope, const NeuronParams<Acc>& p) {
  if constexpr (R == Reset::kSoft) {
    return minus_unless(Acc(1), p.threshold * spike_slope, p.detach_reset);
  } else if constexpr (R == Reset::kHard) {
    const Acc kept = h >= p.threshold ? Acc(0) : Acc(1);  // 1 - min(s, 1)
    return minus_unless(kept, h * first_slope, p.detach_reset);
  } else {
    return Acc(1);
  }
}

// dL/dh_t where no loss gradient reaches v_t (the last step, v_last unused): through s_t alone,
// as autograd of the reference computes it.
template <typename Acc>
MTSNN_HD Acc spike_membrane_grad(Acc grad_spike, Acc spike_slope) {
  return grad_spike * spike_slope;
}

// dL/dh_t from the loss gradient of s_t and of v_t (the latter arriving from step t+1 or v_last).
template <Reset R, typename Acc>
MTSNN_HD Acc membrane_grad(Acc h, Acc grad_spike, Acc grad_membrane, Acc spike_slope,
                           Acc first_slope, const NeuronParams<Acc>& p) {
  return spike_membrane_grad(grad_spike, spike_slope) +
         grad_membrane * reset_grad<R>(h, spike_slope, first_slope, p);
}

}  // namespace mtsnn
