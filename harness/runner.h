#pragma once
// Runs an experiment in the phases run() calls in order, each a public method that can be
// called (and tested) alone:
//   plan             the ordered runs (variants x models x repeats)
//   prepare_models   derived models (packed) made once and reused while current
//   open_experiment  a new experiments row, or the one being resumed
//   record_session   memory cgroup, environment row, variant rows
//   execute_run      page cache prepared, one `streammoe generate` subprocess, judged
//   store_run        the run and its metrics, one transaction per run
//   measure_quality  the quality suite per variant and model
//   decide           verdicts and the experiment's status
// With resume, runs already in the database are skipped.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/cgroup.h"
#include "harness/engine_builder.h"
#include "harness/estimate.h"
#include "harness/executor.h"
#include "harness/experiment_lock.h"
#include "harness/machine_profile.h"
#include "harness/model_files.h"
#include "harness/plan.h"
#include "harness/progress.h"
#include "harness/run_record.h"
#include "harness/scratch_file.h"
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
  std::optional<int64_t> rerun_of;  // this run repeats that experiment (`run --rerun`)
  // The machine profile of this session, given what the experiment's first model reads (its
  // expert files, record size and K); empty = not measured (the mock-executor tests).
  std::function<std::optional<MachineProfile>(const ExpertFiles&)> machine_profile;
};

struct RunnerSummary {
  int64_t experiment_id = 0;
  bool resumed = false;
  int planned = 0;
  int skipped = 0;  // already recorded
  int executed = 0;
  int failed = 0;
  std::string first_failure;  // the first failed run: variant, repeat and outcome line
  int warmups = 0;  // unrecorded warmup runs
};

// What the phases of one session share: the experiment row, the environment row, the variant
// rows and the memory cgroup the runs go into.
struct Session {
  std::optional<ExperimentLock> lock;  // held for the whole session
  int64_t experiment_id = -1;
  bool resumed = false;
  int64_t environment_id = -1;
  std::vector<int64_t> variant_ids;  // by the spec's variant index
  std::optional<MemoryCgroup> cgroup;
  std::optional<MachineProfile> profile;
  std::filesystem::path cgroup_procs() const;  // empty when no budget is enforced
};

class Runner {
 public:
  Runner(const ExperimentSpec& spec, Store& store, Executor& executor, RunnerOptions options);
  ~Runner();
  RunnerSummary run();

  // --- the phases, in the order run() calls them ---------------------------------------------
  std::vector<RunPlan> plan() const;
  // Makes the derived models; returns the plan JSON to store (the spec + what was prepared).
  nlohmann::json prepare_models();
  // A new experiment row, or with options.resume the latest one of this name (an Error when its
  // identity changed). Takes the experiment's lock first: an Error naming the other process
  // when one is running an experiment of this name on this database.
  Session open_experiment(const nlohmann::json& plan_json, int planned);
  void record_session(Session& session);
  // "variant|model|repeat" of the runs already stored for the session's experiment.
  std::set<std::string> recorded_runs(const Session& session) const;
  // `warmup`: an unrecorded run before the variant's first measured one (same preparation).
  RunRecord execute_run(Session& session, const RunPlan& plan, bool warmup = false);
  // With min_time_s: one more interleaved round (every variant, at `repeat`) for each model on
  // which some variant's successful runs add up to less than min_time_s; empty when none is
  // short or max_repeats is reached.
  std::vector<RunPlan> extension_round(const Session& session, int repeat) const;
  void store_run(const Session& session, const RunPlan& plan, const RunRecord& record);
  void measure_quality(const Session& session);
  // Writes the verdicts and marks the experiment complete when every planned run is stored;
  // returns whether it is.
  bool decide(const Session& session, int planned);

  // The argv of one planned run (for --dry-run and for the record).
  static std::vector<std::string> generate_argv(const ExperimentSpec& spec, const RunPlan& plan,
                                                const std::filesystem::path& engine,
                                                const std::filesystem::path& metrics_path);

 private:
  // The binary for the variant's compile-time options (built when first needed), or the text of
  // the build error.
  std::variant<std::filesystem::path, std::string> engine_for(const Session& session,
                                                              const Variant& variant);
  void measure_variant_quality(const Session& session, size_t variant_index, size_t model_index,
                               std::optional<std::filesystem::path>& reference,
                               std::string& reference_error);
  ScratchFile& scratch();
  // The experiment's memory budget in bytes: as written, or resolved from the baseline's model
  // files (memory_budget: {page_cache_share}) once they exist.
  std::optional<uint64_t> memory_budget();

  const ExperimentSpec& spec_;
  Store& store_;
  Executor& executor_;
  RunnerOptions options_;
  std::ostringstream discard_;
  Progress progress_;
  EngineBuilder builder_;
  std::map<std::string, std::variant<std::filesystem::path, std::string>> engines_;
  std::set<std::filesystem::path> warmed_models_;
  std::map<std::filesystem::path, ExpertFiles> expert_files_;  // per model folder, looked up once
  std::optional<int> first_ordinal_;  // the session's first executed run (notes once)
  std::unique_ptr<ScratchFile> scratch_;  // the runs' --metrics-json
  std::optional<uint64_t> budget_;        // memory_budget() once resolved
  std::string budget_text_;
};

// One line: "machine: disk 1.20 GB/s random at 72 KiB x 8 in flight (vda), RAM ...".
std::string profile_summary(const MachineProfile& profile);

// How a model is named in the database: relative to the project root when inside it.
std::string model_label(const ExperimentSpec& spec, const std::filesystem::path& model);

// The plan as text, one line per run, with the command it would execute, then its estimated time
// and disk space (from earlier runs in `history` when given).
void print_plan(const ExperimentSpec& spec, const std::filesystem::path& engine,
                const std::filesystem::path& build_root, std::ostream& out,
                Store* history = nullptr, const std::optional<RooflineRates>& rates = std::nullopt);

}  // namespace streammoe::lab
