#include "engine/model/safetensors.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/util/error.h"
#include "engine/util/folder_path.h"
#include "engine/util/mapped_file.h"

namespace streammoe {

// Tensor bytes are handed out as views of the little-endian file, and to_f32 reads them as
// native values.
static_assert(std::endian::native == std::endian::little, "safetensors reader assumes a little-endian host");

namespace {

using nlohmann::json;

// The header is parsed in one piece; real checkpoints have headers of a few MB. The upstream
// Rust reader refuses anything above 100 MB, and so do we, before allocating for it.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::string format_shape(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

uint64_t read_le_u64(std::span<const std::byte> bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | std::to_integer<uint64_t>(bytes[i]);
  return value;
}

// Reads one entry of the JSON header ({"dtype", "shape", "data_offsets"}) and checks it against
// the data region [0, data_size). Fills everything but the data view and file offset.
struct ParsedEntry {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

ParsedEntry parse_entry(const std::string& file, const std::string& name, const json& entry, uint64_t data_size) {
  if (!entry.is_object()) fail("{}: tensor {}: header entry is not an object", file, name);
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(key)) fail("{}: tensor {}: header entry has no \"{}\"", file, name, key);

  ParsedEntry out;
  const json& dtype = entry["dtype"];
  if (!dtype.is_string()) fail("{}: tensor {}: dtype is not a string", file, name);
  const auto& dtype_text = dtype.get_ref<const std::string&>();
  if (!parse_enum(dtype_text, &out.dtype)) fail("{}: tensor {}: unknown dtype \"{}\"", file, name, dtype_text);

  const json& shape = entry["shape"];
  if (!shape.is_array()) fail("{}: tensor {}: shape is not an array", file, name);
  for (const json& dim : shape) {
    if (dim.is_number_unsigned()) {
      const auto value = dim.get<uint64_t>();
      if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail("{}: tensor {}: dimension {} is too large", file, name, value);
      out.shape.push_back(static_cast<int64_t>(value));
    } else if (dim.is_number_integer()) {  // signed, so negative: nlohmann stores >= 0 as unsigned
      fail("{}: tensor {}: negative dimension {} in shape", file, name, dim.get<int64_t>());
    } else {
      fail("{}: tensor {}: shape holds {}, not an integer", file, name, dim.dump());
    }
  }

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    fail("{}: tensor {}: data_offsets {} is not two non-negative integers", file, name, offsets.dump());
  out.begin = offsets[0].get<uint64_t>();
  out.end = offsets[1].get<uint64_t>();
  if (out.end < out.begin) fail("{}: tensor {}: data_offsets end {} < begin {}", file, name, out.end, out.begin);
  if (out.end > data_size)
    fail("{}: tensor {}: data_offsets end {} is beyond the {}-byte data region", file, name, out.end, data_size);

