#pragma once
// An experiment as written in YAML (experiments/*.yaml), validated and resolved: models exist,
// every switch is one the engine knows with a legal value, bundles are loaded from variants/,
// matrix sweeps are expanded into variants. Every problem is an Error at file:line:column.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/model_files.h"
#include "harness/packed_model.h"
#include "harness/replay_trace.h"
#include "harness/switch_catalog.h"

namespace streammoe::lab {

enum class CacheState { kCold, kWarm };
std::string to_string(CacheState state);

enum class RunOrder {
  kInterleaved,  // repeat-major within a build and model: drift hits every variant alike
  kGrouped,      // all repeats of a variant back to back (hyperfine's order)
};

struct Variant {
  std::string name;
  std::string description;
  std::string origin;  // inline | bundle | matrix
  std::string bundle;  // variants/<bundle>.yaml when it came from one
  std::map<std::string, std::string> switches;       // passed as --<name> <value>
  std::map<std::string, std::string> options;        // every switch: engine defaults + switches
  std::map<std::string, std::string> build_options;  // CMake -D options; empty = default build
  // The folder this variant runs instead of the experiment's one model (e.g. that model packed
  // to 2 bits); empty = the experiment's model. Runs are still stored under the experiment's
  // model, so the variant is compared with the baseline on the same subject.
  std::filesystem::path model;
  // Where this variant's quality is measured when it is not its speed model (quality_model).
  std::filesystem::path quality_model;
  // Learned routing this variant's speed runs replay instead of the experiment's (`routing:`).
  std::optional<RoutingReplaySpec> routing;
  // The derived traces its speed runs replay, [model index][window]; empty without routing.
  std::vector<std::vector<std::filesystem::path>> replay;
  // The derived traces its oracle predictor reads when routing names a predictor_trace file.
  std::vector<std::vector<std::filesystem::path>> predictor_replay;
  std::string where;                                 // file:line:column of its definition
};

struct Workload {
  std::vector<std::string> prompts;  // run r uses prompts[r % size]
  bool token_ids = false;            // prompts are "1,2,3" id lists, passed as --ids
  std::string source;                // "prompt" | "ids" | the file it came from
  int tokens = 32;                   // tokens to generate
  int prefill = 0;                   // words of text_file used as the prompt (0 = whole text)
  bool ignore_eos = false;           // --ignore-eos: every run generates all `tokens`

  // The most tokens one run feeds the model: its prompt (token ids, or for text its UTF-8
  // bytes, a bound, as a byte-level BPE token covers at least one byte) plus the generated
  // tokens but the last, which is never fed back.
  int64_t max_fed_tokens() const;
};

struct QualitySpec {
  bool enabled = false;
  std::filesystem::path text_file;  // teacher-forced KL / PPL / top-1 text
  std::string ids;                  // ... or a token-id list "1,2,3" (models without tokenizer)
  int max_tokens = 256;
  std::filesystem::path reference_model;  // empty: the experiment's model itself
  std::map<std::string, std::string> reference_switches;
  std::filesystem::path json_prompts;  // one JSON-start prompt per line; empty = skip
  int json_tokens = 64;
  int json_limit = 0;  // at most this many prompts (0 = all)
};

struct KeepRule {
  // What is judged: a numeric column of the metrics table (decode_tok_s, prefill_tok_s,
  // ttft_ms, expert_compute_ms, ...), and whether more is better (inferred from the name when
  // the YAML does not say: *_tok_s, *hit_rate, *share, *precision and *recall are higher-is-better,
  // the rest lower).
  std::string metric = "decode_tok_s";
  bool higher_is_better = true;
  double min_speedup = 1.0;  // median improvement must reach this, with CI low > 1
  double confidence = 0.95;
  int min_runs = 2;     // successful runs (or pairs) a variant needs before it can be kept
  bool paired = true;   // pair runs by repeat (same prompt, adjacent in time) when possible
  std::optional<double> max_kld_mean;
  std::optional<double> max_kld_p99;
  std::optional<double> min_top1_agree;
  std::optional<double> max_ppl_ratio;
  std::optional<double> min_json_validity;
  std::optional<double> max_json_validity_drop;  // vs the baseline's validity
};

// A memory budget relative to the model: its resident weights, a share of its expert bytes for
// the page cache, and room for the process (activations, buffers, the KV and recurrent state).
// `memory_budget: {page_cache_share: 0.17, overhead: 512MiB}`: the reference system's machine
// left its page cache ~17% of the experts (35 GB of 209 GB).
struct BudgetShare {
  double page_cache_share = 0;
  uint64_t overhead_bytes = 512ull << 20;

