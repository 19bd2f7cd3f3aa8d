// linear() over a SharedActivation: the path switch (--matvec) as the blocks use it. On the int8
// path an activation read by several weights is quantised once per group size and every weight
// gets exactly what quant_matvec_int8 gives it; on the f32 path, and for dense weights on either
// path, the result is bit-identical to the f32 kernels.
#include "engine/ops/linear.h"

#include <gtest/gtest.h>

#include <bit>
#include <random>
#include <string>
#include <vector>

#include "engine/ops/dense_matvec.h"
#include "engine/ops/int8_matvec.h"
#include "engine/ops/quant_matvec.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

QuantMatrix random_quant(int64_t rows, int64_t cols, const QuantFormat& format, uint32_t seed) {
  return quantize_rows(random_values(rows * cols, seed, 0.05f), rows, cols, format);
}

TEST(MatvecPath, NamesComeFromItsTable) {
  EXPECT_EQ(enum_name(MatvecPath::kF32), "f32");
  EXPECT_EQ(enum_name(MatvecPath::kInt8), "int8");
  MatvecPath parsed = MatvecPath::kF32;
  ASSERT_TRUE(parse_enum("int8", &parsed));
  EXPECT_EQ(parsed, MatvecPath::kInt8);
  EXPECT_FALSE(parse_enum("int4", &parsed));
  EXPECT_EQ(parsed, MatvecPath::kInt8);  // untouched by a failed parse
  EXPECT_EQ(kMatvecPathNames.valid(), "f32, int8");
  for (const auto& e : kMatvecPathNames.entries) EXPECT_FALSE(e.help.empty()) << e.name;
}

// Gate and up of 4-bit groups of 64, a down of 2-bit, a q8 of groups of 32: each int8 product
// through one SharedActivation equals quant_matvec_int8 with x quantised for that weight alone.
TEST(SharedActivation, Int8PathEqualsQuantisingForEachWeight) {
  const int64_t cols = 256;
  const QuantMatrix gate = random_quant(48, cols, {4, 64, QuantScheme::kAffine}, 1);
  const QuantMatrix up = random_quant(48, cols, {4, 64, QuantScheme::kAffine}, 2);
  const QuantMatrix q2 = random_quant(20, cols, {2, 64, QuantScheme::kAffine}, 3);
  const QuantMatrix q8 = random_quant(12, cols, {8, 32, QuantScheme::kSymmetric}, 4);
  std::vector<float> x = random_values(cols, 5);
  x[7] *= 9.0f;  // an outlier widens one block
  SharedActivation shared(x);
  for (const QuantMatrix* m : {&gate, &up, &q8, &q2, &gate}) {  // back to 64 after 32
    std::vector<float> got(m->rows), want(m->rows);
    linear(m->ref(), shared, got, DequantMode::kFma, nullptr, MatvecPath::kInt8);
    quant_matvec_int8(m->ref(), x, want);
    EXPECT_EQ(got, want) << m->bits << "-bit g" << m->group_size;
  }
}

TEST(SharedActivation, QuantisesOncePerGroupSizeAndAgainAfterRebinding) {
  const std::vector<float> x = random_values(128, 6), other = random_values(128, 7);
  SharedActivation shared(x);
  const QuantizedActivation* first = &shared.quantized(64);
  const std::vector<float> scales = first->scales;
  EXPECT_EQ(&shared.quantized(64), first);
  EXPECT_EQ(shared.quantized(64).scales, scales);
  EXPECT_EQ(shared.quantized(32).block_size, 32);
  EXPECT_EQ(shared.quantized(64).block_size, 64);
  EXPECT_EQ(shared.quantized(64).scales, scales);
  shared.bind(other);  // a new x: its own quantisation, never the old one
  QuantizedActivation want;
  quantize_activation(other, 64, &want);
  EXPECT_EQ(shared.quantized(64).scales, want.scales);
  EXPECT_EQ(shared.quantized(64).codes, want.codes);
  EXPECT_EQ(shared.values().data(), other.data());
}

TEST(SharedActivation, F32PathAndDenseWeightsAreBitIdenticalToTheF32Kernels) {
  const int64_t cols = 192, rows = 64;
  const QuantMatrix q4 = random_quant(rows, cols, {4, 64, QuantScheme::kAffine}, 8);
  const std::vector<float> dense = random_values(rows * cols, 9, 0.1f);
  const MatRef m{DType::kF32, dense.data(), rows, cols};
  const std::vector<float> x = random_values(cols, 10);
  SharedActivation shared(x);
  for (DequantMode mode : {DequantMode::kFma, DequantMode::kNaive}) {
    std::vector<float> got(rows), want(rows);
    linear(q4.ref(), shared, got, mode, nullptr, MatvecPath::kF32);
    quant_matvec(q4.ref(), x, want, mode);
    EXPECT_EQ(got, want) << enum_name(mode);
  }
  for (MatvecPath path : {MatvecPath::kF32, MatvecPath::kInt8}) {
    std::vector<float> got(rows), want(rows);
    linear(m, shared, got, DequantMode::kFma, nullptr, path);
    dense_matvec(m, x, want);
    EXPECT_EQ(got, want) << enum_name(path);
  }
}

