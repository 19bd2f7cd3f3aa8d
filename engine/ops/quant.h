#pragma once
// Group quantisation of row-major [rows, cols] weights: MLX's affine layout, and a symmetric
// 8-bit variant.
//
// Each row is cut into groups of `group_size` consecutive values; a group stores one bf16 scale
// and, when affine, one bf16 bias:
//   affine, 2/4/8 bits:  unsigned code q in [0, 2^bits - 1],     w ~= q * scale + bias
//   symmetric, 8 bits:   signed code q in [-127, 127] (a two's-complement byte), w ~= q * scale
// Codes are packed little-end first into uint32 words, the layout of MLX's `weight` (uint32),
// `scales` and `biases` tensors:
//   8 bits: 4 codes per word, code j of a word in bits [8j, 8j+8)  (the bytes are the codes)
//   4 bits: 8 codes per word, code j of a word in bits [4j, 4j+4)  (low nibble first)
//   2 bits: 16 codes per word, code j of a word in bits [2j, 2j+2)
// so a row is cols*bits/32 words, and scales/biases are [rows, cols/group_size]. A symmetric
// matrix has no biases array. Routed experts are 2- or 4-bit affine (check_quant_shape); resident
// weights may also be 8-bit, affine or symmetric (check_quant_format).
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace streammoe {

enum class QuantScheme { kAffine, kSymmetric };

std::string_view quant_scheme_name(QuantScheme scheme);  // "affine", "symmetric"
bool parse_quant_scheme(std::string_view name, QuantScheme* out);

// How a matrix is quantised: 2/4/8-bit affine or 8-bit symmetric, groups of a multiple of 32.
struct QuantFormat {
  int bits = 4;
  int group_size = 64;
  QuantScheme scheme = QuantScheme::kAffine;
};

// A view of one quantised matrix; the arrays belong to someone else (an mmap, a QuantMatrix).
struct QuantMatRef {
  int bits = 4;
  int group_size = 64;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint32_t* q = nullptr;       // [rows, cols * bits / 32]
  const uint16_t* scales = nullptr;  // bf16 [rows, cols / group_size]
  const uint16_t* biases = nullptr;  // bf16 [rows, cols / group_size]; unused when symmetric
  QuantScheme scheme = QuantScheme::kAffine;

  int64_t words_per_row() const { return cols * bits / 32; }
  int64_t groups_per_row() const { return cols / group_size; }
  bool symmetric() const { return scheme == QuantScheme::kSymmetric; }
  QuantFormat format() const { return {bits, group_size, scheme}; }
};

// Byte counts of the three arrays of a quantised [rows, cols] matrix (shape checked).
struct QuantBytes {
  int64_t q = 0;
  int64_t scales = 0;
  int64_t biases = 0;
  int64_t total() const { return q + scales + biases; }
};
QuantBytes quant_bytes(int64_t rows, int64_t cols, int bits, int group_size = 64);
// Any format; biases is 0 for a symmetric one.
QuantBytes quant_bytes(int64_t rows, int64_t cols, const QuantFormat& format);

// The expert formats: throws Error naming `what` unless bits is 2 or 4, group_size is a positive
// multiple of 32 (MLX uses 32, 64, 128), cols is a multiple of group_size and rows/cols are
// positive.
void check_quant_shape(int64_t rows, int64_t cols, int bits, int group_size, const char* what);
// Every format: the same checks, with 8 bits also allowed, and symmetric only at 8 bits.
void check_quant_format(int64_t rows, int64_t cols, const QuantFormat& format, const char* what);
// check_quant_format plus non-null arrays (biases only when affine).
void check_quant_mat(const QuantMatRef& m, const char* what);

// Owning storage for a quantised matrix, as produced by quantize_rows.
struct QuantMatrix {
  int bits = 4;
  int group_size = 64;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint32_t> q;
  std::vector<uint16_t> scales;
  std::vector<uint16_t> biases;  // empty when symmetric
  QuantScheme scheme = QuantScheme::kAffine;

  QuantMatRef ref() const {
    const uint16_t* bias_data = scheme == QuantScheme::kSymmetric ? nullptr : biases.data();
    return {bits, group_size, rows, cols, q.data(), scales.data(), bias_data, scheme};
  }
};

// Quantises f32 rows (row-major, w.size() == rows*cols). Per group, as MLX does:
// scale = (max - min) / (2^bits - 1), bias = min, q = round((w - bias) / scale); the bf16 bias
// is rounded down and the bf16 scale up, so the stored pair still spans the group and every
// value is within scale/2 of its dequantised value (no code is clamped). Non-finite input is an
// Error. This form makes the expert formats only (2 or 4 bits, check_quant_shape).
QuantMatrix quantize_rows(std::span<const float> w, int64_t rows, int64_t cols, int bits,
                          int group_size = 64);
// Any format. Affine is as above; symmetric: scale = max|w| / 127 rounded up to bf16,
// q = round(w / scale), so again every value is within scale/2 of its dequantised value.
QuantMatrix quantize_rows(std::span<const float> w, int64_t rows, int64_t cols,
                          const QuantFormat& format);

// Row `row` of m dequantised to f32: out[c] = q * scale + bias (q * scale when symmetric).
// out.size() == cols.
void dequantize_row(const QuantMatRef& m, int64_t row, std::span<float> out);

// Stored bits of the code of element (row, col): the unpacking every kernel must agree with.
inline uint32_t quant_code(const QuantMatRef& m, int64_t row, int64_t col) {
  const int per_word = 32 / m.bits;
  const uint32_t word = m.q[row * m.words_per_row() + col / per_word];
  return (word >> ((col % per_word) * m.bits)) & ((1u << m.bits) - 1u);
}

// The integer the code stands for: quant_code, sign-extended when symmetric.
inline int quant_level(const QuantMatRef& m, int64_t row, int64_t col) {
  const uint32_t code = quant_code(m, row, col);
  return m.symmetric() ? static_cast<int>(static_cast<int8_t>(code)) : static_cast<int>(code);
}

}  // namespace streammoe
