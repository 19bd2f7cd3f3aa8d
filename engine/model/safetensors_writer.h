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

// The name, dtype and shape of one tensor, without its data.
struct TensorLayout {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
};
uint64_t tensor_bytes(DType dtype, std::span<const int64_t> shape);

// Everything before the data of a file holding `tensors` back to back in this order: the 8-byte
// little-endian header length, then the JSON header padded with spaces to a multiple of 8 (so
// the data starts aligned, as the reference writer does). Error naming the file and tensor on a
// repeated or reserved name or a negative dimension. Shared by every writer.
std::string safetensors_prefix(const std::string& file_name, std::span<const TensorLayout> tensors,
                               const std::map<std::string, std::string>& metadata);

// Throws Error naming the file (and tensor) when a tensor's data size does not match its shape,
// a name repeats, or the file cannot be written.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The same file as raw bytes: 8-byte little-endian header length, JSON header, data.
std::vector<std::byte> safetensors_bytes(const std::string& file_name, std::span<const TensorToWrite> tensors,
                                         const std::map<std::string, std::string>& metadata = {});

}  // namespace streammoe
