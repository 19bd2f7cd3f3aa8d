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
// The AVX2 kernels read x in the order their unpacking produces codes (see
// quant_kernels_avx2.cpp): permuted_x = permute_x_avx2(x), [cols], once per vector; for 8 bits
// that order is x's own.
void permute_x_avx2(int bits, const float* x, int64_t cols, float* permuted_x);
void naive_avx2(const QuantMatRef& w, const float* permuted_x, float* y, int64_t begin,
                int64_t end);
void fma_avx2(const QuantMatRef& w, const float* permuted_x, const float* group_sums, float* y,
              int64_t begin, int64_t end);
#endif

}  // namespace streammoe::quant_kernels
