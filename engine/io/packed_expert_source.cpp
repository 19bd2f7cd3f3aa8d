#include "engine/io/packed_expert_source.h"

#include <cstring>

#include <atomic>

#include "engine/util/arrival_pool.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {

PackedExpertSource::PackedExpertSource(const std::filesystem::path& folder,
                                       const PackedManifest& manifest, const ExpertIoOptions& io,
                                       int64_t slots)
    : layout_(manifest.layout), num_experts_(manifest.num_experts), io_(io) {
  if (io.mode != IoMode::kPread && io.mode != IoMode::kDirect && io.mode != IoMode::kDontneed &&
      io.mode != IoMode::kUring && io.mode != IoMode::kMmap)
    fail("{}: io mode '{}' cannot read the experts of a packed folder",
         folder.string(), enum_name(io.mode));
  if (io.mode == IoMode::kDirect && layout_.expert_stride % kDirectIoAlignment != 0)
    fail("{}: O_DIRECT reads need expert strides that are multiples of {} bytes, this pack has {}",
         folder.string(), kDirectIoAlignment, layout_.expert_stride);
  // O_DIRECT moves whole 4096-byte blocks; the stride is padded for exactly this.
  read_bytes_ = io.mode == IoMode::kDirect ? layout_.expert_stride : layout_.expert_bytes;
  int64_t last_layer = -1;
  for (const auto& l : manifest.layers) last_layer = std::max(last_layer, l.layer);
  files_.resize(last_layer + 1);
  for (const auto& l : manifest.layers) {
    files_[l.layer] = std::make_unique<ExpertFile>(folder / l.file, io.mode, io.readahead);
    if (files_[l.layer]->size() != manifest.layer_file_bytes())
      fail("{}: {} bytes, expected {} (truncated or from another pack)",
           files_[l.layer]->path().string(), files_[l.layer]->size(), manifest.layer_file_bytes());
  }
  ensure_slots(static_cast<size_t>(std::max<int64_t>(slots, 1)));
}

PackedExpertSource::~PackedExpertSource() = default;

void PackedExpertSource::ensure_slots(size_t count) {
  if (io_.mode == IoMode::kMmap) return;  // views into the mappings: no buffers, no readers
  while (slots_.size() < count) slots_.emplace_back(layout_.expert_stride, kDirectIoAlignment);
  if (io_.mode == IoMode::kUring) {
    // One ring sized for a whole layer's reads; no I/O threads needed.
    if (!uring_ || uring_depth_ < slots_.size()) {
      uring_ = std::make_unique<UringReader>(static_cast<unsigned>(slots_.size()));
      uring_depth_ = slots_.size();
    }
    return;
  }
  const int threads = io_.io_threads > 0 ? io_.io_threads : static_cast<int>(slots_.size());
  if (!io_pool_ || io_pool_->size() != threads) io_pool_ = std::make_unique<ThreadPool>(threads);
}

const ExpertFile& PackedExpertSource::file_of(int64_t layer, int32_t e) const {
  if (layer < 0 || layer >= static_cast<int64_t>(files_.size()) || !files_[layer])
    fail("packed experts: layer {} has no expert file", layer);
  if (e < 0 || e >= num_experts_) fail("layer {}: expert {} out of range [0, {})", layer, e, num_experts_);
  return *files_[layer];
}

uint64_t PackedExpertSource::read_record(int64_t layer, int32_t e, std::span<std::byte> dst) const {
  const ExpertFile& file = file_of(layer, e);
  if (dst.size() < read_bytes_) fail("packed experts: record buffer of {} bytes < {}", dst.size(), read_bytes_);
  const uint64_t offset = static_cast<uint64_t>(e) * layout_.expert_stride;
  const uint64_t resident = file.resident_bytes(offset, layout_.expert_bytes);
  if (io_.mode == IoMode::kMmap)
    std::memcpy(dst.data(), file.mapping() + offset, read_bytes_);
  else
    file.read_exact(offset, dst.first(read_bytes_));
  return resident;
}

ExpertWeights PackedExpertSource::view_record(int64_t, int32_t, const std::byte* record) const {
  return ExpertWeights{layout_.view(layout_.gate, record), layout_.view(layout_.up, record),
                       layout_.view(layout_.down, record)};
}

