// CPU loops of the MT-LIF operator, compiled once per instruction set (see kernels_*.cpp).
//
// Elements are processed in blocks (block_elements): per block the time loop runs over short,
// contiguous inner loops of independent elements, which the compiler vectorises, while the block's
// membranes stay in a small buffer in L1. The backward pass recomputes the forward pass of its
// block (so the forward saves nothing but its inputs) and then walks time backwards.
//
// A forward pass whose output, or a backward pass whose inputs and output together, reach
// cpu_streaming_threshold() bytes (by default the size of the last-level cache) writes an output
// of a 4- or 8-byte type with streaming stores (see stream_block, forward_streams_output and
// backward_streams_output). A float32 or float64 forward pass over two or more steps whose input
// and output together reach that size runs in chunks instead, each chunk's membranes in registers
// for all steps (see forward_in_chunks), and streams its output.
//
// This header must be included inside `namespace mtsnn::cpu::<capability>` with the
// instruction-set pragma already active; it relies on the includes of kernels_common.h.

// Elements per block, by T: 256 for T <= 4, 128 beyond (shorter rows, so that the prefetchers
// keep up with the T rows of a block). On 2 cores of a Zen 3 EPYC (avx2 kernels, 64K-4M neurons)
// this was the fastest of 64, 128, 256 and 512 in nearly every case: blocks of 64 (the earlier
// choice, from the forward loop alone on Zen 4) were 1.1-2x slower, bfloat16 most, since the
// loops' set-up and tails then weigh as much as their vector bodies. At T = 1 a block carries no
// membrane from step to step, and a longer one only spreads that set-up thinner: 8192 against 256
// made both passes 1.1-1.3x faster in the caches (4K-1M neurons, float32 and bfloat16, same host).
// A streamed output keeps blocks of 256: each block is staged in a buffer of its length first, and
// 8192 elements fill the L1 (at T = 1 and 4M, float32 passes streamed in such blocks took 1.1-1.4x
// the time of cached ones). For T >= 2, blocks of 2048 / T were no faster, and the float32
// backward at T = 8 up to 1.3x slower.
inline int64_t block_elements(int64_t num_steps, bool stream) {
  if (num_steps == 1 && !stream) return 8192;
  return num_steps <= 4 ? 256 : 128;
}

// Conversions of a block between the storage type (Scalar) and the compute type (Acc), kept out
// of the compute loops: c10's scalar conversions to BFloat16 and Half branch (NaN, rounding), which
// keeps GCC from vectorising any loop that contains one. The results are c10's: round to nearest
// even, NaN stays NaN. When Scalar is Acc nothing is converted and the loops use the tensors.

// A bfloat16 is the upper half of a float: widening is a shift of its bits.
inline float widen_bfloat16(uint16_t bits) {
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof value);
  return value;
}

// c10's rounding (to nearest even, NaN to the quiet NaN 0x7FC0) on the bits, as plain integer
// operations, so that a loop that calls it vectorises.
inline uint16_t round_to_bfloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const auto rounded = static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
  return value != value ? uint16_t{0x7FC0} : rounded;
}

// Storage types that the compute loops read and write element by element: Acc itself, and
// bfloat16 (as its bits, with the two functions above). Half goes through load_block/store_block
// (its F16C conversions work on vectors only), and so pays a pass over the block each way, but
// for its spike counts (kStoresSpikesInLoop). Half widened in the loops with bit operations
// instead (exact, and safe under DAZ) ran 1.3-3.5x slower on Zen 4 than the F16C pass.
template <typename Scalar, typename Acc>
constexpr bool kConvertsInLoop = std::is_same_v<Scalar, Acc> ||
                                 (std::is_same_v<Scalar, c10::BFloat16> &&
                                  std::is_same_v<Acc, float>);

// Storage types whose spike counts the forward loop writes element by element: those above, and
// float16, whose spike counts (small integers or NaN) convert exactly without rounding
// (store_spike_count below). F16C's pass over each block was the slower (float16 forward
// 1.05-1.17x faster without it on Zen 4): its stores had no computation to hide their misses.
template <typename Scalar, typename Acc>
constexpr bool kStoresSpikesInLoop = kConvertsInLoop<Scalar, Acc> ||
                                     (std::is_same_v<Scalar, c10::Half> &&
                                      std::is_same_v<Acc, float>);

// A tensor's elements as the compute loops address them: bfloat16 as its bits.
template <typename Scalar>
auto* in_loop(Scalar* data) {
  if constexpr (std::is_same_v<std::remove_const_t<Scalar>, c10::BFloat16>) {
    using Bits = std::conditional_t<std::is_const_v<Scalar>, const uint16_t, uint16_t>;
    return reinterpret_cast<Bits*>(data);
  } else {
    return data;
  }
}

template <typename Acc>
Acc to_acc(Acc value) {
  return value;
}
inline float to_acc(uint16_t bfloat16_bits) { return widen_bfloat16(bfloat16_bits); }

