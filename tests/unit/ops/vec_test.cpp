#include "engine/ops/vec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <vector>

#include <cmath>
#include <vector>

#include "engine/util/error.h"

namespace streammoe {
namespace {

TEST(Vec, RmsnormWithAndWithoutOnePlusWeight) {
  const std::vector<float> x = {1, 2, 3, 4};  // mean of squares 7.5
  const std::vector<float> weight = {0.0f, 1.0f, -0.5f, 2.0f};
  const float eps = 1e-6f;
  const double inv_rms = 1.0 / std::sqrt(7.5 + 1e-6);
  std::vector<float> out(4);
  rmsnorm(x, weight, eps, /*one_plus_weight=*/false, out);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], x[i] * inv_rms * weight[i], 1e-6) << i;
  rmsnorm(x, weight, eps, /*one_plus_weight=*/true, out);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], x[i] * inv_rms * (1.0 + weight[i]), 1e-6) << i;
  std::vector<float> in_place = x;
  rmsnorm(in_place, weight, eps, true, in_place);
  EXPECT_EQ(in_place, out);
}

TEST(Vec, RmsnormGatedMultipliesBySiluOfTheGate) {
  const std::vector<float> x = {3, 4}, gate = {0.0f, 1.0f}, weight = {2.0f, 1.0f};
  std::vector<float> out(2);
  rmsnorm_gated(x, gate, weight, 0.0f, out);
  const double inv_rms = 1.0 / std::sqrt(12.5);
  EXPECT_NEAR(out[0], 0.0, 1e-7);  // silu(0) = 0
  EXPECT_NEAR(out[1], 4 * inv_rms * 1.0 * 0.7310585786, 1e-6);
}

TEST(Vec, L2norm) {
  std::vector<float> x = {3, 4};
  l2norm_inplace(x, 0.0f);
  EXPECT_NEAR(x[0], 0.6f, 1e-7);
  EXPECT_NEAR(x[1], 0.8f, 1e-7);
  std::vector<float> out(2);
  l2norm(std::vector<float>{0, 0}, 1e-6f, out);  // eps keeps zero finite
  EXPECT_EQ(out[0], 0.0f);
}

TEST(Vec, ActivationsHandChecked) {
  EXPECT_EQ(silu(0.0f), 0.0f);
  EXPECT_NEAR(silu(1.0f), 0.7310585786f, 1e-7);
  EXPECT_NEAR(silu(-2.0f), -2.0f * 0.1192029220f, 1e-7);
  EXPECT_NEAR(sigmoid(0.0f), 0.5f, 0);
  EXPECT_NEAR(softplus(0.0f), std::log(2.0f), 1e-7);
  EXPECT_EQ(softplus(30.0f), 30.0f);
  std::vector<float> v = {0.0f, 1.0f};
  silu_inplace(v);
  EXPECT_NEAR(v[1], 0.7310585786f, 1e-7);
  std::vector<float> out(2);
  swiglu(std::vector<float>{1.0f, 0.0f}, std::vector<float>{2.0f, 5.0f}, out);
  EXPECT_NEAR(out[0], 2 * 0.7310585786f, 1e-6);
  EXPECT_EQ(out[1], 0.0f);
}

TEST(Vec, SoftmaxHandCheckedAndStableForLargeLogits) {
  std::vector<float> x = {0.0f, std::log(3.0f)};
  softmax_inplace(x);
  EXPECT_NEAR(x[0], 0.25f, 1e-7);
  EXPECT_NEAR(x[1], 0.75f, 1e-7);
  std::vector<float> big = {1000.0f, 1000.0f, -1000.0f};
  softmax_inplace(big);
  EXPECT_NEAR(big[0], 0.5f, 1e-7);
  EXPECT_NEAR(big[1], 0.5f, 1e-7);
  EXPECT_EQ(big[2], 0.0f);
  std::vector<float> empty;
  softmax_inplace(empty);
}

TEST(Vec, DotAndAxpy) {
  const std::vector<float> a = {1, 2, 3}, b = {4, -5, 6};
  EXPECT_EQ(dot(a, b), 12.0f);
  std::vector<float> y = {1, 1, 1};
  axpy(2.0f, a, y);
  EXPECT_EQ(y, (std::vector<float>{3, 5, 7}));
}

TEST(Vec, AllFiniteFindsNanAndInfAnywhere) {
  std::vector<float> x(37, 1.0f);
  x[5] = -0.0f;
  x[6] = std::numeric_limits<float>::denorm_min();
  x[7] = std::numeric_limits<float>::max();
  EXPECT_TRUE(all_finite(x));
  EXPECT_EQ(count_non_finite(x), 0);
  EXPECT_TRUE(all_finite({}));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::quiet_NaN()}) {
    for (size_t i : {size_t{0}, size_t{17}, x.size() - 1}) {
      std::vector<float> y = x;
      y[i] = bad;
      EXPECT_FALSE(all_finite(y)) << bad << " at " << i;
      EXPECT_EQ(count_non_finite(y), 1);
    }
  }
  std::vector<float> ff(8);
  std::memset(ff.data(), 0xff, ff.size() * sizeof(float));  // an expert file of 0xFF bytes
  EXPECT_FALSE(all_finite(ff));
  EXPECT_EQ(count_non_finite(ff), 8);
}

TEST(Vec, SizeMismatchesAreErrors) {
  std::vector<float> three(3), two(2);
  EXPECT_THROW(dot(three, two), Error);
  EXPECT_THROW(axpy(1.0f, three, two), Error);
  EXPECT_THROW(rmsnorm(three, two, 1e-6f, false, three), Error);
  EXPECT_THROW(rmsnorm(three, three, 1e-6f, false, two), Error);
  EXPECT_THROW(swiglu(three, two, three), Error);
  EXPECT_THROW(l2norm(three, 1e-6f, two), Error);
}

}  // namespace
}  // namespace streammoe
