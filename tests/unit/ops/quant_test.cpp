#include "engine/ops/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/util/dtype.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

TEST(Quant, FourBitPacksLowNibbleFirst) {
  // One row of 32 values whose codes are c % 16: min 0 and max 15 give scale 1 and bias 0.
  std::vector<float> w(32);
  for (int c = 0; c < 32; ++c) w[c] = static_cast<float>(c % 16);
  const QuantMatrix m = quantize_rows(w, 1, 32, 4, 32);
  ASSERT_EQ(m.q.size(), 4u);
  EXPECT_EQ(m.q[0], 0x76543210u);  // element 0 in bits 0..3
  EXPECT_EQ(m.q[1], 0xFEDCBA98u);
  EXPECT_EQ(m.q[2], 0x76543210u);
  EXPECT_EQ(m.q[3], 0xFEDCBA98u);
  ASSERT_EQ(m.scales.size(), 1u);
  EXPECT_EQ(m.scales[0], 0x3F80u);  // bf16 1.0
  EXPECT_EQ(m.biases[0], 0x0000u);  // bf16 0.0
}

TEST(Quant, TwoBitPacksLowestBitsFirst) {
  // Codes c % 4 in the first word, then all 3s, then 0 except element 0 of word 2 (code 1).
  std::vector<float> w(64, 0.0f);
  for (int c = 0; c < 16; ++c) w[c] = static_cast<float>(c % 4);
  for (int c = 16; c < 32; ++c) w[c] = 3.0f;
  w[32] = 1.0f;
  const QuantMatrix m = quantize_rows(w, 1, 64, 2, 64);
  ASSERT_EQ(m.q.size(), 4u);
  EXPECT_EQ(m.q[0], 0xE4E4E4E4u);  // codes 0,1,2,3 -> bits 00,01,10,11 from the bottom
  EXPECT_EQ(m.q[1], 0xFFFFFFFFu);
  EXPECT_EQ(m.q[2], 0x00000001u);
  EXPECT_EQ(m.q[3], 0x00000000u);
  EXPECT_EQ(m.scales[0], 0x3F80u);
  EXPECT_EQ(m.biases[0], 0x0000u);
}

TEST(Quant, DequantizesAHandBuiltMatrix) {
  // 4-bit, 2 rows x 64 columns, groups of 32. Row 0: scale 0.5, bias -1 then scale 2, bias 3.
  // Row 1: all codes 15, scale 0.25, bias 0 then scale 1, bias -8.
  std::vector<uint32_t> q = {0x76543210u, 0xFEDCBA98u, 0x00000000u, 0x11111111u,
                             0x0000000Fu, 0xF0000000u, 0x12345678u, 0x9ABCDEF0u,
                             0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu,
                             0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
  std::vector<uint16_t> scales = {0x3F00u, 0x4000u, 0x3E80u, 0x3F80u};  // 0.5 2 0.25 1
  std::vector<uint16_t> biases = {0xBF80u, 0x4040u, 0x0000u, 0xC100u};  // -1 3 0 -8
  const QuantMatRef m{4, 32, 2, 64, q.data(), scales.data(), biases.data()};
  std::vector<float> row(64);
  dequantize_row(m, 0, row);
  for (int c = 0; c < 16; ++c) EXPECT_EQ(row[c], 0.5f * (c % 16) - 1.0f) << c;
  for (int c = 16; c < 24; ++c) EXPECT_EQ(row[c], -1.0f) << c;  // word 2: zeros
  for (int c = 24; c < 32; ++c) EXPECT_EQ(row[c], -0.5f) << c;  // word 3: ones
  EXPECT_EQ(row[32], 2.0f * 15 + 3);                            // word 4 = 0x0000000F
  for (int c = 33; c < 40; ++c) EXPECT_EQ(row[c], 3.0f) << c;
  EXPECT_EQ(row[47], 2.0f * 15 + 3);  // word 5 top nibble
  EXPECT_EQ(row[48], 2.0f * 8 + 3);   // word 6 = 0x12345678
  EXPECT_EQ(row[55], 2.0f * 1 + 3);
  EXPECT_EQ(row[56], 3.0f);  // word 7 = 0x9ABCDEF0
  EXPECT_EQ(row[63], 2.0f * 9 + 3);
  dequantize_row(m, 1, row);
  for (int c = 0; c < 32; ++c) EXPECT_EQ(row[c], 0.25f * 15) << c;
  for (int c = 32; c < 64; ++c) EXPECT_EQ(row[c], 15.0f - 8.0f) << c;
  EXPECT_EQ(quant_code(m, 0, 9), 9u);
  EXPECT_EQ(quant_code(m, 0, 63), 9u);
}

// Values of a few kinds: centred, offset far from zero with a small range (bias rounding
// matters), constant groups, and a wide range.
std::vector<float> test_values(int64_t rows, int64_t cols, int group_size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> w(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < cols / group_size; ++g) {
      const int kind = static_cast<int>((r + g) % 4);
      const float constant = uniform(rng) * 3.0f;
      for (int i = 0; i < group_size; ++i) {
        float& v = w[r * cols + g * group_size + i];
        switch (kind) {
          case 0:
            v = uniform(rng);
            break;
          case 1:
            v = 5.0f + 0.01f * uniform(rng);
            break;
          case 2:
            v = constant;
            break;
          default:
            v = 100.0f * uniform(rng) - 40.0f;
            break;
        }
      }
    }
  }
  return w;
}