template <typename Acc>
void store_spike_count(Acc* out, Acc count) {
  *out = count;
}
// A spike count is an integer in [0, kMaxThresholds] or a quiet NaN (the count of a NaN membrane,
// which arithmetic makes; quiet NaNs have bit 22 set): each is a bfloat16 already, the upper half
// of its float, so dropping the lower half rounds nothing. Cheaper than round_to_bfloat16.
inline void store_spike_count(uint16_t* bfloat16_out, float count) {
  uint32_t bits;
  std::memcpy(&bits, &count, sizeof bits);
  *bfloat16_out = static_cast<uint16_t>(bits >> 16);
}
// As float16: scaled by 2^-112, a count n in [1, kMaxThresholds] is the normal float with float16's
// exponent bias (15 instead of 127) and a mantissa of at most 8 bits, so its bits shifted right by
// 13 are n's float16 bits exactly; 0 stays 0, and a NaN keeps an all-ones exponent and its quiet
// bit, a float16 NaN. Two vector operations where rounding, as c10 or F16C do it, takes a pass.
inline void store_spike_count(c10::Half* float16_out, float count) {
  const float rebiased = count * 0x1p-112f;
  uint32_t bits;
  std::memcpy(&bits, &rebiased, sizeof bits);
  float16_out->x = static_cast<uint16_t>(bits >> 13);
}

// The block in[0..count) as Acc: `in` itself when no conversion is needed, else `buffer`, filled.
template <typename Acc, typename Scalar>
const Acc* load_block(const Scalar* in, int64_t count, Acc* buffer) {
  if constexpr (std::is_same_v<Scalar, Acc>) {
    return in;
  } else {
    int64_t i = 0;
    if constexpr (std::is_same_v<Scalar, c10::BFloat16> && std::is_same_v<Acc, float>) {
      const uint16_t* bits = in_loop(in);
      MTSNN_IVDEP
      for (; i < count; ++i) {
        buffer[i] = widen_bfloat16(bits[i]);
      }
    }
#if MTSNN_CPU_MULTI_ISA
    if constexpr (kHalfInstructions && std::is_same_v<Scalar, c10::Half> &&
                  std::is_same_v<Acc, float>) {
      for (; i + 8 <= count; i += 8) {
        const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
        _mm256_storeu_ps(buffer + i, _mm256_cvtph_ps(half));
      }
    }
#endif
    for (; i < count; ++i) {
      buffer[i] = static_cast<Acc>(in[i]);
    }
    return buffer;
  }
}

// The block in[0..count) as the compute loops read it: in place (kConvertsInLoop), else converted
// into `buffer` by load_block.
template <typename Scalar, typename Acc>
const auto* loop_input(const Scalar* in, int64_t count, Acc* buffer) {
  if constexpr (kConvertsInLoop<Scalar, Acc>) {
    return in_loop(in);
  } else {
    return load_block(in, count, buffer);
  }
}

// Where the forward loop writes spike counts bound for `out`: in place (kStoresSpikesInLoop), else
// into `buffer`, which store_block then converts to `out`.
template <typename Scalar, typename Acc>
auto* spikes_output(Scalar* out, Acc* buffer) {
  if constexpr (kStoresSpikesInLoop<Scalar, Acc>) {
    return in_loop(out);
  } else {
    return buffer;
  }
}

// Where the compute loop writes a block bound for `out`: `out` itself, or `buffer` for store_block.
template <typename Acc, typename Scalar>
Acc* output_block(Scalar* out, Acc* buffer) {
  if constexpr (std::is_same_v<Scalar, Acc>) {
    return out;
  } else {
    return buffer;
  }
}

// Writes the block in[0..count) to `out`, converted; nothing to do when it was computed in place
// (output_block returned `out`).
template <typename Scalar, typename Acc>
void store_block(const Acc* in, int64_t count, Scalar* out) {
  if constexpr (std::is_same_v<Scalar, Acc>) {
    if (in != out) {
      std::copy_n(in, count, out);
    }
  } else {
    int64_t i = 0;
    if constexpr (std::is_same_v<Scalar, c10::BFloat16> && std::is_same_v<Acc, float>) {
      uint16_t* bits = in_loop(out);
      MTSNN_IVDEP
      for (; i < count; ++i) {
        bits[i] = round_to_bfloat16(in[i]);
      }
    }
#if MTSNN_CPU_MULTI_ISA
    if constexpr (kHalfInstructions && std::is_same_v<Scalar, c10::Half> &&
                  std::is_same_v<Acc, float>) {
      for (; i + 8 <= count; i += 8) {
        const __m128i half =
            _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), half);
      }
    }
#endif
    for (; i < count; ++i) {
      out[i] = static_cast<Scalar>(in[i]);
    }
  }
}

