// AVX2+FMA kernels for quant_matvec. A uint32 word is broadcast to all 8 lanes and shifted by
// a per-lane amount (vpsrlvd), so the 8 codes come out in element order and x is read as is.
// Four independent accumulators per row keep the FMA latency (4 cycles) off the critical path.
#if defined(STREAMMOE_HAVE_AVX2)
#include <immintrin.h>

#include "engine/ops/quant_kernels.h"
#include "engine/util/dtype.h"

namespace streammoe::quant_kernels {
namespace {

float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

// Decodes the codes of one group, 32 elements (four vectors of 8) per call of `consume`.
// consume(k, codes, x) is called with k = 0..3 so that the caller can keep four accumulators.
template <int kBits, typename Consume>
inline void for_each_code_vector(const uint32_t* group_q, const float* group_x, int group_size,
                                 Consume&& consume) {
  const __m256i mask = _mm256_set1_epi32((1 << kBits) - 1);
  if constexpr (kBits == 4) {
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    for (int i = 0; i < group_size / 8; i += 4) {
      for (int k = 0; k < 4; ++k) {
        const __m256i word = _mm256_set1_epi32(static_cast<int>(group_q[i + k]));
        const __m256 codes =
            _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(word, shifts), mask));
        consume(k, codes, _mm256_loadu_ps(group_x + (i + k) * 8));
      }
    }
  } else {
    const __m256i shifts_low = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i shifts_high = _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30);
    for (int i = 0; i < group_size / 16; i += 2) {
      for (int k = 0; k < 2; ++k) {
        const __m256i word = _mm256_set1_epi32(static_cast<int>(group_q[i + k]));
        const __m256 low =
            _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(word, shifts_low), mask));
        const __m256 high =
            _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(word, shifts_high), mask));
        consume(2 * k, low, _mm256_loadu_ps(group_x + (i + k) * 16));
        consume(2 * k + 1, high, _mm256_loadu_ps(group_x + (i + k) * 16 + 8));
      }
    }
  }
}

template <int kBits>
void naive_rows(const QuantMatRef& w, const float* x, float* y, int64_t begin, int64_t end) {
  const int64_t words_per_row = w.words_per_row();
  const int64_t groups_per_row = w.groups_per_row();
  const int words_per_group = w.group_size * kBits / 32;
  for (int64_t r = begin; r < end; ++r) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t g = 0; g < groups_per_row; ++g) {
      const __m256 scale = _mm256_set1_ps(bf16_to_f32(w.scales[r * groups_per_row + g]));
      const __m256 bias = _mm256_set1_ps(bf16_to_f32(w.biases[r * groups_per_row + g]));
      for_each_code_vector<kBits>(
          w.q + r * words_per_row + g * words_per_group, x + g * w.group_size, w.group_size,
          [&](int k, __m256 codes, __m256 xv) {
            acc[k] = _mm256_fmadd_ps(_mm256_fmadd_ps(codes, scale, bias), xv, acc[k]);
          });
    }
    y[r] = horizontal_sum(
        _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  }
}

template <int kBits>
void fma_rows(const QuantMatRef& w, const float* x, const float* group_sums, float* y,
              int64_t begin, int64_t end) {
  const int64_t words_per_row = w.words_per_row();
  const int64_t groups_per_row = w.groups_per_row();
  const int words_per_group = w.group_size * kBits / 32;
  for (int64_t r = begin; r < end; ++r) {
    __m256 total = _mm256_setzero_ps();
    float bias_dot = 0.0f;
    for (int64_t g = 0; g < groups_per_row; ++g) {
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      for_each_code_vector<kBits>(
          w.q + r * words_per_row + g * words_per_group, x + g * w.group_size, w.group_size,
          [&](int k, __m256 codes, __m256 xv) { acc[k] = _mm256_fmadd_ps(codes, xv, acc[k]); });
      const __m256 code_dot_x =
          _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
      total = _mm256_fmadd_ps(
          code_dot_x, _mm256_set1_ps(bf16_to_f32(w.scales[r * groups_per_row + g])), total);
      bias_dot += bf16_to_f32(w.biases[r * groups_per_row + g]) * group_sums[g];
    }
    y[r] = horizontal_sum(total) + bias_dot;
  }
}

}  // namespace

void naive_avx2(const QuantMatRef& w, const float* x, float* y, int64_t begin, int64_t end) {
  if (w.bits == 4) return naive_rows<4>(w, x, y, begin, end);
  return naive_rows<2>(w, x, y, begin, end);
}

void fma_avx2(const QuantMatRef& w, const float* x, const float* group_sums, float* y,
              int64_t begin, int64_t end) {
  if (w.bits == 4) return fma_rows<4>(w, x, group_sums, y, begin, end);
  return fma_rows<2>(w, x, group_sums, y, begin, end);
}

}  // namespace streammoe::quant_kernels
#endif  // STREAMMOE_HAVE_AVX2
