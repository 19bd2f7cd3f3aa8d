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

}  // namespace streammoe
