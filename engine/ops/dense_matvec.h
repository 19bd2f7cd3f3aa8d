#pragma once
// Dense y = W x over f32/bf16/f16 weights (the non-expert weights), with a choice of kernel and
// rows split over a thread pool. matvec() in matvec.h calls this with the best kernel and no pool;
// matvec_scalar there is the reference the fast kernels are tested against.
#include <span>

#include "engine/ops/isa.h"
#include "engine/ops/matvec.h"

namespace streammoe {

class ThreadPool;

// x.size() == w.cols, y.size() == w.rows; dtype F32, BF16 or F16 (Error otherwise).
void dense_matvec(const MatRef& w, std::span<const float> x, std::span<float> y, KernelIsa isa,
                  ThreadPool* pool = nullptr);
inline void dense_matvec(const MatRef& w, std::span<const float> x, std::span<float> y,
                         ThreadPool* pool = nullptr) {
  dense_matvec(w, x, y, best_kernel_isa(), pool);
}

// Rows [begin, end) of y = W x with the kernel of `isa`, unchecked: the unit dense_matvec splits
// over threads and linear_batch (linear.h) over tiles of rows.
void dense_matvec_rows(const MatRef& w, const float* x, float* y, KernelIsa isa, int64_t begin,
                       int64_t end);

}  // namespace streammoe