// Streaming (non-temporal) stores write whole cache lines without first reading them into the
// cache, and leave them out of it. For an output larger than the last-level cache, which is
// evicted before anything reads it, that saves a third of the traffic of each line written.
// Copies the block staged[0..count) to `out` so, where `out` is aligned to their width (rows of
// a [T, N] tensor whose N is no multiple of it are not), else with plain stores.
template <typename Scalar>
void stream_block(const Scalar* staged, int64_t count, Scalar* out) {
  const auto* from = reinterpret_cast<const char*>(staged);
  auto* to = reinterpret_cast<char*>(out);
  const auto bytes = static_cast<int64_t>(count * sizeof(Scalar));
  int64_t done = 0;
#if MTSNN_CPU_MULTI_ISA
  if constexpr (kStreamBytes > 0) {
    if (reinterpret_cast<uintptr_t>(to) % kStreamBytes == 0) {
      for (; done + kStreamBytes <= bytes; done += kStreamBytes) {
        if constexpr (kStreamBytes == 64) {
          _mm512_stream_si512(reinterpret_cast<__m512i*>(to + done),
                              _mm512_load_si512(from + done));
        } else if constexpr (kStreamBytes == 32) {
          _mm256_stream_si256(reinterpret_cast<__m256i*>(to + done),
                              _mm256_load_si256(reinterpret_cast<const __m256i*>(from + done)));
        } else {
          _mm_stream_si128(reinterpret_cast<__m128i*>(to + done),
                           _mm_load_si128(reinterpret_cast<const __m128i*>(from + done)));
        }
      }
    }
  }
#endif
  std::memcpy(to + done, from + done, static_cast<size_t>(bytes - done));
}

// Streaming stores are weakly ordered: a thread fences them before its share of the work counts
// as done.
inline void fence_streaming_stores() {
#if MTSNN_CPU_MULTI_ISA
  if constexpr (kStreamBytes > 0) _mm_sfence();
#endif
}

// The rows of num_elements that an input of the pass holds: one where it is broadcast over time
// (time stride 0), else one per step.
inline int64_t input_rows(int64_t stride_t, int64_t num_steps) {
  return stride_t == 0 ? 1 : num_steps;
}

// Whether a call writes its output with streaming stores: where `rows` rows of num_elements reach
// the threshold (the forward pass counts its output rows, the backward pass every row it reads
// and writes). Outputs of 2-byte types (bfloat16, float16) never stream: on 2 Zen 4 cores (avx512
// and avx2 kernels, calls alternating with torch.compile's) their streamed forward was slower
// than the cached one at every T tried (bfloat16, T = 1-8, 32-64 MiB outputs: 0.75-1.56x
// torch.compile against 1.15-1.80x), and so was forward + backward (T = 1 at 16M: 1.13x against
// 1.35x). float32 streamed at least as fast.
template <typename Scalar>
bool streams_output(int64_t rows, int64_t num_elements) {
  return kStreamBytes > 0 && sizeof(Scalar) >= 4 &&
         rows * num_elements * static_cast<int64_t>(sizeof(Scalar)) >= cpu_streaming_threshold();
}

// Whether a forward pass streams its output: where the output alone reaches the threshold, and
// wherever the pass runs in chunks, whose input and output together leave the cache, so that its
// output too is evicted before anything reads it. On 2 Zen 3 cores (avx2 kernels, 32 MiB L3) the
// float32 forward at T = 4 and 1M neurons (16 MiB each way) went from 0.95x torch.compile in
// chunks through the cache (median of 14 rounds) to 1.13x streamed (11 rounds, taken in turn).
// T = 1, which runs in blocks, does not stream at the same traffic: at 4M neurons (32 MiB) on 2
// Zen 4 cores that took the avx2 kernels' forward from 1.27x to 0.97x (four sweeps each), though
// with the avx512 kernels forward + backward went from 1.18x to 1.27x.
template <typename Scalar>
bool forward_streams_output(int64_t num_steps, int64_t num_elements, bool in_chunks) {
  return streams_output<Scalar>(num_steps, num_elements) || (kStreamBytes > 0 && in_chunks);
}

// Whether a backward pass streams grad_x: where what it reads and writes together reaches the
// threshold (x, grad_spikes and grad_x, a row each where broadcast over time), not grad_x alone,
// since grad_x's first blocks are then evicted before the call ends. On 2 Zen 4 cores (avx512
// kernels, calls alternating with torch.compile's), float32 forward + backward at T = 1 and 4M,
// whose backward moves 48 MiB through a 32 MiB L3, went from 1.14x torch.compile to 1.18x (medians
// of 5 sweeps each); the avx2 kernels' stayed at 1.07x (four sweeps each).
template <typename Scalar>
bool backward_streams_output(int64_t num_steps, int64_t num_elements, int64_t x_stride_t,
                             int64_t grad_spikes_stride_t) {
  const int64_t rows =
      input_rows(x_stride_t, num_steps) + input_rows(grad_spikes_stride_t, num_steps) + num_steps;
  return streams_output<Scalar>(rows, num_elements);
}

// The scratch rows of the loops, for blocks of up to `capacity` elements, in one allocation per
// thread that is never zeroed (the loops write each row before they read it): at T = 1 the rows are
// long (block_elements), and zeroing them would cost more than a small call's kernel.
template <typename Acc>
class BlockBuffers {
 public:
  BlockBuffers(int64_t num_steps, int64_t capacity, bool stream)
      : stream(stream),
        row_(round_up(capacity, kRowAlignment)),
        storage_(new Acc[static_cast<size_t>((kRows + num_steps) * row_ + kRowAlignment)]) {
    // Rows start at multiples of 64 bytes, which streaming stores read staged blocks from.
    Acc* base = storage_.get();
    base += (kRowAlignment - reinterpret_cast<uintptr_t>(base) / sizeof(Acc) % kRowAlignment) %
            kRowAlignment;
    staged = reinterpret_cast<unsigned char*>(base);
    v = base + row_;
    grad_v = base + 2 * row_;
    slope = base + 3 * row_;
    first_slope = base + 4 * row_;
    decay_terms = base + 5 * row_;
    input = base + 6 * row_;
    output = base + 7 * row_;
    membranes_ = base + kRows * row_;
  }
  // Where the loops write a block bound for the output `out`: `out` itself, or the staging buffer
  // when the output streams.
  template <typename Scalar>
  Scalar* destination(Scalar* out) {
    return stream ? reinterpret_cast<Scalar*>(staged) : out;
  }
  // Completes a block written to destination(out).
  template <typename Scalar>
  void deliver(const Scalar* written, int64_t count, Scalar* out) const {
    if (written != out) stream_block(written, count, out);
  }
  // h_t of the block, [T, block]: row t starts at membrane_row(t).
  Acc* membrane_row(int64_t t) const { return membranes_ + t * row_; }

