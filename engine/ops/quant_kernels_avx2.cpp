// AVX2+FMA kernels for quant_matvec.
//
// Unpacking: 8 bytes of packed codes are widened to 8 int32 lanes in one instruction
// (vpmovzxbd), lane k holding byte k. For 4 bits, byte k carries elements 2k (low nibble) and
// 2k+1 (high nibble), so `lane & 15` gives the even elements of a 16-element block and
// `lane >> 4` the odd ones; for 2 bits byte k carries elements 4k..4k+3 and four shift/mask
// planes give them. Rather than shuffle the codes back into element order, x is permuted once
// per call into the same order (permute_x_avx2), which costs O(cols) against O(rows * cols).
// 8-bit codes are bytes in element order: widened unsigned (affine) or signed (symmetric), x is
// read as it is. Four independent accumulators per row keep the FMA latency off the critical
// path.
#if defined(STREAMMOE_HAVE_AVX2)
#include <immintrin.h>

#include "engine/ops/avx2_util.h"
#include "engine/ops/prefetch.h"
#include "engine/ops/quant_kernels.h"
#include "engine/util/dtype.h"

namespace streammoe::quant_kernels {
namespace {

// Elements per block of 8 packed bytes.
template <int kBits>
constexpr int kBlock = 64 / kBits;

__m256i widen_8_bytes(const uint32_t* q) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
}

__m256i widen_8_signed_bytes(const uint32_t* q) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
}

// Calls consume(k, codes, x) for every 8-element vector of one group, k cycling 0..3 so the
// caller can keep four accumulators. permuted_x is the group's x in permute_x_avx2 order.
template <int kBits, bool kSymmetric, typename Consume>
inline void for_each_code_vector(const uint32_t* group_q, const float* permuted_x, int group_size,
                                 Consume&& consume) {
  if constexpr (kBits == 8) {
    for (int e = 0; e < group_size; e += 32) {  // four 8-byte vectors per step
      for (int k = 0; k < 4; ++k) {
        const uint32_t* q = group_q + e / 4 + 2 * k;
        const __m256i codes = kSymmetric ? widen_8_signed_bytes(q) : widen_8_bytes(q);
        consume(k, _mm256_cvtepi32_ps(codes), _mm256_loadu_ps(permuted_x + e + 8 * k));
      }
    }
  } else if constexpr (kBits == 4) {
    const __m256i low_nibble = _mm256_set1_epi32(0xF);
    for (int e = 0; e < group_size; e += 32) {  // two 16-element blocks per step
      const __m256i bytes0 = widen_8_bytes(group_q + e / 8);
      const __m256i bytes1 = widen_8_bytes(group_q + e / 8 + 2);
      consume(0, _mm256_cvtepi32_ps(_mm256_and_si256(bytes0, low_nibble)),
              _mm256_loadu_ps(permuted_x + e));
      consume(1, _mm256_cvtepi32_ps(_mm256_srli_epi32(bytes0, 4)),
              _mm256_loadu_ps(permuted_x + e + 8));
      consume(2, _mm256_cvtepi32_ps(_mm256_and_si256(bytes1, low_nibble)),
              _mm256_loadu_ps(permuted_x + e + 16));
      consume(3, _mm256_cvtepi32_ps(_mm256_srli_epi32(bytes1, 4)),
              _mm256_loadu_ps(permuted_x + e + 24));
    }
  } else {
    const __m256i two_bits = _mm256_set1_epi32(0x3);
    for (int e = 0; e < group_size; e += 32) {  // one 32-element block per step
      const __m256i bytes = widen_8_bytes(group_q + e / 16);
      consume(0, _mm256_cvtepi32_ps(_mm256_and_si256(bytes, two_bits)),
              _mm256_loadu_ps(permuted_x + e));
      consume(1, _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(bytes, 2), two_bits)),
              _mm256_loadu_ps(permuted_x + e + 8));
      consume(2, _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(bytes, 4), two_bits)),
              _mm256_loadu_ps(permuted_x + e + 16));
      consume(3, _mm256_cvtepi32_ps(_mm256_srli_epi32(bytes, 6)),
              _mm256_loadu_ps(permuted_x + e + 24));
    }
  }
}

