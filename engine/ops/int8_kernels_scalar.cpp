// Scalar reference for the integer-dot kernels: codes unpacked one at a time in element order,
// exact int32 dot per group, then the group's float terms in the order the formula is written.
#include "engine/ops/int8_kernels.h"
#include "engine/util/dtype.h"

namespace streammoe::int8_kernels {
namespace {

// The integer code c of element i of a row: unsigned, or a two's-complement byte if symmetric.
template <int kBits, bool kSymmetric>
inline int32_t level(const uint32_t* row_q, int64_t i) {
  constexpr int kPerWord = 32 / kBits;
  const uint32_t code = (row_q[i / kPerWord] >> ((i % kPerWord) * kBits)) & ((1u << kBits) - 1u);
  if constexpr (kSymmetric) return static_cast<int8_t>(code);
  return static_cast<int32_t>(code);
}

template <int kBits, bool kSymmetric>
void rows(const Problem& p, int64_t begin, int64_t end) {
  const int64_t groups = p.cols / p.group_size;
  const int64_t words_per_row = p.cols * kBits / 32;
  for (int64_t r = begin; r < end; ++r) {
    const uint32_t* row_q = p.q + r * words_per_row;
    float acc = 0.0f;
    for (int64_t g = 0; g < groups; ++g) {
      int32_t dot = 0;
      for (int64_t i = g * p.group_size; i < (g + 1) * p.group_size; ++i)
        dot += level<kBits, kSymmetric>(row_q, i) * static_cast<int32_t>(p.x_codes[i]);
      const float factor = bf16_to_f32(p.scales[r * groups + g]) * p.x_scales[g];
      if constexpr (kSymmetric)
        acc += factor * static_cast<float>(dot);
      else
        acc += factor * static_cast<float>(dot) + bf16_to_f32(p.biases[r * groups + g]) * p.x_sums[g];
    }
    p.y[r] = acc;
  }
}

}  // namespace

void rows_scalar(const Problem& p, int64_t begin, int64_t end) {
  if (p.bits == 8 && p.symmetric) return rows<8, true>(p, begin, end);
  if (p.bits == 8) return rows<8, false>(p, begin, end);
  if (p.bits == 4) return rows<4, false>(p, begin, end);
  return rows<2, false>(p, begin, end);
}

}  // namespace streammoe::int8_kernels
