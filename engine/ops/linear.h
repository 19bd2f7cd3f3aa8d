#pragma once
// A linear layer's weight in whichever form it is stored: dense (f32/bf16/f16 view) or
// group-quantised (quant.h: 2/4/8-bit). Blocks call linear() and need not know which.
#include <span>
#include <string_view>

#include "engine/ops/activation_quant.h"
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

// How a quantised weight meets x:
//   kF32:  its codes are dequantised to f32 and multiplied by x (quant_matvec.h), the reference
//   kInt8: x is quantised to int8 per group and dotted with the codes in integers
//          (int8_matvec.h), at a bounded cost in accuracy
// Dense weights take the f32 kernels on either path.
enum class MatvecPath { kF32, kInt8 };

std::string_view matvec_path_name(MatvecPath path);  // "f32", "int8"
bool parse_matvec_path(std::string_view name, MatvecPath* out);

// y = W x. `mode` selects the dequantisation formulation of the f32 path; on the int8 path x is
// quantised once per call.
void linear(const LinearRef& w, std::span<const float> x, std::span<float> y,
            DequantMode mode = DequantMode::kFma, ThreadPool* pool = nullptr,
            MatvecPath path = MatvecPath::kF32);

// y = W x on the int8 path with x quantised beforehand, so that one quantisation serves every
// weight that reads the same x (gate and up of each routed expert):
//   quantize_activation(x, group_size, &xq);  linear(gate, x, xq, g);  linear(up, x, xq, u);
// xq must be x quantised in blocks of W's group size (Error otherwise); a dense W uses x itself.
void linear(const LinearRef& w, std::span<const float> x, const QuantizedActivation& xq,
            std::span<float> y, ThreadPool* pool = nullptr);

// Row `row` of W as f32 (an embedding lookup): converted from its dtype, or dequantised
// (dequantize_row). Error when row is out of range or out.size() != cols.
void row_to_f32(const LinearRef& w, int64_t row, std::span<float> out);

}  // namespace streammoe
