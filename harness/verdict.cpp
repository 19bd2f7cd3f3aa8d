#include "harness/verdict.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace streammoe::lab {

std::string to_string(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::kBaseline:
      return "baseline";
    case VerdictKind::kKeep:
      return "keep";
    case VerdictKind::kDiscard:
      return "discard";
    case VerdictKind::kCrash:
      return "crash";
  }
  return "?";
}

namespace {

std::string ratio_text(const RatioEstimate& r) {
  return fmt::format("{:.3f} [{:.3f}, {:.3f}]", r.ratio, r.ci.low, r.ci.high);
}

// The quality gates that fail (empty = all hold).
std::vector<std::string> quality_failures(const VerdictInputs& in, const KeepRule& rule) {
  std::vector<std::string> out;
  if (!in.quality_enabled) return out;
  if (!in.quality || !in.quality->ok) {
    out.push_back(fmt::format("quality not measured ({})",
                              in.quality ? in.quality->error : "no quality result"));
    return out;
  }
  const QualityResult& q = *in.quality;
  auto gate = [&](const std::optional<double>& limit, const std::optional<double>& value,
                  const char* metric, bool upper) {
    if (!limit) return;
    if (!value) {
      out.push_back(fmt::format("{} not measured but gated", metric));
    } else if (upper ? *value > *limit : *value < *limit) {
      out.push_back(fmt::format("{} {:.5g} {} {:.5g}", metric, *value, upper ? ">" : "<", *limit));
    }
  };
  gate(rule.max_kld_mean, q.kld_mean, "KLD mean", true);
  gate(rule.max_kld_p99, q.kld_p99, "KLD p99", true);
  gate(rule.min_top1_agree, q.top1_agree, "top-1 agreement", false);
  gate(rule.max_ppl_ratio, q.ppl_ratio, "PPL ratio", true);
  gate(rule.min_json_validity, q.json_validity, "JSON validity", false);
  if (rule.max_json_validity_drop) {
    std::optional<double> base =
        in.baseline_quality ? in.baseline_quality->json_validity : std::nullopt;
    if (!q.json_validity || !base) {
      out.push_back("JSON validity drop not measured but gated");
    } else if (*base - *q.json_validity > *rule.max_json_validity_drop) {
      out.push_back(fmt::format("JSON validity fell {:.3f} (> {:.3f})", *base - *q.json_validity,
                                *rule.max_json_validity_drop));
    }
  }
  return out;
}

// The values judged, as "more is better" (reciprocals of a lower-is-better metric), with their
// repeats when every value has one.
struct Judged {
  std::vector<double> values;
  std::vector<int> repeats;
};

Judged judged(const VariantSamples& s, const KeepRule& rule) {
  Judged j;
  const auto& raw = s.metric.empty() ? s.tok_s : s.metric;
  for (double x : raw) j.values.push_back(rule.higher_is_better ? x : 1.0 / x);
  if (s.repeats.size() == raw.size()) j.repeats = s.repeats;
  return j;
}

// The pairs (variant, baseline) of equal repeat, in repeat order.
std::pair<std::vector<double>, std::vector<double>> pairs_of(const Judged& variant,
                                                            const Judged& baseline) {
  std::pair<std::vector<double>, std::vector<double>> out;
  for (size_t i = 0; i < variant.values.size(); ++i)
    for (size_t j = 0; j < baseline.values.size(); ++j)
      if (variant.repeats[i] == baseline.repeats[j]) {
        out.first.push_back(variant.values[i]);
        out.second.push_back(baseline.values[j]);
        break;
      }
  return out;
}

}  // namespace

std::optional<std::string> noisy_machine(std::span<const double> load_1m, int cpu_cores) {
  double worst = 0;
  for (double l : load_1m)
    if (std::isfinite(l)) worst = std::max(worst, l);
  if (cpu_cores <= 0 || worst <= cpu_cores) return std::nullopt;
  return fmt::format("noisy machine: 1-minute load average up to {:.1f} on {} cores during the "
                     "runs (other work competed for the CPU)",
                     worst, cpu_cores);
}

