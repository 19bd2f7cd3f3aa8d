#include "engine/ops/int8_matvec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/ops/dense_matvec.h"
#include "engine/ops/linear.h"
#include "engine/ops/quant_matvec.h"
#include "engine/util/dtype.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

// Tolerances.
// - Every instruction set computes each group's integer dot exactly; they differ only in the
//   order of the f32 terms (scale*d*dot and bias*sum per group, lane sums). On data where every
//   term and partial sum is exactly representable (dyadic scales, small integers) they must all
//   equal the exact result bit for bit (ExactOnDyadicData). On general data they must agree within
//   the reassociation bound n * 2u * B, with u = 2^-24, n = 2 * groups + 32 the additions on any
//   path, and B = sum_g d_g * (|s_g| * sum_i |c_i a_i| + (|b_g| + o |s_g|) * sum_i |a_i|) the sum of
//   the magnitudes of every term either formulation adds (o = 128 for 8-bit, whose kernels offset
//   the codes by 128 and compensate in the bias).
// - Against the f32 path on x itself, the int8 path computes W x^ with x^ the dequantised
//   activation, |x^_c - x_c| <= d_g / 2: the difference is at most sum_g d_g/2 * sum_c |w_c|
//   (plus the two paths' f32 rounding).

namespace streammoe {
namespace {

constexpr double kUnitRoundoff = 1.0 / (1 << 24);

struct Format {
  int bits;
  QuantScheme scheme;
};
const Format kFormats[] = {{2, QuantScheme::kAffine},
                           {4, QuantScheme::kAffine},
                           {8, QuantScheme::kAffine},
                           {8, QuantScheme::kSymmetric}};

std::string format_name(const Format& f) {
  return "q" + std::to_string(f.bits) + (f.scheme == QuantScheme::kSymmetric ? "s" : "");
}

std::vector<KernelIsa> available_int8_isas() {
  std::vector<KernelIsa> isas;
  for (KernelIsa isa : kInt8KernelIsas)
    if (kernel_isa_available(isa)) isas.push_back(isa);
  return isas;
}

struct Shape {
  int64_t rows;
  int64_t cols;
  int group_size;
};

std::string describe(const Shape& s, const Format& f, KernelIsa isa, int threads = 1) {
  return std::to_string(s.rows) + "x" + std::to_string(s.cols) + " g" + std::to_string(s.group_size) +
         " " + format_name(f) + " " + std::string(enum_name(isa)) + " t" + std::to_string(threads);
}

// Packs integer levels (row-major [rows, cols]) into the MLX words of quant.h.
std::vector<uint32_t> pack_levels(const std::vector<int>& levels, int bits) {
  const int per_word = 32 / bits;
  std::vector<uint32_t> words(levels.size() / per_word, 0u);
  for (size_t i = 0; i < levels.size(); ++i)
    words[i / per_word] |= (static_cast<uint32_t>(levels[i]) & ((1u << bits) - 1u)) << ((i % per_word) * bits);
  return words;
}

// The sum of magnitudes B of row r (see the top of the file) and the exact integer dots.
double magnitude_bound(const QuantMatRef& w, const QuantizedActivation& x, int64_t r) {
  const int offset = w.bits == 8 ? 128 : 0;
  double bound = 0.0;
  for (int64_t g = 0; g < w.groups_per_row(); ++g) {
    double code_terms = 0.0, activation_terms = 0.0;
    for (int64_t c = g * w.group_size; c < (g + 1) * w.group_size; ++c) {
      code_terms += std::abs(static_cast<double>(quant_level(w, r, c)) * x.codes[c]);
      activation_terms += std::abs(static_cast<double>(x.codes[c]));
    }
    const double s = std::abs(bf16_to_f32(w.scales[r * w.groups_per_row() + g]));
    const double b = w.symmetric() ? 0.0 : std::abs(bf16_to_f32(w.biases[r * w.groups_per_row() + g]));
    bound += std::abs(x.scales[g]) * (s * code_terms + (b + offset * s) * activation_terms);
  }
  return bound;
}

double reassociation_tolerance(const QuantMatRef& w, const QuantizedActivation& x, int64_t r) {
  return (2.0 * w.groups_per_row() + 32) * 2 * kUnitRoundoff * magnitude_bound(w, x, r);
}

// ---- exact data ---------------------------------------------------------------------------

struct ExactProblem {
  QuantMatrix w;
  std::vector<float> x;
  std::vector<double> y;  // exact
};

// Scales 2^-5 or 2^-6, biases -m * 2^-6 (m <= 16), activations a * 2^-5 with one |a| = 127 per
// group (so d = 2^-5 and the codes are a): every product and partial sum is a multiple of 2^-11,
// exact in f32 while below 2^13 (checked).
ExactProblem make_exact(const Shape& s, const Format& f, uint32_t seed) {
  std::mt19937 rng(seed);
  const bool symmetric = f.scheme == QuantScheme::kSymmetric;
  std::uniform_int_distribution<int> level(symmetric ? -127 : 0, symmetric ? 127 : (1 << f.bits) - 1);
  std::uniform_int_distribution<int> activation(-127, 127), coin(0, 1), bias_steps(0, 16);
  const int64_t groups = s.cols / s.group_size;
  std::vector<int> levels(s.rows * s.cols);
  for (int& l : levels) l = level(rng);
  ExactProblem p;
  p.w.bits = f.bits;
  p.w.group_size = s.group_size;
  p.w.rows = s.rows;
  p.w.cols = s.cols;
  p.w.scheme = f.scheme;
  p.w.q = pack_levels(levels, f.bits);
  for (int64_t i = 0; i < s.rows * groups; ++i) {
    p.w.scales.push_back(f32_to_bf16(std::ldexp(1.0f, coin(rng) ? -5 : -6)));
    if (!symmetric) p.w.biases.push_back(f32_to_bf16(-std::ldexp(static_cast<float>(bias_steps(rng)), -6)));
  }
  std::vector<int> a(s.cols);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t c = g * s.group_size; c < (g + 1) * s.group_size; ++c) a[c] = activation(rng);
    a[g * s.group_size + (g * 7) % s.group_size] = coin(rng) ? 127 : -127;
  }
  for (int v : a) p.x.push_back(std::ldexp(static_cast<float>(v), -5));
  const double d = std::ldexp(1.0, -5), unit = std::ldexp(1.0, -11);
  const int offset = f.bits == 8 ? 128 : 0;  // the 8-bit kernels' code offset (see the top)
  for (int64_t r = 0; r < s.rows; ++r) {
    double y = 0.0, magnitude = 0.0;
    for (int64_t g = 0; g < groups; ++g) {
      int64_t dot = 0, code_sum = 0, abs_dot = 0, abs_sum = 0;
      for (int64_t c = g * s.group_size; c < (g + 1) * s.group_size; ++c) {
        dot += static_cast<int64_t>(levels[r * s.cols + c]) * a[c];
        abs_dot += std::abs(static_cast<int64_t>(levels[r * s.cols + c]) * a[c]) + offset * std::abs(a[c]);
        code_sum += a[c];
        abs_sum += std::abs(a[c]);
      }
      const double scale = bf16_to_f32(p.w.scales[r * groups + g]);
      const double bias = symmetric ? 0.0 : bf16_to_f32(p.w.biases[r * groups + g]);
      y += scale * d * static_cast<double>(dot) + bias * d * static_cast<double>(code_sum);
      magnitude += scale * d * abs_dot + (std::abs(bias) + offset * scale) * d * abs_sum;
    }
    if (magnitude / unit >= std::ldexp(1.0, 24))
      ADD_FAILURE() << "test data too large to be exact: " << magnitude / unit << " units";
    p.y.push_back(y);
  }
  return p;
}

