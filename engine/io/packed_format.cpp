#include "engine/io/packed_format.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <limits>

#include "engine/io/aligned_buffer.h"
#include "engine/util/error.h"
#include "engine/util/folder_path.h"
#include "engine/util/output_file.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

PackedMatrix place(const char* name, int64_t rows, int64_t cols, int bits, int group_size,
                   uint64_t* cursor) {
  check_quant_shape(rows, cols, bits, group_size, name);
  const QuantBytes b = quant_bytes(rows, cols, bits, group_size);
  PackedMatrix m{name, rows, cols, {}, {}, {}};
  for (auto [range, bytes] :
       {std::pair{&m.q, b.q}, std::pair{&m.scales, b.scales}, std::pair{&m.biases, b.biases}}) {
    *cursor = round_up(*cursor, kArrayAlignment);
    *range = {*cursor, static_cast<uint64_t>(bytes)};
    *cursor += static_cast<uint64_t>(bytes);
  }
  return m;
}

json resident_json(const PackedManifest& m) {
  json j = {{"file", m.resident_file}, {"bits", m.resident.bits}};
  if (!m.resident.quantized()) return j;
  j["group_size"] = m.resident.group_size;
  j["scheme"] = quant_scheme_name(m.resident.scheme);
  j["scale_dtype"] = "BF16";
  j["tensors"] =
      "linear weights and the token embedding whose columns group_size divides: <name> U32 codes "
      "[rows, cols * bits / 32], <module>.scales and (affine) <module>.biases BF16 "
      "[rows, cols / group_size]; every other tensor in its source dtype";
  return j;
}

json range_json(const ByteRange& r) { return {{"offset", r.offset}, {"bytes", r.bytes}}; }

json matrix_json(const PackedMatrix& m) {
  return {{"name", m.name},
          {"rows", m.rows},
          {"cols", m.cols},
          {"q", range_json(m.q)},
          {"scales", range_json(m.scales)},
          {"biases", range_json(m.biases)}};
}

// Reads a typed value, naming the key path on a missing or mistyped one.
class Fields {
 public:
  Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j_.is_object()) fail("{}: expected an object", where_);
  }
  const json& at(const std::string& key) const {
    auto it = j_.find(key);
    if (it == j_.end()) fail("{}: missing key '{}'", where_, key);
    return *it;
  }
  int64_t integer(const std::string& key) const {
    const json& v = at(key);
    if (!v.is_number_integer()) fail("{}: '{}' must be an integer, got {}", where_, key, v.dump());
    return v.get<int64_t>();
  }
  // An integer that must fit an int (a version, bits, a group size): 2^32 + 1 is not 1.
  int small_integer(const std::string& key) const {
    const int64_t v = integer(key);
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      fail("{}: '{}' is out of range, got {}", where_, key, v);
    return static_cast<int>(v);
  }
  std::string string(const std::string& key) const {
    const json& v = at(key);
    if (!v.is_string()) fail("{}: '{}' must be a string, got {}", where_, key, v.dump());
    return v.get<std::string>();
  }
  Fields object(const std::string& key) const { return Fields(at(key), where_ + "." + key); }
  bool has(const std::string& key) const { return j_.contains(key); }
  // A key this build does not write would be ignored, and whatever it means lost: refuse it.
  void allow_only(std::initializer_list<std::string_view> keys) const {
    for (const auto& [key, value] : j_.items())
      if (std::find(keys.begin(), keys.end(), key) == keys.end())
        fail("{}: unknown key '{}' (this build writes {})", where_, key, fmt::join(keys, ", "));
  }
  const std::string& where() const { return where_; }

 private:
  const json& j_;
  std::string where_;
};

void check_matrix(const Fields& f, const PackedMatrix& expected) {
  if (f.string("name") != expected.name || f.integer("rows") != expected.rows ||
      f.integer("cols") != expected.cols)
    fail("{}: matrix {} [{}, {}] differs from the expected {} [{}, {}]", f.where(),
         f.string("name"), f.integer("rows"), f.integer("cols"), expected.name, expected.rows,
         expected.cols);
  for (auto [key, range] : {std::pair{"q", &expected.q}, std::pair{"scales", &expected.scales},
                            std::pair{"biases", &expected.biases}}) {
    const Fields r = f.object(key);
    if (static_cast<uint64_t>(r.integer("offset")) != range->offset ||
        static_cast<uint64_t>(r.integer("bytes")) != range->bytes)
      fail(
          "{}: {}.{} at offset {} ({} bytes), this build places it at {} ({} bytes): the folder "
          "was written by an "
          "incompatible packer",
          f.where(), expected.name, key, r.integer("offset"), r.integer("bytes"), range->offset,
          range->bytes);
  }
}

