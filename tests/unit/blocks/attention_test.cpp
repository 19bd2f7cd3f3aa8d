#include "engine/blocks/attention.h"

#include <gtest/gtest.h>

#include <cmath>

namespace streammoe {
namespace {

MatRef mat(const std::vector<float>& data, int64_t rows, int64_t cols) { return {DType::kF32, data.data(), rows, cols}; }

std::vector<float> identity(int64_t n) {
  std::vector<float> m(n * n, 0.0f);
  for (int64_t i = 0; i < n; ++i) m[i * n + i] = 1.0f;
  return m;
}

}  // namespace

// One head, head_dim 2, no rotation effect at position 0, identity projections: the first token
// attends only to itself, so the output is v * sigmoid(gate).
TEST(Attention, FirstTokenReturnsGatedValue) {
  const int64_t d = 2;
  // q_proj rows: [q0, q1, gate0, gate1]; gate = x
  std::vector<float> q = {1, 0, 0, 1, 1, 0, 0, 1}, eye = identity(d);
  AttentionShape shape{d, 1, 1, d, /*output_gate=*/true, /*one_plus=*/true, 1e-6f};
  AttentionWeights w{mat(q, 2 * d, d), mat(eye, d, d), mat(eye, d, d), mat(eye, d, d), {0, 0}, {0, 0}};
  Rope rope(d, 10000.0);
  Attention attn(shape, w, rope);
  KvCache cache;
  std::vector<float> x = {0.5f, -2.0f}, out(d);
  attn.step(x, 0, cache, out);
  EXPECT_NEAR(out[0], 0.5f / (1 + std::exp(-0.5f)), 1e-6);
  EXPECT_NEAR(out[1], -2.0f / (1 + std::exp(2.0f)), 1e-6);
  EXPECT_EQ(cache.len, 1);
}

// Two tokens with equal keys: softmax weights are 1/2 each, output the mean of the values.
TEST(Attention, EqualScoresAverageValues) {
  const int64_t d = 2;
  std::vector<float> eye = identity(d), zero_k(d * d, 0.0f);
  AttentionShape shape{d, 1, 1, d, false, false, 1e-6f};
  // k_proj = 0 -> k normalises to 0 -> all scores 0.
  AttentionWeights w{mat(eye, d, d), mat(zero_k, d, d), mat(eye, d, d), mat(eye, d, d), {1, 1}, {1, 1}};
  Rope rope(d, 10000.0);
  Attention attn(shape, w, rope);
  KvCache cache;
  std::vector<float> out(d);
  std::vector<float> x1 = {1, 3}, x2 = {3, -1};
  attn.step(x1, 0, cache, out);
  attn.step(x2, 1, cache, out);
  EXPECT_NEAR(out[0], 2.0f, 1e-6);
  EXPECT_NEAR(out[1], 1.0f, 1e-6);
}

// GQA: 2 query heads share one kv head.
TEST(Attention, GroupedQueryHeadsShareKeyValueHead) {
  const int64_t d = 2, hidden = 2;
  std::vector<float> q(4 * hidden, 0.0f), eye = identity(d), o(hidden * 4, 0.0f);
  for (int i = 0; i < 4; ++i) q[i * hidden + (i % 2)] = 1.0f;
  o[0 * 4 + 2] = 1.0f;  // out[0] = head 1, dim 0
  o[1 * 4 + 1] = 1.0f;  // out[1] = head 0, dim 1
  AttentionShape shape{hidden, 2, 1, d, false, false, 1e-6f};
  AttentionWeights w{mat(q, 4, hidden), mat(eye, d, hidden), mat(eye, d, hidden), mat(o, hidden, 4), {1, 1}, {1, 1}};
  Rope rope(d, 10000.0);
  Attention attn(shape, w, rope);
  KvCache cache;
  std::vector<float> x = {0.25f, 4.0f}, out(hidden);
  attn.step(x, 0, cache, out);
  EXPECT_NEAR(out[0], 0.25f, 1e-6);
  EXPECT_NEAR(out[1], 4.0f, 1e-6);
}

}  // namespace streammoe