  const bool stream;
  unsigned char* staged;  // an output block in its storage type
  Acc* v;
  Acc* grad_v;
  Acc* slope;
  Acc* first_slope;
  Acc* decay_terms;
  Acc* input;   // a converted input block (load_block, loop_input)
  Acc* output;  // an output block before conversion (spikes_output, output_block)

 private:
  static constexpr int64_t kRows = 8;  // the rows above, staged included
  static constexpr int64_t kRowAlignment = 64 / static_cast<int64_t>(sizeof(Acc));
  static int64_t round_up(int64_t count, int64_t multiple) {
    return (count + multiple - 1) / multiple * multiple;
  }
  int64_t row_;
  std::unique_ptr<Acc[]> storage_;
  Acc* membranes_;
};

// The number of thresholds as the loops see it: FixedK > 0 is K known at compile time (the loops
// unroll over k), FixedK == 0 is any K, read from the parameters at run time.
template <int FixedK, typename Acc>
struct Thresholds {
  explicit Thresholds(const NeuronParams<Acc>& p) : fixed(p.threshold) {}
  Acc count(Acc h, const NeuronParams<Acc>&) const { return spike_count(h, fixed); }
  FixedThresholds<FixedK, Acc> fixed;
};

template <typename Acc>
struct Thresholds<0, Acc> {
  explicit Thresholds(const NeuronParams<Acc>&) {}
  Acc count(Acc h, const NeuronParams<Acc>& p) const { return spike_count(h, p); }
};

// buf.v = v0 of the block; without v0 the first step starts from rest instead (no buffer to fill).
template <typename Scalar, typename Acc>
void load_initial_membranes(const Scalar* v0, int64_t begin, int64_t count,
                            BlockBuffers<Acc>& buf) {
  std::copy_n(load_block(v0 + begin, count, buf.input), count, buf.v);
}

// Elements per chunk of forward_chunk: 256 bytes of each row (64 float32 elements, whose
// membranes fit in four AVX-512 or eight AVX2 registers).
template <typename Acc>
constexpr int64_t kChunk = 256 / static_cast<int64_t>(sizeof(Acc));

// Whether a forward pass runs in chunks: where its traffic leaves the last-level cache, a chunk
// reads and writes T short runs of each row, as torch.compile's code does, and for float32 that
// ran faster than the block's T whole rows of 256 elements: on 2 Zen 4 cores (avx512 and avx2
// kernels, calls alternating with torch.compile's) T = 2-4 at 4M neurons went from 0.7-1.0x
// torch.compile to 1.2-1.7x. Within the cache, and at T = 1, where there is no membrane to carry,
// the block's longer loops were faster (T = 1 at 1M neurons: 2.0x against 1.5x). bfloat16 in
// chunks (of 64 or 128 elements) was faster at T = 4 and 4M but slower at T = 2 and 4M and at
// T = 8 and 1M, so only the types computed as they are stored (float32, float64) use them.
template <typename Scalar>
bool forward_in_chunks(int64_t num_steps, int64_t num_elements, int64_t x_stride_t) {
  const auto bytes = (input_rows(x_stride_t, num_steps) + num_steps) * num_elements *
                     static_cast<int64_t>(sizeof(Scalar));
  return std::is_same_v<Scalar, at::opmath_type<Scalar>> && num_steps >= 2 &&
         bytes >= cpu_streaming_threshold();
}

// The forward pass of the kChunk elements from `begin` over all steps, their membranes kept in
// registers; each step's spikes go through buf.destination (staged when the output streams).
template <Reset R, int FixedK, typename Acc>
void forward_chunk(const ForwardArgs<Acc, Acc>& args, int64_t begin, BlockBuffers<Acc>& buf) {
  constexpr int64_t chunk = kChunk<Acc>;
  const NeuronParams<Acc> p = args.params;
  const Thresholds<FixedK, Acc> thresholds(p);
  Acc v[chunk];
  if (args.v0 != nullptr) {
    std::copy_n(args.v0 + begin, chunk, v);
  } else {
    std::fill_n(v, chunk, Acc(0));
  }
  for (int64_t t = 0; t < args.num_steps; ++t) {
    const Acc* x = args.x + t * args.x_stride_t + begin;
    Acc* spikes = args.spikes + t * args.num_elements + begin;
    Acc* s = buf.destination(spikes);
    MTSNN_IVDEP  // as in backward_block
    for (int64_t i = 0; i < chunk; ++i) {
      const Acc h = charge(v[i], x[i], p.decay);
      s[i] = thresholds.count(h, p);
      v[i] = reset_membrane<R>(h, s[i], p.threshold);
    }
    buf.deliver(s, chunk, spikes);
  }
  if (args.v_last != nullptr) std::copy_n(v, chunk, args.v_last + begin);
}

