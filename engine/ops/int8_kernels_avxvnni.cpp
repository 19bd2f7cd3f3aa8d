// AVX-VNNI integer-dot kernels (compiled with -mavxvnni, run only where the CPU has it):
// vpdpbusd (VEX, 256-bit) sums four unsigned-code times signed-activation byte products into each
// int32 lane in one instruction. Symmetric 8-bit codes are made unsigned (c + 128) first.
#if defined(STREAMMOE_HAVE_AVXVNNI)
#include "engine/ops/int8_kernels.h"
#include "engine/ops/int8_kernels_x86.h"

namespace streammoe::int8_kernels {
namespace {

struct AvxVnni {
  static constexpr bool kCodesSigned = false;

  static __m256i small(__m256i c0, __m256i a0, __m256i c1, __m256i a1) {
    return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), c0, a0), c1, a1);
  }

  template <bool kSymmetric>
  static __m256i byte8(__m256i codes, __m256i a) {
    const __m256i c = kSymmetric ? _mm256_xor_si256(codes, _mm256_set1_epi8(-128)) : codes;
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), c, a);
  }
};

}  // namespace

void rows_avxvnni(const Problem& p, int64_t begin, int64_t end) {
  dispatch_256<AvxVnni>(p, begin, end);
}

}  // namespace streammoe::int8_kernels
#endif  // STREAMMOE_HAVE_AVXVNNI
