#include "engine/blocks/moe_ffn.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
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

// --k under replay: the first k of a recorded top-K, renormalised, is the router's own top-k.
TEST(MoeBlock, FirstKOfARoutingIsTheRoutersTopK) {
  std::vector<float> router = {0, 2, 1, 3, -1};
  ScaledExperts experts(5);
  for (bool norm : {true, false}) {
    SCOPED_TRACE(norm);
    MoeBlock block(0, {1, 5, 4, 1, norm}, {mat(router, 5, 1), false, {}, {}}, experts);
    const std::vector<float> x = {1.0f};
    const Routing top4 = block.route(x), top2 = block.route(x, 2);
    const Routing cut = first_k(top4, 2, norm);
    ASSERT_EQ(cut.experts, (std::vector<int32_t>{3, 1}));
    ASSERT_EQ(cut.experts, top2.experts);
    ASSERT_EQ(cut.weights.size(), 2u);
    for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(cut.weights[i], top2.weights[i], 1e-6);
    if (norm) EXPECT_NEAR(cut.weights[0] + cut.weights[1], 1.0f, 1e-6);
    else EXPECT_EQ(cut.weights[0], top4.weights[0]);  // softmax probabilities kept as they are
    // k = 0 or k >= the routing's size: the routing as it is, bit for bit.
    for (int64_t k : {0, 4, 9}) {
      const Routing all = first_k(top4, k, norm);
      EXPECT_EQ(all.experts, top4.experts);
      EXPECT_EQ(all.weights, top4.weights);
    }
  }
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
