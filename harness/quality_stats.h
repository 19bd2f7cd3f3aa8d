#pragma once
// Error bars on the quality measures, computed by the lab from the logits themselves (the
// variant's, dumped by `eval --dump-logits`, and the cached reference's), as llama.cpp's
// perplexity tool reports them: the KL divergence's mean +- z standard errors over the tokens,
// the perplexity ratio's interval from the per-token log-likelihood differences (when the token
// ids are known), and Wilson intervals for the top-1 agreement and JSON validity proportions.
#include <cstdint>
#include <optional>
#include <span>

#include "engine/util/npy.h"
#include "harness/stats.h"

namespace streammoe::lab {

struct QualityIntervals {
  double kld_mean = 0;     // recomputed here: equals the engine's kld_mean
  double top1_agree = 0;
  Interval kld_mean_ci;
  Interval top1_agree_ci;
  std::optional<double> ppl_ratio;  // with ids only
  std::optional<Interval> ppl_ratio_ci;
};

// `logits` and `reference` are [T, vocab]; `ids` are the T evaluated token ids, or empty when
// the text was tokenised by the engine (no perplexity interval then). nullopt when the shapes
// do not match.
std::optional<QualityIntervals> quality_intervals(const NpyArray& logits, const NpyArray& reference,
                                                  std::span<const int64_t> ids,
                                                  double confidence = 0.95);

}  // namespace streammoe::lab