const std::vector<Shape> kExactShapes = {
    {1, 32, 32},   {7, 96, 32},   {33, 160, 32}, {5, 256, 32}, {3, 64, 64},
    {13, 192, 64}, {6, 256, 64},  {1, 128, 128}, {9, 256, 128},
};

TEST(Int8Matvec, ExactOnDyadicData) {
  ThreadPool pool2(2), pool3(3);
  int checked = 0;
  for (const Format& f : kFormats) {
    std::vector<Shape> shapes = kExactShapes;
    if (f.bits < 8) shapes.insert(shapes.end(), {{5, 2048, 64}, {3, 2080, 32}, {2, 1024, 128}});
    for (const Shape& s : shapes) {
      const ExactProblem p = make_exact(s, f, static_cast<uint32_t>(s.rows * 977 + s.cols + f.bits));
      for (int64_t r = 0; r < s.rows; ++r)
        ASSERT_EQ(static_cast<double>(static_cast<float>(p.y[r])), p.y[r]) << "oracle not exact in f32";
      for (KernelIsa isa : available_int8_isas()) {
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2, &pool3}) {
          std::vector<float> y(s.rows, NAN);
          quant_matvec_int8(p.w.ref(), p.x, y, isa, pool);
          for (int64_t r = 0; r < s.rows; ++r)
            ASSERT_EQ(y[r], static_cast<float>(p.y[r]))
                << describe(s, f, isa, pool ? pool->size() : 1) << " row " << r;
          ++checked;
        }
      }
    }
  }
  EXPECT_GE(checked, 4 * 9 * 3);
}

