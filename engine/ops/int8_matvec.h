#pragma once
// y = W x with integer dot products: x quantised to int8 per block of W's group size
// (activation_quant.h), each group's codes dotted with the activation codes exactly in int32,
// and the group's scales applied in f32:
//   y = sum_g (scale_g * d_g) * sum_i(q_i * x_i) + bias_g * d_g * sum_i(x_i)
// (no bias term for symmetric weights). W: any format of quant.h (2/4/8-bit affine, 8-bit
// symmetric) with groups of 32, 64 or 128.
//
// The result is exactly W times the dequantised x, up to f32 rounding; against W x (the f32
// path) it differs by sum_c w_c (x^_c - x_c), at most sum_g (d_g / 2) * sum_{c in g} |w_c|.
// The instruction sets (isa.h) compute the same integer dots; they differ only in the order the
// f32 terms are added.
#include <span>

#include "engine/ops/activation_quant.h"
#include "engine/ops/isa.h"
#include "engine/ops/quant.h"

namespace streammoe {

class ThreadPool;

// x was quantised with x.block_size == w.group_size and x.cols == w.cols; y.size() == w.rows.
// Rows are split over `pool` when given. Error on any mismatch, or if `isa` is not available.
void quant_matvec_int8(const QuantMatRef& w, const QuantizedActivation& x, std::span<float> y,
                       KernelIsa isa, ThreadPool* pool = nullptr);
void quant_matvec_int8(const QuantMatRef& w, const QuantizedActivation& x, std::span<float> y,
                       ThreadPool* pool = nullptr);  // best_int8_kernel_isa()
// Quantises x first (into a buffer of the calling thread), then as above.
void quant_matvec_int8(const QuantMatRef& w, std::span<const float> x, std::span<float> y,
                       KernelIsa isa, ThreadPool* pool = nullptr);
void quant_matvec_int8(const QuantMatRef& w, std::span<const float> x, std::span<float> y,
                       ThreadPool* pool = nullptr);

// Rows [begin, end) of problem p (int8_kernels.h) with the kernel of `isa`, unchecked: the unit
// quant_matvec_int8 splits over threads and linear_batch (linear.h) over tiles of rows.
namespace int8_kernels {
struct Problem;
}
void quant_matvec_int8_rows(const int8_kernels::Problem& p, KernelIsa isa, int64_t begin, int64_t end);
// The same rows of problems that share one weight (its codes, scales and biases; the tokens of a
// chunk meeting one matrix): where the ISA has a shared-weight kernel (AVX-512 VNNI) the codes
// are unpacked once for several activations. Each y is bit-identical to its problem alone.
void quant_matvec_int8_rows_shared(std::span<const int8_kernels::Problem> ps, KernelIsa isa,
                                   int64_t begin, int64_t end);

// Throws Error naming `what` unless the int8 kernels take w (groups of 32, 64 or 128).
void check_int8_matvec_weight(const QuantMatRef& w, const char* what);

}  // namespace streammoe
