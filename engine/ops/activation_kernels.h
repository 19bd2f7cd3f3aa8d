#pragma once
// Internal to engine/ops: the pieces of quantize_activation (activation_quant.h) per instruction
// set. n is a multiple of 32 (and of block_size); each writes [0, n) of its outputs.
#include <cstdint>

namespace streammoe::activation_kernels {

// Codes in element order, and per block the scale d and d * sum(codes).
void quantize_blocks_scalar(const float* x, int64_t n, int block_size, int8_t* codes,
                            float* scales, float* sums);
// Element-order codes rearranged into the 4-bit and 2-bit orders.
void reorder_scalar(const int8_t* codes, int64_t n, int8_t* codes_4bit, int8_t* codes_2bit);
#if defined(STREAMMOE_HAVE_AVX2)
void quantize_blocks_avx2(const float* x, int64_t n, int block_size, int8_t* codes,
                          float* scales, float* sums);
void reorder_avx2(const int8_t* codes, int64_t n, int8_t* codes_4bit, int8_t* codes_2bit);
#endif

}  // namespace streammoe::activation_kernels
