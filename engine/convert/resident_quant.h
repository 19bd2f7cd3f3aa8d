#pragma once
// A model input's resident tensors in the packed folder's resident format
// (engine/models/resident_format.h): each linear weight and the embedding the format quantises
// becomes its codes, scales and (affine) biases, made with quantize_rows from the rows the writer
// asks for, so memory stays at one chunk; codes the input already holds in that format (an MLX
// checkpoint's, kept) pass through as they are. Codes tensors come first in the file, which keeps
// them 4-byte aligned for the kernels that read them in place.
#include <string>
#include <vector>

#include "engine/convert/safetensors_stream.h"
#include "engine/model/config.h"
#include "engine/models/resident_format.h"

namespace streammoe {

struct ResidentTensors {
  std::vector<StreamedTensor> tensors;
  size_t quantized = 0;   // weights stored quantised (here, or kept as the input stored them)
  size_t kept_float = 0;  // quantisable weights whose columns the group size does not divide
};

// A 16-bit format returns `source` unchanged. Error naming `where` and the tensor when a tensor
// of a quantised role has the wrong shape, or held codes do not match the format.
ResidentTensors to_resident_format(std::vector<StreamedTensor> source, const ModelConfig& config,
                                   const ResidentFormat& format, const std::string& where);

}  // namespace streammoe
