#pragma once
// The lab's terminal views: `list`, `show EXP` and `compare EXP_A EXP_B`.
#include <cstdint>
#include <map>
#include <string>

#include "harness/store.h"

namespace streammoe::lab {

std::string list_view(Store& store);
std::string show_view(Store& store, int64_t experiment_id);
// Variants matched by what they ran, not by name: the same engine options (on the switches both
// experiments' engines know), the same compile-time options and the same model, under the same
// conditions (workload, cache state, memory budget). B's speed relative to A's with a bootstrap
// CI. When the conditions differ nothing is matched, and the differences are listed, unless
// `any_conditions`.
std::string compare_view(Store& store, int64_t experiment_a, int64_t experiment_b,
                         bool any_conditions = false);

// The conditions an experiment's runs were measured under, from its stored plan: workload,
// tokens, cache state, drop_caches, memory budget.
std::map<std::string, std::string> experiment_conditions(Store& store, int64_t experiment_id);

}  // namespace streammoe::lab
