#include "engine/ops/vec.h"

#include <algorithm>
#include <cmath>

namespace streammoe {

float dot(std::span<const float> a, std::span<const float> b) {
  float acc = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) acc += a[i] * b[i];
  return acc;
}

void axpy(float alpha, std::span<const float> x, std::span<float> y) {
  for (size_t i = 0; i < x.size(); ++i) y[i] += alpha * x[i];
}

void softmax_inplace(std::span<float> x) {
  const float max = *std::max_element(x.begin(), x.end());
  float sum = 0.0f;
  for (float& v : x) sum += (v = std::exp(v - max));
  for (float& v : x) v /= sum;
}

void rmsnorm(std::span<const float> x, std::span<const float> weight, float eps,
             bool one_plus_weight, std::span<float> out) {
  float sum_sq = 0.0f;
  for (float v : x) sum_sq += v * v;
  const float inv = 1.0f / std::sqrt(sum_sq / static_cast<float>(x.size()) + eps);
  for (size_t i = 0; i < x.size(); ++i)
    out[i] = x[i] * inv * (one_plus_weight ? 1.0f + weight[i] : weight[i]);
}

void l2norm_inplace(std::span<float> x, float eps) {
  float sum_sq = 0.0f;
  for (float v : x) sum_sq += v * v;
  const float inv = 1.0f / std::sqrt(sum_sq + eps);
  for (float& v : x) v *= inv;
}

}  // namespace streammoe
