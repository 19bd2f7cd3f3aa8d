#include "engine/blocks/moe_ffn.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/ops/int8_matvec.h"
#include "engine/ops/quant_matvec.h"
#include "engine/ops/vec.h"

namespace streammoe {
namespace {

MatRef mat(const std::vector<float>& data, int64_t rows, int64_t cols) { return {DType::kF32, data.data(), rows, cols}; }
float silu_ref(float v) { return v / (1 + std::exp(-v)); }

// Expert e (hidden 1, intermediate 1): gate = 1, up = 1, down = e + 1, so its output is (e+1) silu(x) x.
class ScaledExperts : public ExpertSource {
 public:
  explicit ScaledExperts(int64_t n) {
    for (int64_t e = 0; e < n; ++e) down_.push_back(static_cast<float>(e + 1));
  }
  void fetch(int64_t, std::span<const int32_t> experts, std::span<ExpertWeights> out) override {
    fetched.assign(experts.begin(), experts.end());
    for (size_t i = 0; i < experts.size(); ++i)
      out[i] = {mat(one_, 1, 1), mat(one_, 1, 1), MatRef{DType::kF32, &down_[experts[i]], 1, 1}};
  }
  std::vector<int32_t> fetched;

 private:
  std::vector<float> one_ = {1.0f};
  std::vector<float> down_;
};

}  // namespace

TEST(MoeBlock, RoutesTopKRenormalisesAndAddsGatedSharedExpert) {
  // Router logits for x = 1: experts 0..3 get 0, 2, 1, 3 -> top-2 = {3, 1}.
  std::vector<float> router = {0, 2, 1, 3}, shared_w = {1.0f}, shared_gate = {0.5f};
  ScaledExperts experts(4);
  MoeWeights w{mat(router, 4, 1), true, {mat(shared_w, 1, 1), mat(shared_w, 1, 1), mat(shared_w, 1, 1)}, mat(shared_gate, 1, 1)};
  MoeBlock block(0, {1, 4, 2, 1, true}, w, experts);
  std::vector<float> x = {1.0f}, out(1);
  MoeRouting exact;
  block.step(x, out, 0, exact, nullptr);
  EXPECT_EQ(experts.fetched, (std::vector<int32_t>{3, 1}));
  const float p3 = std::exp(3.0f), p1 = std::exp(2.0f);
  const float w3 = p3 / (p3 + p1), w1 = p1 / (p3 + p1);
  const float act = silu_ref(1.0f) * 1.0f;
  const float expected = w3 * 4 * act + w1 * 2 * act + act / (1 + std::exp(-0.5f));
  EXPECT_NEAR(out[0], expected, 1e-6);
  EXPECT_NEAR(block.last_routing().weights[0], w3, 1e-6);
}

TEST(MoeBlock, WithoutRenormalisationKeepsSoftmaxProbabilities) {
  std::vector<float> router = {0, 2, 1, 3};
  ScaledExperts experts(4);
  MoeWeights w{mat(router, 4, 1), false, {}, {}};
  MoeBlock block(0, {1, 4, 2, 1, false}, w, experts);
  Routing r = block.route(std::vector<float>{1.0f});
  const float z = 1 + std::exp(2.0f) + std::exp(1.0f) + std::exp(3.0f);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{3, 1}));
  EXPECT_NEAR(r.weights[0], std::exp(3.0f) / z, 1e-6);
  EXPECT_NEAR(r.weights[1], std::exp(2.0f) / z, 1e-6);
}

TEST(MoeBlock, TopKOverride) {
  std::vector<float> router = {0, 2, 1, 3};
  ScaledExperts experts(4);
  MoeBlock block(0, {1, 4, 2, 1, true}, {mat(router, 4, 1), false, {}, {}}, experts);
  // A routing policy that overrides K (as the engine's --k does) through the block's router.
  struct TopOne : MoeRouting {
    Routing route(int64_t, int64_t, std::span<const float> x, MoeBlock& b) override { return b.route(x, 1); }
  } top_one;
  std::vector<float> x = {1.0f}, out(1);
  block.step(x, out, 0, top_one, nullptr);
  EXPECT_EQ(experts.fetched, (std::vector<int32_t>{3}));
  EXPECT_NEAR(out[0], 4 * silu_ref(1.0f), 1e-6);  // renormalised weight 1
}

