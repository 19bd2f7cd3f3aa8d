#pragma once
// Internal to engine/ops: the per-row-range quantised matvec kernels that quant_matvec.cpp
// dispatches to. Shapes are checked by the caller; each writes y[begin, end).
#include <cstdint>

#include "engine/ops/quant.h"

namespace streammoe::quant_kernels {

// x: [cols]. group_sums: [cols / group_size], sum of x over each group (kFma only).
void naive_scalar(const QuantMatRef& w, const float* x, float* y, int64_t begin, int64_t end);
void fma_scalar(const QuantMatRef& w, const float* x, const float* group_sums, float* y,
                int64_t begin, int64_t end);
#if defined(STREAMMOE_HAVE_AVX2)
void naive_avx2(const QuantMatRef& w, const float* x, float* y, int64_t begin, int64_t end);
void fma_avx2(const QuantMatRef& w, const float* x, const float* group_sums, float* y,
              int64_t begin, int64_t end);
#endif

}  // namespace streammoe::quant_kernels
