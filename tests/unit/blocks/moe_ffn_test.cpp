#include "engine/blocks/moe_ffn.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

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

std::vector<float> random_values(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// Random experts whose fetch_each hands them out in reverse, as a source whose last read lands
// first would; the views of experts that have not "landed" yet are NaN, so computing one before
// its arrival poisons the output.
class ReversedArrivals : public ExpertSource {
 public:
  ReversedArrivals(int64_t n, int64_t hidden, int64_t inter, std::mt19937& rng)
      : hidden_(hidden), inter_(inter), nan_(hidden * inter, std::numeric_limits<float>::quiet_NaN()) {
    for (int64_t e = 0; e < n; ++e) {
      gate_.push_back(random_values(inter * hidden, rng));
      up_.push_back(random_values(inter * hidden, rng));
      down_.push_back(random_values(hidden * inter, rng));
    }
  }
  void fetch(int64_t, std::span<const int32_t> experts, std::span<ExpertWeights> out) override {
    for (size_t i = 0; i < experts.size(); ++i) out[i] = weights(experts[i]);
  }
  void fetch_each(int64_t, std::span<const int32_t> experts, std::span<ExpertWeights> out,
                  FunctionRef<void(size_t)> ready) override {
    const MatRef poison{DType::kF32, nan_.data(), inter_, hidden_};
    for (size_t i = 0; i < experts.size(); ++i)
      out[i] = {poison, poison, MatRef{DType::kF32, nan_.data(), hidden_, inter_}};
    std::vector<size_t> order;
    for (size_t i = experts.size(); i-- > 0;) {
      out[i] = weights(experts[i]);
      order.push_back(i);
      ready(i);
    }
    arrivals.push_back(order);
  }
  std::vector<std::vector<size_t>> arrivals;  // per fetch_each, the order ready() was called in

 private:
  ExpertWeights weights(int32_t e) const {
    return {MatRef{DType::kF32, gate_[e].data(), inter_, hidden_}, MatRef{DType::kF32, up_[e].data(), inter_, hidden_},
            MatRef{DType::kF32, down_[e].data(), hidden_, inter_}};
  }
  int64_t hidden_, inter_;
  std::vector<std::vector<float>> gate_, up_, down_;
  std::vector<float> nan_;
};

// Counts the prefetch-lookahead hook.
struct CountingRouting : MoeRouting {
  void fetched(int64_t, int64_t, std::span<const float>) override { ++calls; }
  int calls = 0;
};

}  // namespace

// --expert-order arrival: experts computed in the order they land give the same bits as all K
// computed after the fetch, for a chunk and token by token, since each token's outputs are
// still summed in routing order.
TEST(MoeBlock, ArrivalOrderIsBitIdenticalWhateverOrderExpertsLand) {
  constexpr int64_t H = 16, E = 12, K = 4, I = 8, T = 6;
  std::mt19937 rng(7);
  const std::vector<float> router = random_values(E * H, rng), x = random_values(T * H, rng);
  ReversedArrivals experts(E, H, I, rng);
  const MoeShape shape{H, E, K, I, true};
  MoeBlock all(0, shape, {mat(router, E, H), false, {}, {}}, experts);
  MoeBlock arrival(0, shape, {mat(router, E, H), false, {}, {}}, experts);
  arrival.set_expert_order(ExpertOrder::kArrival);
  MoeRouting exact;
  std::vector<float> want(T * H), got(T * H);
  all.step(x, want, 0, exact, nullptr);
  PhaseTimes times;
  arrival.step(x, got, 0, exact, &times);
  ASSERT_FALSE(experts.arrivals.empty());
  EXPECT_EQ(experts.arrivals.front(), (std::vector<size_t>{3, 2, 1, 0}));
  EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0);
  EXPECT_GT(times.get(Phase::kExpertCompute), 0.0);
  EXPECT_GE(times.get(Phase::kExpertIoWait), 0.0);

  // Token by token: one fetch_each per token, the lookahead hook once per token, same bits.
  experts.arrivals.clear();
  CountingRouting counting;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> one(H);
    arrival.step(std::span(x).subspan(t * H, H), one, t, counting, nullptr);
    EXPECT_EQ(std::memcmp(one.data(), want.data() + t * H, H * sizeof(float)), 0) << "token " << t;
  }
  EXPECT_EQ(experts.arrivals.size(), static_cast<size_t>(T));
  EXPECT_EQ(counting.calls, T);
}

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
