#include "engine/ops/matvec.h"

#include <cstring>

#include "engine/ops/dense_matvec.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

// Element i of a weight array, read through memcpy: a safetensors header may have any length, so
// the data after it (mmap'd in place) need not be aligned to its element size.
template <typename T>
T load(const void* data, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(data) + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

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
      const void* p = w.data;
      return matvec_rows(w, x, y, [p](int64_t i) { return load<float>(p, i); });
    }
    case DType::kBF16: {
      const void* p = w.data;
      return matvec_rows(w, x, y, [p](int64_t i) { return bf16_to_f32(load<uint16_t>(p, i)); });
    }
    case DType::kF16: {
      const void* p = w.data;
      return matvec_rows(w, x, y, [p](int64_t i) { return f16_to_f32(load<uint16_t>(p, i)); });
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
      case DType::kF32: out[c] = load<float>(w.data, base + c); break;
      case DType::kBF16: out[c] = bf16_to_f32(load<uint16_t>(w.data, base + c)); break;
      case DType::kF16: out[c] = f16_to_f32(load<uint16_t>(w.data, base + c)); break;
      default: fail("row_to_f32: unsupported dtype {}", enum_name(w.dtype));
    }
  }
}

}  // namespace streammoe
