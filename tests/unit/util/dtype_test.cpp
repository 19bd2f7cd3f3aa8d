// dtype table and the f16/bf16 <-> f32 conversions, against hand-checked bit patterns and (where
// the CPU has F16C) against the hardware conversion.
#include "engine/util/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace streammoe {
namespace {

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
float float_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
bool is_f16_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

TEST(DType, TableRoundTrips) {
  struct Row {
    DType dtype;
    const char* name;
    size_t size;
  };
  const Row rows[] = {{DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
                      {DType::kI32, "I32", 4}, {DType::kU32, "U32", 4}, {DType::kI64, "I64", 8},
                      {DType::kU8, "U8", 1},   {DType::kI8, "I8", 1}};
  for (const Row& row : rows) {
    EXPECT_EQ(dtype_size(row.dtype), row.size) << row.name;
    EXPECT_EQ(enum_name(row.dtype), row.name);
    DType parsed = DType::kI8;
    ASSERT_TRUE(parse_enum(row.name, &parsed)) << row.name;
    EXPECT_EQ(parsed, row.dtype);
  }
  DType untouched = DType::kU8;
  for (const char* bad : {"", "f32", "F64", "BOOL", "F8_E4M3", "BF16 ", "FP32"}) {
    EXPECT_FALSE(parse_enum(bad, &untouched)) << bad;
  }
  EXPECT_EQ(untouched, DType::kU8);
}

TEST(F16, ToF32HandChecked) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_to_f32(0x3bff), 0.99951171875f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);  // largest finite
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(f16_to_f32(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(bits_of(f16_to_f32(0x0000)), 0x00000000u);
  EXPECT_EQ(bits_of(f16_to_f32(0x8000)), 0x80000000u);  // -0 keeps its sign
  EXPECT_EQ(bits_of(f16_to_f32(0x7c00)), 0x7f800000u);
  EXPECT_EQ(bits_of(f16_to_f32(0xfc00)), 0xff800000u);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7c01)));  // signalling NaN with the smallest payload
  EXPECT_TRUE(std::isnan(f16_to_f32(0xffff)));
}

TEST(F16, FromF32HandChecked) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);  // below the tie with 65536: stays finite
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // the tie rounds to even, which is inf
  EXPECT_EQ(f32_to_f16(1e9f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e9f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::max()), 0x7c00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::quiet_NaN()), 0x7e00);
  EXPECT_TRUE(is_f16_nan(f32_to_f16(float_of(0x7f800001u))));  // payload below f16 precision
  EXPECT_TRUE(is_f16_nan(f32_to_f16(float_of(0xffc00000u))));
  EXPECT_EQ(f32_to_f16(float_of(0xffc00000u)) & 0x8000, 0x8000);

  // Ties in the normal range: 1 + 2^-11 lies halfway between 0x3c00 and 0x3c01.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even (down)
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);  // above tie
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) - std::ldexp(1.0f, -20)), 0x3c00);  // below tie
  EXPECT_EQ(f32_to_f16(2.0f - std::ldexp(1.0f, -12)), 0x4000);  // mantissa carry into the exponent

  // Subnormal results, in units of 2^-24.
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -24)), 0x8001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 1 unit -> 0
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -25)), 0x8000);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f + std::ldexp(1.0f, -10), -25)), 0x0001);  // just above tie
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units: tie -> even 2
  EXPECT_EQ(f32_to_f16(std::ldexp(5.0f, -25)), 0x0002);  // 2.5 units: tie -> even 2
  EXPECT_EQ(f32_to_f16(std::ldexp(7.0f, -25)), 0x0004);  // 3.5 units: tie -> even 4
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.0f, -24)), 0x03ff);
  EXPECT_EQ(f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);  // 1023.5 units -> smallest normal
  EXPECT_EQ(f32_to_f16(std::ldexp(2045.0f, -25)), 0x03fe);  // 1022.5 units -> even 1022
  EXPECT_EQ(f32_to_f16(1e-10f), 0x0000);
  EXPECT_EQ(f32_to_f16(-1e-10f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(F16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const auto half = static_cast<uint16_t>(h);
    const uint16_t back = f32_to_f16(f16_to_f32(half));
    if (is_f16_nan(half)) {
      EXPECT_TRUE(is_f16_nan(back)) << std::hex << h;
      EXPECT_EQ(back & 0x8000, half & 0x8000) << std::hex << h;
    } else {
      ASSERT_EQ(back, half) << std::hex << h;
    }
  }
}

#if defined(__F16C__)
// The CPU's conversion is an independent reference for every rounding case.
TEST(F16, MatchesHardwareConversion) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 1'000'000; ++i) {
    // Half of the samples land in the f16 range (and its subnormals), where rounding matters.
    uint32_t bits = any_bits(rng);
    if (i % 2) bits = (bits & 0x81ffffffu) | (static_cast<uint32_t>(98 + (i / 2) % 48) << 23);
    const float f = float_of(bits);
    const uint16_t hw = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
    ASSERT_EQ(f32_to_f16(f), hw) << std::hex << bits;
    const float back = f16_to_f32(hw);
    if (std::isnan(back)) {
      ASSERT_TRUE(std::isnan(_cvtsh_ss(hw)));
    } else {
      ASSERT_EQ(bits_of(back), bits_of(_cvtsh_ss(hw))) << std::hex << hw;
    }
  }
}
#endif

TEST(BF16, HandChecked) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
  EXPECT_EQ(bf16_to_f32(0x0001), float_of(0x00010000u));  // subnormal stays subnormal
  EXPECT_EQ(bits_of(bf16_to_f32(0x7f80)), 0x7f800000u);
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7fc0)));

  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(float_of(0x3f808000u)), 0x3f80);  // tie -> even (down)
  EXPECT_EQ(f32_to_bf16(float_of(0x3f818000u)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(f32_to_bf16(float_of(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(f32_to_bf16(float_of(0x3f807fffu)), 0x3f80);  // below the tie
  EXPECT_EQ(f32_to_bf16(float_of(0x00018000u)), 0x0002);  // subnormal tie -> even
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  // A NaN whose payload sits only in the dropped bits must not become inf.
  const uint16_t nan = f32_to_bf16(float_of(0x7f800001u));
  EXPECT_EQ(nan & 0x7f80, 0x7f80);
  EXPECT_NE(nan & 0x007f, 0);
}

}  // namespace
}  // namespace streammoe
