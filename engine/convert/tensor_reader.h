#pragma once
// Reads checkpoint tensors with pread rather than through the TensorStore's mmap, so that packing
// a model larger than RAM does not grow the process's resident set: pages come and go through the
// page cache only. Thread-safe: every shard is opened up front.
#include <map>
#include <memory>
#include <span>
#include <string>

#include "engine/io/expert_file.h"
#include "engine/model/safetensors.h"

namespace streammoe {

class TensorReader {
 public:
  explicit TensorReader(const TensorStore& store);
  // Bytes [offset, offset + out.size()) of t's data.
  void read(const TensorInfo& t, uint64_t offset, std::span<std::byte> out) const;

 private:
  std::map<std::filesystem::path, std::unique_ptr<ExpertFile>> files_;
};

// Float tensor bytes (F32, F16, BF16) to f32; Error naming `what` for other dtypes.
void convert_to_f32(DType dtype, std::span<const std::byte> in, std::span<float> out,
                    const std::string& what);
// f32 to F32/F16/BF16 bytes (round to nearest even).
void convert_from_f32(std::span<const float> in, DType dtype, std::span<std::byte> out);

}  // namespace streammoe