TEST(SharedActivation, Int8DiffersFromF32WithinTheActivationQuantisationBound) {
  // |W x^ - W x| <= sum_g (d_g / 2) sum_{c in g} |w_c| (int8_matvec.h), plus f32 rounding.
  const int64_t cols = 512, rows = 32;
  const QuantMatrix q4 = random_quant(rows, cols, {4, 64, QuantScheme::kAffine}, 11);
  const std::vector<float> x = random_values(cols, 12);
  SharedActivation shared(x);
  std::vector<float> f32(rows), int8(rows);
  linear(q4.ref(), shared, f32, DequantMode::kFma, nullptr, MatvecPath::kF32);
  linear(q4.ref(), shared, int8, DequantMode::kFma, nullptr, MatvecPath::kInt8);
  const QuantizedActivation& xq = shared.quantized(64);
  std::vector<float> row(cols);
  bool any_difference = false;
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(q4.ref(), r, row);
    double bound = 0.0, magnitude = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      bound += xq.scales[c / 64] / 2 * std::abs(row[c]);
      magnitude += std::abs(row[c] * x[c]);
    }
    EXPECT_LE(std::abs(int8[r] - f32[r]), bound + 1e-5 * magnitude) << "row " << r;
    any_difference |= int8[r] != f32[r];
  }
  EXPECT_TRUE(any_difference);  // the int8 path really ran
}

TEST(SharedActivation, ShapeMismatchIsAnError) {
  const QuantMatrix q4 = random_quant(8, 128, {4, 64, QuantScheme::kAffine}, 13);
  const std::vector<float> x = random_values(64, 14);
  SharedActivation shared(x);
  std::vector<float> y(8);
  EXPECT_THROW(linear(q4.ref(), shared, y, DequantMode::kFma, nullptr, MatvecPath::kInt8), Error);
  EXPECT_THROW(linear(q4.ref(), shared, y, DequantMode::kFma, nullptr, MatvecPath::kF32), Error);
}

// linear_batch reads W once for a batch of x: every y must equal linear() of its own x, bit for
// bit, on every path, for weights of many tiles (rows not a multiple of 8) and with threads. Five
// activations: the AVX-512 VNNI shared-weight kernel takes four, then one.
TEST(LinearBatch, EachOutputIsBitIdenticalToLinearOfItsOwnX) {
  const int64_t cols = 512, rows = 1003;
  const QuantMatrix q4 = random_quant(rows, cols, {4, 64, QuantScheme::kAffine}, 21);
  const QuantMatrix q2 = random_quant(rows, cols, {2, 32, QuantScheme::kAffine}, 22);
  const QuantMatrix q8 = random_quant(rows, cols, {8, 64, QuantScheme::kSymmetric}, 23);
  const QuantMatrix q4g128 = random_quant(rows, cols, {4, 128, QuantScheme::kAffine}, 25);
  const QuantMatrix q8g32 = random_quant(rows, cols, {8, 32, QuantScheme::kAffine}, 26);
  const std::vector<float> dense = random_values(rows * cols, 24, 0.1f);
  std::vector<uint16_t> bf16(dense.size());
  for (size_t i = 0; i < dense.size(); ++i) bf16[i] = static_cast<uint16_t>(std::bit_cast<uint32_t>(dense[i]) >> 16);
  const std::vector<LinearRef> weights = {q4.ref(),
                                          q2.ref(),
                                          q8.ref(),
                                          q4g128.ref(),
                                          q8g32.ref(),
                                          MatRef{DType::kF32, dense.data(), rows, cols},
                                          MatRef{DType::kBF16, bf16.data(), rows, cols}};
  const size_t n = 5;
  std::vector<std::vector<float>> xv;
  std::vector<SharedActivation> shared(n);
  for (size_t i = 0; i < n; ++i) xv.push_back(random_values(cols, 30 + static_cast<uint32_t>(i)));
  for (size_t i = 0; i < n; ++i) shared[i].bind(xv[i]);
  std::vector<SharedActivation*> xs;
  for (SharedActivation& a : shared) xs.push_back(&a);
  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool})
    for (MatvecPath path : {MatvecPath::kF32, MatvecPath::kInt8})
      for (DequantMode mode : {DequantMode::kFma, DequantMode::kNaive})
        for (size_t wi = 0; wi < weights.size(); ++wi) {
          std::vector<std::vector<float>> got(n, std::vector<float>(rows)), want = got;
          std::vector<std::span<float>> ys;
          for (auto& y : got) ys.push_back(y);
          linear_batch(weights[wi], xs, ys, mode, p, path);
          for (size_t i = 0; i < n; ++i) {
            linear(weights[wi], shared[i], want[i], mode, p, path);
            EXPECT_EQ(got[i], want[i]) << "weight " << wi << " x " << i << " " << enum_name(path) << " "
                                       << enum_name(mode) << (p ? " pool" : "");
          }
        }
}

TEST(LinearBatch, SizeMismatchIsAnError) {
  const QuantMatrix q4 = random_quant(8, 128, {4, 64, QuantScheme::kAffine}, 25);
  const std::vector<float> x = random_values(128, 26), short_x = random_values(64, 27);
  SharedActivation a(x), b(short_x);
  std::vector<float> y0(8), y1(8), y_short(4);
  SharedActivation* good[] = {&a, &a};
  SharedActivation* bad[] = {&a, &b};
  const std::span<float> ys[] = {y0, y1};
  const std::span<float> ys_short[] = {y0, y_short};
  EXPECT_THROW(linear_batch(q4.ref(), bad, ys, DequantMode::kFma, nullptr, MatvecPath::kInt8), Error);
  EXPECT_THROW(linear_batch(q4.ref(), good, ys_short, DequantMode::kFma, nullptr, MatvecPath::kF32), Error);
  EXPECT_THROW(linear_batch(q4.ref(), good, std::span<const std::span<float>>(ys, 1), DequantMode::kFma, nullptr,
                            MatvecPath::kF32),
               Error);
}

}  // namespace
}  // namespace streammoe
