#pragma once
// The lab's terminal views: `list`, `show EXP` and `compare EXP_A EXP_B`.
#include <cstdint>
#include <string>

#include "harness/store.h"

namespace streammoe::lab {

std::string list_view(Store& store);
std::string show_view(Store& store, int64_t experiment_id);
// Variants matched by name and model; B's speed relative to A's with a bootstrap CI.
std::string compare_view(Store& store, int64_t experiment_a, int64_t experiment_b);

}  // namespace streammoe::lab
