#pragma once
// Internal to engine/ops: dense matvec kernels over a range of rows; shapes and dtype are checked
// by dense_matvec. Writes y[begin, end).
#include <cstdint>

#include "engine/ops/matvec.h"

namespace streammoe::dense_kernels {

#if defined(STREAMMOE_HAVE_AVX2)
void rows_avx2(const MatRef& w, const float* x, float* y, int64_t begin, int64_t end);
#endif

}  // namespace streammoe::dense_kernels
