#pragma once
// Expands an experiment into the ordered list of runs: variants x models x repeats, grouped by
// compile-time option set (each build happens once) and then by model (each model is prepared
// once), with repeats interleaved across variants inside a group unless the spec says grouped.
#include <map>
#include <string>
#include <vector>

#include "harness/spec.h"

namespace streammoe::lab {

struct RunPlan {
  int ordinal = 0;  // position in the execution order
  int variant_index = 0;
  int model_index = 0;
  int repeat = 0;  // 0-based
  int prompt_index = 0;
  std::string build_key;  // "" = the default engine build
};

// Canonical text of a compile-time option set ("STREAMMOE_AVX2=OFF;..."); "" for none.
std::string build_key(const std::map<std::string, std::string>& build_options);

std::vector<RunPlan> plan_runs(const ExperimentSpec& spec);

// A stable identity for a run inside its experiment: "variant|model|repeat".
std::string run_key(const std::string& variant, const std::string& model, int repeat);

}  // namespace streammoe::lab
