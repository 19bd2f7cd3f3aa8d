#pragma once
// Runs an experiment: records the environment, builds the engines the variants need, prepares
// the page cache and memory cgroup, runs every planned run as a subprocess of `streammoe
// generate`, stores each run the moment it ends (one transaction per run), runs the quality
// suite, and writes the verdicts. With resume, runs already in the database are skipped.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

#include "harness/cgroup.h"
#include "harness/executor.h"
#include "harness/plan.h"
#include "harness/spec.h"
#include "harness/store.h"

namespace streammoe::lab {

struct RunnerOptions {
  std::filesystem::path engine;       // the default build's streammoe binary
  std::filesystem::path source_dir;   // git work tree and CMake source for variant builds
  std::filesystem::path build_root;   // where variant builds live
  std::filesystem::path cache_dir;    // reference logits cache
  bool resume = false;
  std::ostream* progress = nullptr;   // stderr-like; nullptr = silent
  bool progress_tty = false;
  CgroupRoots cgroup_roots;
  std::string cmake = "cmake";
  int build_jobs = 2;
};

struct RunnerSummary {
  int64_t experiment_id = 0;
  bool resumed = false;
  int planned = 0;
  int skipped = 0;  // already recorded
  int executed = 0;
  int failed = 0;
};

class Runner {
 public:
  Runner(const ExperimentSpec& spec, Store& store, Executor& executor, RunnerOptions options);
  RunnerSummary run();

  // The argv of one planned run (for --dry-run and for the record).
  static std::vector<std::string> generate_argv(const ExperimentSpec& spec, const RunPlan& plan,
                                                const std::filesystem::path& engine,
                                                const std::filesystem::path& metrics_path);

 private:
  const ExperimentSpec& spec_;
  Store& store_;
  Executor& executor_;
  RunnerOptions options_;
};

// How a model is named in the database: relative to the project root when inside it.
std::string model_label(const ExperimentSpec& spec, const std::filesystem::path& model);

// The plan as text, one line per run, with the command it would execute.
void print_plan(const ExperimentSpec& spec, const std::filesystem::path& engine,
                const std::filesystem::path& build_root, std::ostream& out);

}  // namespace streammoe::lab