template <Reset R, int FixedK, typename Scalar, typename Acc>
void forward_block(const ForwardArgs<Scalar, Acc>& args, int64_t begin, int64_t count,
                   BlockBuffers<Acc>& buf, bool in_chunks) {
  if constexpr (std::is_same_v<Scalar, Acc>) {
    if (in_chunks) {  // whole chunks; the time loop below takes the rest
      for (; count >= kChunk<Scalar>; begin += kChunk<Scalar>, count -= kChunk<Scalar>) {
        forward_chunk<R, FixedK>(args, begin, buf);
      }
      if (count == 0) return;
    }
  }
  const NeuronParams<Acc> p = args.params;  // a local copy: the stores below cannot alias it
  const Thresholds<FixedK, Acc> thresholds(p);
  const bool from_rest = args.v0 == nullptr;
  Acc* v = buf.v;
  if (!from_rest) load_initial_membranes(args.v0, begin, count, buf);
  for (int64_t t = 0; t < args.num_steps; ++t) {
    const Scalar* x_t = args.x + t * args.x_stride_t + begin;
    Scalar* spikes = args.spikes + t * args.num_elements + begin;
    Scalar* destination = buf.destination(spikes);
    // The first step from rest charges v = 0, written out so that no buffer is zeroed; the last
    // step keeps its membrane only for v_last.
    const bool at_rest = from_rest && t == 0;
    const bool keep_v = t < args.num_steps - 1 || args.v_last != nullptr;
    const auto* x = loop_input(x_t, count, buf.input);
    auto* s = spikes_output(destination, buf.output);
    const auto step = [&](auto from_zero_v, auto store_v) {
      MTSNN_IVDEP  // as in backward_block
      for (int64_t i = 0; i < count; ++i) {
        const Acc v_prev = decltype(from_zero_v)::value ? Acc(0) : v[i];
        const Acc h = charge(v_prev, to_acc(x[i]), p.decay);
        const Acc spike = thresholds.count(h, p);
        store_spike_count(&s[i], spike);
        if constexpr (decltype(store_v)::value) v[i] = reset_membrane<R>(h, spike, p.threshold);
      }
    };
    // Compile-time cases, called here as in backward_block.
    if (at_rest) {
      keep_v ? step(std::true_type{}, std::true_type{}) : step(std::true_type{}, std::false_type{});
    } else {
      keep_v ? step(std::false_type{}, std::true_type{})
             : step(std::false_type{}, std::false_type{});
    }
    if constexpr (!kStoresSpikesInLoop<Scalar, Acc>) store_block(buf.output, count, destination);
    buf.deliver(destination, count, spikes);
  }
  if (args.v_last) {
    store_block(v, count, args.v_last + begin);
  }
}

// For a run-time K: slope = sum_k g(h - k*theta) and first_slope = g(h - theta), summed over k in
// increasing order as spike_grad does, one k at a time so that the loop over elements stays
// innermost.
template <Surrogate S, typename Acc>
void spike_slopes(const Acc* h, int64_t count, const NeuronParams<Acc>& p, Acc* slope,
                  Acc* first_slope) {
  const Acc width = p.width;
  const Acc theta = p.threshold;
  for (int64_t i = 0; i < count; ++i) {
    first_slope[i] = surrogate_grad<S>(h[i] - threshold_at(Acc(1), theta), width);
    slope[i] = first_slope[i];
  }
  for (Acc k = Acc(2); k <= p.num_thresholds; k += Acc(1)) {
    const Acc level = threshold_at(k, theta);
    for (int64_t i = 0; i < count; ++i) {
      slope[i] += surrogate_grad<S>(h[i] - level, width);
    }
  }
}

// The sum of values[0..count) in a fixed order: kLanes interleaved partial sums (which vectorise,
// unlike one serial chain of additions), then the lanes in order. The lanes are float64: a block
// at T = 1 holds 8192 values, 512 per lane, and float32 lanes drifted from the reference's sum
// by more than 1e-5 (relative).
template <typename Acc>
Acc block_sum(const Acc* values, int64_t count) {
  constexpr int64_t kLanes = 16;
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int64_t lane = 0; lane < kLanes; ++lane) {
      lanes[lane] += values[i + lane];
    }
  }
  for (; i < count; ++i) {
    lanes[i % kLanes] += values[i];
  }
  double total = 0;
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    total += lanes[lane];
  }
  return static_cast<Acc>(total);
}

// Where the gradient loop of a step takes h_t from.
enum class MembraneSource {
  kStored,           // buf.membranes, filled by the recomputation
  kChargedFromV,     // charged in the loop from buf.v and x_t
  kChargedFromRest,  // charged in the loop from v = 0 (T = 1 without v0)
};

