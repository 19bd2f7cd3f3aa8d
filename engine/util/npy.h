#pragma once
// NumPy .npy files (format 1.0), the exchange format for logits with the Python reference.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace streammoe {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> f32;    // filled for '<f4' and '<f2' arrays
  std::vector<int64_t> i64;  // filled for '<i4' and '<i8' arrays
  int64_t numel() const;
};

void write_npy_f32(const std::filesystem::path& path, std::span<const int64_t> shape,
                   std::span<const float> data);
void write_npy_i64(const std::filesystem::path& path, std::span<const int64_t> shape,
                   std::span<const int64_t> data);
// Reads little-endian C-order float32/float16/int32/int64 arrays; anything else is an Error.
NpyArray read_npy(const std::filesystem::path& path);

}  // namespace streammoe
