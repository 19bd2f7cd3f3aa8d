#include "engine/blocks/rope.h"

#include <cmath>

namespace streammoe {

Rope::Rope(int64_t rotary_dim, double theta) : rotary_dim_(rotary_dim), inv_freq_(rotary_dim / 2) {
  // inv_freq = 1 / theta^(2i / dim), as transformers computes it (in float32).
  for (int64_t i = 0; i < rotary_dim / 2; ++i)
    inv_freq_[i] = 1.0f / std::pow(static_cast<float>(theta),
                                   static_cast<float>(2 * i) / static_cast<float>(rotary_dim));
}

void Rope::apply(std::span<float> head, int64_t pos) const {
  const int64_t half = rotary_dim_ / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(pos) * inv_freq_[i];
    const float c = std::cos(angle), s = std::sin(angle);
    const float x1 = head[i], x2 = head[i + half];
    // q*cos + rotate_half(q)*sin with rotate_half(q) = [-q2, q1]
    head[i] = x1 * c - x2 * s;
    head[i + half] = x2 * c + x1 * s;
  }
}

}  // namespace streammoe
