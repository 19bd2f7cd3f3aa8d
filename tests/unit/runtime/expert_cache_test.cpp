// The LRU expert cache on constructed routing streams: its hits, misses and evictions are the
// hand-computed numbers, equal RoutingStats::lru_hits(C) for the same stream, and every view it
// hands out points at the record of the expert asked for (also after eviction and reload).
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "engine/io/expert_cache.h"
#include "engine/io/prefetcher.h"
#include "engine/runtime/predictor.h"
#include "engine/runtime/routing_stats.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

constexpr uint64_t kRecord = 4096;

// Records whose first bytes say (layer, expert); counts reads.
class FakeRecordSource : public ExpertSource {
 public:
  void fetch(int64_t, std::span<const int32_t>, std::span<ExpertWeights>) override {
    FAIL() << "a cache must read records, not fetch";
  }
  bool has_records() const override { return true; }
  uint64_t record_bytes() const override { return kRecord; }
  uint64_t read_record(int64_t layer, int32_t e, std::span<std::byte> dst) const override {
    const int32_t tag[2] = {static_cast<int32_t>(layer), e};
    std::memcpy(dst.data(), tag, sizeof tag);
    ++reads;
    return 0;
  }
  ExpertWeights view_record(int64_t, int32_t, const std::byte* record) const override {
    viewed.push_back(record);
    return {};
  }
  mutable int reads = 0;
  mutable std::vector<const std::byte*> viewed;
};

struct Tag {
  int32_t layer, expert;
};
Tag tag_of(const std::byte* record) {
  Tag t;
  std::memcpy(&t, record, sizeof t);
  return t;
}

// Replays `tokens` (each: per layer, the experts) through a cache of `entries` and RoutingStats.
struct Replay {
  ExpertIoStats cache;
  int64_t predicted_hits = 0;
  int reads = 0;
};
Replay replay(const std::vector<std::vector<std::vector<int32_t>>>& tokens, int64_t layers, int64_t entries) {
  auto source = std::make_unique<FakeRecordSource>();
  FakeRecordSource* fake = source.get();
  LruExpertCache cache(std::move(source), {ExpertCacheKind::kLru, entries, 0}, 1);
  RoutingStats stats(layers, 16);
  for (const auto& token : tokens) {
    std::vector<Routing> routing(layers);
    for (int64_t l = 0; l < layers; ++l) {
      routing[l].experts = token[l];
      std::vector<ExpertWeights> out(token[l].size());
      fake->viewed.clear();
      cache.fetch(l, token[l], out);
      for (size_t i = 0; i < token[l].size(); ++i) {
        const Tag t = tag_of(fake->viewed[i]);
        EXPECT_EQ(t.layer, l);
        EXPECT_EQ(t.expert, token[l][i]);
      }
    }
    stats.add_token(routing);
  }
  return {cache.stats(), stats.lru_hits(entries), fake->reads};
}

// One layer, one expert per token: A B A C B A. Stack distances: cold, cold, 1, cold, 2, 2.
const std::vector<std::vector<std::vector<int32_t>>> kAbacba = {{{0}}, {{1}}, {{0}}, {{2}}, {{1}}, {{0}}};

TEST(LruExpertCache, TwoEntriesHitOnlyTheDistanceOneReuse) {
  const Replay r = replay(kAbacba, 1, 2);
  EXPECT_EQ(r.cache.cache_hits, 1u);
  EXPECT_EQ(r.cache.cache_misses, 5u);
  EXPECT_EQ(r.cache.cache_evictions, 3u);  // 5 insertions into 2 entries
  EXPECT_EQ(r.predicted_hits, 1);
  EXPECT_EQ(r.reads, 5);
  EXPECT_EQ(r.cache.bytes_from_cache, kRecord);
  EXPECT_EQ(r.cache.bytes_read, 5 * kRecord);
}

TEST(LruExpertCache, ThreeEntriesHitEveryWarmAccess) {
  const Replay r = replay(kAbacba, 1, 3);
  EXPECT_EQ(r.cache.cache_hits, 3u);
  EXPECT_EQ(r.cache.cache_misses, 3u);
  EXPECT_EQ(r.cache.cache_evictions, 0u);
  EXPECT_EQ(r.predicted_hits, 3);
}

TEST(LruExpertCache, OneEntryNeverHitsHere) {
  const Replay r = replay(kAbacba, 1, 1);
  EXPECT_EQ(r.cache.cache_hits, 0u);
  EXPECT_EQ(r.cache.cache_evictions, 5u);
  EXPECT_EQ(r.predicted_hits, 0);
}

TEST(LruExpertCache, HitsEqualStackDistancePredictionOnAMultiLayerStream) {
  // Two layers, K = 2, a stream with reuse inside and across layers; (layer, expert) keys differ
  // between layers even for the same expert id.
  std::vector<std::vector<std::vector<int32_t>>> tokens;
  uint32_t x = 12345;
  for (int t = 0; t < 40; ++t) {
    std::vector<std::vector<int32_t>> token(2);
    for (auto& layer : token) {
      x = x * 1103515245u + 12345u;
      const int32_t a = static_cast<int32_t>((x >> 16) % 6);
      const int32_t b = (a + 1 + static_cast<int32_t>((x >> 8) % 5)) % 6;
      layer = {a, b};
    }
    tokens.push_back(token);
  }
  for (int64_t entries : {2, 3, 4, 5, 8, 12}) {
    const Replay r = replay(tokens, 2, entries);
    EXPECT_EQ(static_cast<int64_t>(r.cache.cache_hits), r.predicted_hits) << "entries " << entries;
    EXPECT_EQ(r.cache.cache_hits + r.cache.cache_misses, 160u);
  }
  // Capacity for every key: only the 12 cold accesses miss.
  EXPECT_EQ(replay(tokens, 2, 12).cache.cache_misses, 12u);
}

