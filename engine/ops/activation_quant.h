#pragma once
// Activations quantised to int8 per block, for the integer-dot kernels (int8_matvec.h).
//
// x is cut into blocks of `block_size` values, the group size of the weights it will meet (32, 64
// or 128). As in llama.cpp's Q8_0/Q8_1 blocks, a block stores an f32 scale d = max|x| / 127 and
// codes q = round(x * 127 / max|x|) in [-127, 127] (round half to even), so x ~= q * d with
// |x - q * d| <= d / 2. Like Q8_1 it also stores sum = d * sum(q), the sum of the dequantised
// block, which an affine weight group's bias multiplies:
//   y = sum_g scale_g * d_g * sum(q_w * q_x) + bias_g * sum_g
// Taking the quantised sum rather than sum(x) makes y exactly W times the dequantised x; its error
// against W x is then sum_c w_c (q_c d - x_c), which is smaller than with sum(x), where the codes
// (not the centred weights) would multiply the rounding errors.
//
// A block whose max|x| is below kMinActivationAmax quantises to zeros with d = 0 (its 127/max
// would overflow f32). A block holding a NaN or an infinity gets d = sum = NaN and zero codes, so
// every product that uses it is NaN rather than a finite wrong number.
//
// The codes are kept in three orders: element order (the scalar kernels, and 8-bit weights), and
// the orders in which the SIMD kernels unpack 4-bit and 2-bit codes, so that they pair each code
// with its activation without shuffling the weights. Within every 64 values:
//   4-bit order: positions 0..31 hold elements 0, 2, ..., 62; positions 32..63 hold 1, 3, ..., 63
//                (the low nibbles of 32 packed bytes, then the high nibbles)
//   2-bit order: position 16j + k holds element 4k + j (j = 0..3, k = 0..15)
//                (bit pair j of 16 packed bytes, for each j)
// and a last 32 values (cols = 64n + 32, only with blocks of 32) follow the same rules within 32:
//   4-bit: positions 0..15 hold 0, 2, ..., 30 and 16..31 hold 1, 3, ..., 31; 2-bit: 8j + k holds
//   4k + j.
#include <cstdint>
#include <span>
#include <vector>

#include "engine/ops/isa.h"

namespace streammoe {

inline constexpr float kMinActivationAmax = 1e-30f;

struct QuantizedActivation {
  int block_size = 0;
  int64_t cols = 0;
  std::vector<int8_t> codes;       // [cols], element order
  std::vector<int8_t> codes_4bit;  // [cols], 4-bit order
  std::vector<int8_t> codes_2bit;  // [cols], 2-bit order
  std::vector<float> scales;       // [cols / block_size]: d
  std::vector<float> sums;         // [cols / block_size]: d * sum(q)

  int64_t blocks() const { return cols / (block_size > 0 ? block_size : 1); }
  // The codes in the order the SIMD kernels read beside `bits`-bit weight codes.
  const int8_t* simd_codes(int bits) const {
    return bits == 4 ? codes_4bit.data() : bits == 2 ? codes_2bit.data() : codes.data();
  }
};

// Quantises x into *out, reusing out's storage (no allocation once it has held this width).
// block_size: a positive multiple of 32 that divides x.size() (Error otherwise).
void quantize_activation(std::span<const float> x, int block_size, QuantizedActivation* out);
// The same with the instruction set chosen: kScalar is the reference; the SIMD variants (avx2,
// also used for the VNNI instruction sets) give identical bytes and floats.
void quantize_activation(std::span<const float> x, int block_size, KernelIsa isa,
                         QuantizedActivation* out);
// The value element i stands for: codes[i] * scales[i / block_size].
inline float dequantized_activation(const QuantizedActivation& a, int64_t i) {
  return static_cast<float>(a.codes[i]) * a.scales[i / a.block_size];
}

}  // namespace streammoe
