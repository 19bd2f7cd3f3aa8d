#include "engine/runtime/routing_stats.h"

#include <algorithm>
#include <cmath>

namespace streammoe {

void StackDistance::add(int64_t index, int delta) {
  for (int64_t i = index + 1; i <= static_cast<int64_t>(tree_.size()); i += i & -i) tree_[i - 1] += delta;
}

int64_t StackDistance::prefix(int64_t index) const {
  int64_t sum = 0;
  for (int64_t i = index + 1; i > 0; i -= i & -i) sum += tree_[i - 1];
  return sum;
}

int64_t StackDistance::access(int64_t key) {
  if (now_ >= static_cast<int64_t>(tree_.size())) {
    // Grow: rebuild the tree over the live "latest access" marks.
    std::vector<int64_t> marks;
    for (const auto& [k, t] : last_) marks.push_back(t);
    tree_.assign(std::max<size_t>(1024, tree_.size() * 2), 0);
    for (int64_t t : marks) add(t, 1);
  }
  int64_t distance = kCold;
  auto it = last_.find(key);
  if (it != last_.end()) {
    // Distinct keys whose latest access lies after this key's latest access.
    distance = prefix(now_ - 1) - prefix(it->second);
    add(it->second, -1);
  }
  add(now_, 1);
  last_[key] = now_++;
  return distance;
}

RoutingStats::RoutingStats(int64_t num_layers, int64_t num_experts)
    : num_layers_(num_layers),
      num_experts_(num_experts),
      counts_(num_layers, std::vector<int64_t>(num_experts, 0)),
      reused_from_previous_(num_layers, 0),
      routed_(num_layers, 0),
      previous_(num_layers) {}

int64_t RoutingStats::bucket_of(int64_t distance) {
  if (distance <= 0) return 0;
  int64_t b = 1;
  while ((int64_t{1} << b) <= distance) ++b;
  return b;  // [2^(b-1), 2^b)
}

int64_t RoutingStats::bucket_low(int64_t bucket) { return bucket == 0 ? 0 : int64_t{1} << (bucket - 1); }

void RoutingStats::add_token(const std::vector<Routing>& per_layer) {
  for (int64_t layer = 0; layer < static_cast<int64_t>(per_layer.size()) && layer < num_layers_; ++layer) {
    const auto& experts = per_layer[layer].experts;
    if (experts.empty()) continue;
    for (int32_t e : experts) {
      counts_[layer][e] += 1;
      if (tokens_ > 0 && std::find(previous_[layer].begin(), previous_[layer].end(), e) != previous_[layer].end())
        reused_from_previous_[layer] += 1;
      const int64_t d = stack_.access(layer * num_experts_ + e);
      accesses_ += 1;
      if (d == StackDistance::kCold) {
        cold_ += 1;
        continue;
      }
      const int64_t b = bucket_of(d);
      if (static_cast<int64_t>(histogram_.size()) <= b) histogram_.resize(b + 1, 0);
      histogram_[b] += 1;
      distances_.push_back(d);
    }
    if (tokens_ > 0) routed_[layer] += static_cast<int64_t>(experts.size());
    previous_[layer] = experts;
  }
  tokens_ += 1;
}

int64_t RoutingStats::lru_hits(int64_t entries) const {
  return std::count_if(distances_.begin(), distances_.end(), [&](int64_t d) { return d < entries; });
}

nlohmann::json RoutingStats::to_json() const {
  nlohmann::json layers = nlohmann::json::array();
  for (int64_t l = 0; l < num_layers_; ++l) {
    int64_t total = 0;
    for (int64_t c : counts_[l]) total += c;
    if (total == 0) continue;
    double entropy = 0.0;
    for (int64_t c : counts_[l])
      if (c > 0) entropy -= static_cast<double>(c) / total * std::log2(static_cast<double>(c) / total);
    std::vector<int64_t> sorted = counts_[l];
    std::sort(sorted.rbegin(), sorted.rend());
    const int64_t top = std::max<int64_t>(1, num_experts_ / 10);
    int64_t top_total = 0;
    for (int64_t i = 0; i < top; ++i) top_total += sorted[i];
    layers.push_back({{"layer", l},
                      {"counts", counts_[l]},
                      {"popularity_entropy_bits", entropy},
                      {"uniform_entropy_bits", std::log2(static_cast<double>(num_experts_))},
                      {"top10pct_share", static_cast<double>(top_total) / total},
                      {"reuse_from_previous_token",
                       routed_[l] ? static_cast<double>(reused_from_previous_[l]) / routed_[l] : 0.0}});
  }
  nlohmann::json histogram = nlohmann::json::array();
  for (size_t b = 0; b < histogram_.size(); ++b)
    histogram.push_back({{"min_distance", bucket_low(b)}, {"count", histogram_[b]}});
  return {{"tokens", tokens_},
          {"num_experts", num_experts_},
          {"accesses", accesses_},
          {"cold_accesses", cold_},
          {"stack_distance_histogram", histogram},
          {"layers", layers}};
}

}  // namespace streammoe
