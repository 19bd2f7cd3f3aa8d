#include "engine/ops/quant_matvec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

// Tolerance: relative 1e-5 of the row's sum of |w_rc * x_c| (the scale of the rounding error of
// an f32 dot product of that row), checked against a double-precision oracle built from
// dequantize_row.
constexpr double kRelativeTolerance = 1e-5;

struct Shape {
  int64_t rows;
  int64_t cols;
  int group_size;
};

// Odd row counts, odd numbers of groups, every supported group size, and the expert shapes.
const std::vector<Shape> kShapes = {
    {1, 32, 32},   {7, 64, 64},    {13, 192, 64}, {33, 96, 32},   {5, 384, 128},
    {64, 640, 64}, {101, 448, 64}, {3, 4096, 64}, {17, 1024, 64}, {2, 1152, 128},
};

struct Problem {
  QuantMatrix w;
  std::vector<float> x;
  std::vector<double> oracle;   // y in double from the dequantised rows
  std::vector<double> abs_sum;  // sum_c |w_rc x_c| per row
};

Problem make_problem(const Shape& s, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> dense(s.rows * s.cols);
  for (float& v : dense) v = 0.05f * normal(rng);
  // A few rows with an offset, so the bias term carries weight.
  for (int64_t r = 0; r < s.rows; r += 3)
    for (int64_t c = 0; c < s.cols; ++c) dense[r * s.cols + c] += 0.3f;
  Problem p;
  p.w = quantize_rows(dense, s.rows, s.cols, bits, s.group_size);
  p.x.resize(s.cols);
  for (float& v : p.x) v = normal(rng);
  std::vector<float> row(s.cols);
  for (int64_t r = 0; r < s.rows; ++r) {
    dequantize_row(p.w.ref(), r, row);
    double y = 0.0, abs_sum = 0.0;
    for (int64_t c = 0; c < s.cols; ++c) {
      y += static_cast<double>(row[c]) * p.x[c];
      abs_sum += std::abs(static_cast<double>(row[c]) * p.x[c]);
    }
    p.oracle.push_back(y);
    p.abs_sum.push_back(abs_sum);
  }
  return p;
}

std::vector<KernelIsa> available_isas() {
  std::vector<KernelIsa> isas = {KernelIsa::kScalar};
  if (kernel_isa_available(KernelIsa::kAvx2)) isas.push_back(KernelIsa::kAvx2);
  return isas;
}

std::string describe(const Shape& s, int bits, DequantMode mode, KernelIsa isa, int threads) {
  return std::to_string(s.rows) + "x" + std::to_string(s.cols) + " g" +
         std::to_string(s.group_size) + " " + std::to_string(bits) + "-bit " +
         std::string(enum_name(mode)) + " " + std::string(enum_name(isa)) + " " +
         std::to_string(threads) + " thread(s)";
}

TEST(QuantMatvec, EveryKernelMatchesTheOracle) {
  ThreadPool pool2(2), pool3(3);
  for (const Shape& s : kShapes) {
    for (int bits : {2, 4}) {
      const Problem p = make_problem(s, bits, static_cast<uint32_t>(s.rows * 131 + s.cols + bits));
      for (DequantMode mode : {DequantMode::kNaive, DequantMode::kFma}) {
        for (KernelIsa isa : available_isas()) {
          std::vector<float> single(s.rows);
          quant_matvec(p.w.ref(), p.x, single, mode, isa);
          for (int64_t r = 0; r < s.rows; ++r)
            ASSERT_NEAR(single[r], p.oracle[r], kRelativeTolerance * p.abs_sum[r])
                << describe(s, bits, mode, isa, 1) << " row " << r;
          // Rows are computed the same way whichever thread does them: exactly equal.
          for (ThreadPool* pool : {&pool2, &pool3}) {
            std::vector<float> pooled(s.rows, NAN);
            quant_matvec(p.w.ref(), p.x, pooled, mode, isa, pool);
            for (int64_t r = 0; r < s.rows; ++r)
              ASSERT_EQ(pooled[r], single[r])
                  << describe(s, bits, mode, isa, pool->size()) << " row " << r;
          }
        }
      }
    }
  }
}

TEST(QuantMatvec, Avx2EqualsScalarAndNaiveEqualsFmaWithinTolerance) {
  for (const Shape& s : kShapes) {
    for (int bits : {2, 4}) {
      const Problem p = make_problem(s, bits, static_cast<uint32_t>(s.cols * 7 + bits));
      std::vector<float> reference(s.rows);
      quant_matvec(p.w.ref(), p.x, reference, DequantMode::kNaive, KernelIsa::kScalar);
      for (DequantMode mode : {DequantMode::kNaive, DequantMode::kFma}) {
        for (KernelIsa isa : available_isas()) {
          std::vector<float> y(s.rows);
          quant_matvec(p.w.ref(), p.x, y, mode, isa);
          for (int64_t r = 0; r < s.rows; ++r)
            ASSERT_NEAR(y[r], reference[r], kRelativeTolerance * p.abs_sum[r])
                << describe(s, bits, mode, isa, 1) << " vs scalar naive, row " << r;
        }
      }
    }
  }
}