// ---- general data -------------------------------------------------------------------------

struct Problem {
  QuantMatrix w;
  std::vector<float> x;
  QuantizedActivation xq;
};

Problem make_problem(const Shape& s, const Format& f, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> dense(s.rows * s.cols);
  for (float& v : dense) v = 0.05f * normal(rng);
  for (int64_t r = 0; r < s.rows; r += 3)  // some rows offset, so that the bias term carries weight
    for (int64_t c = 0; c < s.cols; ++c) dense[r * s.cols + c] += 0.3f;
  Problem p;
  p.w = quantize_rows(dense, s.rows, s.cols, {f.bits, s.group_size, f.scheme});
  p.x.resize(s.cols);
  for (float& v : p.x) v = normal(rng);
  for (int64_t c = 0; c < s.cols; c += 17) p.x[c] *= 8.0f;  // outliers widen some blocks
  quantize_activation(p.x, s.group_size, KernelIsa::kScalar, &p.xq);
  return p;
}

const std::vector<Shape> kShapes = {
    {1, 32, 32},   {7, 64, 64},   {13, 192, 64},  {33, 96, 32},   {5, 384, 128},
    {64, 640, 64}, {101, 448, 64}, {3, 4096, 64}, {17, 1024, 32}, {2, 1152, 128},
    {9, 2080, 32}, {31, 2048, 64}, {8, 512, 64},
};

TEST(Int8Matvec, EveryIsaMatchesTheScalarReference) {
  ThreadPool pool3(3);
  for (const Format& f : kFormats) {
    for (const Shape& s : kShapes) {
      const Problem p = make_problem(s, f, static_cast<uint32_t>(s.rows * 131 + s.cols + f.bits));
      std::vector<float> reference(s.rows);
      quant_matvec_int8(p.w.ref(), p.xq, reference, KernelIsa::kScalar);
      for (KernelIsa isa : available_int8_isas()) {
        std::vector<float> y(s.rows, NAN), pooled(s.rows, NAN);
        quant_matvec_int8(p.w.ref(), p.xq, y, isa);
        quant_matvec_int8(p.w.ref(), p.xq, pooled, isa, &pool3);
        for (int64_t r = 0; r < s.rows; ++r) {
          ASSERT_NEAR(y[r], reference[r], reassociation_tolerance(p.w.ref(), p.xq, r))
              << describe(s, f, isa) << " row " << r;
          // A row is computed the same way whichever thread does it.
          ASSERT_EQ(pooled[r], y[r]) << describe(s, f, isa, 3) << " row " << r;
        }
      }
    }
  }
}