// Returns this block's share of dL/d(decay) (0 when it is not wanted). For a compile-time K the
// slopes are computed inside the gradient loop (one pass over the block per step); for a run-time
// K, by spike_slopes first. For a compile-time K and a type the loops read in place (float32,
// float64, bfloat16) the last step's membrane is charged inside its gradient loop too, a pass over
// the block less (at T = 1 the whole recomputation: float32 backward 1.05-1.17x faster in the
// cache on Zen 4). bfloat16's gradient loop also rounds dL/dh_t into grad_x itself, and keeps a
// float copy of it only for the decay's gradient: at T = 1 one pass over the block where there
// were three, through rows of 32 KiB. On 2 Zen 4 cores, bfloat16 forward + backward at T = 1 and
// 4M went from 1.22x to 1.58x torch.compile (avx512) and from 0.91x to 1.23x (avx2); in the cache
// (1M, one thread) the backward took 0.35 ns an element against 0.38 (avx512), and the default
// variant's 8 % more at 64K but less from 4M.
template <Reset R, Surrogate S, int FixedK, typename Scalar, typename Acc>
Acc backward_block(const BackwardArgs<Scalar, Acc>& args, int64_t begin, int64_t count,
                   BlockBuffers<Acc>& buf) {
  const NeuronParams<Acc> p = args.params;
  const Thresholds<FixedK, Acc> thresholds(p);
  const int64_t num_steps = args.num_steps;
  const int64_t n = args.num_elements;
  Acc* v = buf.v;
  Acc* grad_v = buf.grad_v;
  constexpr bool kChargesLastStepInLoop = FixedK > 0 && kConvertsInLoop<Scalar, Acc>;
  constexpr bool kRoundsGradInLoop = kConvertsInLoop<Scalar, Acc> && !std::is_same_v<Scalar, Acc>;
  const bool keeps_float_grad = !kRoundsGradInLoop || args.decay_partials != nullptr;

  // Forward again, keeping h_t (but the last step's, where the gradient loop charges it); from
  // rest the first step charges v = 0 (no buffer to zero), and the last step's membrane is never
  // needed.
  const bool from_rest = args.v0 == nullptr;
  if (!from_rest) load_initial_membranes(args.v0, begin, count, buf);
  const int64_t stored_steps = kChargesLastStepInLoop ? num_steps - 1 : num_steps;
  for (int64_t t = 0; t < stored_steps; ++t) {
    const Scalar* x_t = args.x + t * args.x_stride_t + begin;
    Acc* h = buf.membrane_row(t);
    const bool at_rest = from_rest && t == 0;
    const auto* x = loop_input(x_t, count, buf.input);
    if (t == num_steps - 1) {
      MTSNN_IVDEP  // as below
      for (int64_t i = 0; i < count; ++i) {
        h[i] = charge(at_rest ? Acc(0) : v[i], to_acc(x[i]), p.decay);
      }
    } else {
      MTSNN_IVDEP  // as below
      for (int64_t i = 0; i < count; ++i) {
        h[i] = charge(at_rest ? Acc(0) : v[i], to_acc(x[i]), p.decay);
        v[i] = reset_membrane<R>(h[i], thresholds.count(h[i], p), p.threshold);
      }
    }
  }

  // Backwards through time, from dL/dv_last (0 when v_last did not reach the loss: written out
  // in the first step, so that no buffer is zeroed).
  const bool no_grad_v_last = args.grad_v_last == nullptr;
  if (!no_grad_v_last) {
    std::copy_n(load_block(args.grad_v_last + begin, count, buf.input), count, grad_v);
  }
  if (args.decay_partials) {
    std::fill_n(buf.decay_terms, count, Acc(0));
  }
  for (int64_t t = num_steps - 1; t >= 0; --t) {
    const Acc* h = buf.membrane_row(t);
    const Scalar* grad_s_t = args.grad_spikes + t * args.grad_spikes_stride_t + begin;
    const auto* grad_s = loop_input(grad_s_t, count, buf.input);
    const bool charged_in_loop = kChargesLastStepInLoop && t == num_steps - 1;
    const auto* x = charged_in_loop ? in_loop(args.x + t * args.x_stride_t + begin) : nullptr;
    Scalar* grad_x = args.grad_x + t * n + begin;
    Scalar* destination = buf.destination(grad_x);
    Acc* grad_x_out = output_block(destination, buf.output);
    if constexpr (FixedK == 0) {
      spike_slopes<S>(h, count, p, buf.slope, buf.first_slope);
    }
    // dL/dh_t goes to grad_x_out (the decay term below reads it back from there), for bfloat16
    // rounded into grad_x and to grad_x_out only where the decay term needs it; dL/dv_{t-1} only
    // where a step before this one, or v0's gradient, needs it: stores are what bounds this
    // loop. The block's buffers and the tensors never overlap (outputs are fresh allocations),
    // which GCC cannot prove; without ivdep its run-time overlap check can send the loop down its
    // scalar version.
    const auto gradient_loop = [&](auto from_zero_grad_v, auto keep_grad_v, auto source) {
      MTSNN_IVDEP
      for (int64_t i = 0; i < count; ++i) {
        Acc h_i;
        if constexpr (decltype(source)::value == MembraneSource::kStored) {
          h_i = h[i];
        } else if constexpr (decltype(source)::value == MembraneSource::kChargedFromV) {
          h_i = charge(v[i], to_acc(x[i]), p.decay);
        } else {
          h_i = charge(Acc(0), to_acc(x[i]), p.decay);
        }
        Acc slope;
        Acc first_slope;
        if constexpr (FixedK == 0) {
          slope = buf.slope[i];
          first_slope = buf.first_slope[i];
        } else {
          slope = spike_grad<S>(h_i, thresholds.fixed, p.width, first_slope);
        }
        Acc grad_h;
        if constexpr (decltype(from_zero_grad_v)::value) {
          grad_h = spike_membrane_grad(to_acc(grad_s[i]), slope);
        } else {
          grad_h = membrane_grad<R>(h_i, to_acc(grad_s[i]), grad_v[i], slope, first_slope, p);
        }
        if constexpr (kRoundsGradInLoop) in_loop(destination)[i] = round_to_bfloat16(grad_h);
        if (keeps_float_grad) grad_x_out[i] = grad_h;
        if constexpr (decltype(keep_grad_v)::value) grad_v[i] = p.decay * grad_h;
      }
    };
    // Compile-time cases, so that each loop vectorises without a branch: the first step
    // backwards without dL/dv_last has the spike term alone; the step t = 0 without v0 keeps no
    // dL/dv; the last step charges its membrane in the loop, from v = 0 at T = 1 without v0.
    // (Called here: passed to a helper that chose the case, the loop read the parameters
    // through the closure, which GCC could not prove its stores leave alone, and stayed scalar.)
    const auto with_source = [&](auto from_zero_grad_v, auto keep_grad_v) {
      if constexpr (kChargesLastStepInLoop) {
        if (charged_in_loop) {
          using Source = MembraneSource;
          return from_rest && t == 0
                     ? gradient_loop(from_zero_grad_v, keep_grad_v,
                                     std::integral_constant<Source, Source::kChargedFromRest>{})
                     : gradient_loop(from_zero_grad_v, keep_grad_v,
                                     std::integral_constant<Source, Source::kChargedFromV>{});
        }
      }
      gradient_loop(from_zero_grad_v, keep_grad_v,
                    std::integral_constant<MembraneSource, MembraneSource::kStored>{});
    };
    const bool from_zero = no_grad_v_last && t == num_steps - 1;
    const bool keep = t > 0 || args.grad_v0 != nullptr;
    if (from_zero) {
      keep ? with_source(std::true_type{}, std::true_type{})
           : with_source(std::true_type{}, std::false_type{});
    } else {
      keep ? with_source(std::false_type{}, std::true_type{})
           : with_source(std::false_type{}, std::false_type{});
    }
    if constexpr (!kRoundsGradInLoop) store_block(grad_x_out, count, destination);
    buf.deliver(destination, count, grad_x);
    if (args.decay_partials) {  // dh_t/d(decay) = v_{t-1}
      if (t > 0) {
        const Acc* h_prev = buf.membrane_row(t - 1);
        for (int64_t i = 0; i < count; ++i) {
          const Acc v_prev =
              reset_membrane<R>(h_prev[i], thresholds.count(h_prev[i], p), p.threshold);
          buf.decay_terms[i] += grad_x_out[i] * v_prev;
        }
      } else if (args.v0) {
        const Acc* v0 = load_block(args.v0 + begin, count, buf.input);
        for (int64_t i = 0; i < count; ++i) {
          buf.decay_terms[i] += grad_x_out[i] * v0[i];
        }
      }
    }
  }
  if (args.grad_v0) {
    store_block(grad_v, count, args.grad_v0 + begin);
  }
  return args.decay_partials ? block_sum(buf.decay_terms, count) : Acc(0);
}

