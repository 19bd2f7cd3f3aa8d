#include "engine/ops/quant_matvec.h"

#include "engine/ops/quant_kernels.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

template <typename RowKernel>
void over_rows(int64_t rows, ThreadPool* pool, const RowKernel& kernel) {
  if (pool && pool->size() > 1) {
    pool->parallel_for(rows, kernel);
  } else {
    kernel(int64_t{0}, rows);
  }
}

}  // namespace

void prepare_x(const QuantMatRef& w, std::span<const float> x, DequantMode mode, KernelIsa isa, PreparedX* out) {
  out->x = x.data();
  out->permuted = x.data();
  out->sums = nullptr;
#if defined(STREAMMOE_HAVE_AVX2)
  // x in the order the AVX2 kernels unpack codes (8-bit codes unpack in element order).
  if (isa == KernelIsa::kAvx2 && w.bits != 8) {
    out->permuted_buf.resize(x.size());
    quant_kernels::permute_x_avx2(w.bits, x.data(), static_cast<int64_t>(x.size()), out->permuted_buf.data());
    out->permuted = out->permuted_buf.data();
  }
#endif
  if (mode == DequantMode::kFma) {
    out->sums_buf.resize(x.size() / w.group_size);
    for (size_t g = 0; g < out->sums_buf.size(); ++g) {
      float sum = 0.0f;
      for (int i = 0; i < w.group_size; ++i) sum += x[g * w.group_size + i];
      out->sums_buf[g] = sum;
    }
    out->sums = out->sums_buf.data();
  }
}

void quant_matvec_rows(const QuantMatRef& w, const PreparedX& x, float* y, DequantMode mode, KernelIsa isa,
                       int64_t begin, int64_t end) {
#if defined(STREAMMOE_HAVE_AVX2)
  if (isa == KernelIsa::kAvx2) {
    if (mode == DequantMode::kNaive) return quant_kernels::naive_avx2(w, x.permuted, y, begin, end);
    return quant_kernels::fma_avx2(w, x.permuted, x.sums, y, begin, end);
  }
#endif
  if (mode == DequantMode::kNaive) return quant_kernels::naive_scalar(w, x.x, y, begin, end);
  quant_kernels::fma_scalar(w, x.x, x.sums, y, begin, end);
}

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
  // Reused across calls on the calling thread: no allocation once its buffers have reached the
  // largest width seen. Named here so that the pool's threads see the calling thread's buffers.
  thread_local PreparedX prepared_buffer;
  PreparedX& prepared = prepared_buffer;
  prepare_x(w, x, mode, isa, &prepared);
  over_rows(w.rows, pool, [&](int64_t begin, int64_t end) {
    quant_matvec_rows(w, prepared, y.data(), mode, isa, begin, end);
  });
}

}  // namespace streammoe
