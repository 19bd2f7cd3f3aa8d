#pragma once
// What `run --dry-run` says an experiment will cost before it runs: the time (from the median
// duration of earlier runs of the same model and options in the database, when there are any,
// and the timeouts as the upper bound) and the disk space (models to make, reference logits,
// database rows).
#include <cstdint>
#include <filesystem>
#include <optional>
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

// The resident and expert bytes of the model a recipe makes, from its config (for --dry-run,
// before it exists): experts at the recipe's bits, resident weights at its resident_bits (16:
// bf16).
ModelBytes recipe_bytes(const PackRecipe& recipe);

// The machine's rates a run's time is estimated from when no earlier run tells.
struct RooflineRates {
  double disk_gbps = 0;    // random reads
  double ram_gbps = 0;     // all cores
  double ram_gbps_1t = 0;  // one thread
  std::string source;      // "machine profile of <when> (<block> KiB reads)"
};

// This boot's cached machine profile (`$XDG_CACHE_HOME/streammoe-lab/machine-profiles.json`)
// read with the largest blocks, as experts of a study-sized model are large; nullopt when the
// cache holds none with a disk rate.
std::optional<RooflineRates> cached_roofline(const std::filesystem::path& cache_file);

// `history` may be null (no database yet). Without earlier runs, `rates` (when given) estimate
// each run from its bytes: per token fed, the routed experts' bytes (at the disk's rate when
// cold, RAM's when warm) and the resident weights' but the embedding table's (RAM), plus reading
// the resident weights
// from the disk when cold; quality commands on a small model count 2 s each.
PlanEstimate estimate_plan(const ExperimentSpec& spec, Store* history,
                           const std::optional<RooflineRates>& rates = std::nullopt);

// "1:05:00", "3 min", "40 s"
std::string duration_text(double seconds);
// "1.2 GB", "25 MB", "4.0 kB"
std::string bytes_text(double bytes);

}  // namespace streammoe::lab