// "resident": {"bits": 16} (or no bits: written before resident quantisation), or a quantised
// format with its group size and scheme.
ResidentFormat read_resident_format(const Fields& f) {
  f.allow_only({"file", "bits", "group_size", "scheme", "scale_dtype", "tensors"});
  ResidentFormat r;
  if (!f.has("bits")) return r;
  r.bits = f.small_integer("bits");
  if (r.bits == 16) return r;
  if (r.bits != 8 && r.bits != 4)
    fail("{}: bits {} is not a resident width (16, 8 or 4)", f.where(), r.bits);
  r.group_size = f.small_integer("group_size");
  const std::string scheme = f.string("scheme");
  if (!parse_quant_scheme(scheme, &r.scheme))
    fail("{}: scheme '{}' is not affine or symmetric", f.where(), scheme);
  if (f.string("scale_dtype") != "BF16")
    fail("{}: scale_dtype '{}' is not BF16", f.where(), f.string("scale_dtype"));
  check_resident_format(r, f.where());
  return r;
}

}  // namespace

QuantMatRef ExpertLayout::view(const PackedMatrix& m, const std::byte* record) const {
  return QuantMatRef{bits,
                     group_size,
                     m.rows,
                     m.cols,
                     reinterpret_cast<const uint32_t*>(record + m.q.offset),
                     reinterpret_cast<const uint16_t*>(record + m.scales.offset),
                     reinterpret_cast<const uint16_t*>(record + m.biases.offset)};
}

ExpertLayout make_expert_layout(int64_t hidden, int64_t moe_intermediate, int bits,
                                int group_size) {
  ExpertLayout l;
  l.bits = bits;
  l.group_size = group_size;
  uint64_t cursor = 0;
  l.gate = place("gate_proj", moe_intermediate, hidden, bits, group_size, &cursor);
  l.up = place("up_proj", moe_intermediate, hidden, bits, group_size, &cursor);
  l.down = place("down_proj", hidden, moe_intermediate, bits, group_size, &cursor);
  l.expert_bytes = cursor;
  l.expert_stride = round_up(cursor, kExpertStrideAlignment);
  return l;
}

std::string expert_file_name(int64_t layer) {
  return fmt::format("experts/layer_{:03d}.bin", layer);
}

bool is_packed_model(const fs::path& folder) {
  std::error_code ec;
  return fs::exists(folder / kPackedManifestName, ec);
}

json manifest_to_json(const PackedManifest& m) {
  json layers = json::array();
  for (const auto& l : m.layers)
    layers.push_back({{"layer", l.layer}, {"file", l.file}, {"bytes", m.layer_file_bytes()}});
  const ExpertLayout& x = m.layout;
  return {
      {"format", kPackedFormatName},
      {"version", m.version},
      {"source", {{"kind", m.source_kind}, {"path", m.source}}},
      {"config", m.config},
      {"quantization",
       {{"mode", "affine"},
        {"bits", x.bits},
        {"group_size", x.group_size},
        {"scale_dtype", "BF16"},
        {"formula", "w = q * scale + bias, per group of group_size consecutive values of a row"},
        {"packing", "uint32 little-endian, value j of a word in bits [j*bits, (j+1)*bits)"}}},
      {"resident", resident_json(m)},
      {"experts",
       {{"num_experts", m.num_experts},
        {"expert_bytes", x.expert_bytes},
        {"expert_stride", x.expert_stride},
        {"stride_alignment", kExpertStrideAlignment},
        {"tensors", json::array({matrix_json(x.gate), matrix_json(x.up), matrix_json(x.down)})},
        {"layers", layers}}},
  };
}

