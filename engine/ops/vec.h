#pragma once
// Small f32 vector operations used by the blocks, scalar code that mirrors the PyTorch
// expressions in comments. Sizes are checked (Error on mismatch); `out` may alias the input.
#include <cmath>
#include <cstdint>
#include <span>

namespace streammoe {

inline float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }
// F.silu: v * sigmoid(v).
inline float silu(float v) { return v / (1.0f + std::exp(-v)); }
// F.softplus with torch's default threshold 20 (linear above it).
inline float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

// x * rsqrt(mean(x^2) + eps) * w, where w = 1 + weight (Qwen3.5-MoE's RMSNorm, weights stored
// as offsets from 1) or w = weight (Qwen3-MoE). The mean of squares is accumulated in double.
void rmsnorm(std::span<const float> x, std::span<const float> weight, float eps,
             bool one_plus_weight, std::span<float> out);
// Qwen3.5-MoE RMSNormGated: weight * rmsnorm(x) * silu(gate) (norm before gate).
void rmsnorm_gated(std::span<const float> x, std::span<const float> gate,
                   std::span<const float> weight, float eps, std::span<float> out);
// l2norm of the reference (as FLA): x * rsqrt(sum(x^2) + eps), accumulated in double.
void l2norm(std::span<const float> x, float eps, std::span<float> out);
inline void l2norm_inplace(std::span<float> x, float eps) { l2norm(x, eps, x); }

void silu_inplace(std::span<float> x);
// out = silu(gate) * up, the SwiGLU of the expert MLPs.
void swiglu(std::span<const float> gate, std::span<const float> up, std::span<float> out);
// softmax(x) in place, max-subtracted so large logits do not overflow.
void softmax_inplace(std::span<float> x);

float dot(std::span<const float> a, std::span<const float> b);
// True when no value is NaN or +-inf. Branch-free over the exponent bits, so it vectorises: cheap
// enough to run on the residual stream after every layer.
bool all_finite(std::span<const float> x);
// How many values are NaN or +-inf.
int64_t count_non_finite(std::span<const float> x);
// y += a * x.
void axpy(float a, std::span<const float> x, std::span<float> y);

}  // namespace streammoe
