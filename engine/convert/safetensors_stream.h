#pragma once
// Writes a safetensors file (the format engine/model/safetensors.h reads) without holding the
// tensors in memory: the header is computed from names, dtypes and shapes, then each tensor's
// bytes are produced chunk by chunk by its fill callback and written. Memory stays at one chunk
// (16 MiB, or one row if larger) whatever the model size, which is what lets `pack` and `synth`
// handle checkpoints larger than RAM.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "engine/util/dtype.h"

namespace streammoe {

class ThreadPool;

struct StreamedTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  // Writes bytes [offset, offset + out.size()) of the tensor's data. Chunks start and end on row
  // boundaries (a row: the product of all dimensions but the first). May run on several threads
  // at once for disjoint chunks.
  std::function<void(uint64_t offset, std::span<std::byte> out)> fill;

  uint64_t bytes() const;
  uint64_t row_bytes() const;
};

// `on_progress(bytes)` is called with the bytes written since the last call. `pool` (optional)
// fills the rows of a chunk in parallel. Errors name the file and tensor.
void write_safetensors_streamed(const std::filesystem::path& path,
                                std::span<const StreamedTensor> tensors,
                                const std::map<std::string, std::string>& metadata,
                                const std::function<void(uint64_t)>& on_progress = {},
                                ThreadPool* pool = nullptr);

}  // namespace streammoe
