#pragma once
// Writes a packed model folder (packed_format.h) from any ModelInput, with bounded memory:
// resident tensors are streamed chunk by chunk into model.safetensors, experts are produced one
// record at a time (one per worker thread) and written at their fixed offsets. The manifest is
// written last.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

#include "engine/convert/model_input.h"
#include "engine/io/packed_format.h"
#include "engine/models/resident_format.h"

namespace streammoe {

struct PackProgress {
  std::string_view stage;  // "resident", "experts"
  uint64_t done = 0;       // bytes written so far, all stages
  uint64_t total = 0;
};

struct PackOptions {
  int bits = 4;
  int group_size = 64;
  ResidentFormat resident;  // 16-bit: resident tensors copied in their dtype
  int threads = 0;  // 0: hardware concurrency
  std::function<void(const PackProgress&)> progress;
};

struct PackResult {
  PackedManifest manifest;
  uint64_t resident_bytes = 0;
  uint64_t expert_file_bytes = 0;
  size_t resident_tensors = 0;
  size_t resident_quantized = 0;   // weights stored quantised (resident_quant.h)
  size_t resident_kept_float = 0;  // quantisable ones the group size does not divide
  bool resident_codes_kept = false;  // the input's quantised resident weights copied as stored
  size_t skipped_tensors = 0;
  double seconds = 0.0;
};

// Error when `out` exists and is not empty, when the experts' dimensions do not suit bits /
// group_size, when the resident format is not one of resident_format.h's or would requantise the
// input's quantised resident weights at another width, or on any read/write failure (naming the
// file).
PackResult write_packed_model(const ModelInput& input, const std::filesystem::path& out,
                              const PackOptions& options);

}  // namespace streammoe
