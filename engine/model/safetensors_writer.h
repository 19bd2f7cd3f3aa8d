#pragma once
// Writes safetensors files (the format SafetensorsFile reads): for test fixtures and for tools
// that repack checkpoints. Tensors are laid out in the order given, back to back.
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "engine/util/dtype.h"

namespace streammoe {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;  // numel * dtype_size bytes, little-endian
};

// Throws Error naming the file (and tensor) when a tensor's data size does not match its shape,
// a name repeats, or the file cannot be written.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The same file as raw bytes: 8-byte little-endian header length, JSON header, data.
std::vector<std::byte> safetensors_bytes(const std::string& file_name, std::span<const TensorToWrite> tensors,
                                         const std::map<std::string, std::string>& metadata = {});

}  // namespace streammoe
