#include "engine/ops/dense_matvec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/util/dtype.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

constexpr double kRelativeTolerance = 1e-5;  // of the row's sum |w_rc x_c|

struct Dense {
  DType dtype;
  std::vector<float> f32;
  std::vector<uint16_t> half;  // bf16 or f16 bits
  std::vector<float> as_f32;   // the weights as the kernels see them
  MatRef ref(int64_t rows, int64_t cols) const {
    const void* data = dtype == DType::kF32 ? static_cast<const void*>(f32.data())
                                            : static_cast<const void*>(half.data());
    return {dtype, data, rows, cols};
  }
};

Dense make_weights(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.5f);
  Dense d{dtype, {}, {}, {}};
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float v = normal(rng);
    if (dtype == DType::kF32) {
      d.f32.push_back(v);
      d.as_f32.push_back(v);
    } else if (dtype == DType::kBF16) {
      d.half.push_back(f32_to_bf16(v));
      d.as_f32.push_back(bf16_to_f32(d.half.back()));
    } else {
      d.half.push_back(f32_to_f16(v));
      d.as_f32.push_back(f16_to_f32(d.half.back()));
    }
  }
  return d;
}

std::vector<KernelIsa> available_isas() {
  std::vector<KernelIsa> isas = {KernelIsa::kScalar};
  if (kernel_isa_available(KernelIsa::kAvx2)) isas.push_back(KernelIsa::kAvx2);
  return isas;
}

TEST(DenseMatvec, EveryKernelMatchesTheScalarReference) {
  // Column counts around the vector widths (8, 32) exercise every tail path.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {1, 1},  {3, 7},    {5, 8},   {9, 31},    {4, 32},
      {7, 33}, {33, 100}, {2, 257}, {65, 1024}, {16, 4096}};
  ThreadPool pool(3);
  std::mt19937 rng(42);
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (auto [rows, cols] : shapes) {
      const Dense w = make_weights(dtype, rows, cols, rng);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> x(cols);
      for (float& v : x) v = normal(rng);
      std::vector<float> reference(rows);
      matvec_scalar(w.ref(rows, cols), x, reference);
      for (KernelIsa isa : available_isas()) {
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          std::vector<float> y(rows, NAN);
          dense_matvec(w.ref(rows, cols), x, y, isa, p);
          for (int64_t r = 0; r < rows; ++r) {
            double abs_sum = 0.0, exact = 0.0;
            for (int64_t c = 0; c < cols; ++c) {
              abs_sum += std::abs(static_cast<double>(w.as_f32[r * cols + c]) * x[c]);
              exact += static_cast<double>(w.as_f32[r * cols + c]) * x[c];
            }
            const std::string what = std::string(enum_name(dtype)) + " " + std::to_string(rows) +
                                     "x" + std::to_string(cols) + " " +
                                     std::string(enum_name(isa)) + (p ? " pool" : "") +
                                     " row " + std::to_string(r);
            ASSERT_NEAR(y[r], reference[r], kRelativeTolerance * abs_sum) << what;
            ASSERT_NEAR(y[r], exact, kRelativeTolerance * abs_sum) << what;
          }
        }
      }
      // matvec() dispatches to the best kernel: identical to it.
      std::vector<float> best(rows), dispatched(rows);
      dense_matvec(w.ref(rows, cols), x, best, best_kernel_isa());
      matvec(w.ref(rows, cols), x, dispatched);
      EXPECT_EQ(best, dispatched);
    }
  }
}

// A safetensors header may have any length, so a tensor mmap'd in place can start at any byte
// (review finding 4: misaligned float loads). Every kernel and row_to_f32 read such weights
// exactly as aligned ones; under UBSan a misaligned typed load would be reported here.
TEST(DenseMatvec, WeightsAtAnyByteOffsetGiveTheSameResult) {
  ThreadPool pool(2);
  std::mt19937 rng(7);
  const int64_t rows = 9, cols = 45;  // 45 = 32 + 8 + 5: every loop of the AVX2 kernel
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const Dense w = make_weights(dtype, rows, cols, rng);
    const MatRef aligned = w.ref(rows, cols);
    const size_t bytes = static_cast<size_t>(rows * cols) * dtype_size(dtype);
    std::vector<float> x(cols);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);
    for (size_t offset = 1; offset < 4; ++offset) {
      std::vector<char> buffer(bytes + 8);
      std::memcpy(buffer.data() + offset, aligned.data, bytes);
      const MatRef shifted{dtype, buffer.data() + offset, rows, cols};
      const std::string what = std::string(enum_name(dtype)) + " offset " + std::to_string(offset);
      for (KernelIsa isa : available_isas()) {
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          std::vector<float> expected(rows), got(rows);
          dense_matvec(aligned, x, expected, isa, p);
          dense_matvec(shifted, x, got, isa, p);
          EXPECT_EQ(got, expected) << what << " " << enum_name(isa);
        }
      }
      std::vector<float> expected(rows), got(rows);
      matvec_scalar(aligned, x, expected);
      matvec_scalar(shifted, x, got);
      EXPECT_EQ(got, expected) << what;
      std::vector<float> row(cols), shifted_row(cols);
      row_to_f32(aligned, rows - 1, row);
      row_to_f32(shifted, rows - 1, shifted_row);
      EXPECT_EQ(shifted_row, row) << what;
    }
  }
}

TEST(DenseMatvec, BadInputsAreErrors) {
  std::vector<float> w(12, 1.0f), x(4), y(3), short_x(3);
  const MatRef ref{DType::kF32, w.data(), 3, 4};
  EXPECT_THROW(dense_matvec(ref, short_x, y, KernelIsa::kScalar), Error);
  EXPECT_THROW(dense_matvec(ref, x, std::span<float>(y).first(2), best_kernel_isa()), Error);
  EXPECT_THROW(matvec(ref, short_x, y), Error);
  const MatRef ints{DType::kI32, w.data(), 3, 4};
  EXPECT_THROW(dense_matvec(ints, x, y, best_kernel_isa()), Error);
  EXPECT_THROW(matvec(ints, x, y), Error);
  if (!kernel_isa_available(KernelIsa::kAvx2)) {
    EXPECT_THROW(dense_matvec(ref, x, y, KernelIsa::kAvx2), Error);
  }
}

}  // namespace
}  // namespace streammoe
