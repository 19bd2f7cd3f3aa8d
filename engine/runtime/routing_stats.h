#pragma once
// Routing telemetry: per-(layer, expert) activation counts, token-to-token reuse per layer, and
// the LRU stack (reuse) distance of every expert access. An LRU cache of C entries hits exactly
// the accesses whose stack distance is < C, so the histogram explains what a cache can gain.
#include <cstdint>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/blocks/moe_ffn.h"

namespace streammoe {

// Stack distances over a stream of keys, O(log n) per access (Fenwick tree over access times).
class StackDistance {
 public:
  static constexpr int64_t kCold = -1;  // first access of a key
  // Number of distinct other keys accessed since the last access of `key`, or kCold.
  int64_t access(int64_t key);

 private:
  void add(int64_t index, int delta);
  int64_t prefix(int64_t index) const;  // sum over [0, index]
  std::vector<int> tree_;
  std::map<int64_t, int64_t> last_;
  int64_t now_ = 0;
};

class RoutingStats {
 public:
  RoutingStats(int64_t num_layers, int64_t num_experts);
  // One token's routing, indexed by layer (empty entries for dense layers are skipped).
  void add_token(const std::vector<Routing>& per_layer);

  int64_t tokens() const { return tokens_; }
  const std::vector<std::vector<int64_t>>& counts() const { return counts_; }
  // Histogram buckets: [0], [1], [2,3], [4,7], ... powers of two; cold accesses apart.
  const std::vector<int64_t>& stack_distance_histogram() const { return histogram_; }
  int64_t cold_accesses() const { return cold_; }
  int64_t accesses() const { return accesses_; }
  // Hits an LRU cache of `entries` (layer, expert) blocks would have had on this stream.
  int64_t lru_hits(int64_t entries) const;
  static int64_t bucket_of(int64_t distance);
  static int64_t bucket_low(int64_t bucket);

  nlohmann::json to_json() const;

 private:
  int64_t num_layers_, num_experts_;
  int64_t tokens_ = 0, accesses_ = 0, cold_ = 0;
  std::vector<std::vector<int64_t>> counts_;       // [layer][expert]
  std::vector<int64_t> reused_from_previous_;      // [layer] experts also used by the previous token
  std::vector<int64_t> routed_;                    // [layer] experts routed
  std::vector<std::vector<int32_t>> previous_;     // [layer] previous token's experts
  std::vector<int64_t> histogram_;
  std::vector<int64_t> distances_;                 // every warm access's distance, for lru_hits
  StackDistance stack_;
};

}  // namespace streammoe
