#include "engine/io/expert_cache.h"

#include <array>
#include <atomic>

#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
LruExpertCache::LruExpertCache(std::unique_ptr<ExpertSource> source, const ExpertCacheOptions& options,
                               int io_threads)
    : source_(std::move(source)), options_(options) {
  if (options.entries <= 0 && options.bytes <= 0)
    fail("{} expert cache: needs a capacity in entries or bytes", enum_name(options.kind));
  if (!source_->has_records())
    fail("{} expert cache: the expert source has no byte records to cache (mapped experts)", enum_name(options.kind));
  io_pool_ = std::make_unique<ThreadPool>(std::max(io_threads, 1));
}

LruExpertCache::~LruExpertCache() = default;

int64_t LruExpertCache::size() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(map_.size());
}

uint64_t LruExpertCache::load(int64_t layer, int32_t e, Entry& entry, uint64_t* file_bytes) {
  entry.data = AlignedBuffer(source_->record_bytes());
  entry.bytes = entry.data.size();
  *file_bytes = source_->record_read_bytes();
  return source_->read_record(layer, e, entry.data.bytes());
}

ExpertWeights LruExpertCache::hand_out(size_t, int64_t layer, int32_t e, const Entry& entry) {
  return source_->view_record(layer, e, entry.data.data());
}

std::shared_ptr<LruExpertCache::Entry> LruExpertCache::lookup_or_insert(Key key, bool prefetching, bool* hit) {
  auto it = map_.find(key);
  if (it != map_.end()) {
    *hit = true;
    order_.splice(order_.begin(), order_, it->second.lru);
    return it->second.entry;
  }
  *hit = false;
  order_.push_front(key);
  auto entry = std::make_shared<Entry>();
  entry->prefetched_unused = prefetching;
  map_.emplace(key, Slot{entry, order_.begin()});
  evict_while(true);
  return entry;
}

void LruExpertCache::evict_while(bool over_entries_only) {
  auto over = [&] {
    if (options_.entries > 0 && static_cast<int64_t>(map_.size()) > options_.entries) return true;
    return !over_entries_only && options_.bytes > 0 && resident_ > static_cast<uint64_t>(options_.bytes) &&
           map_.size() > 1;
  };
  while (!order_.empty() && over()) {
    const Key victim = order_.back();
    order_.pop_back();
    auto it = map_.find(victim);
    const Entry& e = *it->second.entry;
    resident_ -= e.bytes;
    stats_.cache_evictions += 1;
    if (e.prefetched_unused) stats_.prefetched_unused_bytes += source_->record_bytes();
    map_.erase(it);
  }
}

void LruExpertCache::load_all(int64_t layer,
                              const std::vector<std::pair<int32_t, std::shared_ptr<Entry>>>& misses,
                              const std::vector<Key>& keys) {
  std::atomic<uint64_t> resident{0}, read{0};
  try {
    io_pool_->parallel_for(static_cast<int64_t>(misses.size()), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        uint64_t bytes = 0;
        resident += load(layer, misses[i].first, *misses[i].second, &bytes);
        read += bytes;
      }
    });
  } catch (...) {
    // A failed read must not leave an empty entry behind to be "hit" later.
    for (Key k : keys) {
      auto it = map_.find(k);
      if (it == map_.end() || it->second.entry->data.size() != 0) continue;
      order_.erase(it->second.lru);
      map_.erase(it);
    }
    throw;
  }
  for (const auto& m : misses) {
    // An entry evicted by a later insertion of the same fetch (capacity < K) is not resident.
    auto it = map_.find(layer * num_keys_per_layer_ + m.first);
    if (it != map_.end() && it->second.entry == m.second) resident_ += m.second->bytes;
  }
  stats_.bytes_read += read;
  stats_.bytes_from_page_cache += std::min(resident.load(), read.load());
  stats_.bytes_from_disk += read - std::min(resident.load(), read.load());
  evict_while(false);
}

void LruExpertCache::fetch(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out) {
  if (out.size() < experts.size()) fail("expert cache: {} outputs for {} experts", out.size(), experts.size());
  std::lock_guard lock(mu_);
  held_.clear();
  std::vector<std::pair<int32_t, std::shared_ptr<Entry>>> misses;
  std::vector<Key> keys;
  for (int32_t e : experts) {
    bool hit = false;
    const Key key = layer * num_keys_per_layer_ + e;
    auto entry = lookup_or_insert(key, false, &hit);
    if (hit) {
      stats_.cache_hits += 1;
      stats_.bytes_from_cache += source_->record_read_bytes();
      if (entry->prefetched_unused) {
        entry->prefetched_unused = false;
        stats_.prefetched_used += 1;
      }
    } else {
      stats_.cache_misses += 1;
      misses.emplace_back(e, entry);
      keys.push_back(key);
    }
    held_.push_back(std::move(entry));
  }
  load_all(layer, misses, keys);
  for (size_t i = 0; i < experts.size(); ++i) out[i] = hand_out(i, layer, experts[i], *held_[i]);
  stats_.fetches += 1;
  stats_.experts_loaded += experts.size();
  stats_.cache_resident_bytes = resident_;
}

void LruExpertCache::prefetch(int64_t layer, std::span<const int32_t> experts) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<int32_t, std::shared_ptr<Entry>>> misses;
  std::vector<Key> keys;
  for (int32_t e : experts) {
    const Key key = layer * num_keys_per_layer_ + e;
    if (map_.count(key)) continue;  // cached already: a prefetch does not refresh recency
    bool hit = false;
    misses.emplace_back(e, lookup_or_insert(key, true, &hit));
    keys.push_back(key);
  }
  stats_.prefetch_requests += experts.size();
  stats_.prefetched_experts += misses.size();
  stats_.prefetched_bytes += misses.size() * source_->record_read_bytes();
  load_all(layer, misses, keys);
  stats_.cache_resident_bytes = resident_;
}

Lz4ExpertCache::Lz4ExpertCache(std::unique_ptr<ExpertSource> source, const std::filesystem::path& folder,
                               const PackedManifest& manifest, const ExpertCacheOptions& options, int io_threads)
    : LruExpertCache(std::move(source), options, io_threads), files_(folder, manifest) {}

uint64_t Lz4ExpertCache::load(int64_t layer, int32_t e, Entry& entry, uint64_t* file_bytes) {
  const uint64_t bytes = files_.compressed_size(layer, e);
  entry.data = AlignedBuffer(std::max<uint64_t>(bytes, 1), 64);
  entry.bytes = bytes;
  *file_bytes = bytes;
  return files_.read(layer, e, entry.data.bytes());
}

ExpertWeights Lz4ExpertCache::hand_out(size_t slot, int64_t layer, int32_t e, const Entry& entry) {
  while (slots_.size() <= slot) slots_.emplace_back(source().record_bytes());
  files_.decompress(layer, e, {entry.data.data(), entry.bytes}, slots_[slot].bytes());
  return source().view_record(layer, e, slots_[slot].data());
}

}  // namespace streammoe
