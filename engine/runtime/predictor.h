#pragma once
// Predictors: which experts the next MoE layer will route to, guessed while the current layer
// runs (what a prefetcher loads). One switch, --predictor:
//   none           no prediction
//   temporal       the experts the next layer used for the previous token
//   early-routing  the next layer's router applied to the current layer's input
//   oracle         a recorded routing trace (--predictor-trace, --record-routing's format) of the
//                  same tokens: the bound a perfect predictor gives
// Every prediction is scored against the routing that happens (precision, recall).
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/models/model.h"
#include "engine/models/routing_trace.h"
#include "engine/util/name_table.h"

namespace streammoe {

enum class PredictorKind { kNone, kTemporal, kEarlyRouting, kOracle };
inline constexpr NameTable<PredictorKind, 4> kPredictorNames{{{
    {PredictorKind::kNone, "none", "no prediction"},
    {PredictorKind::kTemporal, "temporal", "the experts the next layer used for the previous token"},
    {PredictorKind::kEarlyRouting, "early-routing", "the next layer's router applied to this layer's input"},
    {PredictorKind::kOracle, "oracle", "a recorded routing trace of the same tokens (the perfect predictor)"},
}}};
constexpr const auto& name_table(PredictorKind) { return kPredictorNames; }

class Predictor {
 public:
  virtual ~Predictor() = default;
  // Experts `next_layer` is predicted to use at position `pos`; x is the current layer's input.
  virtual std::vector<int32_t> predict(int64_t pos, int64_t next_layer, std::span<const float> x) = 0;
};

// Temporal, early-routing or oracle over `model`, each naming its first `k` experts (--predict-k,
// else --k; 0: the routing's K)
// (`trace` for oracle; must outlive the predictor).
std::unique_ptr<Predictor> make_predictor(PredictorKind kind, Model& model, int64_t k, const RoutingTrace* trace);

// Precision and recall of predictions against the routing that followed.
class PredictionScore {
 public:
  explicit PredictionScore(int64_t num_layers) : pending_(num_layers) {}
  void predicted(int64_t layer, std::vector<int32_t> experts) { pending_.at(layer) = std::move(experts); }
  // Scores the pending predictions against one token's routing (per layer), then clears them.
  void score(const std::vector<Routing>& actual);
  int64_t predicted_experts() const { return predicted_; }
  int64_t routed_experts() const { return routed_; }
  int64_t correct() const { return correct_; }
  nlohmann::json to_json() const;

 private:
  std::vector<std::vector<int32_t>> pending_;
  int64_t predicted_ = 0, routed_ = 0, correct_ = 0;
};

}  // namespace streammoe
