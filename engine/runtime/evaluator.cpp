#include "engine/runtime/evaluator.h"

#include <algorithm>
#include <cmath>

#include "engine/ops/vec.h"
#include "engine/runtime/sampler.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

// log_softmax of one row, in double for stable KL sums.
std::vector<double> log_softmax(std::span<const float> row) {
  const double max = *std::max_element(row.begin(), row.end());
  double sum = 0.0;
  for (float v : row) sum += std::exp(v - max);
  const double log_z = max + std::log(sum);
  std::vector<double> out(row.size());
  for (size_t i = 0; i < row.size(); ++i) out[i] = row[i] - log_z;
  return out;
}

double percentile(std::vector<double> sorted, double q) {
  if (sorted.empty()) return 0.0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

std::vector<float> teacher_forced_logits(Model& model, std::span<const int32_t> ids,
                                         const std::function<void(int64_t tokens)>& after_step, int64_t chunk) {
  const size_t vocab = static_cast<size_t>(model.config().vocab_size);
  const size_t step = static_cast<size_t>(std::max<int64_t>(chunk, 1));
  std::vector<float> out(ids.size() * vocab);
  ModelState state = model.new_state();
  for (size_t first = 0; first < ids.size(); first += step) {
    const std::span<const int32_t> tokens = ids.subspan(first, std::min(step, ids.size() - first));
    model.forward(state, tokens, std::span(out).subspan(first * vocab, tokens.size() * vocab));
    if (after_step) after_step(static_cast<int64_t>(tokens.size()));
  }
  return out;
}

QualityStats compute_quality(std::span<const float> logits, std::span<const float> reference,
                             std::span<const int32_t> ids, int64_t vocab) {
  const size_t T = ids.size();
  if (logits.size() != T * vocab) fail("quality: logits hold {} values, expected {} x {}", logits.size(), T, vocab);
  QualityStats q;
  q.has_reference = !reference.empty();
  if (q.has_reference && reference.size() != logits.size())
    fail("quality: reference logits hold {} values, expected {} x {} (same text and --max-tokens?)",
         reference.size(), T, vocab);
  q.non_finite_logits = count_non_finite(logits);
  if (q.has_reference) q.non_finite_ref_logits = count_non_finite(reference);
  std::vector<double> klds;
  int64_t agree = 0;
  for (size_t t = 0; t < T; ++t) {
    std::span<const float> row = logits.subspan(t * vocab, vocab);
    const auto lp = log_softmax(row);
    if (t + 1 < T) q.nll_mean -= lp[ids[t + 1]];
    if (!q.has_reference) continue;
    std::span<const float> ref_row = reference.subspan(t * vocab, vocab);
    const auto ref_lp = log_softmax(ref_row);
    if (t + 1 < T) q.ref_nll_mean -= ref_lp[ids[t + 1]];
    double kl = 0.0;
    for (int64_t v = 0; v < vocab; ++v) kl += std::exp(ref_lp[v]) * (ref_lp[v] - lp[v]);
    klds.push_back(std::max(kl, 0.0));
    agree += argmax(row) == argmax(ref_row);
  }
  q.tokens = T > 0 ? static_cast<int64_t>(T - 1) : 0;
  if (q.tokens > 0) {
    q.nll_mean /= static_cast<double>(q.tokens);
    q.ref_nll_mean /= static_cast<double>(q.tokens);
  }
  q.ppl = std::exp(q.nll_mean);
  if (q.has_reference) {
    q.ref_ppl = std::exp(q.ref_nll_mean);
    double sum = 0.0;
    for (double k : klds) sum += k;
    q.kld_mean = klds.empty() ? 0.0 : sum / static_cast<double>(klds.size());
    std::sort(klds.begin(), klds.end());
    q.kld_p50 = percentile(klds, 0.50);
    q.kld_p90 = percentile(klds, 0.90);
    q.kld_p95 = percentile(klds, 0.95);
    q.kld_p99 = percentile(klds, 0.99);
    q.kld_max = klds.empty() ? 0.0 : klds.back();
    q.top1_agree = T ? static_cast<double>(agree) / static_cast<double>(T) : 0.0;
  }
  return q;
}

}  // namespace streammoe
