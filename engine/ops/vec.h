#pragma once
// Small vector operations used by the blocks (scalar; f32).
#include <cstdint>
#include <span>

namespace streammoe {

float dot(std::span<const float> a, std::span<const float> b);
// y += alpha * x
void axpy(float alpha, std::span<const float> x, std::span<float> y);
inline float silu(float x);
void softmax_inplace(std::span<float> x);
// out = x / sqrt(mean(x^2) + eps) * (one_plus_weight ? 1 + w : w). out may alias x.
void rmsnorm(std::span<const float> x, std::span<const float> weight, float eps,
             bool one_plus_weight, std::span<float> out);
// x *= 1 / sqrt(sum(x^2) + eps)   (the FLA / transformers l2norm)
void l2norm_inplace(std::span<float> x, float eps);

}  // namespace streammoe

#include <cmath>
inline float streammoe::silu(float x) { return x / (1.0f + std::exp(-x)); }
