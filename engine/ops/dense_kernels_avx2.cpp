// AVX2+FMA dense matvec: each row is converted 8 values at a time to f32 in registers (bf16 by a
// 16-bit shift, f16 by F16C) and multiplied into four accumulators, so nothing is widened in
// memory and the loop is bound by reading the weights.
#if defined(STREAMMOE_HAVE_AVX2)
#include <immintrin.h>

#include "engine/ops/avx2_util.h"
#include "engine/ops/dense_kernels.h"
#include "engine/util/dtype.h"

namespace streammoe::dense_kernels {
namespace {

struct F32Weights {
  static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
  static float load1(const float* p) { return *p; }
};
struct BF16Weights {
  static __m256 load8(const uint16_t* p) {
    const __m256i wide =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static float load1(const uint16_t* p) { return bf16_to_f32(*p); }
};
struct F16Weights {
  static __m256 load8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float load1(const uint16_t* p) { return _cvtsh_ss(*p); }
};

template <typename Weights, typename T>
void rows(const T* data, int64_t cols, const float* x, float* y, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const T* row = data + r * cols;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 32 <= cols; c += 32) {
      acc0 = _mm256_fmadd_ps(Weights::load8(row + c), _mm256_loadu_ps(x + c), acc0);
      acc1 = _mm256_fmadd_ps(Weights::load8(row + c + 8), _mm256_loadu_ps(x + c + 8), acc1);
      acc2 = _mm256_fmadd_ps(Weights::load8(row + c + 16), _mm256_loadu_ps(x + c + 16), acc2);
      acc3 = _mm256_fmadd_ps(Weights::load8(row + c + 24), _mm256_loadu_ps(x + c + 24), acc3);
    }
    for (; c + 8 <= cols; c += 8)
      acc0 = _mm256_fmadd_ps(Weights::load8(row + c), _mm256_loadu_ps(x + c), acc0);
    float acc = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; c < cols; ++c) acc += Weights::load1(row + c) * x[c];
    y[r] = acc;
  }
}

}  // namespace

void rows_avx2(const MatRef& w, const float* x, float* y, int64_t begin, int64_t end) {
  switch (w.dtype) {
    case DType::kF32:
      return rows<F32Weights>(static_cast<const float*>(w.data), w.cols, x, y, begin, end);
    case DType::kBF16:
      return rows<BF16Weights>(static_cast<const uint16_t*>(w.data), w.cols, x, y, begin, end);
    case DType::kF16:
      return rows<F16Weights>(static_cast<const uint16_t*>(w.data), w.cols, x, y, begin, end);
    default:
      return;  // rejected by dense_matvec before dispatch
  }
}

}  // namespace streammoe::dense_kernels
#endif  // STREAMMOE_HAVE_AVX2