inline int64_t num_blocks(int64_t num_elements, int64_t block) {
  return (num_elements + block - 1) / block;
}

// Enough blocks per task (16K elements over all steps) that the threading overhead stays small.
inline int64_t block_grain(int64_t num_steps, int64_t block) {
  return std::max<int64_t>(1, (int64_t{1} << 14) / (block * std::max<int64_t>(1, num_steps)));
}

// Whether the backward loops for compute type Acc get a compile-time K. Not for float64, the dtype
// of checks (gradcheck, the reference) rather than of training: its backward reads K at run time,
// which leaves out a fifth of the backward cases that each kernel file compiles, and about as much
// of its compile time (docs/benchmarks.md, build time); forward + backward stayed 7-10x faster than
// torch.compile (7-16x before). Its forward keeps a fixed K: with K read at run time it
// ran at 0.6-1.3x torch.compile instead of 0.9-1.7x (64K and 1M neurons, T = 1-4; rounds in
// benchmarks/results/ab-float64-backward-k-20261207).
template <typename Acc>
constexpr bool kBackwardFixesK = !std::is_same_v<Acc, double>;

// Calls body(reset, fixed_k) with both as compile-time constants (std::integral_constant):
// fixed_k is K for K <= 4 when kFixK, else 0 (the loops then read K at run time).
template <bool kFixK, typename Body>
void with_reset_and_k(Reset reset, int64_t num_thresholds, Body&& body) {
  const auto with_k = [&](auto reset_constant) {
    if constexpr (!kFixK) {
      return body(reset_constant, std::integral_constant<int, 0>{});
    } else {
      switch (num_thresholds) {
        case 1:
          return body(reset_constant, std::integral_constant<int, 1>{});
        case 2:
          return body(reset_constant, std::integral_constant<int, 2>{});
        case 3:
          return body(reset_constant, std::integral_constant<int, 3>{});
        case 4:
          return body(reset_constant, std::integral_constant<int, 4>{});
        default:
          return body(reset_constant, std::integral_constant<int, 0>{});
      }
    }
  };
  switch (reset) {
    case Reset::kSoft:
      return with_k(std::integral_constant<Reset, Reset::kSoft>{});
    case Reset::kHard:
      return with_k(std::integral_constant<Reset, Reset::kHard>{});
    case Reset::kNone:
      return with_k(std::integral_constant<Reset, Reset::kNone>{});
  }
}

