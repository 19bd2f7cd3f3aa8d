#include "engine/io/lz4_experts.h"

#include <fmt/format.h>
#include <lz4.h>

#include <cstring>
#include <fstream>

#include "engine/util/error.h"
#include "engine/util/output_file.h"

namespace streammoe {
namespace {

constexpr char kMagic[8] = {'S', 'M', 'L', 'Z', '4', 'E', 'X', '1'};

uint64_t header_bytes(int64_t num_experts) { return 8 + 8 + 8 + 8 * (num_experts + 1); }

}  // namespace

std::string lz4_expert_file_name(int64_t layer) { return fmt::format("experts/layer_{:03d}.lz4", layer); }

bool has_lz4_experts(const std::filesystem::path& folder, const PackedManifest& m) {
  if (m.layers.empty()) return false;
  for (const auto& l : m.layers)
    if (!std::filesystem::exists(folder / lz4_expert_file_name(l.layer))) return false;
  return true;
}

Lz4PackResult write_lz4_experts(const std::filesystem::path& folder) {
  const PackedManifest m = read_packed_manifest(folder);
  const uint64_t raw = m.layout.expert_bytes, stride = m.layout.expert_stride;
  Lz4PackResult result;
  std::vector<char> record(raw), block(LZ4_compressBound(static_cast<int>(raw)));
  for (const auto& l : m.layers) {
    const std::filesystem::path in_path = folder / l.file, out_path = folder / lz4_expert_file_name(l.layer);
    std::ifstream in(in_path, std::ios::binary);
    if (!in) fail("{}: cannot open", in_path.string());
    OutputFile out(out_path);
    std::vector<uint64_t> offsets(m.num_experts + 1);
    const uint64_t header = header_bytes(m.num_experts);
    out.write(std::string(header, '\0'));  // filled in once the offsets are known
    uint64_t pos = header;
    for (int64_t e = 0; e < m.num_experts; ++e) {
      in.seekg(static_cast<std::streamoff>(e * stride));
      if (!in.read(record.data(), static_cast<std::streamsize>(raw)))
        fail("{}: short read of expert {}", in_path.string(), e);
      const int n = LZ4_compress_default(record.data(), block.data(), static_cast<int>(raw),
                                         static_cast<int>(block.size()));
      if (n <= 0) fail("{}: LZ4 compression of expert {} failed", out_path.string(), e);
      out.write(block.data(), static_cast<size_t>(n));
      offsets[e] = pos;
      pos += static_cast<uint64_t>(n);
    }
    offsets[m.num_experts] = pos;
    const uint64_t count = static_cast<uint64_t>(m.num_experts);
    std::string head(kMagic, 8);
    head.append(reinterpret_cast<const char*>(&count), 8);
    head.append(reinterpret_cast<const char*>(&raw), 8);
    head.append(reinterpret_cast<const char*>(offsets.data()), 8 * offsets.size());
    out.write_at(0, head);
    out.close();
    result.raw_bytes += raw * count;
    result.compressed_bytes += pos;
  }
  return result;
}

Lz4ExpertFiles::Lz4ExpertFiles(const std::filesystem::path& folder, const PackedManifest& m)
    : record_bytes_(m.layout.expert_bytes), num_experts_(m.num_experts) {
  if (!has_lz4_experts(folder, m))
    fail("{}: no LZ4 expert files (experts/layer_LLL.lz4, written by `streammoe pack --lz4`)",
         folder.string());
  int64_t last = -1;
  for (const auto& l : m.layers) last = std::max(last, l.layer);
  layers_.resize(last + 1);
  for (const auto& l : m.layers) {
    Layer& layer = layers_[l.layer];
    layer.file = std::make_unique<ExpertFile>(folder / lz4_expert_file_name(l.layer), IoMode::kPread);
    const std::string where = layer.file->path().string();
    std::vector<std::byte> header(header_bytes(num_experts_));
    if (layer.file->size() < header.size()) fail("{}: shorter than its header", where);
    layer.file->read_exact(0, header);
    uint64_t count = 0, raw = 0;
    std::memcpy(&count, header.data() + 8, 8);
    std::memcpy(&raw, header.data() + 16, 8);
    if (std::memcmp(header.data(), kMagic, 8) != 0) fail("{}: not an LZ4 expert file (bad magic)", where);
    if (count != static_cast<uint64_t>(num_experts_) || raw != record_bytes_)
      fail("{}: header says {} experts of {} bytes, the manifest {} of {} (stale: re-run pack --lz4)",
           where, count, raw, num_experts_, record_bytes_);
    layer.offsets.resize(num_experts_ + 1);
    std::memcpy(layer.offsets.data(), header.data() + 24, 8 * layer.offsets.size());
    for (int64_t e = 0; e < num_experts_; ++e)
      if (layer.offsets[e] > layer.offsets[e + 1] || layer.offsets[e + 1] > layer.file->size())
        fail("{}: offset table entry {} out of order or past the end", where, e);
  }
}

const Lz4ExpertFiles::Layer& Lz4ExpertFiles::layer_of(int64_t layer, int32_t e) const {
  if (layer < 0 || layer >= static_cast<int64_t>(layers_.size()) || !layers_[layer].file)
    fail("lz4 experts: layer {} has no expert file", layer);
  if (e < 0 || e >= num_experts_) fail("layer {}: expert {} out of range [0, {})", layer, e, num_experts_);
  return layers_[layer];
}

uint64_t Lz4ExpertFiles::compressed_size(int64_t layer, int32_t e) const {
  const Layer& l = layer_of(layer, e);
  return l.offsets[e + 1] - l.offsets[e];
}

uint64_t Lz4ExpertFiles::read(int64_t layer, int32_t e, std::span<std::byte> dst) const {
  const Layer& l = layer_of(layer, e);
  const uint64_t bytes = l.offsets[e + 1] - l.offsets[e];
  const uint64_t resident = l.file->resident_bytes(l.offsets[e], bytes);
  l.file->read_exact(l.offsets[e], dst.first(bytes));
  return resident;
}

void Lz4ExpertFiles::decompress(int64_t layer, int32_t e, std::span<const std::byte> block,
                                std::span<std::byte> dst) const {
  const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(block.data()), reinterpret_cast<char*>(dst.data()),
                                    static_cast<int>(block.size()), static_cast<int>(dst.size()));
  if (n != static_cast<int>(record_bytes_))
    fail("{}: expert {} does not decompress to {} bytes (corrupt)", layers_[layer].file->path().string(), e,
         record_bytes_);
}

}  // namespace streammoe
