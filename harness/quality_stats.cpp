#include "harness/quality_stats.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace streammoe::lab {

namespace {

std::vector<double> log_softmax(std::span<const float> row) {
  double max = *std::max_element(row.begin(), row.end()), sum = 0;
  for (float v : row) sum += std::exp(v - max);
  double log_z = max + std::log(sum);
  std::vector<double> out(row.size());
  for (size_t i = 0; i < row.size(); ++i) out[i] = row[i] - log_z;
  return out;
}

}  // namespace

std::optional<QualityIntervals> quality_intervals(const NpyArray& logits, const NpyArray& reference,
                                                  std::span<const int64_t> ids, double confidence) {
  if (logits.shape.size() != 2 || logits.shape != reference.shape || logits.f32.empty() ||
      logits.f32.size() != reference.f32.size())
    return std::nullopt;
  const size_t rows = static_cast<size_t>(logits.shape[0]), vocab = static_cast<size_t>(logits.shape[1]);
  const bool with_ids = ids.size() == rows;
  std::vector<double> klds, nll_differences;
  int64_t agree = 0;
  for (size_t t = 0; t < rows; ++t) {
    std::span<const float> row(logits.f32.data() + t * vocab, vocab);
    std::span<const float> ref_row(reference.f32.data() + t * vocab, vocab);
    auto lp = log_softmax(row), ref_lp = log_softmax(ref_row);
    double kl = 0;
    for (size_t v = 0; v < vocab; ++v) kl += std::exp(ref_lp[v]) * (ref_lp[v] - lp[v]);
    klds.push_back(std::max(kl, 0.0));
    agree += std::max_element(row.begin(), row.end()) - row.begin() ==
             std::max_element(ref_row.begin(), ref_row.end()) - ref_row.begin();
    if (with_ids && t + 1 < rows) {
      auto next = static_cast<size_t>(ids[t + 1]);
      if (next < vocab) nll_differences.push_back(ref_lp[next] - lp[next]);  // nll - ref_nll
    }
  }
  QualityIntervals q;
  q.kld_mean = mean(klds);
  q.kld_mean_ci = mean_ci(klds, confidence);
  if (std::isfinite(q.kld_mean_ci.low)) q.kld_mean_ci.low = std::max(0.0, q.kld_mean_ci.low);
  q.top1_agree = static_cast<double>(agree) / static_cast<double>(rows);
  q.top1_agree_ci = wilson_interval(agree, static_cast<int64_t>(rows), confidence);
  if (nll_differences.size() >= 2) {
    // ln(PPL / ref PPL) is the mean per-token difference of the negative log-likelihoods.
    q.ppl_ratio = std::exp(mean(nll_differences));
    Interval log_ci = mean_ci(nll_differences, confidence);
    q.ppl_ratio_ci = Interval{std::exp(log_ci.low), std::exp(log_ci.high)};
  }
  return q;
}

}  // namespace streammoe::lab