TEST(QuantMatvec, HandBuiltMatrix) {
  // 4-bit, 1 row x 32 columns: codes 0..15, 0..15; scale 0.5, bias -1; x = 1 for the first 16
  // columns, 2 for the rest: y = sum_{k<16} (0.5k - 1) * (1 + 2) = 3 * (0.5 * 120 - 16) = 132.
  const std::vector<uint32_t> q = {0x76543210u, 0xFEDCBA98u, 0x76543210u, 0xFEDCBA98u};
  const std::vector<uint16_t> scales = {0x3F00u}, biases = {0xBF80u};
  const QuantMatRef w{4, 32, 1, 32, q.data(), scales.data(), biases.data()};
  std::vector<float> x(32, 1.0f);
  for (int c = 16; c < 32; ++c) x[c] = 2.0f;
  for (DequantMode mode : {DequantMode::kNaive, DequantMode::kFma}) {
    for (KernelIsa isa : available_isas()) {
      float y = 0.0f;
      quant_matvec(w, x, {&y, 1}, mode, isa);
      EXPECT_EQ(y, 132.0f) << enum_name(mode) << " " << enum_name(isa);
    }
  }
}

TEST(QuantMatvec, BadShapesAreErrors) {
  const QuantMatrix m = quantize_rows(std::vector<float>(4 * 128, 0.25f), 4, 128, 4, 64);
  std::vector<float> x(128), y(4), short_x(127), long_y(5);
  EXPECT_THROW(quant_matvec(m.ref(), short_x, y, DequantMode::kFma), Error);
  EXPECT_THROW(quant_matvec(m.ref(), x, long_y, DequantMode::kNaive), Error);
  QuantMatRef bad = m.ref();
  bad.cols = 100;  // not a multiple of the group size
  std::vector<float> x100(100);
  EXPECT_THROW(quant_matvec(bad, x100, y, DequantMode::kFma), Error);
  bad = m.ref();
  bad.bits = 3;
  EXPECT_THROW(quant_matvec(bad, x, y, DequantMode::kFma), Error);
  bad = m.ref();
  bad.q = nullptr;
  EXPECT_THROW(quant_matvec(bad, x, y, DequantMode::kFma), Error);
  if (!kernel_isa_available(KernelIsa::kAvx2)) {
    EXPECT_THROW(quant_matvec(m.ref(), x, y, DequantMode::kFma, KernelIsa::kAvx2), Error);
  }
}

TEST(QuantMatvec, ModeAndIsaNamesRoundTrip) {
  for (DequantMode mode : {DequantMode::kNaive, DequantMode::kFma}) {
    DequantMode parsed{};
    ASSERT_TRUE(parse_enum(enum_name(mode), &parsed));
    EXPECT_EQ(parsed, mode);
  }
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
    KernelIsa parsed{};
    ASSERT_TRUE(parse_enum(enum_name(isa), &parsed));
    EXPECT_EQ(parsed, isa);
  }
  DequantMode mode{};
  EXPECT_FALSE(parse_enum("fused", &mode));
}

// 8-bit formats (the resident-weight layouts) on the f32 path: the same oracle and tolerance.
Problem make_problem(const Shape& s, const QuantFormat& format, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> dense(s.rows * s.cols);
  for (float& v : dense) v = 0.05f * normal(rng);
  for (int64_t r = 0; r < s.rows; r += 3)
    for (int64_t c = 0; c < s.cols; ++c) dense[r * s.cols + c] += 0.3f;
  Problem p;
  p.w = quantize_rows(dense, s.rows, s.cols, format);
  p.x.resize(s.cols);
  for (float& v : p.x) v = normal(rng);
  std::vector<float> row(s.cols);
  for (int64_t r = 0; r < s.rows; ++r) {
    dequantize_row(p.w.ref(), r, row);
    double y = 0.0, abs_sum = 0.0;
    for (int64_t c = 0; c < s.cols; ++c) {
      y += static_cast<double>(row[c]) * p.x[c];
      abs_sum += std::abs(static_cast<double>(row[c]) * p.x[c]);
    }
    p.oracle.push_back(y);
    p.abs_sum.push_back(abs_sum);
  }
  return p;
}

TEST(QuantMatvec, EightBitFormatsMatchTheOracle) {
  ThreadPool pool3(3);
  for (QuantScheme scheme : {QuantScheme::kAffine, QuantScheme::kSymmetric}) {
    for (const Shape& s : kShapes) {
      const Problem p = make_problem(s, QuantFormat{8, s.group_size, scheme},
                                     static_cast<uint32_t>(s.rows * 31 + s.cols));
      for (DequantMode mode : {DequantMode::kNaive, DequantMode::kFma}) {
        for (KernelIsa isa : available_isas()) {
          std::vector<float> y(s.rows), pooled(s.rows, NAN);
          quant_matvec(p.w.ref(), p.x, y, mode, isa);
          quant_matvec(p.w.ref(), p.x, pooled, mode, isa, &pool3);
          for (int64_t r = 0; r < s.rows; ++r) {
            ASSERT_NEAR(y[r], p.oracle[r], kRelativeTolerance * p.abs_sum[r])
                << describe(s, 8, mode, isa, 1) << " " << quant_scheme_name(scheme) << " row " << r;
            ASSERT_EQ(pooled[r], y[r]) << describe(s, 8, mode, isa, 3) << " row " << r;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace streammoe
