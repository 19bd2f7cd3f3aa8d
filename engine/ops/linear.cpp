#include "engine/ops/linear.h"

#include "engine/ops/dense_matvec.h"
#include "engine/ops/int8_matvec.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

// Below this many weight bytes a product is done on the calling thread: waking the pool costs
// more than it saves (measured: 2 threads made the 192-wide tiny model 6x slower).
constexpr int64_t kMinParallelBytes = 256 * 1024;

int64_t weight_bytes(const LinearRef& w) {
  if (w.quantized()) return quant_bytes(w.quant.rows, w.quant.cols, w.quant.format()).total();
  return w.dense.rows * w.dense.cols * static_cast<int64_t>(dtype_size(w.dense.dtype));
}

}  // namespace

void linear(const LinearRef& w, std::span<const float> x, std::span<float> y, DequantMode mode,
            ThreadPool* pool, MatvecPath path) {
  if (weight_bytes(w) < kMinParallelBytes) pool = nullptr;
  if (!w.quantized()) return dense_matvec(w.dense, x, y, pool);
  if (path == MatvecPath::kInt8) return quant_matvec_int8(w.quant, x, y, pool);
  quant_matvec(w.quant, x, y, mode, pool);
}

void linear(const LinearRef& w, std::span<const float> x, const QuantizedActivation& xq,
            std::span<float> y, ThreadPool* pool) {
  if (static_cast<int64_t>(x.size()) != xq.cols)
    fail("linear: x has {} values but its quantisation {}", x.size(), xq.cols);
  if (weight_bytes(w) < kMinParallelBytes) pool = nullptr;
  if (!w.quantized()) return dense_matvec(w.dense, x, y, pool);
  quant_matvec_int8(w.quant, xq, y, pool);
}

const QuantizedActivation& SharedActivation::quantized(int block_size) {
  if (quantized_block_ != block_size) {
    quantized_block_ = 0;  // stays 0 if quantising throws
    quantize_activation(x_, block_size, &quantized_);
    quantized_block_ = block_size;
  }
  return quantized_;
}

void linear(const LinearRef& w, SharedActivation& x, std::span<float> y, DequantMode mode,
            ThreadPool* pool, MatvecPath path) {
  if (path == MatvecPath::kF32 || !w.quantized()) return linear(w, x.values(), y, mode, pool, path);
  check_int8_matvec_weight(w.quant, "linear");
  if (static_cast<int64_t>(x.values().size()) != w.quant.cols)
    fail("linear: W [{}, {}] met x of {} values", w.quant.rows, w.quant.cols, x.values().size());
  linear(w, x.values(), x.quantized(w.quant.group_size), y, pool);
}

}  // namespace streammoe
