#pragma once
// Internal to engine/ops: the per-row-range integer-dot kernels that int8_matvec.cpp dispatches
// to. Shapes are checked by the caller; each writes y[begin, end).
//
// This header is included by files compiled with different instruction-set flags (the AVX-VNNI
// and AVX-512 files have their own), so it holds plain data and declarations only: an inline
// function or template instantiated in two such files could be linked from the wrong one and
// run an AVX-512 instruction on a CPU without it.
#include <cstdint>
#include <span>

namespace streammoe {
struct QuantMatRef;
struct QuantizedActivation;
}  // namespace streammoe

namespace streammoe::int8_kernels {

struct Problem {
  // Weights: MLX layout (quant.h), group_size 32, 64 or 128.
  const uint32_t* q = nullptr;
  const uint16_t* scales = nullptr;  // bf16 [rows, groups]
  const uint16_t* biases = nullptr;  // bf16 [rows, groups]; null when symmetric
  int64_t cols = 0;
  int bits = 4;
  int group_size = 64;
  bool symmetric = false;
  // Activation (activation_quant.h): codes in element order for the scalar kernel, in the
  // order of `bits` (QuantizedActivation::simd_codes) for the others.
  const int8_t* x_codes = nullptr;
  const float* x_scales = nullptr;  // [groups]
  const float* x_sums = nullptr;    // [groups]
  float* y = nullptr;
};

// The problem y = W x for x quantised in W's group size: x's codes in element order for the
// scalar kernel (simd_order false), in the order of W's bits for the others. Defined in
// int8_matvec.cpp (compiled without extra ISA flags).
Problem problem_of(const QuantMatRef& w, const QuantizedActivation& x, std::span<float> y, bool simd_order);

// Most problems a shared-weight kernel takes at once.
inline constexpr int kMaxSharedX = 4;

// The reference: per group the exact integer sum of code * activation code, then
// y = sum_g (scale_g * d_g) * dot_g + bias_g * sum_g, accumulated group by group in f32.
void rows_scalar(const Problem& p, int64_t begin, int64_t end);
#if defined(STREAMMOE_HAVE_AVX2)
void rows_avx2(const Problem& p, int64_t begin, int64_t end);  // maddubs
#endif
#if defined(STREAMMOE_HAVE_AVXVNNI)
void rows_avxvnni(const Problem& p, int64_t begin, int64_t end);  // 256-bit vpdpbusd (VEX)
#endif
#if defined(STREAMMOE_HAVE_AVX512VNNI)
void rows_avx512vnni(const Problem& p, int64_t begin, int64_t end);  // 512-bit vpdpbusd
// The rows of n problems (1 to kMaxSharedX) that share one weight, each superblock of codes
// unpacked once for all their activations; each y bit-identical to rows_avx512vnni's.
void rows_avx512vnni_shared(const Problem* ps, int n, int64_t begin, int64_t end);
#endif

}  // namespace streammoe::int8_kernels
