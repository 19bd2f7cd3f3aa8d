// AVX2+FMA dense matvec: each row is converted 8 values at a time to f32 in registers (bf16 by a
// 16-bit shift, f16 by F16C) and multiplied into four accumulators, so nothing is widened in
// memory and the loop is bound by reading the weights. Weights are addressed as bytes and read with
// unaligned loads: a safetensors header may have any length, so mmap'd data after it need not be
// aligned to its element size.
#if defined(STREAMMOE_HAVE_AVX2)
#include <immintrin.h>

#include <cstring>

#include "engine/ops/avx2_util.h"
#include "engine/ops/dense_kernels.h"
#include "engine/ops/prefetch.h"
#include "engine/util/dtype.h"

namespace streammoe::dense_kernels {
namespace {

uint16_t load_u16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Each type reads 8 values, or 1, starting at byte p.
struct F32Weights {
  static constexpr int64_t kBytes = 4;
  static __m256 load8(const char* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static float load1(const char* p) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
};
struct BF16Weights {
  static constexpr int64_t kBytes = 2;
  static __m256 load8(const char* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static float load1(const char* p) { return bf16_to_f32(load_u16(p)); }
};
struct F16Weights {
  static constexpr int64_t kBytes = 2;
  static __m256 load8(const char* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static float load1(const char* p) { return _cvtsh_ss(load_u16(p)); }
};

template <typename Weights>
void rows(const void* weights, int64_t cols, const float* x, float* y, int64_t begin, int64_t end) {
  constexpr int64_t kB = Weights::kBytes;
  const char* data = static_cast<const char*>(weights);
  for (int64_t r = begin; r < end; ++r) {
    const char* row = data + r * cols * kB;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 32 <= cols; c += 32) {
      prefetch_ahead<32 * kB>(row + c * kB);
      acc0 = _mm256_fmadd_ps(Weights::load8(row + c * kB), _mm256_loadu_ps(x + c), acc0);
      acc1 = _mm256_fmadd_ps(Weights::load8(row + (c + 8) * kB), _mm256_loadu_ps(x + c + 8), acc1);
      acc2 = _mm256_fmadd_ps(Weights::load8(row + (c + 16) * kB), _mm256_loadu_ps(x + c + 16), acc2);
      acc3 = _mm256_fmadd_ps(Weights::load8(row + (c + 24) * kB), _mm256_loadu_ps(x + c + 24), acc3);
    }
    for (; c + 8 <= cols; c += 8)
      acc0 = _mm256_fmadd_ps(Weights::load8(row + c * kB), _mm256_loadu_ps(x + c), acc0);
    float acc = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; c < cols; ++c) acc += Weights::load1(row + c * kB) * x[c];
    y[r] = acc;
  }
}

}  // namespace

void rows_avx2(const MatRef& w, const float* x, float* y, int64_t begin, int64_t end) {
  switch (w.dtype) {
    case DType::kF32: return rows<F32Weights>(w.data, w.cols, x, y, begin, end);
    case DType::kBF16: return rows<BF16Weights>(w.data, w.cols, x, y, begin, end);
    case DType::kF16: return rows<F16Weights>(w.data, w.cols, x, y, begin, end);
    default:
      return;  // rejected by dense_matvec before dispatch
  }
}

}  // namespace streammoe::dense_kernels
#endif  // STREAMMOE_HAVE_AVX2
