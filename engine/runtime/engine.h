#pragma once
// An Engine is a loaded model with its switches applied and its telemetry attached: routing
// trace recording/replay and routing statistics, observed after every forward step.
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/models/model.h"
#include "engine/models/routing_trace.h"
#include "engine/runtime/options.h"
#include "engine/runtime/routing_stats.h"

namespace streammoe {

class Engine {
 public:
  Engine(const std::string& model_folder, const EngineOptions& options);
  Model& model() { return *model_; }
  const EngineOptions& options() const { return options_; }
  const std::string& model_folder() const { return folder_; }

  // Call after every Model::forward (the generator's after_step hook).
  void observe_step();
  // Writes --expert-stats; call once at the end.
  void finish();
  // Routing telemetry for --metrics-json.
  nlohmann::json telemetry() const;

 private:
  std::string folder_;
  EngineOptions options_;
  std::unique_ptr<Model> model_;
  std::optional<RoutingTrace> replay_;
  std::optional<RoutingTraceWriter> recorder_;
  RoutingStats stats_;
  int64_t steps_ = 0;
};

}  // namespace streammoe
