#include "engine/runtime/routing_policy.h"

#include "engine/runtime/predictor.h"
#include "engine/util/error.h"

namespace streammoe {

RoutingPolicy::RoutingPolicy(Model& model, RoutingMode mode, int64_t k, const RoutingTrace* replay,
                             Lookahead lookahead)
    : model_(model),
      mode_(mode),
      k_(k),
      replay_(replay),
      lookahead_(lookahead),
      early_(model.config().num_layers) {
  if (!replay_) return;
  replay_->check_fits(model.config());
  if (k_ > replay_->top_k())
    fail("--k {} with --replay-routing {}: the trace holds the top {} of each routing, and --k can only keep the "
         "first of them (valid: 0 for all, or 1 to {})",
         k_, replay_->source(), replay_->top_k(), replay_->top_k());
}

Routing RoutingPolicy::replayed(int64_t pos, int64_t layer) const {
  return first_k(replay_->at(pos, layer), k_, model_.config().norm_topk_prob);
}

Routing RoutingPolicy::route(int64_t pos, int64_t layer, std::span<const float> x,
                             MoeBlock& block) {
  // Under replay --routing early changes no decision: the replayed choice of the next layer is
  // known a layer ahead already; fetched() hands it to the prefetcher.
  if (replay_) return replayed(pos, layer);
  if (mode_ == RoutingMode::kExact) return block.route(x, k_);
  // Speculative early routing: the next MoE layer will use the routing its router gives on this
  // layer's input, decided before this layer runs (lossy: the input differs).
  // Keyed by position: a chunk routes all its tokens through one layer before the next.
  Routing decided;
  if (auto it = early_[layer].find(pos); it != early_[layer].end()) {
    decided = std::move(it->second);
    early_[layer].erase(it);
  }
  if (decided.experts.empty()) decided = block.route(x, k_);
  const int64_t next = model_.next_moe_layer(layer);
  if (next >= 0) early_[next][pos] = model_.moe_block(next)->route(x, k_);
  return decided;
}

std::vector<int32_t> RoutingPolicy::decided_early(int64_t pos, int64_t next) const {
  if (replay_) return replayed(pos, next).experts;
  auto it = early_[next].find(pos);
  return it == early_[next].end() ? std::vector<int32_t>{} : it->second.experts;
}

void RoutingPolicy::fetched(int64_t pos, int64_t layer, std::span<const float> x) {
  const int64_t next = model_.next_moe_layer(layer);
  if (next < 0) return;
  if (mode_ == RoutingMode::kEarly) {
    // The next layer's experts are decided, not guessed: read them behind this layer's compute.
    if (lookahead_.prefetcher) prefetch(next, decided_early(pos, next));
    return;
  }
  if (!lookahead_.predictor) return;
  std::vector<int32_t> guess = lookahead_.predictor->predict(pos, next, x);
  lookahead_.score->predicted(next, guess);
  prefetch(next, std::move(guess));
}

void RoutingPolicy::prefetch(int64_t layer, std::vector<int32_t> experts) {
  if (!lookahead_.prefetcher || experts.empty()) return;
  lookahead_.prefetcher->prefetch(layer, std::move(experts));
  if (lookahead_.overlap == OverlapMode::kSerial) lookahead_.prefetcher->wait();
}

}  // namespace streammoe