// ---- the int8 path (--matvec int8) --------------------------------------------------------
namespace {

std::vector<float> normal_values(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Routed experts as packed models hold them: gate/up 4-bit, down 2-bit, groups of 64.
class QuantExperts : public ExpertSource {
 public:
  QuantExperts(int64_t n, int64_t hidden, int64_t inter) {
    for (int64_t e = 0; e < n; ++e) {
      const uint32_t seed = static_cast<uint32_t>(100 + 3 * e);
      gate_.push_back(quantize_rows(normal_values(inter * hidden, seed, 0.1f), inter, hidden, 4));
      up_.push_back(quantize_rows(normal_values(inter * hidden, seed + 1, 0.1f), inter, hidden, 4));
      down_.push_back(quantize_rows(normal_values(hidden * inter, seed + 2, 0.1f), hidden, inter, 2));
    }
  }
  void fetch(int64_t, std::span<const int32_t> experts, std::span<ExpertWeights> out) override {
    for (size_t i = 0; i < experts.size(); ++i)
      out[i] = {gate_[experts[i]].ref(), up_[experts[i]].ref(), down_[experts[i]].ref()};
  }
  const QuantMatrix& gate(int32_t e) const { return gate_[e]; }
  const QuantMatrix& up(int32_t e) const { return up_[e]; }
  const QuantMatrix& down(int32_t e) const { return down_[e]; }

 private:
  std::vector<QuantMatrix> gate_, up_, down_;
};

constexpr int64_t kHidden = 128, kInter = 64, kExperts = 8, kTopK = 3, kSharedInter = 128;

struct QuantMoe {
  QuantExperts experts{kExperts, kHidden, kInter};
  std::vector<float> router = normal_values(kExperts * kHidden, 7, 0.2f);
  std::vector<float> shared_gate_w = normal_values(kHidden, 8, 0.1f);
  // The shared expert quantised too, as a resident weight of --resident-bits 8 would be.
  QuantMatrix shared_gate = quantize_rows(normal_values(kSharedInter * kHidden, 9, 0.1f), kSharedInter, kHidden,
                                          {8, 64, QuantScheme::kSymmetric});
  QuantMatrix shared_up = quantize_rows(normal_values(kSharedInter * kHidden, 10, 0.1f), kSharedInter, kHidden, 4);
  QuantMatrix shared_down = quantize_rows(normal_values(kHidden * kSharedInter, 11, 0.1f), kHidden, kSharedInter,
                                          {8, 64, QuantScheme::kAffine});
  MoeBlock block{0,
                 {kHidden, kExperts, kTopK, kInter, true},
                 {mat(router, kExperts, kHidden), true, {shared_gate.ref(), shared_up.ref(), shared_down.ref()},
                  mat(shared_gate_w, 1, kHidden)},
                 experts};

  // The block's output for one token, written out with the kernels: every quantised product
  // through `product` (quant_matvec or quant_matvec_int8 on x itself).
  template <typename Product>
  std::vector<float> reference(std::span<const float> x, Product product) {
    const Routing r = block.route(x);
    std::vector<float> y(kHidden, 0.0f);
    const auto mlp = [&](const QuantMatrix& g, const QuantMatrix& u, const QuantMatrix& d) {
      std::vector<float> gv(g.rows), uv(u.rows), out(d.rows);
      product(g.ref(), x, gv);
      product(u.ref(), x, uv);
      swiglu(gv, uv, gv);
      product(d.ref(), gv, out);
      return out;
    };
    for (size_t k = 0; k < r.experts.size(); ++k) {
      const int32_t e = r.experts[k];
      axpy(r.weights[k], mlp(experts.gate(e), experts.up(e), experts.down(e)), y);
    }
    const std::vector<float> shared = mlp(shared_gate, shared_up, shared_down);
    float g = 0.0f;
    matvec(mat(shared_gate_w, 1, kHidden), x, {&g, 1});
    axpy(sigmoid(g), shared, y);
    return y;
  }
};

void int8_product(const QuantMatRef& w, std::span<const float> x, std::span<float> y) { quant_matvec_int8(w, x, y); }
void f32_product(const QuantMatRef& w, std::span<const float> x, std::span<float> y) {
  quant_matvec(w, x, y, DequantMode::kFma);
}

}  // namespace

TEST(MoeBlockInt8, EveryQuantisedProductTakesTheIntegerKernels) {
  QuantMoe moe;
  moe.block.set_matvec(MatvecPath::kInt8);
  const std::vector<float> x = normal_values(kHidden, 20, 1.0f);
  std::vector<float> out(kHidden);
  MoeRouting exact;
  moe.block.step(x, out, 0, exact, nullptr);
  EXPECT_EQ(out, moe.reference(x, int8_product));
  const std::vector<float> f32 = moe.reference(x, f32_product);
  EXPECT_NE(out, f32);  // the path acts
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < kHidden; ++i) {
    diff += (out[i] - f32[i]) * (out[i] - f32[i]);
    norm += f32[i] * f32[i];
  }
  // Each int8 activation is off by up to d/2, d = max|block| / 127, uniformly spread: an RMS
  // error of max / (127 sqrt(12)) = max / 440 per value, i.e. rho / 440 of the block's RMS for a
  // max-to-RMS ratio rho. The down projection's input silu(g) * u is heavy-tailed (rho ~ 5 here),
  // so the output moves by ~1% (measured 1.2e-2); 3e-2 allows rho up to ~13 and still fails on a
  // wrong scale or code order (errors of order 1).
  EXPECT_LT(std::sqrt(diff / norm), 3e-2);
}