  // numel * dtype_size with overflow checks: the dims come from the file and may be anything.
  uint64_t expected_bytes = dtype_size(out.dtype);
  for (int64_t dim : out.shape) {
    if (__builtin_mul_overflow(expected_bytes, static_cast<uint64_t>(dim), &expected_bytes))
      fail("{}: tensor {}: shape {} overflows the byte count", file, name, format_shape(out.shape));
  }
  if (out.end - out.begin != expected_bytes)
    fail("{}: tensor {}: {} {} needs {} bytes but data_offsets [{}, {}] hold {}", file, name, dtype_text,
         format_shape(out.shape), expected_bytes, out.begin, out.end, out.end - out.begin);
  return out;
}

std::map<std::string, std::string> parse_metadata(const std::string& file, const json& metadata) {
  if (!metadata.is_object()) fail("{}: __metadata__ is not an object", file);
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : metadata.items()) {
    if (!value.is_string()) fail("{}: __metadata__ value of \"{}\" is not a string", file, key);
    out[key] = value.get<std::string>();
  }
  return out;
}

// Parses JSON text, refusing duplicate keys in the top-level object (nlohmann would keep the last
// one silently, so a tensor listed twice would go unnoticed).
json parse_json_unique_top_keys(const std::string& file, std::string_view text) {
  std::set<std::string> top_keys;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && duplicate.empty() &&
        !top_keys.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  json parsed;
  try {
    parsed = json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& e) {
    fail("{}: malformed JSON header: {}", file, e.what());
  }
  if (!duplicate.empty()) fail("{}: key \"{}\" appears twice in the header", file, duplicate);
  return parsed;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_string() const { return format_shape(shape); }

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : path_(path), file_(std::make_unique<MappedFile>(path)) {
  const std::string name = path.string();
  const std::span<const std::byte> bytes = file_->bytes();
  if (bytes.size() < 8) fail("{}: file is {} bytes, too short for the 8-byte header length", name, bytes.size());
  const uint64_t header_size = read_le_u64(bytes.first(8));
  if (header_size > bytes.size() - 8)
    fail("{}: header length {} is larger than the {} bytes after it", name, header_size, bytes.size() - 8);
  if (header_size > kMaxHeaderBytes)
    fail("{}: header length {} exceeds the {}-byte limit", name, header_size, kMaxHeaderBytes);

  const std::span<const std::byte> header_bytes = bytes.subspan(8, header_size);
  const std::span<const std::byte> data = bytes.subspan(8 + header_size);
  const json header = parse_json_unique_top_keys(
      name, {reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size()});
  if (!header.is_object()) fail("{}: header is not a JSON object", name);

  // Occupied [begin, end) ranges, to refuse tensors that share bytes.
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, const std::string*>> ranges;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      metadata_ = parse_metadata(name, value);
      continue;
    }
    ParsedEntry entry = parse_entry(name, key, value, data.size());
    TensorInfo info;
    info.name = key;
    info.dtype = entry.dtype;
    info.shape = std::move(entry.shape);
    info.data = data.subspan(entry.begin, entry.end - entry.begin);
    info.file = path;
    info.file_offset = 8 + header_size + entry.begin;
    auto [it, inserted] = tensors_.emplace(key, std::move(info));
    if (entry.end > entry.begin) ranges.push_back({{entry.begin, entry.end}, &it->first});
  }

  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first.first < ranges[i - 1].first.second)
      fail("{}: tensors {} and {} overlap in the data region", name, *ranges[i - 1].second, *ranges[i].second);
  }
}

SafetensorsFile::~SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

namespace {

// model.safetensors.index.json -> tensor name -> shard file name (relative to the folder).
std::map<std::string, std::string> read_weight_map(const std::filesystem::path& index_path) {
  const std::string index_name = index_path.string();
  const MappedFile file(index_path);
  const std::span<const std::byte> bytes = file.bytes();
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());

  const json index = parse_json_unique_top_keys(index_name, text);
  if (!index.is_object() || !index.contains("weight_map"))
    fail("{}: no \"weight_map\" object", index_name);
  const json& weight_map = index["weight_map"];
  if (!weight_map.is_object()) fail("{}: \"weight_map\" is not an object", index_name);

  std::map<std::string, std::string> out;
  for (const auto& [tensor, shard] : weight_map.items()) {
    if (!shard.is_string()) fail("{}: tensor {}: shard is not a string", index_name, tensor);
    const auto& shard_name = shard.get_ref<const std::string&>();
    // Shards live in the folder itself; a path that climbs out of it is not a checkpoint.
    const std::filesystem::path shard_path(shard_name);
    if (!is_inside_folder(shard_name))
      fail("{}: tensor {}: shard \"{}\" is not a file name inside the folder", index_name, tensor, shard_name);
    // One spelling per shard, so "./a.safetensors" and "a.safetensors" open one file, once.
    out[tensor] = shard_path.lexically_normal().string();
  }
  if (out.empty()) fail("{}: \"weight_map\" lists no tensors", index_name);
  return out;
}

}  // namespace

