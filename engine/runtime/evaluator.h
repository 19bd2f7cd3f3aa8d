#pragma once
// Teacher-forced evaluation: logits at every position of a token sequence, and the quality
// metrics llama.cpp's perplexity tool reports against a reference run (same tokens):
// perplexity, KL(reference || model) per position and its percentiles, top-1 agreement.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/models/model.h"

namespace streammoe {

// Row t = logits after consuming ids[0..t]; returns [T * vocab]. The tokens go through the model
// `chunk` at a time (Model::forward; the logits do not depend on it); after_step gets each
// forward's token count.
std::vector<float> teacher_forced_logits(Model& model, std::span<const int32_t> ids,
                                         const std::function<void(int64_t tokens)>& after_step = {},
                                         int64_t chunk = 1);

struct QualityStats {
  int64_t tokens = 0;        // positions scored for perplexity (T - 1)
  double nll_mean = 0.0;
  double ppl = 0.0;
  bool has_reference = false;
  double ref_nll_mean = 0.0;
  double ref_ppl = 0.0;
  double kld_mean = 0.0, kld_p50 = 0.0, kld_p90 = 0.0, kld_p95 = 0.0, kld_p99 = 0.0, kld_max = 0.0;
  double top1_agree = 0.0;   // share of positions where argmax matches the reference
  // NaN or inf values among the logits and the reference: any makes the metrics above meaningless.
  // The model's are 0 unless a forward pass let one through (Model::forward stops at the first).
  int64_t non_finite_logits = 0;
  int64_t non_finite_ref_logits = 0;
};

// logits / reference: [T * vocab]; reference may be empty.
QualityStats compute_quality(std::span<const float> logits, std::span<const float> reference,
                             std::span<const int32_t> ids, int64_t vocab);

}  // namespace streammoe
