#pragma once
// Turns what an experiment recorded (runs, metrics, quality) into its verdicts, using the keep
// rule stored with the experiment, and replaces the verdicts table rows in one transaction.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "harness/spec.h"
#include "harness/store.h"

namespace streammoe::lab {

KeepRule keep_rule_from_json(const nlohmann::json& keep);

// Recomputes the verdicts of one experiment from the database alone.
void update_verdicts(Store& store, int64_t experiment_id);

}  // namespace streammoe::lab