template <int kBits, bool kSymmetric>
void naive_rows(const QuantMatRef& w, const float* permuted_x, float* y, int64_t begin,
                int64_t end) {
  const int64_t words_per_row = w.words_per_row();
  const int64_t groups_per_row = w.groups_per_row();
  const int words_per_group = w.group_size * kBits / 32;
  for (int64_t r = begin; r < end; ++r) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t g = 0; g < groups_per_row; ++g) {
      prefetch_ahead<1>(w.q + r * words_per_row + g * words_per_group);
      const __m256 scale = _mm256_set1_ps(bf16_to_f32(w.scales[r * groups_per_row + g]));
      const __m256 bias = kSymmetric
                              ? _mm256_setzero_ps()
                              : _mm256_set1_ps(bf16_to_f32(w.biases[r * groups_per_row + g]));
      for_each_code_vector<kBits, kSymmetric>(
          w.q + r * words_per_row + g * words_per_group, permuted_x + g * w.group_size,
          w.group_size, [&](int k, __m256 codes, __m256 xv) {
            const __m256 weight =
                kSymmetric ? _mm256_mul_ps(codes, scale) : _mm256_fmadd_ps(codes, scale, bias);
            acc[k] = _mm256_fmadd_ps(weight, xv, acc[k]);
          });
    }
    y[r] =
        horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  }
}

template <int kBits, bool kSymmetric>
void fma_rows(const QuantMatRef& w, const float* permuted_x, const float* group_sums, float* y,
              int64_t begin, int64_t end) {
  const int64_t words_per_row = w.words_per_row();
  const int64_t groups_per_row = w.groups_per_row();
  const int words_per_group = w.group_size * kBits / 32;
  for (int64_t r = begin; r < end; ++r) {
    __m256 total = _mm256_setzero_ps();
    float bias_dot = 0.0f;
    for (int64_t g = 0; g < groups_per_row; ++g) {
      prefetch_ahead<1>(w.q + r * words_per_row + g * words_per_group);
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      for_each_code_vector<kBits, kSymmetric>(
          w.q + r * words_per_row + g * words_per_group, permuted_x + g * w.group_size,
          w.group_size,
          [&](int k, __m256 codes, __m256 xv) { acc[k] = _mm256_fmadd_ps(codes, xv, acc[k]); });
      const __m256 code_dot_x =
          _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
      total = _mm256_fmadd_ps(code_dot_x,
                              _mm256_set1_ps(bf16_to_f32(w.scales[r * groups_per_row + g])), total);
      if constexpr (!kSymmetric)
        bias_dot += bf16_to_f32(w.biases[r * groups_per_row + g]) * group_sums[g];
    }
    y[r] = horizontal_sum(total) + bias_dot;
  }
}

}  // namespace

void permute_x_avx2(int bits, const float* x, int64_t cols, float* permuted_x) {
  // Within each block, vector j lane k holds the element of byte k's plane j.
  const int per_byte = 8 / bits;
  const int block = 8 * per_byte;
  for (int64_t base = 0; base < cols; base += block)
    for (int k = 0; k < 8; ++k)
      for (int j = 0; j < per_byte; ++j) permuted_x[base + 8 * j + k] = x[base + per_byte * k + j];
}

void naive_avx2(const QuantMatRef& w, const float* permuted_x, float* y, int64_t begin,
                int64_t end) {
  if (w.bits == 8 && w.symmetric()) return naive_rows<8, true>(w, permuted_x, y, begin, end);
  if (w.bits == 8) return naive_rows<8, false>(w, permuted_x, y, begin, end);
  if (w.bits == 4) return naive_rows<4, false>(w, permuted_x, y, begin, end);
  return naive_rows<2, false>(w, permuted_x, y, begin, end);
}

void fma_avx2(const QuantMatRef& w, const float* permuted_x, const float* group_sums, float* y,
              int64_t begin, int64_t end) {
  if (w.bits == 8 && w.symmetric())
    return fma_rows<8, true>(w, permuted_x, group_sums, y, begin, end);
  if (w.bits == 8) return fma_rows<8, false>(w, permuted_x, group_sums, y, begin, end);
  if (w.bits == 4) return fma_rows<4, false>(w, permuted_x, group_sums, y, begin, end);
  return fma_rows<2, false>(w, permuted_x, group_sums, y, begin, end);
}

}  // namespace streammoe::quant_kernels
#endif  // STREAMMOE_HAVE_AVX2
