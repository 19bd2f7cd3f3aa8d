#include "harness/verdict.h"

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

}  // namespace

Verdict decide(const VerdictInputs& in, const KeepRule& rule) {
  Verdict v;
  const auto& samples = in.variant.tok_s;
  if (!samples.empty()) {
    v.tok_s_median = median(samples);
    v.tok_s_ci = bootstrap_median_ci(samples, rule.confidence);
    if (!in.baseline.tok_s.empty())
      v.speedup = bootstrap_ratio_of_medians(samples, in.baseline.tok_s, rule.confidence);
  }
  int total = static_cast<int>(samples.size()) + in.variant.n_failed;
  if (in.variant.n_failed > 0 || samples.empty()) {
    v.kind = VerdictKind::kCrash;
    v.reason = fmt::format("{} of {} runs failed ({})", in.variant.n_failed, total,
                           in.variant.failures.empty() ? "no runs" : in.variant.failures);
    return v;
  }
  if (in.is_baseline) {
    v.kind = VerdictKind::kBaseline;
    v.reason = v.speedup ? fmt::format("reference; run-to-run noise {}", ratio_text(*v.speedup))
                         : "reference";
    return v;
  }
  if (!v.speedup) {
    v.kind = VerdictKind::kDiscard;
    v.reason = "baseline has no successful runs";
    return v;
  }
  std::vector<std::string> problems;
  if (v.speedup->ci.high < 1.0)
    problems.push_back(fmt::format("slower: speed-up {}", ratio_text(*v.speedup)));
  else if (!(v.speedup->ci.low > 1.0))
    problems.push_back(fmt::format("speed-up {} not significant", ratio_text(*v.speedup)));
  else if (v.speedup->ratio < rule.min_speedup)
    problems.push_back(fmt::format("speed-up {} below threshold {:.3f}", ratio_text(*v.speedup),
                                   rule.min_speedup));
  for (auto& q : quality_failures(in, rule)) problems.push_back(std::move(q));
  if (problems.empty()) {
    v.kind = VerdictKind::kKeep;
    v.reason = fmt::format("speed-up {} >= {:.3f}{}", ratio_text(*v.speedup), rule.min_speedup,
                           in.quality_enabled ? "; quality within gates" : "");
  } else {
    v.kind = VerdictKind::kDiscard;
    v.reason = fmt::format("{}", fmt::join(problems, "; "));
  }
  return v;
}

}  // namespace streammoe::lab
