#include "engine/runtime/sampler.h"

#include <algorithm>
#include <cmath>

#include "engine/util/error.h"

namespace streammoe {

int32_t argmax(std::span<const float> values) {
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

Sampler::Sampler(const SamplerConfig& config) : config_(config), rng_(config.seed) {
  // Written so that NaN fails each check: every comparison with NaN is false.
  if (!(config.temperature >= 0.0f) || std::isinf(config.temperature))
    fail("--temperature must be a finite number >= 0, got {}", config.temperature);
  if (!(config.top_p > 0.0f && config.top_p <= 1.0f)) fail("--top-p must be in (0, 1], got {}", config.top_p);
}

int32_t Sampler::next(std::span<const float> logits) {
  if (logits.empty()) fail("sampler: no logits to sample from");
  if (config_.temperature == 0.0f) return argmax(logits);
  // -inf is a masked token (probability 0); NaN or +inf leaves no distribution to sample.
  float max = -INFINITY;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i]) || logits[i] == INFINITY)
      fail("sampler: logit {} of token id {} is not finite", logits[i], i);
    max = std::max(max, logits[i]);
  }
  if (max == -INFINITY) fail("sampler: every logit is -inf");
  probs_.resize(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float p = std::exp((logits[i] - max) / config_.temperature);
    probs_[i] = {p, static_cast<int32_t>(i)};
    sum += p;
  }
  std::sort(probs_.begin(), probs_.end(), [](auto& a, auto& b) { return a.first > b.first; });
  // Keep the smallest prefix whose mass reaches top_p; the largest term is exp(0) = 1, so at
  // least one token is kept.
  double kept = 0.0;
  size_t n = 0;
  while (n < probs_.size() && kept < config_.top_p * sum) kept += probs_[n++].first;
  n = std::max<size_t>(n, 1);
  std::uniform_real_distribution<double> uniform(0.0, kept);
  double r = uniform(rng_);
  for (size_t i = 0; i < n; ++i) {
    r -= probs_[i].first;
    if (r <= 0.0) return probs_[i].second;
  }
  return probs_[n - 1].second;
}

}  // namespace streammoe
