#include "engine/blocks/rope.h"

#include <gtest/gtest.h>

#include <cmath>

namespace streammoe {

TEST(Rope, PositionZeroIsIdentity) {
  Rope rope(4, 10000.0);
  std::vector<float> head = {1, 2, 3, 4, 5, 6};
  rope.apply(head, 0);
  EXPECT_EQ(head, (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(Rope, RotatesHalvesAndLeavesTheRestAlone) {
  // rotary_dim 4: pairs (0,2) with inv_freq 1 and (1,3) with inv_freq theta^(-2/4) = 0.01.
  Rope rope(4, 10000.0);
  std::vector<float> head = {1, 1, 0, 0, 7, 8};
  rope.apply(head, 3);
  EXPECT_NEAR(head[0], std::cos(3.0f), 1e-6);
  EXPECT_NEAR(head[2], std::sin(3.0f), 1e-6);
  EXPECT_NEAR(head[1], std::cos(0.03f), 1e-6);
  EXPECT_NEAR(head[3], std::sin(0.03f), 1e-6);
  EXPECT_EQ(head[4], 7);
  EXPECT_EQ(head[5], 8);
}

TEST(Rope, RelativePositionOnlyMattersForDotProducts) {
  Rope rope(8, 10000.0);
  std::vector<float> q = {0.3f, -1, 2, 0.5f, 1, 0, -0.7f, 0.2f}, k = {1, 0.4f, -0.2f, 0.9f, 0.1f, 2, 0.3f, -1};
  auto rotated_dot = [&](int64_t pq, int64_t pk) {
    auto a = q, b = k;
    rope.apply(a, pq);
    rope.apply(b, pk);
    float d = 0;
    for (size_t i = 0; i < a.size(); ++i) d += a[i] * b[i];
    return d;
  };
  EXPECT_NEAR(rotated_dot(5, 2), rotated_dot(13, 10), 1e-4);
}

}  // namespace streammoe
