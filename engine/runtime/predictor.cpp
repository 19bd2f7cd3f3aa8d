#include "engine/runtime/predictor.h"

#include <algorithm>
#include <array>

#include "engine/util/error.h"

namespace streammoe {
namespace {

// The first k of a prediction's experts (k <= 0: all of them).
std::vector<int32_t> first_n(std::vector<int32_t> experts, int64_t k) {
  if (k > 0 && experts.size() > static_cast<size_t>(k)) experts.resize(k);
  return experts;
}

class TemporalPredictor : public Predictor {
 public:
  TemporalPredictor(Model& m, int64_t k) : model_(m), k_(k) {}
  std::vector<int32_t> predict(int64_t, int64_t next, std::span<const float>) override {
    // Still the previous token's routing: the next layer has not run for this token yet.
    return first_n(model_.moe_block(next)->last_routing().experts, k_);
  }

 private:
  Model& model_;
  int64_t k_;
};

class EarlyRoutingPredictor : public Predictor {
 public:
  EarlyRoutingPredictor(Model& m, int64_t k) : model_(m), k_(k) {}
  std::vector<int32_t> predict(int64_t, int64_t next, std::span<const float> x) override {
    return model_.moe_block(next)->route(x, k_).experts;
  }

 private:
  Model& model_;
  int64_t k_;
};

class OraclePredictor : public Predictor {
 public:
  OraclePredictor(const RoutingTrace& t, int64_t k) : trace_(t), k_(k) {}
  std::vector<int32_t> predict(int64_t pos, int64_t next, std::span<const float>) override {
    // With --k the run routes to the first k of the trace's choices (a replay is cut the same way).
    return first_n(trace_.at(pos, next).experts, k_);
  }

 private:
  const RoutingTrace& trace_;
  int64_t k_;
};

}  // namespace

std::unique_ptr<Predictor> make_predictor(PredictorKind kind, Model& model, int64_t k, const RoutingTrace* trace) {
  switch (kind) {
    case PredictorKind::kNone: return nullptr;
    case PredictorKind::kTemporal:
      return std::make_unique<TemporalPredictor>(model, k);
    case PredictorKind::kEarlyRouting: return std::make_unique<EarlyRoutingPredictor>(model, k);
    case PredictorKind::kOracle:
      if (!trace) fail("the oracle predictor needs a routing trace");
      trace->check_fits(model.config());
      return std::make_unique<OraclePredictor>(*trace, k);
  }
  return nullptr;
}

void PredictionScore::score(const std::vector<Routing>& actual) {
  for (size_t l = 0; l < pending_.size() && l < actual.size(); ++l) {
    auto& guess = pending_[l];
    if (guess.empty() && l < actual.size()) {
      continue;  // nothing predicted for this layer (first MoE layer, or first token for temporal)
    }
    const auto& routed = actual[l].experts;
    predicted_ += static_cast<int64_t>(guess.size());
    routed_ += static_cast<int64_t>(routed.size());
    for (int32_t e : guess) correct_ += std::count(routed.begin(), routed.end(), e) > 0;
    guess.clear();
  }
}

nlohmann::json PredictionScore::to_json() const {
  return {{"predicted_experts", predicted_},
          {"routed_experts_predicted_layers", routed_},
          {"correct", correct_},
          {"precision", predicted_ ? static_cast<double>(correct_) / predicted_ : 0.0},
          {"recall", routed_ ? static_cast<double>(correct_) / routed_ : 0.0}};
}

}  // namespace streammoe
