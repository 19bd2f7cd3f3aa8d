// AVX2 integer-dot kernels: vpmaddubsw (unsigned code bytes times signed activation bytes, pairs
// summed to int16) then vpmaddwd by ones (pairs of those summed to int32). 2/4-bit codes are at
// most 15, so two products summed stay far inside int16; 8-bit codes go through the sign trick
// of llama.cpp's Q8_0 dot (|c| times a with c's sign), which keeps each int16 within 2*128*127.
#if defined(STREAMMOE_HAVE_AVX2)
#include "engine/ops/int8_kernels.h"
#include "engine/ops/int8_kernels_x86.h"

namespace streammoe::int8_kernels {
namespace {

struct Maddubs {
  static constexpr bool kCodesSigned = true;

  static __m256i small(__m256i c0, __m256i a0, __m256i c1, __m256i a1) {
    const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(c0, a0), _mm256_maddubs_epi16(c1, a1));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  }

  template <bool kSymmetric>
  static __m256i byte8(__m256i codes, __m256i a) {
    const __m256i c = kSymmetric ? codes : _mm256_xor_si256(codes, _mm256_set1_epi8(-128));
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(c, c), _mm256_sign_epi8(a, c));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  }
};

}  // namespace

void rows_avx2(const Problem& p, int64_t begin, int64_t end) {
  dispatch_256<Maddubs>(p, begin, end);
}

}  // namespace streammoe::int8_kernels
#endif  // STREAMMOE_HAVE_AVX2