  uint64_t bytes(const ModelBytes& model) const;
  std::string describe(const ModelBytes& model) const;  // "4.9 GB resident + 17% of 18.1 GB ..."
  nlohmann::json to_json() const;
};

// The most runs an experiment may plan unless it says `max_runs:` (or --max-runs): a matrix typo
// must not plan a week of runs.
inline constexpr int64_t kDefaultMaxRuns = 5000;

struct ExperimentSpec {
  std::filesystem::path file;
  std::string yaml_text;
  std::filesystem::path root;  // relative paths in the YAML are resolved against it
  std::string name;
  std::string hypothesis;
  std::string track;
  std::vector<std::filesystem::path> models;
  // Models the lab makes before the runs (`{pack: {...}}` anywhere a model is named), once per
  // folder; models, variant models and the quality reference point into their folders.
  std::vector<PackRecipe> packs;
  Workload workload;
  int repeats = 3;
  int warmup = 0;  // unrecorded runs of each variant and model before its first measured one
  // More interleaved rounds after `repeats` while some variant's successful runs on a model add
  // up to less than min_time_s seconds, up to max_repeats rounds (hyperfine's minimum time).
  double min_time_s = 0;
  int max_repeats = 0;  // 0: 10 x repeats
  int64_t max_runs = kDefaultMaxRuns;
  CacheState cache = CacheState::kWarm;
  bool drop_caches = false;  // cold only, and only when root
  std::optional<uint64_t> memory_budget_bytes;
  // Or a budget resolved from the baseline's model on models[0] once it is made.
  std::optional<BudgetShare> memory_budget_share;
  double timeout_s = 600;
  RunOrder order = RunOrder::kInterleaved;
  std::string baseline;
  std::vector<Variant> variants;  // baseline first, then in file order, matrix expansions last
  QualitySpec quality;
  // Quality measured on another model than speed, with the same switches: speed on a large
  // synth model, quality on a trained one of the same architecture. Empty: each run's model.
  std::filesystem::path quality_model;
  // Learned routing replayed in the speed runs (replay_trace.h); a variant may name its own.
  std::optional<RoutingReplaySpec> routing;
  // The derived traces the lab writes before the runs, once per file.
  std::vector<ReplayRecipe> replays;
  KeepRule keep;

  const Variant& baseline_variant() const;
  // The folder a run of `variant` on models[model_index] reads: the variant's own model if it
  // names one.
  const std::filesystem::path& model_for(const Variant& variant, size_t model_index) const;
  // The folder the quality suite evaluates for `variant` on models[model_index], and the
  // reference it compares against.
  const std::filesystem::path& quality_model_for(const Variant& variant, size_t model_index) const;
  const std::filesystem::path& reference_for(size_t model_index) const;
  // The routing `variant` replays (its own, else the experiment's); nullptr when none.
  const RoutingReplaySpec* routing_for(const Variant& variant) const;
  // The derived trace a run of `variant` on models[model_index] at `repeat` replays (window
  // repeat % windows); nullptr when it replays none.
  const std::filesystem::path* replay_for(const Variant& variant, size_t model_index, int repeat) const;
  // The trace its --predictor-trace reads (routing's predictor_trace: the replay itself, or the
  // other trace's window); nullptr when it has none.
  const std::filesystem::path* predictor_trace_for(const Variant& variant, size_t model_index, int repeat) const;
  // What the runs depend on (models, workload, variants, cache, budget, quality): resuming is
  // allowed only while this hash is unchanged.
  std::string identity_hash() const;
  nlohmann::json to_json() const;
};

struct SpecOptions {
  const SwitchCatalog* catalog = nullptr;  // required
  std::optional<std::filesystem::path> root;  // overrides the search for the project root
  // CMake options a variant may set (STREAMMOE_*); empty = read them from <root>/CMakeLists.txt.
  std::vector<std::string> build_options;
  // Where packed models are made; empty = <root>/results/models.
  std::optional<std::filesystem::path> packed_models_dir;
  // Overrides the file's max_runs (streammoe-lab run --max-runs).
  std::optional<int64_t> max_runs;
  // Whether each variant's switches are valid together, as the engine judges them (its ranges
  // and combination rules: `streammoe options --check-file`): per set, the problem or nothing.
  // Unset, only the catalog's types and values are checked.
  using SwitchSets = std::vector<std::map<std::string, std::string>>;
  std::function<std::vector<std::optional<std::string>>(const SwitchSets&)> check_switches;
};

ExperimentSpec load_experiment(const std::filesystem::path& file, const SpecOptions& options);
// The experiment in `yaml`, read as if it were the file `file` (relative paths and the project
// root resolve from there): `run --rerun` reads the YAML an experiment ran from the database.
ExperimentSpec load_experiment_text(const std::string& yaml, const std::filesystem::path& file,
                                    const SpecOptions& options);

// The metrics a keep rule may judge: the numeric columns of the metrics table.
std::vector<std::string> keep_metrics();
// Whether more of a metric is better (*_tok_s, *hit_rate, *share, *precision, *recall) or less
// (times, bytes, ...).
bool higher_is_better(const std::string& metric);

// "4GiB", "512MiB", "1.5G", "1000000" -> bytes (binary units); nullopt when malformed.
std::optional<uint64_t> parse_bytes(std::string_view text);

// The nearest ancestor of `start` holding a variants/ folder, else `start` itself.
std::filesystem::path find_project_root(const std::filesystem::path& start);

// STREAMMOE_* option names declared with option() in a CMakeLists.txt.
std::vector<std::string> cmake_options(const std::filesystem::path& cmakelists);

}  // namespace streammoe::lab
