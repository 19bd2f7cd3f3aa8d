#pragma once
// The quality suite, per variant, against the reference (the unquantised model with all
// experts): teacher-forced KL divergence (mean and percentiles), top-1 agreement and perplexity
// ratio from `streammoe eval --ref-logits`, and JSON validity of greedy continuations of
// JSON-start prompts. Reference logits are computed once per (model, text, length) and cached.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/executor.h"
#include "harness/quality_stats.h"
#include "harness/scratch_file.h"
#include "harness/spec.h"
#include "harness/store.h"
#include "harness/verdict.h"

namespace streammoe::lab {

struct QualityMeasurement {
  bool ok = false;
  std::string error;
  nlohmann::json eval;  // the object `eval --json` printed (empty when not measured)
  int json_valid = 0;
  int json_total = 0;
  std::filesystem::path reference_logits;
  // From the logits (quality_stats.h); absent when the engine's dump could not be read or was
  // too large to hold.
  std::optional<QualityIntervals> intervals;

  QualityResult result() const;
  Fields fields() const;  // quality-table columns (without experiment/variant/model)
};

struct QualityRun {
  std::filesystem::path engine;
  std::filesystem::path model;
  std::map<std::string, std::string> switches;
  double timeout_s = 600;
  std::filesystem::path cgroup_procs;
};

class QualitySuite {
 public:
  // `scratch` receives the metrics of the JSON-validity generations.
  QualitySuite(Executor& executor, std::filesystem::path cache_dir, ScratchFile& scratch);

  // The cached reference logits for the spec's text, computing them on first use.
  std::filesystem::path reference_logits(const QualitySpec& spec, const QualityRun& reference);
  QualityMeasurement measure(const QualitySpec& spec, const QualityRun& run,
                             const std::filesystem::path& reference_logits);
  // The cache key: reference model files (names, sizes, mtimes), text content, length, switches.
  static std::string reference_key(const QualitySpec& spec, const QualityRun& reference);

 private:
  Executor& executor_;
  std::filesystem::path cache_dir_;
  ScratchFile& scratch_;
  std::unique_ptr<ScratchFile> logits_;  // the variant's dumped logits, for the error bars
};

// "--prompt TEXT", or "--prompt=TEXT" when the text starts with '-'.
std::vector<std::string> prompt_args(const std::string& flag, const std::string& value);

// `--name value` for each switch, in name order.
std::vector<std::string> switch_args(const std::map<std::string, std::string>& switches);

}  // namespace streammoe::lab
