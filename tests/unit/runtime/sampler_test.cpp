// The sampler refuses settings and logits it cannot sample from, with an Error, never by reading
// outside its buffers (the review's heap overflow: NaN temperature, top-p or logits).
#include "engine/runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/util/error.h"

namespace streammoe {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

SamplerConfig sampling(float temperature, float top_p = 1.0f) { return {temperature, top_p, 7}; }

TEST(Sampler, RefusesNanAndOutOfRangeSettings) {
  for (float t : {kNan, -1.0f, -kInf, kInf}) EXPECT_THROW(Sampler{sampling(t)}, Error) << t;
  for (float p : {kNan, 0.0f, -0.5f, 1.5f, kInf}) EXPECT_THROW(Sampler(sampling(1.0f, p)), Error) << p;
  EXPECT_NO_THROW(Sampler{sampling(0.0f)});
  EXPECT_NO_THROW(Sampler(sampling(0.7f, 1.0f)));
}

TEST(Sampler, RefusesNonFiniteLogitsWhenSampling) {
  Sampler sampler(sampling(1.0f));
  std::vector<float> logits = {1.0f, kNan, 2.0f};
  EXPECT_THROW(sampler.next(logits), Error);
  logits.assign(3, kNan);
  EXPECT_THROW(sampler.next(logits), Error);
  logits = {0.0f, kInf, 1.0f};
  EXPECT_THROW(sampler.next(logits), Error);
  logits.assign(4, -kInf);
  EXPECT_THROW(sampler.next(logits), Error);
  EXPECT_THROW(sampler.next(std::span<const float>{}), Error);
}

TEST(Sampler, MaskedTokensAreNeverSampled) {
  Sampler sampler(sampling(1.0f, 0.9f));
  const std::vector<float> logits = {-kInf, 3.0f, -kInf, 2.5f};
  for (int i = 0; i < 200; ++i) {
    const int32_t id = sampler.next(logits);
    EXPECT_TRUE(id == 1 || id == 3) << id;
  }
}

TEST(Sampler, TinyTopPKeepsTheMostLikelyToken) {
  Sampler sampler(sampling(1.0f, 1e-6f));
  const std::vector<float> logits = {0.1f, 0.3f, 5.0f, 0.2f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sampler.next(logits), 2);
}

TEST(Sampler, GreedyPicksTheArgmax) {
  Sampler sampler(sampling(0.0f));
  const std::vector<float> logits = {0.1f, 4.0f, -2.0f};
  EXPECT_EQ(sampler.next(logits), 1);
}

}  // namespace
}  // namespace streammoe
