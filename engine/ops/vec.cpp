#include "engine/ops/vec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "engine/util/error.h"

namespace streammoe {
namespace {

void check_same_size(const char* what, size_t a, size_t b) {
  if (a != b) fail("{}: size mismatch ({} vs {})", what, a, b);
}

double sum_of_squares(std::span<const float> x) {
  double sum = 0.0;
  for (float v : x) sum += static_cast<double>(v) * v;
  return sum;
}

}  // namespace

void rmsnorm(std::span<const float> x, std::span<const float> weight, float eps,
             bool one_plus_weight, std::span<float> out) {
  check_same_size("rmsnorm weight", x.size(), weight.size());
  check_same_size("rmsnorm out", x.size(), out.size());
  if (x.empty()) return;
  const float inv_rms =
      static_cast<float>(1.0 / std::sqrt(sum_of_squares(x) / static_cast<double>(x.size()) + eps));
  const float weight_offset = one_plus_weight ? 1.0f : 0.0f;
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * inv_rms * (weight_offset + weight[i]);
}

void rmsnorm_gated(std::span<const float> x, std::span<const float> gate,
                   std::span<const float> weight, float eps, std::span<float> out) {
  check_same_size("rmsnorm_gated gate", x.size(), gate.size());
  rmsnorm(x, weight, eps, /*one_plus_weight=*/false, out);
  for (size_t i = 0; i < out.size(); ++i) out[i] *= silu(gate[i]);
}

void l2norm(std::span<const float> x, float eps, std::span<float> out) {
  check_same_size("l2norm out", x.size(), out.size());
  const float inv_norm = static_cast<float>(1.0 / std::sqrt(sum_of_squares(x) + eps));
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * inv_norm;
}

void silu_inplace(std::span<float> x) {
  for (float& v : x) v = silu(v);
}

void swiglu(std::span<const float> gate, std::span<const float> up, std::span<float> out) {
  check_same_size("swiglu up", gate.size(), up.size());
  check_same_size("swiglu out", gate.size(), out.size());
  for (size_t i = 0; i < gate.size(); ++i) out[i] = silu(gate[i]) * up[i];
}

void softmax_inplace(std::span<float> x) {
  if (x.empty()) return;
  const float max = *std::max_element(x.begin(), x.end());
  double sum = 0.0;
  for (float& v : x) {
    v = std::exp(v - max);
    sum += v;
  }
  const float inv_sum = static_cast<float>(1.0 / sum);
  for (float& v : x) v *= inv_sum;
}

bool all_finite(std::span<const float> x) {
  uint32_t non_finite = 0;
  for (float v : x) non_finite |= (std::bit_cast<uint32_t>(v) & 0x7f800000u) == 0x7f800000u;
  return non_finite == 0;
}

int64_t count_non_finite(std::span<const float> x) {
  int64_t n = 0;
  for (float v : x) n += !std::isfinite(v);
  return n;
}

float dot(std::span<const float> a, std::span<const float> b) {
  check_same_size("dot", a.size(), b.size());
  float sum = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

void axpy(float a, std::span<const float> x, std::span<float> y) {
  check_same_size("axpy", x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] += a * x[i];
}

}  // namespace streammoe
