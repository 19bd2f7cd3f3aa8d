#pragma once
// y = W x for an MLX-style affine-quantised W (see quant.h), f32 accumulation.
//
// Two formulations of the same product, a studied switch:
//   kNaive: dequantise every element, then multiply:  sum_c (q_c * scale + bias) * x_c
//   kFma:   factor the group constants out:           scale * sum_c q_c x_c + bias * sum_c x_c
//           with the group sums of x computed once per vector and shared by every row, so the
//           inner loop is one multiply-add per element instead of two.
// They agree up to f32 rounding.
#include <span>
#include <string_view>
#include <vector>

#include "engine/ops/isa.h"
#include "engine/ops/quant.h"
#include "engine/util/name_table.h"

namespace streammoe {

class ThreadPool;

enum class DequantMode { kNaive, kFma };

inline constexpr NameTable<DequantMode, 2> kDequantModeNames{{{
    {DequantMode::kNaive, "naive", "dequantise every weight, then multiply: sum (q*s + b) * x"},
    {DequantMode::kFma, "fma", "group constants factored out: s * sum(q*x) + b * sum(x)"},
}}};
constexpr const auto& name_table(DequantMode) { return kDequantModeNames; }

// x.size() == w.cols, y.size() == w.rows. Rows are split over `pool` when given. Uses the best
// kernel compiled into this build.
void quant_matvec(const QuantMatRef& w, std::span<const float> x, std::span<float> y,
                  DequantMode mode, ThreadPool* pool = nullptr);
// The same with the instruction set chosen by the caller (tests, benchmarks); Error if that
// kernel is not in this build. KernelIsa::kScalar is the reference.
void quant_matvec(const QuantMatRef& w, std::span<const float> x, std::span<float> y,
                  DequantMode mode, KernelIsa isa, ThreadPool* pool = nullptr);

// x made ready for the row kernels of one instruction set and mode: permuted into the AVX2
// kernels' unpack order, and its group sums (kFma). Its buffers keep their capacity across uses.
struct PreparedX {
  const float* x = nullptr;         // x itself (the scalar kernels)
  const float* permuted = nullptr;  // x in the AVX2 order (x itself for 8 bits or other ISAs)
  const float* sums = nullptr;      // [cols / group_size] (kFma), else null
  std::vector<float> permuted_buf, sums_buf;
};
// x.size() == w.cols, checked by the caller; `out` views x, which must outlive its use.
void prepare_x(const QuantMatRef& w, std::span<const float> x, DequantMode mode, KernelIsa isa,
               PreparedX* out);
// Rows [begin, end) of y = W x, unchecked: the unit quant_matvec splits over threads and
// linear_batch (linear.h) over tiles of rows.
void quant_matvec_rows(const QuantMatRef& w, const PreparedX& x, float* y, DequantMode mode,
                       KernelIsa isa, int64_t begin, int64_t end);

}  // namespace streammoe
