#include "engine/blocks/moe_ffn.h"

#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace streammoe
