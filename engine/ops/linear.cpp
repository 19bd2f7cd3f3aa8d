#include "engine/ops/linear.h"

#include "engine/ops/dense_matvec.h"

namespace streammoe {
namespace {

// Below this many weight bytes a product is done on the calling thread: waking the pool costs
// more than it saves (measured: 2 threads made the 192-wide tiny model 6x slower).
constexpr int64_t kMinParallelBytes = 256 * 1024;

int64_t weight_bytes(const LinearRef& w) {
  if (w.quantized()) return quant_bytes(w.quant.rows, w.quant.cols, w.quant.bits, w.quant.group_size).total();
  return w.dense.rows * w.dense.cols * static_cast<int64_t>(dtype_size(w.dense.dtype));
}

}  // namespace

void linear(const LinearRef& w, std::span<const float> x, std::span<float> y, DequantMode mode, ThreadPool* pool) {
  if (weight_bytes(w) < kMinParallelBytes) pool = nullptr;
  if (w.quantized()) quant_matvec(w.quant, x, y, mode, pool);
  else dense_matvec(w.dense, x, y, pool);
}

}  // namespace streammoe
