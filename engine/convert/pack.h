#pragma once
// `streammoe pack`: a Hugging Face or MLX checkpoint in, a packed model folder out.
#include <filesystem>
#include <optional>

#include "engine/convert/packed_writer.h"

namespace streammoe {

struct PackRequest {
  std::filesystem::path
      input;  // HF folder, or MLX folder (detected by "quantization" in config.json)
  std::filesystem::path output;
  int bits = 4;
  std::optional<int> group_size;  // default: 64, or the MLX checkpoint's own
  // Resident (non-expert) weights: 16 keeps their dtype, 8 and 4 quantise them
  // (engine/models/resident_format.h); an MLX checkpoint's 4-bit resident codes are kept at 4 (its
  // group size) and dequantised at 8 or 16.
  int resident_bits = 16;
  int threads = 0;
  std::function<void(const PackProgress&)> progress;
};

PackResult pack_model(const PackRequest& request);

}  // namespace streammoe