TEST(Int8Matvec, ScalarReferenceIsWTimesTheDequantisedActivation) {
  for (const Format& f : kFormats) {
    for (const Shape& s : kShapes) {
      const Problem p = make_problem(s, f, static_cast<uint32_t>(s.cols * 7 + f.bits));
      std::vector<float> y(s.rows), row(s.cols);
      quant_matvec_int8(p.w.ref(), p.xq, y, KernelIsa::kScalar);
      for (int64_t r = 0; r < s.rows; ++r) {
        dequantize_row(p.w.ref(), r, row);
        double oracle = 0.0;
        for (int64_t c = 0; c < s.cols; ++c)
          oracle += static_cast<double>(row[c]) * dequantized_activation(p.xq, c);
        ASSERT_NEAR(y[r], oracle, reassociation_tolerance(p.w.ref(), p.xq, r))
            << describe(s, f, KernelIsa::kScalar) << " row " << r;
      }
    }
  }
}

TEST(Int8Matvec, WithinTheActivationQuantisationErrorOfTheF32Path) {
  for (const Format& f : kFormats) {
    double worst_share = 0.0, error_squares = 0.0, y_squares = 0.0;
    for (const Shape& s : kShapes) {
      const Problem p = make_problem(s, f, static_cast<uint32_t>(s.rows + s.cols * 3 + f.bits));
      std::vector<float> f32(s.rows), row(s.cols);
      quant_matvec(p.w.ref(), p.x, f32, DequantMode::kFma, KernelIsa::kScalar);
      for (KernelIsa isa : available_int8_isas()) {
        std::vector<float> int8(s.rows);
        quant_matvec_int8(p.w.ref(), p.x, int8, isa);
        for (int64_t r = 0; r < s.rows; ++r) {
          dequantize_row(p.w.ref(), r, row);
          double quantisation = 0.0, f32_magnitude = 0.0;
          for (int64_t c = 0; c < s.cols; ++c) {
            quantisation += p.xq.scales[c / s.group_size] / 2 * std::abs(row[c]);
            f32_magnitude += std::abs(static_cast<double>(row[c]) * p.x[c]);
          }
          const double bound = quantisation * (1 + 1e-4) + reassociation_tolerance(p.w.ref(), p.xq, r) +
                               1e-5 * f32_magnitude;
          const double error = std::abs(static_cast<double>(int8[r]) - f32[r]);
          ASSERT_LE(error, bound) << describe(s, f, isa) << " row " << r;
          worst_share = std::max(worst_share, error / quantisation);
          error_squares += error * error;
          y_squares += static_cast<double>(f32[r]) * f32[r];
        }
      }
    }
    // For the record: how much of the worst-case bound the error uses, and the relative RMS error.
    std::printf("%s: worst error / bound %.3f, relative RMS error %.2e\n", format_name(f).c_str(),
                worst_share, std::sqrt(error_squares / y_squares));
  }
}

TEST(Int8Matvec, PreparedActivationAndLinearGiveTheSameResult) {
  const Shape s{37, 1024, 64};
  for (const Format& f : kFormats) {
    const Problem p = make_problem(s, f, 5u + f.bits);
    const LinearRef w = p.w.ref();
    QuantizedActivation xq;
    quantize_activation(p.x, s.group_size, &xq);
    std::vector<float> per_call(s.rows), prepared(s.rows), via_linear(s.rows), via_linear_xq(s.rows);
    quant_matvec_int8(p.w.ref(), p.x, per_call);
    quant_matvec_int8(p.w.ref(), xq, prepared);
    linear(w, p.x, via_linear, DequantMode::kFma, nullptr, MatvecPath::kInt8);
    linear(w, p.x, xq, via_linear_xq);
    EXPECT_EQ(per_call, prepared) << format_name(f);
    EXPECT_EQ(per_call, via_linear) << format_name(f);
    EXPECT_EQ(per_call, via_linear_xq) << format_name(f);
  }
}

