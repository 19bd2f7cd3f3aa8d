#pragma once
// Next-token choice: greedy (temperature 0) or temperature + nucleus (top-p) sampling, seeded.
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace streammoe {

struct SamplerConfig {
  float temperature = 0.0f;  // 0: greedy
  float top_p = 1.0f;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& config);
  int32_t next(std::span<const float> logits);

 private:
  SamplerConfig config_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> probs_;
};

int32_t argmax(std::span<const float> values);

}  // namespace streammoe
