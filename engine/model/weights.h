#pragma once
// Typed, shape-checked access to a checkpoint's tensors under a prefix: matrices stay views into
// the mmap'd files in their stored dtype; small vectors (norms, gates) are converted to f32.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/safetensors.h"
#include "engine/ops/matvec.h"

namespace streammoe {

class WeightLoader {
 public:
  WeightLoader(const TensorStore& store, std::string prefix) : store_(store), prefix_(std::move(prefix)) {}

  // A [rows, cols] matrix named prefix+name; Error naming the tensor on a wrong shape.
  MatRef matrix(const std::string& name, int64_t rows, int64_t cols) const;
  // Same, for a tensor outside the prefix (lm_head.weight).
  MatRef matrix_abs(const std::string& name, int64_t rows, int64_t cols) const;
  // Slab `index` of a 3-D tensor [n, rows, cols], with a row range [row0, row0 + rows).
  MatRef slab(const std::string& name, int64_t n, int64_t index, int64_t slab_rows, int64_t cols,
              int64_t row0, int64_t rows) const;
  std::vector<float> vector(const std::string& name, int64_t n) const;
  // conv1d weight [channels, 1, kernel] -> f32 [channels * kernel]
  std::vector<float> conv_weight(const std::string& name, int64_t channels, int64_t kernel) const;
  bool has(const std::string& name) const { return store_.has(prefix_ + name); }
  const std::string& prefix() const { return prefix_; }
  const TensorStore& store() const { return store_; }

 private:
  const TensorStore& store_;
  std::string prefix_;
};

}  // namespace streammoe