TEST(LruExpertCache, ByteCapacityEvictsLikeEntries) {
  auto source = std::make_unique<FakeRecordSource>();
  LruExpertCache cache(std::move(source), {ExpertCacheKind::kLru, 0, 2 * kRecord}, 1);
  std::vector<ExpertWeights> out(1);
  for (int32_t e : {0, 1, 0, 2, 1, 0}) cache.fetch(0, std::span<const int32_t>(&e, 1), out);
  EXPECT_EQ(cache.stats().cache_hits, 1u);
  EXPECT_EQ(cache.size(), 2);
  EXPECT_EQ(cache.stats().cache_resident_bytes, 2 * kRecord);
}

TEST(LruExpertCache, PrefetchedEntriesAreCountedUsedOrUnused) {
  auto source = std::make_unique<FakeRecordSource>();
  FakeRecordSource* fake = source.get();
  LruExpertCache cache(std::move(source), {ExpertCacheKind::kLru, 2, 0}, 1);
  const int32_t predicted[] = {3, 4};
  cache.prefetch(0, predicted);
  EXPECT_EQ(fake->reads, 2);
  std::vector<ExpertWeights> out(1);
  const int32_t used = 3;
  cache.fetch(0, std::span<const int32_t>(&used, 1), out);  // hit on a prefetched entry
  EXPECT_EQ(cache.stats().cache_hits, 1u);
  EXPECT_EQ(cache.stats().prefetched_used, 1u);
  const int32_t other[] = {5, 6};
  std::vector<ExpertWeights> out2(2);
  cache.fetch(0, other, out2);  // evicts 4 (never used) and 3
  EXPECT_EQ(cache.stats().prefetched_unused_bytes, kRecord);
  EXPECT_EQ(cache.stats().prefetched_experts, 2u);
}

TEST(LruExpertCache, BackgroundPrefetcherFillsTheCacheBeforeTheFetch) {
  auto source = std::make_unique<FakeRecordSource>();
  LruExpertCache cache(std::move(source), {ExpertCacheKind::kLru, 8, 0}, 1);
  BackgroundPrefetcher prefetcher(std::make_unique<CachePrefetcher>(cache));
  prefetcher.prefetch(1, {2, 5});
  prefetcher.wait();
  const int32_t experts[] = {5, 2};
  std::vector<ExpertWeights> out(2);
  cache.fetch(1, experts, out);
  EXPECT_EQ(cache.stats().cache_hits, 2u);
  EXPECT_EQ(cache.stats().cache_misses, 0u);
}

// --overlap pipelined runs a prefetcher (willneed advice, cache reads) on a background thread:
// requests run in order, and a failure comes back at the next wait(), once.
TEST(BackgroundPrefetcher, RunsRequestsInOrderAndRethrowsAFailureAtWait) {
  struct Recording : Prefetcher {
    std::vector<int64_t>* layers;
    explicit Recording(std::vector<int64_t>* l) : layers(l) {}
    void prefetch(int64_t layer, std::vector<int32_t>) override {
      if (layer < 0) fail("advice failed");
      layers->push_back(layer);
    }
  };
  std::vector<int64_t> layers;
  BackgroundPrefetcher prefetcher(std::make_unique<Recording>(&layers));
  for (int64_t layer : {3, 1, 2}) prefetcher.prefetch(layer, {0});
  prefetcher.wait();
  EXPECT_EQ(layers, (std::vector<int64_t>{3, 1, 2}));
  prefetcher.prefetch(-1, {0});
  EXPECT_THROW(prefetcher.wait(), Error);
  prefetcher.wait();  // reported once
  prefetcher.prefetch(4, {0});
  prefetcher.wait();
  EXPECT_EQ(layers.back(), 4);
}

TEST(LruExpertCache, RefusesACacheWithoutCapacity) {
  auto make = [] { LruExpertCache c(std::make_unique<FakeRecordSource>(), {ExpertCacheKind::kLru, 0, 0}, 1); };
  EXPECT_THROW(make(), Error);
}

TEST(PredictionScore, PrecisionAndRecallOnAConstructedCase) {
  PredictionScore score(3);
  score.predicted(1, {1, 2, 3, 4});
  score.predicted(2, {7});
  std::vector<Routing> actual(3);
  actual[0].experts = {9, 8};  // not predicted: not scored
  actual[1].experts = {2, 4};
  actual[2].experts = {7, 6};
  score.score(actual);
  EXPECT_EQ(score.predicted_experts(), 5);
  EXPECT_EQ(score.correct(), 3);       // 2, 4, 7
  EXPECT_EQ(score.routed_experts(), 4);
  EXPECT_DOUBLE_EQ(score.to_json()["precision"].get<double>(), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(score.to_json()["recall"].get<double>(), 3.0 / 4.0);
}

}  // namespace
}  // namespace streammoe