TEST(Quant, RoundTripErrorIsAtMostHalfAScale) {
  for (int bits : {2, 4}) {
    for (int group_size : {32, 64, 128}) {
      const int64_t rows = 5, cols = 3 * group_size;
      const std::vector<float> w = test_values(rows, cols, group_size, 7u + bits + group_size);
      const QuantMatrix m = quantize_rows(w, rows, cols, bits, group_size);
      const QuantMatRef ref = m.ref();
      std::vector<float> row(cols);
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(ref, r, row);
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t group = r * (cols / group_size) + c / group_size;
          const float scale = bf16_to_f32(m.scales[group]);
          const float bias = bf16_to_f32(m.biases[group]);
          // The bound of the format plus f32 rounding of q*scale+bias.
          const float slack = 4e-7f * (std::abs(bias) + scale * ((1 << bits) - 1));
          ASSERT_LE(std::abs(row[c] - w[r * cols + c]), scale / 2 + slack)
              << "bits " << bits << " group " << group_size << " row " << r << " col " << c;
          ASSERT_LE(bias, w[r * cols + c]);  // the bias is rounded down, never above the min
        }
      }
    }
  }
}

TEST(Quant, ScaleIsTheGroupRangeOverTheLargestCode) {
  // min -1, max 2 over one group of 32: scale 3/15 = 0.2 rounded up to bf16, bias -1.
  std::vector<float> w(32, 0.0f);
  w[3] = -1.0f;
  w[20] = 2.0f;
  const QuantMatrix m = quantize_rows(w, 1, 32, 4, 32);
  EXPECT_EQ(bf16_to_f32(m.biases[0]), -1.0f);
  const float scale = bf16_to_f32(m.scales[0]);
  EXPECT_GE(scale, 0.2f);
  EXPECT_LT(scale, 0.2f * (1.0f + 1.0f / 128));  // within one bf16 step
  EXPECT_EQ(quant_code(m.ref(), 0, 3), 0u);
  EXPECT_EQ(quant_code(m.ref(), 0, 20), 15u);
  EXPECT_EQ(quant_code(m.ref(), 0, 0), 5u);  // (0 - -1) / 0.2 = 5
}

TEST(Quant, ByteSizes) {
  const QuantBytes b4 = quant_bytes(4096, 1024, 4, 64);
  EXPECT_EQ(b4.q, 4096 * 1024 / 2);
  EXPECT_EQ(b4.scales, 4096 * 16 * 2);
  EXPECT_EQ(b4.biases, 4096 * 16 * 2);
  EXPECT_EQ(b4.total(), 2097152 + 131072 * 2);
  const QuantBytes b2 = quant_bytes(1024, 4096, 2, 64);
  EXPECT_EQ(b2.q, 1024 * 4096 / 4);
  EXPECT_EQ(b2.scales, 1024 * 64 * 2);
  const QuantMatrix m = quantize_rows(std::vector<float>(3 * 128, 1.0f), 3, 128, 2, 32);
  const QuantBytes b = quant_bytes(3, 128, 2, 32);
  EXPECT_EQ(static_cast<int64_t>(m.q.size() * 4), b.q);
  EXPECT_EQ(static_cast<int64_t>(m.scales.size() * 2), b.scales);
  EXPECT_EQ(static_cast<int64_t>(m.biases.size() * 2), b.biases);
}

