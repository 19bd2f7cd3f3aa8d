#include "engine/ops/dense_matvec.h"

#include "engine/ops/dense_kernels.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

int64_t element_bytes(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

// Rows [begin, end) of w as a matrix of their own, for the whole-matrix scalar reference.
MatRef row_slice(const MatRef& w, int64_t begin, int64_t end) {
  MatRef slice = w;
  slice.data = static_cast<const char*>(w.data) + begin * w.cols * element_bytes(w.dtype);
  slice.rows = end - begin;
  return slice;
}

}  // namespace

void dense_matvec_rows(const MatRef& w, const float* x, float* y, KernelIsa isa, int64_t begin, int64_t end) {
#if defined(STREAMMOE_HAVE_AVX2)
  if (isa == KernelIsa::kAvx2) return dense_kernels::rows_avx2(w, x, y, begin, end);
#endif
  matvec_scalar(row_slice(w, begin, end), {x, static_cast<size_t>(w.cols)},
                {y + begin, static_cast<size_t>(end - begin)});
}

void dense_matvec(const MatRef& w, std::span<const float> x, std::span<float> y, KernelIsa isa,
                  ThreadPool* pool) {
  if (w.dtype != DType::kF32 && w.dtype != DType::kBF16 && w.dtype != DType::kF16)
    fail("dense_matvec: unsupported weight dtype {}", enum_name(w.dtype));
  if (w.rows < 0 || w.cols < 0 || (w.rows * w.cols > 0 && !w.data))
    fail("dense_matvec: bad matrix [{}, {}] (data {})", w.rows, w.cols, w.data);
  if (static_cast<int64_t>(x.size()) != w.cols || static_cast<int64_t>(y.size()) != w.rows)
    fail("dense_matvec: shape mismatch: W [{}, {}], x {}, y {}", w.rows, w.cols, x.size(),
         y.size());
  require_kernel_isa(isa, kF32KernelIsas, "dense_matvec");

  auto kernel = [&](int64_t begin, int64_t end) { dense_matvec_rows(w, x.data(), y.data(), isa, begin, end); };
  if (pool && pool->size() > 1) {
    pool->parallel_for(w.rows, kernel);
  } else {
    kernel(0, w.rows);
  }
}

}  // namespace streammoe
