#include "engine/model/safetensors_writer.h"

#include <cstring>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/util/error.h"

namespace streammoe {

std::vector<std::byte> safetensors_bytes(const std::string& file_name, std::span<const TensorToWrite> tensors,
                                         const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second)
      fail("{}: tensor name {} repeats or is reserved", file_name, t.name);
    uint64_t bytes = dtype_size(t.dtype);
    for (int64_t dim : t.shape) {
      if (dim < 0) fail("{}: tensor {}: negative dimension", file_name, t.name);
      bytes *= static_cast<uint64_t>(dim);
    }
    if (bytes != t.data.size())
      fail("{}: tensor {}: shape needs {} bytes, data has {}", file_name, t.name, bytes, t.data.size());
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  // Pad with spaces to a multiple of 8 so the data starts aligned, as the reference writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::vector<std::byte> out(8 + header_text.size() + offset);
  const uint64_t header_size = header_text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((header_size >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header_text.data(), header_text.size());
  std::byte* data = out.data() + 8 + header_text.size();
  for (const TensorToWrite& t : tensors) {
    if (!t.data.empty()) std::memcpy(data, t.data.data(), t.data.size());
    data += t.data.size();
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::vector<std::byte> bytes = safetensors_bytes(path.string(), tensors, metadata);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("{}: cannot open for writing", path.string());
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) fail("{}: write failed", path.string());
}

}  // namespace streammoe