TensorStore TensorStore::open(const std::filesystem::path& folder) {
  TensorStore store;
  store.folder_ = folder;
  const auto index_path = folder / "model.safetensors.index.json";
  const auto single_path = folder / "model.safetensors";

  std::error_code ec;
  if (std::filesystem::exists(index_path, ec)) {
    const std::map<std::string, std::string> weight_map = read_weight_map(index_path);
    // Each distinct shard is opened once; shard_file maps its name to its place in files_.
    std::map<std::string, size_t> shard_file;
    for (const auto& [tensor, shard] : weight_map) {
      if (shard_file.count(shard)) continue;
      if (!std::filesystem::exists(folder / shard, ec))
        fail("{}: shard {} (listed for tensor {}) does not exist", index_path.string(), shard, tensor);
      shard_file.emplace(shard, store.files_.size());
      store.files_.emplace_back(folder / shard);
    }
    for (const auto& [tensor, shard] : weight_map) {
      if (store.files_[shard_file.at(shard)].find(tensor) == nullptr)
        fail("{}: tensor {} is listed in shard {} but not found there", index_path.string(), tensor, shard);
    }
  } else if (std::filesystem::exists(single_path, ec)) {
    store.files_.emplace_back(single_path);
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json", folder.string());
  }

  // Built only after files_ stops growing. The pointers target std::map nodes, which stay put
  // when a SafetensorsFile (and so its map) is moved.
  for (const SafetensorsFile& file : store.files_) {
    for (const auto& [name, info] : file.tensors()) {
      auto [it, inserted] = store.index_.emplace(name, &info);
      if (!inserted)
        fail("{}: tensor {} is in both {} and {}", folder.string(), name, it->second->file.string(),
             info.file.string());
    }
  }
  return store;
}

bool TensorStore::has(const std::string& name) const { return index_.count(name) != 0; }

const TensorInfo* TensorStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorInfo& TensorStore::get(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (info == nullptr) fail("{}: missing tensor {}", folder_.string(), name);
  return *info;
}

const TensorInfo& TensorStore::get(const std::string& name, std::span<const int64_t> expected_shape) const {
  const TensorInfo& info = get(name);
  if (!std::equal(info.shape.begin(), info.shape.end(), expected_shape.begin(), expected_shape.end()))
    fail("{}: tensor {} has shape {}, expected {}", folder_.string(), name, info.shape_string(),
         format_shape(expected_shape));
  return info;
}

const TensorInfo& TensorStore::get_float(const std::string& name,
                                         std::span<const int64_t> expected_shape) const {
  const TensorInfo& info = get(name, expected_shape);
  if (info.dtype != DType::kF32 && info.dtype != DType::kBF16 && info.dtype != DType::kF16)
    fail("{}: tensor {} has dtype {}; a weight must be F32, BF16 or F16", info.file.string(), name,
         enum_name(info.dtype));
  return info;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, info] : index_) out.push_back(name);
  return out;
}

std::vector<float> to_f32(const TensorInfo& t) {
  const auto count = static_cast<size_t>(t.numel());
  if (t.data.size() != count * dtype_size(t.dtype))
    fail("{}: tensor {}: {} bytes of data for {} {}", t.file.string(), t.name, t.data.size(), enum_name(t.dtype),
         t.shape_string());
  std::vector<float> out(count);
  // Offsets in the file need not be aligned, so elements are copied out, never cast in place.
  const std::byte* src = t.data.data();
  switch (t.dtype) {
    case DType::kF32:
      if (count) std::memcpy(out.data(), src, count * 4);
      break;
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t v;
        std::memcpy(&v, src + 2 * i, 2);
        out[i] = t.dtype == DType::kF16 ? f16_to_f32(v) : bf16_to_f32(v);
      }
      break;
    default:
      fail("{}: tensor {}: cannot convert {} to f32", t.file.string(), t.name, enum_name(t.dtype));
  }
  return out;
}

}  // namespace streammoe
