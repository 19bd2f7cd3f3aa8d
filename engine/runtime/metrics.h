#pragma once
// The one JSON object a run writes with --metrics-json (schema in harness contract).
#include <string>

#include <nlohmann/json.hpp>

#include "engine/models/model.h"
#include "engine/runtime/generator.h"
#include "engine/runtime/options.h"

namespace streammoe {

struct RunInfo {
  std::string model_path;
  size_t prompt_tokens = 0;
  std::string output_text;
};

nlohmann::json generation_metrics(const GenerationResult& result, const Model& model,
                                  const EngineOptions& options, const RunInfo& info);
nlohmann::json build_info_json();
// Per-phase ms per decoded token, "other" being the step time not covered by a named phase.
nlohmann::json phase_ms_per_token(const GenerationResult& result);
// Each phase's total over the prompt's forward passes, "other" the rest of prefill_ms.
nlohmann::json prefill_phase_ms(const GenerationResult& result);
double peak_rss_mb();

}  // namespace streammoe
