#pragma once
// A linear layer's weight in whichever form it is stored: dense (f32/bf16/f16 view) or
// affine-quantised (4/2-bit MLX layout). Blocks call linear() and need not know which.
#include <span>

#include "engine/ops/matvec.h"
#include "engine/ops/quant_matvec.h"

namespace streammoe {

struct LinearRef {
  MatRef dense;       // used when quant.q == nullptr
  QuantMatRef quant;  // used when quant.q != nullptr

  LinearRef() = default;
  LinearRef(const MatRef& m) : dense(m) {}  // NOLINT: a dense matrix is a linear weight
  LinearRef(const QuantMatRef& q) : quant(q) {}  // NOLINT
  bool quantized() const { return quant.q != nullptr; }
  int64_t rows() const { return quantized() ? quant.rows : dense.rows; }
  int64_t cols() const { return quantized() ? quant.cols : dense.cols; }
};

// y = W x. `mode` selects the dequantisation formulation for quantised weights.
void linear(const LinearRef& w, std::span<const float> x, std::span<float> y,
            DequantMode mode = DequantMode::kFma, ThreadPool* pool = nullptr);

}  // namespace streammoe
