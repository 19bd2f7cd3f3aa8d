#pragma once
// keep / discard / crash: a variant is kept only if its speed-up over the baseline is
// significant (the bootstrap CI of the ratio of medians lies above 1), its median speed-up is at
// least the YAML threshold, and every quality gate holds. Any failed run makes it `crash`.
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "harness/spec.h"
#include "harness/stats.h"

namespace streammoe::lab {

// What the quality suite measured for one variant (fields absent when not measured).
struct QualityResult {
  bool ok = false;
  std::string error = {};
  std::optional<double> kld_mean = {}, kld_p99 = {}, top1_agree = {}, ppl_ratio = {},
                        json_validity = {};
};

struct VariantSamples {
  std::vector<double> tok_s;  // decode tok/s of each successful run
  int n_failed = 0;
  std::string failures;  // e.g. "crash x1, timeout x2"
  // The keep rule's metric of each successful run (empty: the rule judges tok_s), and the
  // repeat each one was (runs of equal repeat share a prompt: they pair with the baseline's).
  std::vector<double> metric = {};
  std::vector<int> repeats = {};
};

enum class VerdictKind { kBaseline, kKeep, kDiscard, kCrash };
std::string to_string(VerdictKind kind);

struct Verdict {
  VerdictKind kind = VerdictKind::kDiscard;
  double tok_s_median = 0;
  Interval tok_s_ci;
  // The improvement over the baseline in the keep rule's metric (> 1 is better whichever way
  // the metric points), paired by repeat when the runs allow it.
  std::optional<RatioEstimate> speedup;
  bool paired = false;
  int n_compared = 0;  // runs (or pairs) the improvement rests on
  std::string reason;
  std::vector<std::string> warnings;  // outliers, a noisy machine: shown, not decisive
};

struct VerdictInputs {
  bool is_baseline = false;
  VariantSamples variant;
  VariantSamples baseline;
  bool quality_enabled = false;
  std::optional<QualityResult> quality;
  std::optional<QualityResult> baseline_quality;
  // Set when a cold experiment's baseline read less than half its expert bytes from the disk:
  // the variant cannot be kept (the measurement was of a warm machine).
  std::optional<std::string> not_cold = {};
};

Verdict decide(const VerdictInputs& inputs, const KeepRule& rule);

// "noisy machine: ..." when a run started with a 1-minute load average above the core count.
std::optional<std::string> noisy_machine(std::span<const double> load_1m, int cpu_cores);

}  // namespace streammoe::lab
