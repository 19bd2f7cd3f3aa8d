#pragma once
// Small AVX2 helpers shared by the kernels (compiled only with STREAMMOE_HAVE_AVX2).
#if defined(STREAMMOE_HAVE_AVX2)
#include <immintrin.h>

namespace streammoe {

// The sum of the 8 lanes.
inline float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

}  // namespace streammoe
#endif
