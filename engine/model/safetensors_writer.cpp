#include "engine/model/safetensors_writer.h"

#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/util/error.h"
#include "engine/util/output_file.h"

namespace streammoe {

uint64_t tensor_bytes(DType dtype, std::span<const int64_t> shape) {
  uint64_t bytes = dtype_size(dtype);
  for (int64_t dim : shape) bytes *= static_cast<uint64_t>(dim);
  return bytes;
}

std::string safetensors_prefix(const std::string& file_name, std::span<const TensorLayout> tensors,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorLayout& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second)
      fail("{}: tensor name {} repeats or is reserved", file_name, t.name);
    for (int64_t dim : t.shape)
      if (dim < 0) fail("{}: tensor {}: negative dimension", file_name, t.name);
    const uint64_t bytes = tensor_bytes(t.dtype, t.shape);
    header[t.name] = {{"dtype", enum_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((header_text.size() >> (8 * i)) & 0xff);
  return prefix + header_text;
}

std::vector<std::byte> safetensors_bytes(const std::string& file_name, std::span<const TensorToWrite> tensors,
                                         const std::map<std::string, std::string>& metadata) {
  std::vector<TensorLayout> layouts;
  uint64_t data_bytes = 0;
  for (const TensorToWrite& t : tensors) {
    layouts.push_back({t.name, t.dtype, t.shape});
    data_bytes += t.data.size();
  }
  const std::string prefix = safetensors_prefix(file_name, layouts, metadata);
  for (const TensorToWrite& t : tensors)
    if (tensor_bytes(t.dtype, t.shape) != t.data.size())
      fail("{}: tensor {}: shape needs {} bytes, data has {}", file_name, t.name, tensor_bytes(t.dtype, t.shape),
           t.data.size());
  std::vector<std::byte> out(prefix.size() + data_bytes);
  std::memcpy(out.data(), prefix.data(), prefix.size());
  std::byte* data = out.data() + prefix.size();
  for (const TensorToWrite& t : tensors) {
    if (!t.data.empty()) std::memcpy(data, t.data.data(), t.data.size());
    data += t.data.size();
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::vector<std::byte> bytes = safetensors_bytes(path.string(), tensors, metadata);
  write_file(path, {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

}  // namespace streammoe
