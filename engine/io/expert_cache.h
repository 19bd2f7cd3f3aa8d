#pragma once
// Expert caches: a wrapper around a record source (packed, HF pread) that keeps experts in
// process memory, least recently used evicted first. One switch, --expert-cache:
//   none  no wrapper: trust the OS page cache (open_expert_source returns the source itself)
//   lru   LruExpertCache: N decoded-ready expert records (what fetch hands out views into)
//   lz4   Lz4ExpertCache: the same LRU over LZ4-compressed records (more experts in the same
//         RAM), decompressed into slot buffers on every fetch; needs `pack --lz4`
// Capacity: --cache-entries (experts) and/or --cache-bytes (resident bytes: records for lru,
// compressed blocks for lz4); whichever is reached first evicts. With a capacity of C entries
// and no prefetching, hits equal RoutingStats::lru_hits(C) on the same routing stream: lookups
// and insertions are done in routing order, one access at a time.
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/io/aligned_buffer.h"
#include "engine/io/expert_source.h"
#include "engine/io/lz4_experts.h"
#include "engine/util/name_table.h"

namespace streammoe {

class ThreadPool;

enum class ExpertCacheKind { kNone, kLru, kLz4 };
inline constexpr NameTable<ExpertCacheKind, 3> kExpertCacheNames{{{
    {ExpertCacheKind::kNone, "none", "no cache: trust the OS page cache"},
    {ExpertCacheKind::kLru, "lru", "decoded expert records in process memory, least recently used evicted"},
    {ExpertCacheKind::kLz4, "lz4", "LZ4-compressed records (more experts in the same RAM); needs pack --lz4"},
}}};
constexpr const auto& name_table(ExpertCacheKind) { return kExpertCacheNames; }

struct ExpertCacheOptions {
  ExpertCacheKind kind = ExpertCacheKind::kNone;
  int64_t entries = 0;  // 0: no entry limit
  int64_t bytes = 0;    // 0: no byte limit
};

class LruExpertCache : public ExpertSource {
 public:
  // Error when neither entries nor bytes bound the cache, or the source has no records.
  LruExpertCache(std::unique_ptr<ExpertSource> source, const ExpertCacheOptions& options, int io_threads);
  ~LruExpertCache() override;

  void fetch(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out) override;
  // Reads the experts that are not cached into the cache, marked as prefetched (the async
  // prefetcher's call, from its own thread). Entries handed out by the last fetch stay alive.
  void prefetch(int64_t layer, std::span<const int32_t> experts);

  bool has_records() const override { return true; }
  uint64_t record_bytes() const override { return source_->record_bytes(); }
  uint64_t read_record(int64_t l, int32_t e, std::span<std::byte> dst) const override {
    return source_->read_record(l, e, dst);
  }
  ExpertWeights view_record(int64_t l, int32_t e, const std::byte* r) const override {
    return source_->view_record(l, e, r);
  }
  std::vector<FileExtent> file_extents(int64_t l, int32_t e) const override { return source_->file_extents(l, e); }
  int64_t size() const;  // entries held now

 protected:
  struct Entry {
    AlignedBuffer data;
    uint64_t bytes = 0;  // what it counts against --cache-bytes
    bool prefetched_unused = false;
  };
  // Fills a new entry with expert e; returns page-cache-resident bytes before the read and adds
  // the bytes read from files to *file_bytes.
  virtual uint64_t load(int64_t layer, int32_t e, Entry& entry, uint64_t* file_bytes);
  // Views for the expert of entry, handed out by fetch position `slot`.
  virtual ExpertWeights hand_out(size_t slot, int64_t layer, int32_t e, const Entry& entry);
  ExpertSource& source() { return *source_; }

 private:
  using Key = int64_t;
  struct Slot {
    std::shared_ptr<Entry> entry;
    std::list<Key>::iterator lru;  // position in order_ (front: most recent)
  };
  std::shared_ptr<Entry> lookup_or_insert(Key key, bool prefetching, bool* hit);
  void evict_while(bool over_entries_only);
  void load_all(int64_t layer, const std::vector<std::pair<int32_t, std::shared_ptr<Entry>>>& misses,
                const std::vector<Key>& keys);

  std::unique_ptr<ExpertSource> source_;
  ExpertCacheOptions options_;
  int64_t num_keys_per_layer_ = 1 << 20;
  mutable std::mutex mu_;
  std::list<Key> order_;
  std::unordered_map<Key, Slot> map_;
  uint64_t resident_ = 0;
  std::vector<std::shared_ptr<Entry>> held_;  // views of the last fetch point into these
  std::unique_ptr<ThreadPool> io_pool_;
};

class Lz4ExpertCache : public LruExpertCache {
 public:
  // `source` must be the packed source of `folder`, whose lz4 files are read.
  Lz4ExpertCache(std::unique_ptr<ExpertSource> source, const std::filesystem::path& folder,
                 const PackedManifest& manifest, const ExpertCacheOptions& options, int io_threads);

 protected:
  uint64_t load(int64_t layer, int32_t e, Entry& entry, uint64_t* file_bytes) override;
  ExpertWeights hand_out(size_t slot, int64_t layer, int32_t e, const Entry& entry) override;

 private:
  Lz4ExpertFiles files_;
  std::vector<AlignedBuffer> slots_;  // decompressed records of the last fetch
};

}  // namespace streammoe
