#pragma once
// What `run --dry-run` says an experiment will cost before it runs: the time (from the median
// duration of earlier runs of the same model and options in the database, when there are any,
// and the timeouts as the upper bound) and the disk space (models to make, reference logits,
// database rows).
#include <cstdint>
#include <string>
#include <vector>

#include "harness/spec.h"
#include "harness/store.h"

namespace streammoe::lab {

struct PlanEstimate {
  int runs = 0;          // measured runs, warmups and quality commands included
  double seconds = -1;   // expected; < 0 when no earlier run tells
  double max_seconds = 0;  // every command at its timeout
  std::string basis;     // where the expectation comes from
  uint64_t disk_bytes = 0;
  std::vector<std::string> disk_parts;  // "packed models 1.2 GB", ...

  std::string text() const;  // the two lines --dry-run prints
};

// `history` may be null (no database yet).
PlanEstimate estimate_plan(const ExperimentSpec& spec, Store* history);

// "1:05:00", "3 min", "40 s"
std::string duration_text(double seconds);
// "1.2 GB", "25 MB", "4.0 kB"
std::string bytes_text(double bytes);

}  // namespace streammoe::lab