TEST(Quant, BadShapesAreErrors) {
  const std::vector<float> w(2 * 96, 0.5f);
  EXPECT_THROW(quantize_rows(w, 2, 96, 4, 64), Error);  // 96 columns, groups of 64
  EXPECT_THROW(quantize_rows(w, 2, 96, 3, 32), Error);  // 3 bits
  EXPECT_THROW(quantize_rows(w, 2, 96, 8, 32), Error);  // 8 bits not supported
  EXPECT_THROW(quantize_rows(w, 2, 96, 4, 48), Error);  // group not a multiple of 32
  EXPECT_THROW(quantize_rows(w, 2, 96, 4, 0), Error);
  EXPECT_THROW(quantize_rows(w, 3, 96, 4, 32), Error);  // too few values
  EXPECT_THROW(quantize_rows(w, 0, 96, 4, 32), Error);  // empty
  EXPECT_THROW(quant_bytes(4, 100, 4, 64), Error);
  try {
    quant_bytes(4, 100, 4, 64);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of the group size"), std::string::npos)
        << e.what();
  }
  std::vector<float> bad(64, 0.0f);
  bad[10] = NAN;
  EXPECT_THROW(quantize_rows(bad, 1, 64, 4, 64), Error);
  bad[10] = INFINITY;
  EXPECT_THROW(quantize_rows(bad, 1, 64, 4, 64), Error);

  const QuantMatrix m = quantize_rows(std::vector<float>(64, 1.0f), 1, 64, 4, 64);
  std::vector<float> row(64), short_row(63);
  EXPECT_THROW(dequantize_row(m.ref(), 1, row), Error);
  EXPECT_THROW(dequantize_row(m.ref(), -1, row), Error);
  EXPECT_THROW(dequantize_row(m.ref(), 0, short_row), Error);
  QuantMatRef null_ref = m.ref();
  null_ref.scales = nullptr;
  EXPECT_THROW(dequantize_row(null_ref, 0, row), Error);
}

TEST(Quant, EightBitAffinePacksBytesInOrder) {
  // Values 0..63 except element 1 = 255: min 0 and max 255 give scale 1, bias 0, codes = values.
  std::vector<float> w(64);
  for (int c = 0; c < 64; ++c) w[c] = static_cast<float>(c);
  w[1] = 255.0f;
  const QuantMatrix m = quantize_rows(w, 1, 64, {8, 64, QuantScheme::kAffine});
  ASSERT_EQ(m.q.size(), 16u);
  EXPECT_EQ(m.q[0], 0x0302FF00u);  // element 0 in bits 0..7
  EXPECT_EQ(m.q[15], 0x3F3E3D3Cu);
  EXPECT_EQ(m.scales[0], 0x3F80u);
  EXPECT_EQ(m.biases[0], 0x0000u);
  EXPECT_EQ(quant_code(m.ref(), 0, 1), 255u);
  EXPECT_EQ(quant_level(m.ref(), 0, 1), 255);
  std::vector<float> row(64);
  dequantize_row(m.ref(), 0, row);
  EXPECT_EQ(row, w);
}

TEST(Quant, SymmetricEightBitStoresSignedBytesAndNoBiases) {
  // max|w| = 127 gives scale 1 and codes round(w); negative codes are two's-complement bytes.
  std::vector<float> w(32, 0.0f);
  w[0] = -127.0f;
  w[1] = 5.4f;
  w[2] = -1.0f;
  w[31] = 126.6f;
  const QuantMatrix m = quantize_rows(w, 1, 32, {8, 32, QuantScheme::kSymmetric});
  EXPECT_EQ(m.scheme, QuantScheme::kSymmetric);
  EXPECT_TRUE(m.biases.empty());
  EXPECT_EQ(m.ref().biases, nullptr);
  EXPECT_TRUE(m.ref().symmetric());
  EXPECT_EQ(m.scales[0], 0x3F80u);
  EXPECT_EQ(m.q[0] & 0xFFFFFFu, 0xFF0581u);  // -127 = 0x81, 5, -1 = 0xFF
  EXPECT_EQ(quant_code(m.ref(), 0, 0), 0x81u);
  EXPECT_EQ(quant_level(m.ref(), 0, 0), -127);
  EXPECT_EQ(quant_level(m.ref(), 0, 2), -1);
  EXPECT_EQ(quant_level(m.ref(), 0, 31), 127);
  std::vector<float> row(32);
  dequantize_row(m.ref(), 0, row);
  EXPECT_EQ(row[0], -127.0f);
  EXPECT_EQ(row[1], 5.0f);
  EXPECT_EQ(row[2], -1.0f);
  EXPECT_EQ(row[31], 127.0f);
}

