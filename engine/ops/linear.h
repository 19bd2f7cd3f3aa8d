#pragma once
// A linear layer's weight in whichever form it is stored: dense (f32/bf16/f16 view) or
// group-quantised (quant.h: 2/4/8-bit). Blocks call linear() and need not know which.
#include <span>
#include <string_view>
#include <vector>

#include "engine/ops/activation_quant.h"
#include "engine/ops/matvec.h"
#include "engine/ops/quant_matvec.h"
#include "engine/util/name_table.h"

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

// How a quantised weight meets x (the switch --matvec):
//   kF32:  its codes are dequantised to f32 and multiplied by x (quant_matvec.h), the reference
//   kInt8: x is quantised to int8 per group and dotted with the codes in integers
//          (int8_matvec.h), at a bounded cost in accuracy
// Dense weights take the f32 kernels on either path.
enum class MatvecPath { kF32, kInt8 };

inline constexpr NameTable<MatvecPath, 2> kMatvecPathNames{{{
    {MatvecPath::kF32, "f32", "quantised weights dequantised to f32 and multiplied by x (the reference)"},
    {MatvecPath::kInt8, "int8",
     "x quantised to int8 per weight group, integer dot products with the codes (runtime-chosen ISA; "
     "x off by at most 1/254 of its block's max)"},
}}};
constexpr const auto& name_table(MatvecPath) { return kMatvecPathNames; }

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

// An activation x read by several weights: gate and up of every expert routed to a token (and the
// shared expert), q, k and v, the four input projections of a Gated DeltaNet. On the int8 path it
// is quantised on first use and the codes are reused by every later weight of the same group
// size (a weight of another group size quantises it again). It views x: bind() again whenever x
// changes. Keep one per block (its buffers are reused, no allocation once warm).
class SharedActivation {
 public:
  SharedActivation() = default;
  explicit SharedActivation(std::span<const float> x) : x_(x) {}
  void bind(std::span<const float> x) {
    x_ = x;
    quantized_block_ = 0;
  }
  std::span<const float> values() const { return x_; }
  // x quantised in blocks of `block_size`: computed on the first call for that size.
  const QuantizedActivation& quantized(int block_size);

 private:
  std::span<const float> x_;
  QuantizedActivation quantized_;
  int quantized_block_ = 0;  // the block size quantized_ holds; 0: none
};

// y = W x for a shared x: on the f32 path (and for dense W) exactly linear(w, x.values(), ...);
// on the int8 path W meets x.quantized(W's group size).
void linear(const LinearRef& w, SharedActivation& x, std::span<float> y, DequantMode mode,
            ThreadPool* pool, MatvecPath path);

// Binds acts[t] to row t of x = [T, width] (acts grown to at least T) and returns those T: a
// chunk of tokens as linear_batch takes it.
std::span<SharedActivation> bind_rows(std::vector<SharedActivation>& acts, std::span<const float> x,
                                      int64_t width);
// Row t of v = [T, width].
inline std::span<float> row_of(std::vector<float>& v, int64_t t, int64_t width) {
  return std::span<float>(v).subspan(t * width, width);
}

// ys[i] = W xs[i] for a batch of activations (the tokens of a prefill chunk, the tokens routed to
// one expert): W's rows go tile by tile, each tile meeting every x while it is in cache, so W is
// read from memory once for the batch instead of once per x. Each y is bit-identical to
// linear(w, *xs[i], ys[i], mode, pool, path): the same row kernel computes every (row, x).
// Error when a size disagrees with W.
void linear_batch(const LinearRef& w, std::span<SharedActivation* const> xs,
                  std::span<const std::span<float>> ys, DequantMode mode, ThreadPool* pool,
                  MatvecPath path);
// The same for a contiguous batch: xs[i] into y = [xs.size(), W.rows] row by row.
void linear_batch(const LinearRef& w, std::span<SharedActivation> xs, std::span<float> y, DequantMode mode,
                  ThreadPool* pool, MatvecPath path);

}  // namespace streammoe
