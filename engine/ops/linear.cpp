#include "engine/ops/linear.h"

namespace streammoe {

void linear(const LinearRef& w, std::span<const float> x, std::span<float> y, DequantMode mode, ThreadPool* pool) {
  if (w.quantized()) quant_matvec(w.quant, x, y, mode, pool);
  else matvec(w.dense, x, y);
}

}  // namespace streammoe