TEST(Int8Matvec, LinearF32PathAndDenseWeightsAreUnchanged) {
  const Shape s{19, 512, 64};
  const Problem p = make_problem(s, {4, QuantScheme::kAffine}, 3u);
  std::vector<float> by_default(s.rows), explicit_f32(s.rows), direct(s.rows);
  linear(p.w.ref(), p.x, by_default);
  linear(p.w.ref(), p.x, explicit_f32, DequantMode::kFma, nullptr, MatvecPath::kF32);
  quant_matvec(p.w.ref(), p.x, direct, DequantMode::kFma);
  EXPECT_EQ(by_default, direct);
  EXPECT_EQ(explicit_f32, direct);

  std::vector<float> dense(s.rows * s.cols);
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  for (float& v : dense) v = normal(rng);
  const MatRef m{DType::kF32, dense.data(), s.rows, s.cols};
  std::vector<float> f32(s.rows), int8(s.rows), prepared(s.rows);
  dense_matvec(m, p.x, f32);
  linear(m, p.x, int8, DequantMode::kFma, nullptr, MatvecPath::kInt8);
  linear(m, p.x, p.xq, prepared);
  EXPECT_EQ(int8, f32);
  EXPECT_EQ(prepared, f32);
}

TEST(Int8Matvec, NonFiniteActivationGivesNaN) {
  const Shape s{5, 256, 64};
  for (const Format& f : kFormats) {
    const Problem p = make_problem(s, f, 9u);
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      std::vector<float> x = p.x;
      x[100] = bad;
      for (KernelIsa isa : available_int8_isas()) {
        std::vector<float> y(s.rows, 0.0f);
        quant_matvec_int8(p.w.ref(), x, y, isa);
        for (int64_t r = 0; r < s.rows; ++r)
          EXPECT_TRUE(std::isnan(y[r])) << describe(s, f, isa) << " row " << r << " x " << bad;
      }
    }
  }
}

TEST(Int8Matvec, BadInputIsAnError) {
  const Problem p = make_problem({4, 256, 64}, {4, QuantScheme::kAffine}, 1u);
  std::vector<float> y(4), long_y(5);
  QuantizedActivation blocks_of_32;
  quantize_activation(p.x, 32, &blocks_of_32);
  EXPECT_THROW(quant_matvec_int8(p.w.ref(), blocks_of_32, y), Error);  // block != group
  EXPECT_THROW(quant_matvec_int8(p.w.ref(), p.xq, long_y), Error);
  EXPECT_THROW(quant_matvec_int8(p.w.ref(), std::span<const float>(p.x).first(128), y), Error);
  try {
    quant_matvec_int8(p.w.ref(), blocks_of_32, y);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks of 32"), std::string::npos) << e.what();
  }
  const QuantMatrix groups_of_256 =
      quantize_rows(std::vector<float>(2 * 512, 0.5f), 2, 512, {4, 256, QuantScheme::kAffine});
  std::vector<float> x512(512, 1.0f), y2(2);
  EXPECT_THROW(quant_matvec_int8(groups_of_256.ref(), x512, y2), Error);
  QuantMatRef bad = p.w.ref();
  bad.biases = nullptr;
  EXPECT_THROW(quant_matvec_int8(bad, p.xq, y), Error);
  std::vector<float> short_x(255);
  EXPECT_THROW(linear(p.w.ref(), short_x, p.xq, y), Error);
  for (KernelIsa isa : kInt8KernelIsas) {
    if (!kernel_isa_available(isa)) {
      EXPECT_THROW(quant_matvec_int8(p.w.ref(), p.xq, y, isa), Error);
    }
  }
  // The f32 kernels have no VNNI variants: asking for one is an error, not a silent fallback.
  EXPECT_THROW(quant_matvec(p.w.ref(), p.x, y, DequantMode::kFma, KernelIsa::kAvx512Vnni), Error);
  EXPECT_THROW(quant_matvec(p.w.ref(), p.x, y, DequantMode::kFma, KernelIsa::kAvxVnni), Error);
}

