#pragma once
// An Engine is a loaded model with its switches applied and its telemetry attached: the expert
// I/O pipeline (I/O mode, cache, predictor, prefetcher, overlap: chosen here, from
// EngineOptions, and nowhere else), routing trace recording/replay and routing statistics,
// observed after every forward step.
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/io/prefetcher.h"
#include "engine/models/model.h"
#include "engine/models/routing_trace.h"
#include "engine/runtime/options.h"
#include "engine/runtime/predictor.h"
#include "engine/runtime/routing_stats.h"

namespace streammoe {

// The enum switches of `options` parsed and their combinations checked; Error naming the switch
// and listing the valid values (or the combination that is refused and why).
struct ExpertPipelineOptions {
  ExpertIoOptions io;
  ExpertCacheOptions cache;
  PrefetchKind prefetch = PrefetchKind::kNone;
  PredictorKind predictor = PredictorKind::kNone;
  bool pipelined = false;
};
ExpertPipelineOptions parse_pipeline_options(const EngineOptions& options);

class Engine {
 public:
  Engine(const std::string& model_folder, const EngineOptions& options);
  ~Engine();
  Model& model() { return *model_; }
  const EngineOptions& options() const { return options_; }
  const std::string& model_folder() const { return folder_; }

  // Call after every Model::forward (the generator's after_step hook).
  void observe_step();
  // Writes --expert-stats; call once at the end.
  void finish();
  // Routing and expert I/O telemetry for --metrics-json.
  nlohmann::json telemetry() const;
  const RoutingStats& routing_stats() const { return stats_; }

 private:
  void lookahead(int64_t pos, int64_t layer, std::span<const float> x);

  std::string folder_;
  EngineOptions options_;
  ExpertPipelineOptions pipeline_;
  std::unique_ptr<Model> model_;
  std::optional<RoutingTrace> replay_;
  std::optional<RoutingTrace> oracle_;
  std::optional<RoutingTraceWriter> recorder_;
  std::unique_ptr<Predictor> predictor_;
  std::unique_ptr<Prefetcher> prefetcher_;  // after model_: joined before the model goes
  RoutingStats stats_;
  PredictionScore score_;
  int64_t steps_ = 0;
};

}  // namespace streammoe
