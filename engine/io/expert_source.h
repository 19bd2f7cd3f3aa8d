#pragma once
// Where routed experts' weights come from. The MoE block asks for the K experts of a layer at
// once, so a streaming source can read them in parallel; the views stay valid until the next
// fetch of any layer (streaming sources reuse their buffers). fetch_each hands the same views out
// one by one as they arrive, so the caller can compute on one while the others are still read.
//
// Sources whose experts are byte records in files (packed, HF pread) also expose the record
// interface (read_record / view_record / file_extents): the expert caches and the prefetchers
// are built on it, so they work for every such source without knowing its format.
#include <cstdint>
#include <span>
#include <vector>

#include "engine/ops/linear.h"
#include "engine/util/error.h"
#include "engine/util/function_ref.h"
#include "engine/util/name_table.h"

namespace streammoe {

class ExpertFile;

// When the MoE block computes a fetch's experts (--expert-order): after all K are read, or each as
// soon as its read lands (fetch_each). Lossless: each token's expert outputs are still summed in
// routing order, so the logits are bit-identical.
enum class ExpertOrder { kAll, kArrival };
inline constexpr NameTable<ExpertOrder, 2> kExpertOrderNames{{{
    {ExpertOrder::kAll, "all", "compute a layer's experts once all K reads are done"},
    {ExpertOrder::kArrival, "arrival",
     "compute each expert as soon as its read lands (packed folders with --io pread, direct, dontneed or "
     "uring and no expert cache; other sources hand all K out together, as with all)"},
}}};
constexpr const auto& name_table(ExpertOrder) { return kExpertOrderNames; }

struct ExpertWeights {
  LinearRef gate;  // [moe_intermediate, hidden]
  LinearRef up;    // [moe_intermediate, hidden]
  LinearRef down;  // [hidden, moe_intermediate]
};

// What a source did, for telemetry (--metrics-json) and the bytes-per-token tests.
struct ExpertIoStats {
  uint64_t fetches = 0;         // fetch() calls
  uint64_t experts_loaded = 0;  // experts handed out
  uint64_t bytes_read = 0;      // bytes read from expert files (0 for mmap views), prefetch included
  // bytes_read split by where they were before the read (mincore just before it): already in
  // the page cache, or not (read from disk, or from nowhere for O_DIRECT: always "disk").
  uint64_t bytes_from_page_cache = 0;
  uint64_t bytes_from_disk = 0;
  // Expert caches (expert-cache lru | lz4); zero without one.
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t cache_evictions = 0;
  uint64_t bytes_from_cache = 0;  // record bytes handed out of the cache (decompressed size for lz4)
  uint64_t cache_resident_bytes = 0;  // what the cache holds now
  // Prefetching (prefetch willneed | async).
  uint64_t prefetch_requests = 0;       // experts named by the predictor
  uint64_t prefetched_experts = 0;      // experts actually read (async) or advised (willneed)
  uint64_t prefetched_bytes = 0;
  uint64_t prefetched_used = 0;         // async: prefetched entries later fetched
  uint64_t prefetched_unused_bytes = 0; // async: evicted (or still held) without being fetched
};

// A byte range of an expert inside one of the source's files.
struct FileExtent {
  const ExpertFile* file = nullptr;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  virtual void fetch(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out) = 0;
  // The same fetch, counted the same way, but calls ready(i) on the calling thread as soon as
  // out[i] is valid, in whatever order the reads complete; returns after the last ready(i). An
  // exception from ready ends the fetch (reads in flight are waited for) and is rethrown. This
  // default fetches all, then hands them out in order: a source overrides it only where it reads
  // on threads other than the caller's (packed pread and io_uring).
  virtual void fetch_each(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out,
                          FunctionRef<void(size_t)> ready) {
    fetch(layer, experts, out);
    for (size_t i = 0; i < experts.size(); ++i) ready(i);
  }
  const ExpertIoStats& stats() const { return stats_; }

  // --- record interface (has_records() sources only) ---
  virtual bool has_records() const { return false; }
  // Bytes of one expert's record buffer (what read_record fills; 4096-aligned buffers).
  virtual uint64_t record_bytes() const { return 0; }
  // Bytes actually read per expert (stats).
  virtual uint64_t record_read_bytes() const { return record_bytes(); }
  // Reads expert `e` of `layer` into `dst` (record_bytes(), 4096-aligned); thread-safe. Returns the
  // bytes that were in the page cache before the read.
  // Header-only (with the other defaults): sm_blocks uses this interface without linking sm_io.
  virtual uint64_t read_record(int64_t, int32_t, std::span<std::byte>) const { no_records(); }
  // The quantised/dense views of a record read by read_record.
  virtual ExpertWeights view_record(int64_t, int32_t, const std::byte*) const { no_records(); }
  // Where expert `e` of `layer` lies in the files (for WILLNEED advice and residency).
  virtual std::vector<FileExtent> file_extents(int64_t, int32_t) const { return {}; }
  // Lets a wrapper (cache) fold the prefetch counters in; sources count their own reads.
  ExpertIoStats& mutable_stats() { return stats_; }

 protected:
  ExpertIoStats stats_;

 private:
  [[noreturn]] static void no_records() {
    fail("this expert source has no byte records (expert caches need a packed or HF pread source)");
  }
};

}  // namespace streammoe