namespace {

std::vector<std::string> warnings_of(const VerdictInputs& in, const KeepRule& rule) {
  std::vector<std::string> out;
  const auto& values = in.variant.metric.empty() ? in.variant.tok_s : in.variant.metric;
  if (auto odd = outliers(values); !odd.empty()) {
    std::string which;
    for (size_t i : odd) which += fmt::format("{}{:.4g}", which.empty() ? "" : ", ", values[i]);
    out.push_back(fmt::format("{} of {} runs are outliers in {} ({}; modified z-score > 3.5)",
                              odd.size(), values.size(), rule.metric, which));
  }
  return out;
}

}  // namespace

Verdict decide(const VerdictInputs& in, const KeepRule& rule) {
  Verdict v;
  const auto& samples = in.variant.tok_s;
  Judged variant = judged(in.variant, rule), baseline = judged(in.baseline, rule);
  if (!samples.empty()) {
    v.tok_s_median = median(samples);
    v.tok_s_ci = bootstrap_median_ci(samples, rule.confidence);
  }
  if (!variant.values.empty() && !baseline.values.empty()) {
    auto [a, b] = rule.paired && !variant.repeats.empty() && !baseline.repeats.empty() && !in.is_baseline
                      ? pairs_of(variant, baseline)
                      : std::pair<std::vector<double>, std::vector<double>>{};
    if (a.size() >= 2) {
      v.paired = true;
      v.n_compared = static_cast<int>(a.size());
      v.speedup = bootstrap_paired_ratio(a, b, rule.confidence);
    } else {
      v.n_compared = static_cast<int>(variant.values.size());
      v.speedup = bootstrap_ratio_of_medians(variant.values, baseline.values, rule.confidence);
    }
  }
  v.warnings = warnings_of(in, rule);
  int total = static_cast<int>(samples.size()) + in.variant.n_failed;
  if (in.variant.n_failed > 0 || samples.empty()) {
    v.kind = VerdictKind::kCrash;
    v.reason = fmt::format("{} of {} runs failed ({})", in.variant.n_failed, total,
                           in.variant.failures.empty() ? "no runs" : in.variant.failures);
    return v;
  }
  const std::string what = rule.metric == "decode_tok_s" ? "speed-up" : rule.metric + " improvement";
  if (in.not_cold) v.warnings.push_back(*in.not_cold);
  if (in.is_baseline) {
    v.kind = VerdictKind::kBaseline;
    v.reason = v.speedup ? fmt::format("reference; run-to-run noise {}", ratio_text(*v.speedup))
                         : "reference";
    if (in.not_cold) v.reason += "; " + *in.not_cold;
    return v;
  }
  if (!v.speedup) {
    v.kind = VerdictKind::kDiscard;
    v.reason = "baseline has no successful runs";
    return v;
  }
  std::vector<std::string> problems;
  if (!std::isfinite(v.speedup->ratio))
    problems.push_back(fmt::format("{} undefined ({} is zero or missing)", what, rule.metric));
  else if (v.speedup->ci.below(1.0))
    problems.push_back(fmt::format("{}: {} {}", rule.metric == "decode_tok_s" ? "slower" : "worse",
                                   what, ratio_text(*v.speedup)));
  else if (!v.speedup->ci.above(1.0))
    problems.push_back(fmt::format("{} {} not significant", what, ratio_text(*v.speedup)));
  else if (v.speedup->ratio < rule.min_speedup)
    problems.push_back(fmt::format("{} {} below threshold {:.3f}", what, ratio_text(*v.speedup),
                                   rule.min_speedup));
  if (v.n_compared < rule.min_runs || static_cast<int>(in.baseline.tok_s.size()) < rule.min_runs)
    problems.push_back(fmt::format("inconclusive: {} {} and {} baseline runs, fewer than min_runs {}",
                                   v.n_compared, v.paired ? "pairs" : "runs",
                                   in.baseline.tok_s.size(), rule.min_runs));
  for (auto& q : quality_failures(in, rule)) problems.push_back(std::move(q));
  if (in.not_cold) problems.push_back(*in.not_cold + " (no keep verdict)");
  const std::string how = v.paired ? fmt::format(" (paired, {} pairs)", v.n_compared) : "";
  if (problems.empty()) {
    v.kind = VerdictKind::kKeep;
    v.reason = fmt::format("{} {}{} >= {:.3f}{}", what, ratio_text(*v.speedup), how,
                           rule.min_speedup, in.quality_enabled ? "; quality within gates" : "");
  } else {
    v.kind = VerdictKind::kDiscard;
    v.reason = fmt::format("{}{}", fmt::join(problems, "; "), how);
  }
  return v;
}

}  // namespace streammoe::lab
