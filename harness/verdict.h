#pragma once
// keep / discard / crash: a variant is kept only if its speed-up over the baseline is
// significant (the bootstrap CI of the ratio of medians lies above 1), its median speed-up is at
// least the YAML threshold, and every quality gate holds. Any failed run makes it `crash`.
#include <optional>
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
};

enum class VerdictKind { kBaseline, kKeep, kDiscard, kCrash };
std::string to_string(VerdictKind kind);

struct Verdict {
  VerdictKind kind = VerdictKind::kDiscard;
  double tok_s_median = 0;
  Interval tok_s_ci;
  std::optional<RatioEstimate> speedup;
  std::string reason;
};

struct VerdictInputs {
  bool is_baseline = false;
  VariantSamples variant;
  VariantSamples baseline;
  bool quality_enabled = false;
  std::optional<QualityResult> quality;
  std::optional<QualityResult> baseline_quality;
};

Verdict decide(const VerdictInputs& inputs, const KeepRule& rule);

}  // namespace streammoe::lab
