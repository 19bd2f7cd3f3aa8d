#pragma once
// The engine's routing policy: every technique that changes or anticipates a MoE layer's routing,
// behind the one interface the MoE block calls (MoeRouting, engine/blocks/moe_ffn.h).
//   decision   a replayed trace (--replay-routing) if given; else, with --routing early, the
//              decision made one MoE layer ahead (speculative early routing: the layer's router
//              applied to the previous MoE layer's input, lossy); else the layer's own router.
//              --k overrides the model's top-K of every router call; under replay it keeps the
//              first K of the trace's choices, renormalised as the router renormalises its top-K.
//   lookahead  after a layer's fetch, the next MoE layer's experts go to the prefetcher: with
//              --routing early they are known (the decision made one layer ahead; under replay
//              the next layer's replayed choice), else the predictor guesses them (scored against
//              what happens). --overlap serial waits for the prefetch.
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "engine/blocks/moe_ffn.h"
#include "engine/io/prefetcher.h"
#include "engine/models/model.h"
#include "engine/models/routing_trace.h"
#include "engine/util/name_table.h"

namespace streammoe {

enum class RoutingMode { kExact, kEarly };
inline constexpr NameTable<RoutingMode, 2> kRoutingModeNames{{{
    {RoutingMode::kExact, "exact", "each layer's router decides"},
    {RoutingMode::kEarly, "early",
     "decided one MoE layer ahead from the previous MoE layer's input (lossy), so --prefetch reads "
     "the next layer's experts while this one computes; under --replay-routing the decision is the next "
     "layer's replayed choice (the routing is the replay's, the reads start a layer early)"},
}}};
constexpr const auto& name_table(RoutingMode) { return kRoutingModeNames; }

class Predictor;
class PredictionScore;

class RoutingPolicy final : public MoeRouting {
 public:
  struct Lookahead {
    Predictor* predictor = nullptr;    // nullptr: no lookahead
    PredictionScore* score = nullptr;  // every prediction is scored here
    Prefetcher* prefetcher = nullptr;  // nullptr: predictions are only scored
    OverlapMode overlap = OverlapMode::kSerial;
  };
  // `replay` (nullptr: none) must fit the model and hold at least k choices per routing (Error
  // naming the trace otherwise), and outlive the policy, as must the lookahead's parts.
  RoutingPolicy(Model& model, RoutingMode mode, int64_t k, const RoutingTrace* replay,
                Lookahead lookahead);

  Routing route(int64_t pos, int64_t layer, std::span<const float> x, MoeBlock& block) override;
  void fetched(int64_t pos, int64_t layer, std::span<const float> x) override;

 private:
  // The trace's routing of `layer` at `pos`, cut to the first k_ of its choices.
  Routing replayed(int64_t pos, int64_t layer) const;
  // The next MoE layer's experts decided one layer early (--routing early); empty when none is.
  std::vector<int32_t> decided_early(int64_t pos, int64_t next) const;
  void prefetch(int64_t layer, std::vector<int32_t> experts);

  Model& model_;
  RoutingMode mode_;
  int64_t k_;
  const RoutingTrace* replay_;
  Lookahead lookahead_;
  std::vector<std::map<int64_t, Routing>> early_;  // [layer][pos] routing decided one MoE layer early
};

}  // namespace streammoe