TEST(MoeBlockInt8, F32PathIsTheDefaultAndUnchanged) {
  QuantMoe moe;
  const std::vector<float> x = normal_values(kHidden, 21, 1.0f);
  std::vector<float> out(kHidden), again(kHidden);
  MoeRouting exact;
  moe.block.step(x, out, 0, exact, nullptr);
  EXPECT_EQ(out, moe.reference(x, f32_product));
  moe.block.set_matvec(MatvecPath::kInt8);
  moe.block.set_matvec(MatvecPath::kF32);
  moe.block.step(x, again, 0, exact, nullptr);
  EXPECT_EQ(again, out);
}

// The expert-major chunk quantises each token's x once and reuses it for every expert routed to
// that token; the results are those of the tokens one at a time, bit for bit.
TEST(MoeBlockInt8, ChunkIsBitIdenticalToTokenByToken) {
  QuantMoe moe;
  moe.block.set_matvec(MatvecPath::kInt8);
  const int64_t T = 7;
  const std::vector<float> x = normal_values(T * kHidden, 22, 1.0f);
  std::vector<float> chunk(T * kHidden), single(T * kHidden);
  MoeRouting exact;
  moe.block.step(x, chunk, 0, exact, nullptr);
  for (int64_t t = 0; t < T; ++t)
    moe.block.step(std::span(x).subspan(t * kHidden, kHidden), std::span(single).subspan(t * kHidden, kHidden), t,
                   exact, nullptr);
  EXPECT_EQ(chunk, single);
  for (int64_t t = 0; t < T; ++t)
    EXPECT_EQ(std::vector<float>(chunk.begin() + t * kHidden, chunk.begin() + (t + 1) * kHidden),
              moe.reference(std::span(x).subspan(t * kHidden, kHidden), int8_product))
        << "token " << t;
}

}  // namespace streammoe
