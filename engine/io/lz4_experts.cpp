#include "engine/io/lz4_experts.h"

#include <fmt/format.h>
#include <lz4.h>

#include <cstring>

#include "engine/util/error.h"

namespace streammoe {

std::string lz4_expert_file_name(int64_t layer) { return fmt::format("experts/layer_{:03d}.lz4", layer); }

bool has_lz4_experts(const std::filesystem::path& folder, const PackedManifest& m) {
  if (m.layers.empty()) return false;
  for (const auto& l : m.layers)
    if (!std::filesystem::exists(folder / lz4_expert_file_name(l.layer))) return false;
  return true;
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
    std::vector<std::byte> header(lz4_header_bytes(num_experts_));
    if (layer.file->size() < header.size()) fail("{}: shorter than its header", where);
    layer.file->read_exact(0, header);
    uint64_t count = 0, raw = 0;
    std::memcpy(&count, header.data() + 8, 8);
    std::memcpy(&raw, header.data() + 16, 8);
    if (std::memcmp(header.data(), kLz4ExpertMagic, 8) != 0) fail("{}: not an LZ4 expert file (bad magic)", where);
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
