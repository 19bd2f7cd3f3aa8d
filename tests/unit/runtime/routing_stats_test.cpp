#include "engine/runtime/routing_stats.h"

#include <gtest/gtest.h>

#include <list>
#include <numeric>
#include <random>

namespace streammoe {
namespace {

std::vector<Routing> one_layer(std::vector<int32_t> experts) {
  Routing r;
  r.experts = std::move(experts);
  r.weights.assign(r.experts.size(), 1.0f);
  return {r};
}

// A reference LRU cache, simulated directly.
int64_t simulate_lru_hits(const std::vector<int64_t>& keys, size_t capacity) {
  std::list<int64_t> lru;
  int64_t hits = 0;
  for (int64_t k : keys) {
    auto it = std::find(lru.begin(), lru.end(), k);
    if (it != lru.end()) {
      ++hits;
      lru.erase(it);
    } else if (lru.size() == capacity) {
      lru.pop_back();
    }
    lru.push_front(k);
  }
  return hits;
}

}  // namespace

TEST(StackDistance, KnownSequence) {
  StackDistance s;
  // a b c a b b d a : distances cold cold cold 2 2 0 cold 2
  const int64_t a = 1, b = 2, c = 3, d = 4;
  std::vector<int64_t> expected = {StackDistance::kCold, StackDistance::kCold, StackDistance::kCold, 2, 2, 0,
                                   StackDistance::kCold, 2};
  std::vector<int64_t> got;
  for (int64_t k : {a, b, c, a, b, b, d, a}) got.push_back(s.access(k));
  EXPECT_EQ(got, expected);
}

TEST(RoutingStats, HistogramReuseAndCounts) {
  RoutingStats stats(1, 4);
  stats.add_token(one_layer({0, 1}));  // cold, cold
  stats.add_token(one_layer({0, 2}));  // 0: distance 1 (1 since), 2: cold
  stats.add_token(one_layer({0, 1}));  // 0: distance 1 (2), 1: distance 2 (0, 2)
  EXPECT_EQ(stats.accesses(), 6);
  EXPECT_EQ(stats.cold_accesses(), 3);
  // buckets: [0], [1], [2,3], ...
  EXPECT_EQ(stats.stack_distance_histogram(), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(stats.counts()[0], (std::vector<int64_t>{3, 2, 1, 0}));
  // Reuse from the previous token: token 2 reuses {0} of 2, token 3 reuses {0} of 2.
  EXPECT_DOUBLE_EQ(stats.to_json()["layers"][0]["reuse_from_previous_token"].get<double>(), 0.5);
  EXPECT_EQ(stats.lru_hits(1), 0);
  EXPECT_EQ(stats.lru_hits(2), 2);
  EXPECT_EQ(stats.lru_hits(3), 3);
}

TEST(RoutingStats, LruHitsMatchASimulatedCacheOnRandomRouting) {
  std::mt19937 rng(3);
  const int64_t layers = 3, experts = 16, k = 4;
  RoutingStats stats(layers, experts);
  std::vector<int64_t> keys;
  for (int t = 0; t < 300; ++t) {
    std::vector<Routing> per_layer(layers);
    for (int64_t l = 0; l < layers; ++l) {
      std::vector<int32_t> ids(experts);
      std::iota(ids.begin(), ids.end(), 0);
      // skewed: sample from the first half twice as often
      std::shuffle(ids.begin(), ids.begin() + experts / 2, rng);
      std::shuffle(ids.begin(), ids.end(), rng);
      std::vector<int32_t> chosen;
      for (int32_t id : ids)
        if (static_cast<int64_t>(chosen.size()) < k && (id < experts / 2 || rng() % 2)) chosen.push_back(id);
      per_layer[l].experts = chosen;
      per_layer[l].weights.assign(chosen.size(), 1.0f);
      for (int32_t e : chosen) keys.push_back(l * experts + e);
    }
    stats.add_token(per_layer);
  }
  for (size_t capacity : {1u, 4u, 12u, 24u, 40u})
    EXPECT_EQ(stats.lru_hits(static_cast<int64_t>(capacity)), simulate_lru_hits(keys, capacity)) << capacity;
}

}  // namespace streammoe
