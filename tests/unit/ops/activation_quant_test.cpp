#include "engine/ops/activation_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/util/error.h"

namespace streammoe {
namespace {

std::vector<KernelIsa> quantiser_isas() {
  std::vector<KernelIsa> isas;
  for (KernelIsa isa : kInt8KernelIsas)
    if (kernel_isa_available(isa)) isas.push_back(isa);
  return isas;
}

std::vector<float> normal_values(int64_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

TEST(ActivationQuant, HandBuiltBlock) {
  // max|x| = 127 gives d = 1 and codes round(x), half to even; sum = d * sum(codes).
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = -63.5f;  // -> -64 (half to even)
  x[2] = 0.5f;    // -> 0
  x[3] = 1.5f;    // -> 2
  x[4] = 2.5f;    // -> 2
  x[5] = -2.49f;  // -> -2
  x[31] = -127.0f;
  for (KernelIsa isa : quantiser_isas()) {
    QuantizedActivation q;
    quantize_activation(x, 32, isa, &q);
    ASSERT_EQ(q.cols, 32);
    ASSERT_EQ(q.scales.size(), 1u);
    EXPECT_EQ(q.scales[0], 1.0f) << enum_name(isa);
    const std::vector<int8_t> expected_head = {127, -64, 0, 2, 2, -2};
    for (int i = 0; i < 6; ++i) EXPECT_EQ(q.codes[i], expected_head[i]) << enum_name(isa) << " " << i;
    EXPECT_EQ(q.codes[31], -127);
    EXPECT_EQ(q.sums[0], 127.0f - 64 + 0 + 2 + 2 - 2 - 127) << enum_name(isa);
  }
}

TEST(ActivationQuant, RoundTripErrorIsAtMostHalfAStep) {
  for (int block : {32, 64, 128}) {
    const int64_t n = 6 * block;
    std::vector<float> x = normal_values(n, 11u + block);
    for (int64_t i = 2 * block; i < 3 * block; ++i) x[i] = 1000.0f + x[i];  // far from zero
    for (int64_t i = 4 * block; i < 5 * block; ++i) x[i] *= 1e-20f;          // tiny but kept
    QuantizedActivation q;
    quantize_activation(x, block, KernelIsa::kScalar, &q);
    for (int64_t b = 0; b < n / block; ++b) {
      const float d = q.scales[b];
      int max_code = 0, code_sum = 0;
      for (int64_t i = b * block; i < (b + 1) * block; ++i) {
        // |x - q d| <= d/2, plus the f32 rounding of x * (127 / max) (relative 2^-23 of 127).
        ASSERT_LE(std::abs(x[i] - dequantized_activation(q, i)), d * (0.5f + 2e-5f))
            << "block size " << block << " element " << i;
        max_code = std::max(max_code, std::abs(static_cast<int>(q.codes[i])));
        code_sum += q.codes[i];
      }
      EXPECT_EQ(max_code, 127) << "the largest value maps to +-127, block " << b;
      EXPECT_EQ(q.sums[b], d * static_cast<float>(code_sum)) << "block " << b;
    }
  }
}

// The documented orders, written independently of the library's loops.
int64_t element_at_4bit_position(int64_t pos, int64_t cols) {
  const int64_t base = pos / 64 * 64;
  const int64_t chunk = cols - base >= 64 ? 64 : 32;
  const int64_t i = pos - base;
  return base + (i < chunk / 2 ? 2 * i : 2 * (i - chunk / 2) + 1);
}
int64_t element_at_2bit_position(int64_t pos, int64_t cols) {
  const int64_t base = pos / 64 * 64;
  const int64_t quarter = (cols - base >= 64 ? 64 : 32) / 4;
  const int64_t i = pos - base;
  return base + 4 * (i % quarter) + i / quarter;
}

TEST(ActivationQuant, SimdOrdersFollowTheUnpacking) {
  for (int64_t cols : {32, 64, 96, 128, 160, 2048}) {
    const std::vector<float> x = normal_values(cols, static_cast<uint32_t>(cols));
    for (KernelIsa isa : quantiser_isas()) {
      QuantizedActivation q;
      quantize_activation(x, 32, isa, &q);
      for (int64_t pos = 0; pos < cols; ++pos) {
        ASSERT_EQ(q.codes_4bit[pos], q.codes[element_at_4bit_position(pos, cols)])
            << enum_name(isa) << " cols " << cols << " position " << pos;
        ASSERT_EQ(q.codes_2bit[pos], q.codes[element_at_2bit_position(pos, cols)])
            << enum_name(isa) << " cols " << cols << " position " << pos;
      }
      EXPECT_EQ(q.simd_codes(4), q.codes_4bit.data());
      EXPECT_EQ(q.simd_codes(2), q.codes_2bit.data());
      EXPECT_EQ(q.simd_codes(8), q.codes.data());
    }
  }
}

TEST(ActivationQuant, SimdQuantiserGivesTheScalarBytesExactly) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (int block : {32, 64, 128}) {
    for (int64_t blocks : {1, 3, 8, 33}) {
      const int64_t n = blocks * block;
      std::vector<float> x = normal_values(n, static_cast<uint32_t>(n + block), 3.0f);
      // Ties of the rounding (x * 127 / max exactly k + 0.5), zeros, tiny and non-finite blocks.
      for (int64_t i = 0; i < std::min<int64_t>(n, 16); ++i) x[i] = 0.5f * static_cast<float>(i);
      if (n >= 16) x[15] = 127.0f;
      if (blocks >= 3) {
        for (int64_t i = block; i < 2 * block; ++i) x[i] = 0.0f;
        for (int64_t i = 2 * block; i < 3 * block; ++i) x[i] = 1e-35f * static_cast<float>(i % 7);
      }
      if (blocks >= 8) {
        x[5 * block + 3] = nan;
        x[6 * block + 1] = -inf;
      }
      QuantizedActivation reference;
      quantize_activation(x, block, KernelIsa::kScalar, &reference);
      for (KernelIsa isa : quantiser_isas()) {
        QuantizedActivation q;
        quantize_activation(x, block, isa, &q);
        const std::string what =
            std::string(enum_name(isa)) + " block " + std::to_string(block) + " n " + std::to_string(n);
        EXPECT_EQ(q.codes, reference.codes) << what;
        EXPECT_EQ(q.codes_4bit, reference.codes_4bit) << what;
        EXPECT_EQ(q.codes_2bit, reference.codes_2bit) << what;
        for (size_t b = 0; b < q.scales.size(); ++b) {
          EXPECT_TRUE(same_bits(q.scales[b], reference.scales[b])) << what << " scale " << b;
          EXPECT_TRUE(same_bits(q.sums[b], reference.sums[b])) << what << " sum " << b;
        }
      }
    }
  }
}

TEST(ActivationQuant, SpecialBlocks) {
  std::vector<float> x(5 * 32, 0.25f);
  for (int i = 32; i < 64; ++i) x[i] = 0.0f;
  for (int i = 64; i < 96; ++i) x[i] = 1e-31f;  // below kMinActivationAmax: zeros
  x[96 + 7] = std::numeric_limits<float>::quiet_NaN();
  x[128 + 9] = std::numeric_limits<float>::infinity();
  for (KernelIsa isa : quantiser_isas()) {
    QuantizedActivation q;
    quantize_activation(x, 32, isa, &q);
    EXPECT_EQ(q.scales[0], 0.25f / 127.0f);
    EXPECT_EQ(q.codes[0], 127);
    EXPECT_EQ(q.scales[1], 0.0f);
    EXPECT_EQ(q.sums[1], 0.0f);
    EXPECT_EQ(q.scales[2], 0.0f);
    EXPECT_EQ(q.codes[70], 0);
    EXPECT_TRUE(std::isnan(q.scales[3]) && std::isnan(q.sums[3])) << enum_name(isa);
    EXPECT_TRUE(std::isnan(q.scales[4]) && std::isnan(q.sums[4])) << enum_name(isa);
    EXPECT_EQ(q.codes[96], 0);
  }
}

TEST(ActivationQuant, ReusesItsStorageAcrossWidths) {
  QuantizedActivation q;
  quantize_activation(normal_values(256, 1), 64, &q);
  EXPECT_EQ(q.blocks(), 4);
  quantize_activation(normal_values(96, 2), 32, &q);
  EXPECT_EQ(q.cols, 96);
  EXPECT_EQ(q.block_size, 32);
  EXPECT_EQ(q.codes.size(), 96u);
  EXPECT_EQ(q.scales.size(), 3u);
}

TEST(ActivationQuant, BadShapesAreErrors) {
  QuantizedActivation q;
  const std::vector<float> x(96, 1.0f);
  EXPECT_THROW(quantize_activation(x, 64, &q), Error);  // 96 values, blocks of 64
  EXPECT_THROW(quantize_activation(x, 48, &q), Error);  // not a multiple of 32
  EXPECT_THROW(quantize_activation(x, 0, &q), Error);
  EXPECT_THROW(quantize_activation(std::vector<float>{}, 32, &q), Error);
  try {
    quantize_activation(x, 64, &q);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of the block size 64"), std::string::npos) << e.what();
  }
  for (KernelIsa isa : kInt8KernelIsas) {
    if (!kernel_isa_available(isa)) {
      EXPECT_THROW(quantize_activation(x, 32, isa, &q), Error);
    }
  }
}

}  // namespace
}  // namespace streammoe
