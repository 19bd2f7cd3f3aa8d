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
  int threads = 0;
  std::function<void(const PackProgress&)> progress;
};

PackResult pack_model(const PackRequest& request);

}  // namespace streammoe