template <typename Body>
void with_surrogate(Surrogate surrogate, Body&& body) {
  switch (surrogate) {
    case Surrogate::kRectangle:
      return body(std::integral_constant<Surrogate, Surrogate::kRectangle>{});
    case Surrogate::kTriangle:
      return body(std::integral_constant<Surrogate, Surrogate::kTriangle>{});
    case Surrogate::kSigmoid:
      return body(std::integral_constant<Surrogate, Surrogate::kSigmoid>{});
  }
}

template <typename Scalar, typename Acc>
void run_forward(const ForwardArgs<Scalar, Acc>& args, Reset reset) {
  const bool in_chunks =
      forward_in_chunks<Scalar>(args.num_steps, args.num_elements, args.x_stride_t);
  const bool stream = forward_streams_output<Scalar>(args.num_steps, args.num_elements, in_chunks);
  const int64_t block = block_elements(args.num_steps, stream);
  const int64_t blocks = num_blocks(args.num_elements, block);
  const auto num_thresholds = static_cast<int64_t>(args.params.num_thresholds);
  with_reset_and_k<true>(reset, num_thresholds, [&](auto reset_constant, auto fixed_k) {
    at::parallel_for(0, blocks, block_grain(args.num_steps, block),
                     [&](int64_t first, int64_t last) {
                       BlockBuffers<Acc> buf(0, std::min(block, args.num_elements), stream);
                       for (int64_t b = first; b < last; ++b) {
                         const int64_t begin = b * block;
                         const int64_t count = std::min(block, args.num_elements - begin);
                         forward_block<decltype(reset_constant)::value, decltype(fixed_k)::value>(
                             args, begin, count, buf, in_chunks);
                       }
                       if (stream) fence_streaming_stores();
                     });
  });
}

// Writes one partial dL/d(decay) per block (of block_elements(T, stream)) into args.decay_partials
// when it is set; the caller sums them, so the result does not depend on the number of threads.
template <typename Scalar, typename Acc>
void run_backward(const BackwardArgs<Scalar, Acc>& args, Reset reset, bool stream) {
  const int64_t block = block_elements(args.num_steps, stream);
  const int64_t blocks = num_blocks(args.num_elements, block);
  const auto num_thresholds = static_cast<int64_t>(args.params.num_thresholds);
  with_reset_and_k<kBackwardFixesK<Acc>>(
      reset, num_thresholds, [&](auto reset_constant, auto fixed_k) {
        with_surrogate(args.surrogate, [&](auto surrogate_constant) {
          at::parallel_for(
              0, blocks, block_grain(args.num_steps, block), [&](int64_t first, int64_t last) {
                BlockBuffers<Acc> buf(args.num_steps, std::min(block, args.num_elements), stream);
                for (int64_t b = first; b < last; ++b) {
                  const int64_t begin = b * block;
                  const int64_t count = std::min(block, args.num_elements - begin);
                  const Acc partial =
                      backward_block<decltype(reset_constant)::value,
                                     decltype(surrogate_constant)::value, decltype(fixed_k)::value>(
                          args, begin, count, buf);
                  if (args.decay_partials) {
                    args.decay_partials[b] = partial;
                  }
                }
                if (stream) fence_streaming_stores();
              });
        });
      });
}

inline void forward(const ForwardProblem& problem) {
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, problem.x.scalar_type(), "mt_lif_forward_cpu", [&] {
        using Acc = at::opmath_type<scalar_t>;
        run_forward(make_forward_args<scalar_t, Acc>(problem), problem.options.reset);
      });
}

inline void backward(const BackwardProblem& problem) {
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, problem.x.scalar_type(), "mt_lif_backward_cpu", [&] {
        using Acc = at::opmath_type<scalar_t>;
        BackwardArgs<scalar_t, Acc> args = make_backward_args<scalar_t, Acc>(problem);
        const bool stream = backward_streams_output<scalar_t>(
            args.num_steps, args.num_elements, args.x_stride_t, args.grad_spikes_stride_t);
        at::Tensor partials;
        if (problem.decay_requires_grad) {
          const int64_t block = block_elements(args.num_steps, stream);
          partials = at::empty({num_blocks(args.num_elements, block)},
                               problem.grad_decay.options().dtype(c10::CppTypeToScalarType<Acc>()));
          args.decay_partials = partials.mutable_data_ptr<Acc>();
        }
        run_backward(args, problem.options.reset, stream);
        if (problem.decay_requires_grad) {
          problem.grad_decay.copy_(partials.sum(at::kDouble));
        }
      });
}
