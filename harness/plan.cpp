#include "harness/plan.h"

#include <algorithm>

#include <fmt/format.h>

namespace streammoe::lab {

std::string build_key(const std::map<std::string, std::string>& build_options) {
  std::string key;
  for (const auto& [name, value] : build_options)
    key += fmt::format("{}{}={}", key.empty() ? "" : ";", name, value);
  return key;
}

std::string run_key(const std::string& variant, const std::string& model, int repeat) {
  return fmt::format("{}|{}|{}", variant, model, repeat);
}

std::vector<RunPlan> plan_runs(const ExperimentSpec& spec) {
  // Build groups in order of first appearance; the baseline comes first, so its build does too.
  std::vector<std::string> builds;
  for (const auto& v : spec.variants) {
    std::string key = build_key(v.build_options);
    if (std::find(builds.begin(), builds.end(), key) == builds.end()) builds.push_back(key);
  }
  const int prompts = std::max<int>(1, static_cast<int>(spec.workload.prompts.size()));
  std::vector<RunPlan> plans;
  auto add = [&](int variant, int model, int repeat, const std::string& build) {
    RunPlan p;
    p.ordinal = static_cast<int>(plans.size());
    p.variant_index = variant;
    p.model_index = model;
    p.repeat = repeat;
    p.prompt_index = repeat % prompts;  // the same prompt for every variant at a given repeat
    p.build_key = build;
    plans.push_back(p);
  };
  for (const auto& build : builds) {
    std::vector<int> members;
    for (int v = 0; v < static_cast<int>(spec.variants.size()); ++v)
      if (build_key(spec.variants[v].build_options) == build) members.push_back(v);
    for (int m = 0; m < static_cast<int>(spec.models.size()); ++m) {
      if (spec.order == RunOrder::kInterleaved) {
        for (int r = 0; r < spec.repeats; ++r)
          for (int v : members) add(v, m, r, build);
      } else {
        for (int v : members)
          for (int r = 0; r < spec.repeats; ++r) add(v, m, r, build);
      }
    }
  }
  return plans;
}

}  // namespace streammoe::lab
