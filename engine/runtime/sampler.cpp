#include "engine/runtime/sampler.h"

#include <algorithm>
#include <cmath>

#include "engine/util/error.h"

namespace streammoe {

int32_t argmax(std::span<const float> values) {
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

Sampler::Sampler(const SamplerConfig& config) : config_(config), rng_(config.seed) {
  if (config.temperature < 0.0f) fail("--temperature must be >= 0, got {}", config.temperature);
  if (config.top_p <= 0.0f || config.top_p > 1.0f) fail("--top-p must be in (0, 1], got {}", config.top_p);
}

int32_t Sampler::next(std::span<const float> logits) {
  if (config_.temperature == 0.0f) return argmax(logits);
  const float max = *std::max_element(logits.begin(), logits.end());
  probs_.resize(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float p = std::exp((logits[i] - max) / config_.temperature);
    probs_[i] = {p, static_cast<int32_t>(i)};
    sum += p;
  }
  std::sort(probs_.begin(), probs_.end(), [](auto& a, auto& b) { return a.first > b.first; });
  // Keep the smallest prefix whose mass reaches top_p.
  double kept = 0.0;
  size_t n = 0;
  while (n < probs_.size() && kept < config_.top_p * sum) kept += probs_[n++].first;
  std::uniform_real_distribution<double> uniform(0.0, kept);
  double r = uniform(rng_);
  for (size_t i = 0; i < n; ++i) {
    r -= probs_[i].first;
    if (r <= 0.0) return probs_[i].second;
  }
  return probs_[n - 1].second;
}

}  // namespace streammoe