TEST(Quant, EightBitRoundTripErrorIsAtMostHalfAScale) {
  for (QuantScheme scheme : {QuantScheme::kAffine, QuantScheme::kSymmetric}) {
    for (int group_size : {32, 64, 128}) {
      const int64_t rows = 5, cols = 3 * group_size;
      const std::vector<float> w = test_values(rows, cols, group_size, 3u + group_size);
      const QuantMatrix m = quantize_rows(w, rows, cols, {8, group_size, scheme});
      std::vector<float> row(cols);
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(m.ref(), r, row);
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t group = r * (cols / group_size) + c / group_size;
          const float scale = bf16_to_f32(m.scales[group]);
          const float bias = scheme == QuantScheme::kAffine ? bf16_to_f32(m.biases[group]) : 0.0f;
          const float slack = 4e-7f * (std::abs(bias) + scale * 255);
          ASSERT_LE(std::abs(row[c] - w[r * cols + c]), scale / 2 + slack)
              << quant_scheme_name(scheme) << " group " << group_size << " row " << r << " col " << c;
          if (scheme == QuantScheme::kSymmetric) {
            ASSERT_LE(std::abs(quant_level(m.ref(), r, c)), 127);
          }
        }
      }
    }
  }
}

TEST(Quant, FormatsSizesAndNames) {
  const QuantBytes affine = quant_bytes(64, 256, {8, 32, QuantScheme::kAffine});
  EXPECT_EQ(affine.q, 64 * 256);
  EXPECT_EQ(affine.scales, 64 * 8 * 2);
  EXPECT_EQ(affine.biases, 64 * 8 * 2);
  const QuantBytes symmetric = quant_bytes(64, 256, {8, 64, QuantScheme::kSymmetric});
  EXPECT_EQ(symmetric.q, 64 * 256);
  EXPECT_EQ(symmetric.scales, 64 * 4 * 2);
  EXPECT_EQ(symmetric.biases, 0);
  EXPECT_EQ(quant_bytes(64, 256, {4, 64, QuantScheme::kAffine}).total(),
            quant_bytes(64, 256, 4, 64).total());
  for (QuantScheme scheme : {QuantScheme::kAffine, QuantScheme::kSymmetric}) {
    QuantScheme parsed{};
    ASSERT_TRUE(parse_quant_scheme(quant_scheme_name(scheme), &parsed));
    EXPECT_EQ(parsed, scheme);
  }
  QuantScheme parsed{};
  EXPECT_FALSE(parse_quant_scheme("asymmetric", &parsed));
}

TEST(Quant, BadFormatsAreErrors) {
  const std::vector<float> w(2 * 64, 0.5f);
  EXPECT_THROW(quantize_rows(w, 2, 64, {4, 32, QuantScheme::kSymmetric}), Error);  // 8-bit only
  EXPECT_THROW(quantize_rows(w, 2, 64, {3, 32, QuantScheme::kAffine}), Error);
  EXPECT_THROW(quantize_rows(w, 2, 64, {8, 48, QuantScheme::kAffine}), Error);
  EXPECT_THROW(check_quant_shape(2, 64, 8, 32, "experts"), Error);  // experts are 2 or 4 bits
  EXPECT_NO_THROW(check_quant_format(2, 64, {8, 32, QuantScheme::kAffine}, "resident"));
  try {
    check_quant_format(2, 64, {4, 32, QuantScheme::kSymmetric}, "lm_head");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head: symmetric quantisation is 8-bit only"),
              std::string::npos)
        << e.what();
  }
  const QuantMatrix symmetric = quantize_rows(w, 2, 64, {8, 32, QuantScheme::kSymmetric});
  EXPECT_NO_THROW(check_quant_mat(symmetric.ref(), "symmetric"));  // no biases needed
  const QuantMatrix affine = quantize_rows(w, 2, 64, {8, 32, QuantScheme::kAffine});
  QuantMatRef no_biases = affine.ref();
  no_biases.biases = nullptr;
  EXPECT_THROW(check_quant_mat(no_biases, "affine"), Error);
}

}  // namespace
}  // namespace streammoe
