// Scalar reference kernels for quant_matvec: plain loops in the order the formulas are written,
// f32 accumulation, so the vector kernels have something simple to be compared against.
#include "engine/ops/quant_kernels.h"
#include "engine/util/dtype.h"

namespace streammoe::quant_kernels {
namespace {

// The integer a code stands for: unsigned, or a two's-complement byte when symmetric (8-bit).
template <int kBits, bool kSymmetric>
inline float code_value(uint32_t word, int j) {
  constexpr uint32_t kMask = (1u << kBits) - 1u;
  const uint32_t code = (word >> (j * kBits)) & kMask;
  if constexpr (kSymmetric) return static_cast<float>(static_cast<int8_t>(code));
  return static_cast<float>(code);
}

template <int kBits, bool kSymmetric>
void naive_rows(const QuantMatRef& w, const float* x, float* y, int64_t begin, int64_t end) {
  constexpr int kPerWord = 32 / kBits;
  const int64_t words_per_row = w.words_per_row();
  const int64_t groups_per_row = w.groups_per_row();
  const int words_per_group = w.group_size / kPerWord;
  for (int64_t r = begin; r < end; ++r) {
    const uint32_t* row_q = w.q + r * words_per_row;
    float acc = 0.0f;
    for (int64_t g = 0; g < groups_per_row; ++g) {
      const float scale = bf16_to_f32(w.scales[r * groups_per_row + g]);
      const float bias = kSymmetric ? 0.0f : bf16_to_f32(w.biases[r * groups_per_row + g]);
      const uint32_t* group_q = row_q + g * words_per_group;
      const float* group_x = x + g * w.group_size;
      for (int i = 0; i < words_per_group; ++i) {
        const uint32_t word = group_q[i];
        for (int j = 0; j < kPerWord; ++j) {
          const float code = code_value<kBits, kSymmetric>(word, j);
          const float weight = kSymmetric ? code * scale : code * scale + bias;
          acc += weight * group_x[i * kPerWord + j];
        }
      }
    }
    y[r] = acc;
  }
}

template <int kBits, bool kSymmetric>
void fma_rows(const QuantMatRef& w, const float* x, const float* group_sums, float* y,
              int64_t begin, int64_t end) {
  constexpr int kPerWord = 32 / kBits;
  const int64_t words_per_row = w.words_per_row();
  const int64_t groups_per_row = w.groups_per_row();
  const int words_per_group = w.group_size / kPerWord;
  for (int64_t r = begin; r < end; ++r) {
    const uint32_t* row_q = w.q + r * words_per_row;
    float acc = 0.0f;
    for (int64_t g = 0; g < groups_per_row; ++g) {
      const uint32_t* group_q = row_q + g * words_per_group;
      const float* group_x = x + g * w.group_size;
      float code_dot_x = 0.0f;
      for (int i = 0; i < words_per_group; ++i) {
        const uint32_t word = group_q[i];
        for (int j = 0; j < kPerWord; ++j)
          code_dot_x += code_value<kBits, kSymmetric>(word, j) * group_x[i * kPerWord + j];
      }
      if constexpr (kSymmetric)
        acc += bf16_to_f32(w.scales[r * groups_per_row + g]) * code_dot_x;
      else
        acc += bf16_to_f32(w.scales[r * groups_per_row + g]) * code_dot_x +
               bf16_to_f32(w.biases[r * groups_per_row + g]) * group_sums[g];
    }
    y[r] = acc;
  }
}

}  // namespace

void naive_scalar(const QuantMatRef& w, const float* x, float* y, int64_t begin, int64_t end) {
  if (w.bits == 8 && w.symmetric()) return naive_rows<8, true>(w, x, y, begin, end);
  if (w.bits == 8) return naive_rows<8, false>(w, x, y, begin, end);
  if (w.bits == 4) return naive_rows<4, false>(w, x, y, begin, end);
  return naive_rows<2, false>(w, x, y, begin, end);
}

void fma_scalar(const QuantMatRef& w, const float* x, const float* group_sums, float* y,
                int64_t begin, int64_t end) {
  if (w.bits == 8 && w.symmetric()) return fma_rows<8, true>(w, x, group_sums, y, begin, end);
  if (w.bits == 8) return fma_rows<8, false>(w, x, group_sums, y, begin, end);
  if (w.bits == 4) return fma_rows<4, false>(w, x, group_sums, y, begin, end);
  return fma_rows<2, false>(w, x, group_sums, y, begin, end);
}

}  // namespace streammoe::quant_kernels