PackedManifest manifest_from_json(const json& j, const std::string& where) {
  const Fields root(j, where);
  const std::string format = root.string("format");
  if (format != kPackedFormatName)
    fail("{}: format '{}' is not {}", where, format, kPackedFormatName);
  PackedManifest m;
  m.version = root.small_integer("version");
  if (m.version != kPackedFormatVersion)
    fail("{}: packed format version {}, this build reads version {} (re-run streammoe pack)", where,
         m.version, kPackedFormatVersion);
  const Fields source = root.object("source");
  m.source_kind = source.string("kind");
  m.source = source.string("path");
  m.config = root.at("config");
  if (!m.config.is_object()) fail("{}: 'config' must be an object", where);

  const Fields q = root.object("quantization");
  if (q.string("mode") != "affine")
    fail("{}: quantization mode '{}' is not affine", q.where(), q.string("mode"));
  if (q.string("scale_dtype") != "BF16")
    fail("{}: scale_dtype '{}' is not BF16", q.where(), q.string("scale_dtype"));
  const int bits = q.small_integer("bits");
  const int group_size = q.small_integer("group_size");
  const Fields resident = root.object("resident");
  m.resident_file = resident.string("file");
  if (!is_inside_folder(m.resident_file))
    fail("{}: file \"{}\" is not a file name inside the folder", resident.where(), m.resident_file);
  m.resident = read_resident_format(resident);

  const Fields e = root.object("experts");
  e.allow_only({"num_experts", "expert_bytes", "expert_stride", "stride_alignment", "tensors", "layers"});
  if (e.integer("stride_alignment") != static_cast<int64_t>(kExpertStrideAlignment))
    fail("{}: stride_alignment {}, this build aligns expert records to {} bytes", e.where(),
         e.integer("stride_alignment"), kExpertStrideAlignment);
  m.num_experts = e.integer("num_experts");
  if (m.num_experts <= 0) fail("{}: num_experts must be positive", e.where());
  const json& tensors = e.at("tensors");
  if (!tensors.is_array() || tensors.size() != 3)
    fail("{}: 'tensors' must list gate_proj, up_proj, down_proj", e.where());
  const Fields gate(tensors[0], e.where() + ".tensors[0]");
  const Fields down(tensors[2], e.where() + ".tensors[2]");
  // Dimensions come from the table; the layout is recomputed and must agree with every offset.
  const int64_t hidden = gate.integer("cols"), intermediate = gate.integer("rows");
  try {
    m.layout = make_expert_layout(hidden, intermediate, bits, group_size);
  } catch (const Error& err) {
    fail("{}: {}", q.where(), err.what());
  }
  check_matrix(gate, m.layout.gate);
  check_matrix(Fields(tensors[1], e.where() + ".tensors[1]"), m.layout.up);
  check_matrix(down, m.layout.down);
  if (static_cast<uint64_t>(e.integer("expert_bytes")) != m.layout.expert_bytes ||
      static_cast<uint64_t>(e.integer("expert_stride")) != m.layout.expert_stride)
    fail("{}: expert_bytes {} / expert_stride {} differ from the layout's {} / {}", e.where(),
         e.integer("expert_bytes"), e.integer("expert_stride"), m.layout.expert_bytes,
         m.layout.expert_stride);

  const json& layers = e.at("layers");
  if (!layers.is_array()) fail("{}: 'layers' must be a list", e.where());
  for (size_t i = 0; i < layers.size(); ++i) {
    const Fields l(layers[i], fmt::format("{}.layers[{}]", e.where(), i));
    l.allow_only({"layer", "file", "bytes"});
    m.layers.push_back({l.integer("layer"), l.string("file")});
    if (static_cast<uint64_t>(l.integer("bytes")) != m.layer_file_bytes())
      fail("{}: bytes {}, expected {} ({} experts x {}-byte stride)", l.where(), l.integer("bytes"),
           m.layer_file_bytes(), m.num_experts, m.layout.expert_stride);
    if (i > 0 && m.layers[i].layer <= m.layers[i - 1].layer)
      fail("{}: layers must ascend", l.where());
    // Expert files live in the folder; a path that climbs out of it is not part of the model.
    if (!is_inside_folder(m.layers[i].file))
      fail("{}: file \"{}\" is not a file name inside the folder", l.where(), m.layers[i].file);
  }
  return m;
}

PackedManifest read_packed_manifest(const fs::path& folder) {
  const fs::path path = folder / kPackedManifestName;
  std::ifstream in(path);
  if (!in) fail("{}: cannot open", path.string());
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
  try {
    return manifest_from_json(j, path.string());
  } catch (const json::exception& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

void check_packed_model(const fs::path& folder, const PackedManifest& m, const ModelConfig& c) {
  const std::string where = (folder / kPackedManifestName).string();
  {
    std::ifstream in(folder / "config.json");
    json on_disk;
    try {
      on_disk = json::parse(in);
    } catch (const json::exception&) {
      fail("{}: config.json is missing or not valid JSON", folder.string());
    }
    if (on_disk != m.config)
      fail("{}: config.json differs from the config recorded at packing time (edited afterwards?)",
           where);
  }
  if (m.num_experts != c.num_experts || m.layout.gate.cols != c.hidden_size ||
      m.layout.gate.rows != c.moe_intermediate_size)
    fail(
        "{}: experts {} x [{}, {}] do not match config.json ({} experts, moe_intermediate {}, "
        "hidden {})",
        where, m.num_experts, m.layout.gate.rows, m.layout.gate.cols, c.num_experts,
        c.moe_intermediate_size, c.hidden_size);
  std::vector<int64_t> moe_layers;
  for (int64_t l = 0; l < c.num_layers; ++l)
    if (c.ffn_types[l] == FfnKind::kMoe) moe_layers.push_back(l);
  if (moe_layers.size() != m.layers.size())
    fail("{}: {} expert files for {} MoE layers in config.json", where, m.layers.size(),
         moe_layers.size());
  for (size_t i = 0; i < moe_layers.size(); ++i) {
    if (m.layers[i].layer != moe_layers[i])
      fail("{}: expert file {} is for layer {}, config.json's MoE layer is {}", where,
           m.layers[i].file, m.layers[i].layer, moe_layers[i]);
    const fs::path file = folder / m.layers[i].file;
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) fail("{}: missing expert file ({})", file.string(), ec.message());
    if (size != m.layer_file_bytes())
      fail(
          "{}: {} bytes, expected {} ({} experts x {}-byte stride): truncated or from another pack",
          file.string(), size, m.layer_file_bytes(), m.num_experts, m.layout.expert_stride);
  }
}

}  // namespace streammoe
