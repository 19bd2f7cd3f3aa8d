#include "engine/ops/matvec.h"

#include "engine/ops/dense_matvec.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

template <typename Load>
void matvec_rows(const MatRef& w, std::span<const float> x, std::span<float> y, Load load) {
  for (int64_t r = 0; r < w.rows; ++r) {
    float acc = 0.0f;
    for (int64_t c = 0; c < w.cols; ++c) acc += load(r * w.cols + c) * x[c];
    y[r] = acc;
  }
}

}  // namespace

void matvec_scalar(const MatRef& w, std::span<const float> x, std::span<float> y) {
  if (static_cast<int64_t>(x.size()) != w.cols || static_cast<int64_t>(y.size()) != w.rows)
    fail("matvec: shape mismatch: W [{}, {}], x {}, y {}", w.rows, w.cols, x.size(), y.size());
  switch (w.dtype) {
    case DType::kF32: {
      auto* p = static_cast<const float*>(w.data);
      return matvec_rows(w, x, y, [p](int64_t i) { return p[i]; });
    }
    case DType::kBF16: {
      auto* p = static_cast<const uint16_t*>(w.data);
      return matvec_rows(w, x, y, [p](int64_t i) { return bf16_to_f32(p[i]); });
    }
    case DType::kF16: {
      auto* p = static_cast<const uint16_t*>(w.data);
      return matvec_rows(w, x, y, [p](int64_t i) { return f16_to_f32(p[i]); });
    }
    default:
      fail("matvec: unsupported weight dtype {}", enum_name(w.dtype));
  }
}

// The fastest kernel in this build, single-threaded; dense_matvec takes a pool.
void matvec(const MatRef& w, std::span<const float> x, std::span<float> y) {
  dense_matvec(w, x, y, best_kernel_isa());
}

void row_to_f32(const MatRef& w, int64_t row, std::span<float> out) {
  if (row < 0 || row >= w.rows) fail("row {} out of range [0, {})", row, w.rows);
  const int64_t base = row * w.cols;
  for (int64_t c = 0; c < w.cols; ++c) {
    switch (w.dtype) {
      case DType::kF32: out[c] = static_cast<const float*>(w.data)[base + c]; break;
      case DType::kBF16: out[c] = bf16_to_f32(static_cast<const uint16_t*>(w.data)[base + c]); break;
      case DType::kF16: out[c] = f16_to_f32(static_cast<const uint16_t*>(w.data)[base + c]); break;
      default: fail("row_to_f32: unsupported dtype {}", enum_name(w.dtype));
    }
  }
}

}  // namespace streammoe
