#include "engine/runtime/engine.h"

#include <fstream>

#include "engine/util/error.h"

namespace streammoe {

Engine::Engine(const std::string& folder, const EngineOptions& options)
    : folder_(folder),
      options_(options),
      model_(Model::load(folder)),
      stats_(model_->config().num_layers, model_->config().num_experts) {
  model_->set_top_k(options.k);
  model_->set_threads(options.threads);
  DequantMode dequant;
  if (!parse_dequant_mode(options.dequant, &dequant)) fail("--dequant: invalid value '{}'", options.dequant);
  model_->set_dequant(dequant);
  if (!options.replay_routing.empty()) {
    replay_ = RoutingTrace::load(options.replay_routing);
    model_->set_routing_replay(&*replay_);
  }
  if (!options.record_routing.empty()) recorder_.emplace(options.record_routing, model_->config(), folder);
}

void Engine::observe_step() {
  const std::vector<Routing> routing = model_->last_routing();
  stats_.add_token(routing);
  if (recorder_) recorder_->add_token(steps_, routing);
  ++steps_;
}

void Engine::finish() {
  if (options_.expert_stats.empty()) return;
  std::ofstream out(options_.expert_stats);
  if (!out) fail("{}: cannot open for writing", options_.expert_stats);
  out << stats_.to_json().dump(1) << "\n";
}

nlohmann::json Engine::telemetry() const {
  const int64_t warm = stats_.accesses() - stats_.cold_accesses();
  nlohmann::json j = {{"routing_tokens", stats_.tokens()},
                      {"expert_accesses", stats_.accesses()},
                      {"cold_accesses", stats_.cold_accesses()}};
  nlohmann::json hist = nlohmann::json::array();
  const auto& h = stats_.stack_distance_histogram();
  for (size_t b = 0; b < h.size(); ++b) hist.push_back({{"min_distance", RoutingStats::bucket_low(b)}, {"count", h[b]}});
  j["stack_distance_histogram"] = hist;
  j["warm_accesses"] = warm;
  return j;
}

}  // namespace streammoe
