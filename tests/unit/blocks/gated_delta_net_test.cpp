#include "engine/blocks/gated_delta_net.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace streammoe {
namespace {

MatRef mat(const std::vector<float>& data, int64_t rows, int64_t cols) { return {DType::kF32, data.data(), rows, cols}; }
float silu_ref(float v) { return v / (1 + std::exp(-v)); }

struct Fixture {
  DeltaNetShape shape;
  std::vector<float> qkv, z, b, a, out;
  DeltaNetWeights weights() const {
    DeltaNetWeights w;
    w.in_proj_qkv = mat(qkv, shape.conv_dim(), shape.hidden);
    w.in_proj_z = mat(z, shape.value_dim(), shape.hidden);
    w.in_proj_b = mat(b, shape.v_heads, shape.hidden);
    w.in_proj_a = mat(a, shape.v_heads, shape.hidden);
    w.out_proj = mat(out, shape.hidden, shape.value_dim());
    return w;
  }
};

}  // namespace

// First token, conv kernel 1 with weight 1, one head, dk = dv = 2, hidden 1 (x = 1), out_proj = I:
// S = beta * k v^T, o = S^T q = beta (k.q) v, and the gated norm gives w * v / rms(v) * silu(z)
// times sign(k.q).
TEST(GatedDeltaNet, FirstStepByHand) {
  Fixture f;
  f.shape = {1, 1, 1, 2, 2, 1, 1e-6f};
  f.qkv = {0.3f, 0.4f, 0.6f, 0.8f, 1.0f, -2.0f};  // q, k, v columns (x = 1)
  f.z = {0.5f, 1.5f};
  f.b = {0.2f};
  f.a = {0.1f};
  DeltaNetWeights w = f.weights();
  std::vector<float> out_proj(2 * 1);  // hidden 1 <- value_dim 2: out = o0 + o1
  out_proj = {1.0f, 1.0f};
  w.out_proj = mat(out_proj, 1, 2);
  w.conv = std::vector<float>(6, 1.0f);
  w.a_log = {0.0f};
  w.dt_bias = {0.0f};
  w.norm = {2.0f, 3.0f};
  GatedDeltaNet gdn(f.shape, w);
  DeltaNetState state = gdn.new_state();
  std::vector<float> x = {1.0f}, y(1);
  gdn.step(x, state, y);

  std::vector<float> v = {silu_ref(1.0f), silu_ref(-2.0f)};
  const float rms = std::sqrt((v[0] * v[0] + v[1] * v[1]) / 2 + 1e-6f);
  const float expected = 2.0f * v[0] / rms * silu_ref(0.5f) + 3.0f * v[1] / rms * silu_ref(1.5f);
  EXPECT_NEAR(y[0], expected, 1e-5);

  // The state holds beta * k_hat v^T.
  const float beta = 1 / (1 + std::exp(-0.2f));
  std::vector<float> k = {silu_ref(0.6f), silu_ref(0.8f)};
  const float kn = std::sqrt(k[0] * k[0] + k[1] * k[1] + 1e-6f);
  EXPECT_NEAR(state.recurrent[0 * 2 + 1], beta * k[0] / kn * v[1], 1e-6);
  EXPECT_NEAR(state.recurrent[1 * 2 + 0], beta * k[1] / kn * v[0], 1e-6);
}

// Several steps against a plain re-statement of the recurrence (decay, delta rule, conv window of
// 3, two value heads sharing one key head).
TEST(GatedDeltaNet, MatchesRecurrenceOverSteps) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  auto randn = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = normal(rng);
    return v;
  };
  Fixture f;
  f.shape = {4, 1, 2, 3, 2, 3, 1e-6f};
  const auto& s = f.shape;
  f.qkv = randn(s.conv_dim() * s.hidden);
  f.z = randn(s.value_dim() * s.hidden);
  f.b = randn(s.v_heads * s.hidden);
  f.a = randn(s.v_heads * s.hidden);
  f.out = randn(s.hidden * s.value_dim());
  DeltaNetWeights w = f.weights();
  w.conv = randn(s.conv_dim() * s.conv_kernel);
  w.a_log = randn(s.v_heads);
  w.dt_bias = randn(s.v_heads);
  w.norm = randn(s.v_head_dim);
  GatedDeltaNet gdn(s, w);
  DeltaNetState state = gdn.new_state();

  std::vector<std::vector<float>> inputs;  // projected qkv per step, for the conv window
  std::vector<float> S(s.v_heads * s.k_head_dim * s.v_head_dim, 0.0f);
  auto matvec_ref = [](const std::vector<float>& m, const std::vector<float>& x, int64_t rows) {
    std::vector<float> y(rows, 0.0f);
    const int64_t cols = static_cast<int64_t>(x.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) y[r] += m[r * cols + c] * x[c];
    return y;
  };
  for (int step = 0; step < 5; ++step) {
    std::vector<float> x = randn(s.hidden), y(s.hidden);
    gdn.step(x, state, y);

    inputs.push_back(matvec_ref(f.qkv, x, s.conv_dim()));
    std::vector<float> mixed(s.conv_dim());
    for (int64_t c = 0; c < s.conv_dim(); ++c) {
      float acc = 0.0f;
      for (int64_t j = 0; j < s.conv_kernel; ++j) {
        const int64_t t = static_cast<int64_t>(inputs.size()) - s.conv_kernel + j;
        if (t >= 0) acc += w.conv[c * s.conv_kernel + j] * inputs[t][c];
      }
      mixed[c] = silu_ref(acc);
    }
    auto z = matvec_ref(f.z, x, s.value_dim()), b = matvec_ref(f.b, x, s.v_heads), a = matvec_ref(f.a, x, s.v_heads);
    std::vector<float> core(s.value_dim());
    for (int64_t h = 0; h < s.v_heads; ++h) {
      std::vector<float> q(mixed.begin(), mixed.begin() + 3), k(mixed.begin() + 3, mixed.begin() + 6);
      float qn = 0, kn = 0;
      for (int i = 0; i < 3; ++i) qn += q[i] * q[i], kn += k[i] * k[i];
      for (int i = 0; i < 3; ++i) q[i] /= std::sqrt(qn + 1e-6f) * std::sqrt(3.0f), k[i] /= std::sqrt(kn + 1e-6f);
      const float* v = mixed.data() + 6 + h * 2;
      const float g = -std::exp(w.a_log[h]) * std::log1p(std::exp(a[h] + w.dt_bias[h]));
      const float beta = 1 / (1 + std::exp(-b[h]));
      float* Sh = S.data() + h * 6;
      for (int i = 0; i < 6; ++i) Sh[i] *= std::exp(g);
      for (int j = 0; j < 2; ++j) {
        float mem = 0;
        for (int i = 0; i < 3; ++i) mem += Sh[i * 2 + j] * k[i];
        for (int i = 0; i < 3; ++i) Sh[i * 2 + j] += k[i] * (v[j] - mem) * beta;
      }
      float o[2] = {0, 0};
      for (int j = 0; j < 2; ++j)
        for (int i = 0; i < 3; ++i) o[j] += Sh[i * 2 + j] * q[i];
      const float rms = std::sqrt((o[0] * o[0] + o[1] * o[1]) / 2 + 1e-6f);
      for (int j = 0; j < 2; ++j) core[h * 2 + j] = o[j] / rms * w.norm[j] * silu_ref(z[h * 2 + j]);
    }
    auto expected = matvec_ref(f.out, core, s.hidden);
    for (int64_t i = 0; i < s.hidden; ++i) EXPECT_NEAR(y[i], expected[i], 1e-4) << "step " << step;
  }
}

}  // namespace streammoe
