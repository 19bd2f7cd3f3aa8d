#include "engine/model/weights.h"

#include "engine/util/error.h"

namespace streammoe {
namespace {

MatRef as_matrix(const TensorInfo& t, int64_t rows, int64_t cols) {
  return MatRef{t.dtype, t.data.data(), rows, cols};
}

}  // namespace

MatRef WeightLoader::matrix(const std::string& name, int64_t rows, int64_t cols) const {
  return matrix_abs(prefix_ + name, rows, cols);
}

MatRef WeightLoader::matrix_abs(const std::string& name, int64_t rows, int64_t cols) const {
  const int64_t shape[] = {rows, cols};
  return as_matrix(store_.get_float(name, shape), rows, cols);
}

MatRef WeightLoader::slab(const std::string& name, int64_t n, int64_t index, int64_t slab_rows,
                          int64_t cols, int64_t row0, int64_t rows) const {
  const int64_t shape[] = {n, slab_rows, cols};
  const TensorInfo& t = store_.get_float(prefix_ + name, shape);
  const size_t offset = (static_cast<size_t>(index) * slab_rows + row0) * cols * dtype_size(t.dtype);
  return MatRef{t.dtype, t.data.data() + offset, rows, cols};
}

std::vector<float> WeightLoader::vector(const std::string& name, int64_t n) const {
  const int64_t shape[] = {n};
  return to_f32(store_.get(prefix_ + name, shape));
}

std::vector<float> WeightLoader::conv_weight(const std::string& name, int64_t channels,
                                             int64_t kernel) const {
  const int64_t shape[] = {channels, 1, kernel};
  return to_f32(store_.get(prefix_ + name, shape));
}

}  // namespace streammoe
