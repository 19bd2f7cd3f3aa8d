#pragma once
// Prefetchers: what is done with a predictor's guess of the next layer's experts (or, with
// --routing early, with the next layer's decision made a layer ahead). One switch, --prefetch:
//   none      nothing (the predictor, if any, is only scored: precision/recall telemetry)
//   willneed  posix_fadvise(WILLNEED) over the predicted experts' file ranges, in read_ahead-sized
//             chunks, so the kernel reads them into the page cache while this layer computes
//   async     a background thread reads the predicted experts into the expert cache (needs
//             --expert-cache lru | lz4); the next fetch finds them there
// --overlap serial waits for a request to be done before computing (willneed: the advice issued;
// async: the reads complete); pipelined lets it run behind the current layer's compute, on a
// background thread (BackgroundPrefetcher). Advice is not free: under a memory budget each
// WILLNEED call allocates page-cache pages, reclaiming others, before it queues the reads.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/io/expert_cache.h"
#include "engine/io/expert_source.h"
#include "engine/util/name_table.h"

namespace streammoe {

enum class PrefetchKind { kNone, kWillneed, kAsync };
inline constexpr NameTable<PrefetchKind, 3> kPrefetchNames{{{
    {PrefetchKind::kNone, "none", "nothing (a predictor, if any, is only scored)"},
    {PrefetchKind::kWillneed, "willneed", "posix_fadvise(WILLNEED) over the predicted experts' file ranges"},
    {PrefetchKind::kAsync, "async", "background reads of the predicted experts into the expert cache"},
}}};
constexpr const auto& name_table(PrefetchKind) { return kPrefetchNames; }

// Whether prefetch requests complete before the layer computes (serial) or run behind it.
enum class OverlapMode { kSerial, kPipelined };
inline constexpr NameTable<OverlapMode, 2> kOverlapNames{{{
    {OverlapMode::kSerial, "serial", "prefetches complete before the layer computes"},
    {OverlapMode::kPipelined, "pipelined", "prefetches run behind the layer's compute"},
}}};
constexpr const auto& name_table(OverlapMode) { return kOverlapNames; }

class Prefetcher {
 public:
  virtual ~Prefetcher() = default;
  virtual void prefetch(int64_t layer, std::vector<int32_t> experts) = 0;
  // Returns when every request so far is done; rethrows a background failure.
  virtual void wait() {}
};

// Issues the advice on the calling thread.
class WillneedPrefetcher : public Prefetcher {
 public:
  // Error when the source has no file ranges to advise (mmap views).
  explicit WillneedPrefetcher(ExpertSource& source);
  void prefetch(int64_t layer, std::vector<int32_t> experts) override;

 private:
  ExpertSource& source_;
};

// Reads the experts into the cache on the calling thread.
class CachePrefetcher : public Prefetcher {
 public:
  explicit CachePrefetcher(LruExpertCache& cache) : cache_(cache) {}
  void prefetch(int64_t layer, std::vector<int32_t> experts) override {
    cache_.prefetch(layer, experts);
  }

 private:
  LruExpertCache& cache_;
};

// Runs another prefetcher's requests in order on one background thread: prefetch() queues and
// returns; wait() returns when the queue is empty and rethrows the first failure.
class BackgroundPrefetcher : public Prefetcher {
 public:
  explicit BackgroundPrefetcher(std::unique_ptr<Prefetcher> inner);
  ~BackgroundPrefetcher() override;
  void prefetch(int64_t layer, std::vector<int32_t> experts) override;
  void wait() override;

 private:
  void run();
  std::unique_ptr<Prefetcher> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int64_t, std::vector<int32_t>>> queue_;
  bool busy_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace streammoe