TEST(Int8Matvec, PathAndIsaNames) {
  for (MatvecPath path : {MatvecPath::kF32, MatvecPath::kInt8}) {
    MatvecPath parsed{};
    ASSERT_TRUE(parse_enum(enum_name(path), &parsed));
    EXPECT_EQ(parsed, path);
  }
  MatvecPath path{};
  EXPECT_FALSE(parse_enum("int4", &path));
  for (KernelIsa isa : kAllKernelIsas) {
    KernelIsa parsed{};
    ASSERT_TRUE(parse_enum(enum_name(isa), &parsed));
    EXPECT_EQ(parsed, isa);
    EXPECT_EQ(kernel_isa_available(isa), kernel_isa_compiled(isa) && cpu_has_kernel_isa(isa));
  }
  EXPECT_TRUE(kernel_isa_available(best_int8_kernel_isa()));
  std::printf("int8 kernels here: best %s; available:", std::string(enum_name(best_int8_kernel_isa())).c_str());
  for (KernelIsa isa : available_int8_isas()) std::printf(" %s", std::string(enum_name(isa)).c_str());
  std::printf("\n");
}

}  // namespace
}  // namespace streammoe

// ---- the AVX-VNNI kernel's source, run through the EVEX encoding of the same instruction ----
// The CPUs this is developed on have AVX-512 VNNI but not AVX-VNNI, so quant_matvec_int8 never
// runs the AVX-VNNI kernel here. Its source is compiled once more below with the 256-bit
// vpdpbusd of AVX-512 VNNI + VL (the same instruction, EVEX-encoded), under another name, and
// checked against the scalar reference wherever this CPU has AVX-512 VNNI. The includes above
// come first, so only the kernel's own code is compiled for AVX-512.
#include "engine/ops/int8_kernels.h"
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")
#if !defined(STREAMMOE_HAVE_AVXVNNI)
#define STREAMMOE_HAVE_AVXVNNI 1
#define STREAMMOE_TEST_DEFINED_AVXVNNI 1
#endif
#define _mm256_dpbusd_avx_epi32 _mm256_dpbusd_epi32
#define rows_avxvnni rows_avxvnni_source_as_evex
namespace streammoe::int8_kernels {
void rows_avxvnni(const Problem& p, int64_t begin, int64_t end);
}
#include "engine/ops/int8_kernels_avxvnni.cpp"
#undef rows_avxvnni
#undef _mm256_dpbusd_avx_epi32
#if defined(STREAMMOE_TEST_DEFINED_AVXVNNI)
#undef STREAMMOE_HAVE_AVXVNNI
#endif
#pragma GCC pop_options

namespace streammoe {
namespace {

TEST(Int8Matvec, AvxVnniSourceMatchesTheScalarReference) {
  if (!cpu_has_kernel_isa(KernelIsa::kAvx512Vnni))
    GTEST_SKIP() << "this CPU has no AVX-512 VNNI to run the AVX-VNNI source with";
  for (const Format& f : kFormats) {
    std::vector<Shape> exact_shapes = kExactShapes;
    if (f.bits < 8) exact_shapes.push_back({5, 2048, 64});
    for (const Shape& s : exact_shapes) {
      const ExactProblem e = make_exact(s, f, static_cast<uint32_t>(s.rows * 977 + s.cols + f.bits));
      QuantizedActivation xq;
      quantize_activation(e.x, s.group_size, &xq);
      std::vector<float> y(s.rows, NAN);
      int8_kernels::rows_avxvnni_source_as_evex(int8_kernels::problem_of(e.w.ref(), xq, y, true), 0, s.rows);
      for (int64_t r = 0; r < s.rows; ++r)
        ASSERT_EQ(y[r], static_cast<float>(e.y[r])) << describe(s, f, KernelIsa::kAvxVnni) << " row " << r;
    }
    for (const Shape& s : kShapes) {
      const Problem p = make_problem(s, f, static_cast<uint32_t>(s.rows * 131 + s.cols + f.bits));
      std::vector<float> reference(s.rows), y(s.rows, NAN);
      int8_kernels::rows_scalar(int8_kernels::problem_of(p.w.ref(), p.xq, reference, false), 0, s.rows);
      int8_kernels::rows_avxvnni_source_as_evex(int8_kernels::problem_of(p.w.ref(), p.xq, y, true), 0, s.rows);
      for (int64_t r = 0; r < s.rows; ++r)
        ASSERT_NEAR(y[r], reference[r], reassociation_tolerance(p.w.ref(), p.xq, r))
            << describe(s, f, KernelIsa::kAvxVnni) << " row " << r;
    }
  }
}

}  // namespace
}  // namespace streammoe
