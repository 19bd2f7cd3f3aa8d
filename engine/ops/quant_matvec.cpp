#include "engine/ops/quant_matvec.h"

#include <vector>

#include "engine/ops/quant_kernels.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

// Group sums of x for kFma. Reused across calls on the calling thread so that a matvec does not
// allocate once the buffer has reached the largest width seen.
std::span<const float> group_sums_of(std::span<const float> x, int group_size) {
  thread_local std::vector<float> sums;
  sums.resize(x.size() / group_size);
  for (size_t g = 0; g < sums.size(); ++g) {
    float sum = 0.0f;
    for (int i = 0; i < group_size; ++i) sum += x[g * group_size + i];
    sums[g] = sum;
  }
  return sums;
}

#if defined(STREAMMOE_HAVE_AVX2)
// x in the order the AVX2 kernels unpack codes; reused like the group sums.
const float* permuted_for_avx2(int bits, std::span<const float> x) {
  if (bits == 8) return x.data();  // 8-bit codes unpack in element order
  thread_local std::vector<float> permuted;
  permuted.resize(x.size());
  quant_kernels::permute_x_avx2(bits, x.data(), static_cast<int64_t>(x.size()), permuted.data());
  return permuted.data();
}
#endif

template <typename RowKernel>
void over_rows(int64_t rows, ThreadPool* pool, const RowKernel& kernel) {
  if (pool && pool->size() > 1) {
    pool->parallel_for(rows, kernel);
  } else {
    kernel(int64_t{0}, rows);
  }
}

}  // namespace

void quant_matvec(const QuantMatRef& w, std::span<const float> x, std::span<float> y,
                  DequantMode mode, ThreadPool* pool) {
  quant_matvec(w, x, y, mode, best_kernel_isa(), pool);
}

void quant_matvec(const QuantMatRef& w, std::span<const float> x, std::span<float> y,
                  DequantMode mode, KernelIsa isa, ThreadPool* pool) {
  check_quant_mat(w, "quant_matvec");
  if (static_cast<int64_t>(x.size()) != w.cols || static_cast<int64_t>(y.size()) != w.rows)
    fail("quant_matvec: shape mismatch: W [{}, {}], x {}, y {}", w.rows, w.cols, x.size(),
         y.size());
  require_kernel_isa(isa, kF32KernelIsas, "quant_matvec");

  const float* xp = x.data();
  float* yp = y.data();
  if (mode == DequantMode::kNaive) {
#if defined(STREAMMOE_HAVE_AVX2)
    if (isa == KernelIsa::kAvx2) {
      const float* permuted = permuted_for_avx2(w.bits, x);
      return over_rows(w.rows, pool, [&](int64_t begin, int64_t end) {
        quant_kernels::naive_avx2(w, permuted, yp, begin, end);
      });
    }
#endif
    return over_rows(w.rows, pool, [&](int64_t begin, int64_t end) {
      quant_kernels::naive_scalar(w, xp, yp, begin, end);
    });
  }

  const float* sums = group_sums_of(x, w.group_size).data();
#if defined(STREAMMOE_HAVE_AVX2)
  if (isa == KernelIsa::kAvx2) {
    const float* permuted = permuted_for_avx2(w.bits, x);
    return over_rows(w.rows, pool, [&](int64_t begin, int64_t end) {
      quant_kernels::fma_avx2(w, permuted, sums, yp, begin, end);
    });
  }
#endif
  over_rows(w.rows, pool, [&](int64_t begin, int64_t end) {
    quant_kernels::fma_scalar(w, xp, sums, yp, begin, end);
  });
}

}  // namespace streammoe