std::vector<FileExtent> PackedExpertSource::file_extents(int64_t layer, int32_t e) const {
  return {{&file_of(layer, e), static_cast<uint64_t>(e) * layout_.expert_stride, layout_.expert_bytes}};
}

void PackedExpertSource::prepare(int64_t layer, std::span<const int32_t> experts,
                                 std::span<ExpertWeights> out) {
  if (out.size() < experts.size())
    fail("packed experts: {} outputs for {} experts", out.size(), experts.size());
  for (int32_t e : experts) file_of(layer, e);  // range checks before any read
  ensure_slots(experts.size());
}

std::vector<UringRead> PackedExpertSource::uring_reads(int64_t layer, std::span<const int32_t> experts,
                                                       uint64_t* resident) {
  std::vector<UringRead> reads(experts.size());
  for (size_t i = 0; i < experts.size(); ++i) {
    const ExpertFile& file = file_of(layer, experts[i]);
    const uint64_t offset = static_cast<uint64_t>(experts[i]) * layout_.expert_stride;
    *resident += file.resident_bytes(offset, layout_.expert_bytes);
    reads[i] = {file.fd(), offset, slots_[i].bytes().first(read_bytes_), &file.path()};
  }
  return reads;
}

void PackedExpertSource::count_fetch(size_t count, uint64_t resident) {
  stats_.fetches += 1;
  stats_.experts_loaded += count;
  stats_.bytes_read += count * read_bytes_;
  const uint64_t in_cache = std::min<uint64_t>(resident, count * read_bytes_);
  stats_.bytes_from_page_cache += in_cache;
  stats_.bytes_from_disk += count * read_bytes_ - in_cache;
}

void PackedExpertSource::fetch(int64_t layer, std::span<const int32_t> experts,
                               std::span<ExpertWeights> out) {
  prepare(layer, experts, out);
  std::atomic<uint64_t> resident{0};
  if (io_.mode == IoMode::kMmap) {
    for (size_t i = 0; i < experts.size(); ++i) {
      const ExpertFile& file = file_of(layer, experts[i]);
      const uint64_t offset = static_cast<uint64_t>(experts[i]) * layout_.expert_stride;
      resident += file.resident_bytes(offset, layout_.expert_bytes);
      out[i] = view_record(layer, experts[i], file.mapping() + offset);
    }
  } else if (uring_) {
    uint64_t in_cache = 0;
    uring_->read_all(uring_reads(layer, experts, &in_cache));
    resident += in_cache;
  } else {
    io_pool_->parallel_for(static_cast<int64_t>(experts.size()), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        resident += read_record(layer, experts[i], slots_[i].bytes());
    });
  }
  if (io_.mode != IoMode::kMmap)
    for (size_t i = 0; i < experts.size(); ++i) out[i] = view_record(layer, experts[i], slots_[i].data());
  count_fetch(experts.size(), resident.load());
}

void PackedExpertSource::fetch_each(int64_t layer, std::span<const int32_t> experts,
                                    std::span<ExpertWeights> out, FunctionRef<void(size_t)> ready) {
  if (io_.mode == IoMode::kMmap) return ExpertSource::fetch_each(layer, experts, out, ready);
  prepare(layer, experts, out);
  const auto hand_out = [&](size_t i) {
    out[i] = view_record(layer, experts[i], slots_[i].data());
    ready(i);
  };
  uint64_t resident = 0;
  if (uring_) {
    uring_->read_each(uring_reads(layer, experts, &resident), hand_out);
  } else {
    // Its own threads, never the caller: the caller computes each expert as it lands.
    const int threads = io_.io_threads > 0 ? io_.io_threads : static_cast<int>(slots_.size());
    if (!arrival_pool_ || arrival_pool_->size() != threads) arrival_pool_ = std::make_unique<ArrivalPool>(threads);
    std::atomic<uint64_t> in_cache{0};
    arrival_pool_->run(
        experts.size(), [&](size_t i) { in_cache += read_record(layer, experts[i], slots_[i].bytes()); }, hand_out);
    resident = in_cache.load();
  }
  count_fetch(experts.size(), resident);
}

}  // namespace streammoe
