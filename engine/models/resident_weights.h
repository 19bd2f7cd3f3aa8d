#pragma once
// Resident weights as the blocks take them: a linear weight (or the embedding) is a dense view of
// its float tensor, or a QuantMatRef over its codes, scales and biases when the folder stores it
// quantised (resident_format.h). Every tensor is checked against the format the manifest records,
// so a folder whose manifest and resident file disagree is one error naming the file and tensor.
#include <cstdint>

#include "engine/model/safetensors.h"
#include "engine/models/resident_format.h"
#include "engine/models/tensor_table.h"
#include "engine/ops/linear.h"

namespace streammoe {

class ResidentWeights {
 public:
  // `store` and `tensors` must outlive this object and every LinearRef it returns.
  ResidentWeights(const TensorStore& store, const ModelTensors& tensors,
                  const ResidentFormat& format)
      : store_(store), tensors_(tensors), format_(format) {}

  // The [rows, cols] weight of `role` in `layer` (model-scope roles: any layer), dense or
  // quantised as the format says.
  LinearRef linear(TensorRole role, int64_t layer = 0) const;
  // A float matrix that is never quantised (the routers): Error if the file holds codes.
  MatRef dense(TensorRole role, int64_t layer = 0) const;
  const ResidentFormat& format() const { return format_; }

 private:
  const TensorInfo& float_tensor(const std::string& name, const TensorShape& shape) const;

  const TensorStore& store_;
  const ModelTensors& tensors_;
  ResidentFormat format_;
};

}  // namespace streammoe
