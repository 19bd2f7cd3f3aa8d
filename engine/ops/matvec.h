#pragma once
// Dense matrix-vector products over checkpoint weights in their stored dtype, f32 accumulation.
// Knows no model: a weight is a row-major [rows, cols] view.
#include <cstdint>
#include <span>

#include "engine/util/dtype.h"

namespace streammoe {

struct MatRef {
  DType dtype = DType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
};

// y[r] = sum_c W[r, c] * x[c]. x.size() == cols, y.size() == rows.
void matvec(const MatRef& w, std::span<const float> x, std::span<float> y);
// Reference implementation (scalar, double-checked against by the tests of faster variants).
void matvec_scalar(const MatRef& w, std::span<const float> x, std::span<float> y);
// One row of W converted to f32 (embedding lookup).
void row_to_f32(const MatRef& w, int64_t row, std::span<float> out);

}  // namespace streammoe
