#pragma once
// An Engine is a loaded model with its switches applied and its telemetry attached. It owns, in
// build order: the checkpoint (config + resident tensors), the expert pipeline (source -> cache
// -> prefetcher, engine/runtime/expert_pipeline.h), the model over them, the predictor and the
// routing policy the model's MoE blocks call (engine/runtime/routing_policy.h), and the routing
// trace recording and statistics observed after every forward step.
#include <filesystem>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "engine/model/config.h"
#include "engine/model/safetensors.h"
#include "engine/models/model.h"
#include "engine/models/routing_trace.h"
#include "engine/runtime/expert_pipeline.h"
#include "engine/runtime/options.h"
#include "engine/runtime/predictor.h"
#include "engine/runtime/routing_policy.h"
#include "engine/runtime/routing_stats.h"

namespace streammoe {

class Engine {
 public:
  // Error (naming the switch or the file) when the options are invalid or do not fit the folder.
  Engine(const std::filesystem::path& model_folder, const EngineOptions& options);
  ~Engine();
  Model& model() { return *model_; }
  const EngineOptions& options() const { return options_; }
  const std::filesystem::path& model_folder() const { return folder_; }

  // Call after every Model::forward with the number of tokens it consumed (the generator's
  // after_step hook): routing statistics, prediction scores and the recorded trace, per token.
  void observe_step(int64_t tokens = 1);
  // Closes the --record-routing trace and writes --expert-stats (Errors naming the file if either
  // fails to be written); call once at the end.
  void finish();
  // Routing and expert I/O telemetry for --metrics-json.
  nlohmann::json telemetry() const;
  const RoutingStats& routing_stats() const { return stats_; }

 private:
  std::filesystem::path folder_;
  EngineOptions options_;
  ModelConfig config_;
  std::unique_ptr<TensorStore> store_;
  ExpertPipeline experts_;
  std::unique_ptr<Model> model_;
  std::optional<RoutingTrace> replay_;
  std::optional<RoutingTrace> oracle_;
  std::unique_ptr<Predictor> predictor_;
  PredictionScore score_;
  std::unique_ptr<RoutingPolicy> routing_;
  std::optional<RoutingTraceWriter> recorder_;
  RoutingStats stats_;
  int64_t steps_ = 0;
};

}  // namespace streammoe
