#pragma once
// Reader for the safetensors format: 8-byte little-endian header length, a JSON header mapping
// tensor names to {dtype, shape, data_offsets}, then the data. The file is mmap'd read-only;
// tensors are views into the mapping. Every inconsistency (truncation, offsets outside the data,
// overlapping or mis-sized tensors, malformed JSON) is an Error naming the file and tensor.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/util/dtype.h"

namespace streammoe {

class MappedFile;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;  // view into the mapped file
  std::filesystem::path file;       // which file holds it
  uint64_t file_offset = 0;         // absolute byte offset of data in that file (for pread)

  int64_t numel() const;
  std::string shape_string() const;  // "[4, 32]"
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::filesystem::path path_;
  std::unique_ptr<MappedFile> file_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a Hugging Face model folder: model.safetensors, or the shards listed in
// model.safetensors.index.json.
class TensorStore {
 public:
  static TensorStore open(const std::filesystem::path& folder);

  bool has(const std::string& name) const;
  const TensorInfo* find(const std::string& name) const;
  // Throws "<folder>: missing tensor <name>" when absent.
  const TensorInfo& get(const std::string& name) const;
  // Throws naming the tensor, expected and actual shape when the shape differs.
  const TensorInfo& get(const std::string& name, std::span<const int64_t> expected_shape) const;
  // As get(name, shape), for a weight the kernels read as floats: Error naming the file and the
  // tensor when its dtype is not f32, f16 or bf16.
  const TensorInfo& get_float(const std::string& name, std::span<const int64_t> expected_shape) const;
  std::vector<std::string> names() const;
  const std::filesystem::path& folder() const { return folder_; }

 private:
  std::filesystem::path folder_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, const TensorInfo*> index_;
};

// Converts any float tensor (f32/f16/bf16) to a vector of f32.
std::vector<float> to_f32(const TensorInfo& t);

}  // namespace streammoe
