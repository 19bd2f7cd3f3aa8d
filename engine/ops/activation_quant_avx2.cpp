// AVX2 activation quantiser: the scalar reference's arithmetic (x * (127 / max), rounded half to
// even, clamped) eight values at a time, so the bytes and floats are identical; and the 4-bit and
// 2-bit orders made with in-lane byte shuffles.
#if defined(STREAMMOE_HAVE_AVX2)
#include <immintrin.h>

#include <cfloat>
#include <limits>

#include "engine/ops/activation_kernels.h"
#include "engine/ops/activation_quant.h"

namespace streammoe::activation_kernels {
namespace {

float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

int32_t horizontal_sum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// 8 values times `inverse`, rounded half to even and clamped to [-127, 127], as int32.
__m256i quantize_8(const float* x, __m256 inverse) {
  const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(x), inverse);
  const __m256 rounded = _mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 clamped =
      _mm256_min_ps(_mm256_max_ps(rounded, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(clamped);
}

}  // namespace

void quantize_blocks_avx2(const float* x, int64_t n, int block_size, int8_t* codes,
                          float* scales, float* sums) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 largest = _mm256_set1_ps(FLT_MAX);
  for (int64_t b = 0; b < n / block_size; ++b) {
    const float* block = x + b * block_size;
    int8_t* q = codes + b * block_size;
    __m256 amax = _mm256_setzero_ps();
    __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int i = 0; i < block_size; i += 8) {
      const __m256 a = _mm256_and_ps(_mm256_loadu_ps(block + i), abs_mask);
      finite = _mm256_and_ps(finite, _mm256_cmp_ps(a, largest, _CMP_LE_OQ));  // false for NaN
      amax = _mm256_max_ps(amax, a);
    }
    const float max_abs = horizontal_max(amax);
    if (_mm256_movemask_ps(finite) != 0xff || max_abs < kMinActivationAmax) {
      for (int i = 0; i < block_size; i += 32)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), _mm256_setzero_si256());
      const bool nan = _mm256_movemask_ps(finite) != 0xff;
      scales[b] = sums[b] = nan ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
      continue;
    }
    const float d = max_abs / 127.0f;
    const __m256 inverse = _mm256_set1_ps(127.0f / max_abs);
    __m256i code_sum = _mm256_setzero_si256();
    for (int i = 0; i < block_size; i += 32) {
      const __m256i i0 = quantize_8(block + i, inverse);
      const __m256i i1 = quantize_8(block + i + 8, inverse);
      const __m256i i2 = quantize_8(block + i + 16, inverse);
      const __m256i i3 = quantize_8(block + i + 24, inverse);
      code_sum = _mm256_add_epi32(code_sum,
                                  _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
      // packs works within 128-bit lanes: the bytes come out as dwords 0 4 1 5 2 6 3 7.
      const __m256i words01 = _mm256_packs_epi32(i0, i1);
      const __m256i words23 = _mm256_packs_epi32(i2, i3);
      const __m256i bytes = _mm256_packs_epi16(words01, words23);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i),
                          _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
    scales[b] = d;
    sums[b] = d * static_cast<float>(horizontal_sum_i32(code_sum));
  }
}

void reorder_avx2(const int8_t* codes, int64_t n, int8_t* codes_4bit, int8_t* codes_2bit) {
  // Per 128-bit lane: even bytes then odd bytes; and bytes j, j+4, j+8, j+12 for j = 0..3.
  const __m256i evens_odds = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                              0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m256i planes = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                          0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m256i dword_pairs = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t base = 0;
  for (; base + 64 <= n; base += 64) {
    const __m256i n0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + base));
    const __m256i n1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + base + 32));
    // 4-bit: qwords [even, odd] per lane of each half; gather the evens, then the odds.
    const __m256i a = _mm256_shuffle_epi8(n0, evens_odds);
    const __m256i b = _mm256_shuffle_epi8(n1, evens_odds);
    const __m256i evens = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(a, b), _MM_SHUFFLE(3, 1, 2, 0));
    const __m256i odds = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(a, b), _MM_SHUFFLE(3, 1, 2, 0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes_4bit + base), evens);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes_4bit + base + 32), odds);
    // 2-bit: per half, qword j = plane j of 8 consecutive k; interleave the two halves' planes.
    const __m256i c = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(n0, planes), dword_pairs);
    const __m256i e = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(n1, planes), dword_pairs);
    const __m256i planes02 = _mm256_unpacklo_epi64(c, e);  // [plane 0 | plane 2]
    const __m256i planes13 = _mm256_unpackhi_epi64(c, e);  // [plane 1 | plane 3]
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes_2bit + base),
                        _mm256_permute2x128_si256(planes02, planes13, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes_2bit + base + 32),
                        _mm256_permute2x128_si256(planes02, planes13, 0x31));
  }
  if (base < n) reorder_scalar(codes + base, n - base, codes_4bit + base, codes_2bit + base);
}

}  // namespace streammoe::activation_kernels
#endif  // STREAMMOE_HAVE_AVX2
