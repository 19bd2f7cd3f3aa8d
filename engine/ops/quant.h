#pragma once
// MLX-style affine group quantisation of row-major [rows, cols] weights.
//
// Each row is cut into groups of `group_size` consecutive values; a group stores one scale and
// one bias (bf16) and every value as an unsigned code q in [0, 2^bits - 1], w ~= q * scale + bias.
// Codes are packed little-end first into uint32 words, the layout of MLX's `weight` (uint32),
// `scales` and `biases` tensors:
//   4 bits: 8 codes per word, code j of a word in bits [4j, 4j+4)  (low nibble first)
//   2 bits: 16 codes per word, code j of a word in bits [2j, 2j+2)
// so a row is cols*bits/32 words, and scales/biases are [rows, cols/group_size].
#include <cstdint>
#include <span>
#include <vector>

namespace streammoe {

// A view of one quantised matrix; the arrays belong to someone else (an mmap, a QuantMatrix).
struct QuantMatRef {
  int bits = 4;
  int group_size = 64;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint32_t* q = nullptr;       // [rows, cols * bits / 32]
  const uint16_t* scales = nullptr;  // bf16 [rows, cols / group_size]
  const uint16_t* biases = nullptr;  // bf16 [rows, cols / group_size]

  int64_t words_per_row() const { return cols * bits / 32; }
  int64_t groups_per_row() const { return cols / group_size; }
};

// Byte counts of the three arrays of a quantised [rows, cols] matrix (shape checked).
struct QuantBytes {
  int64_t q = 0;
  int64_t scales = 0;
  int64_t biases = 0;
  int64_t total() const { return q + scales + biases; }
};
QuantBytes quant_bytes(int64_t rows, int64_t cols, int bits, int group_size = 64);

// Throws Error naming `what` unless bits is 2 or 4, group_size is a positive multiple of 32
// (MLX uses 32, 64, 128), cols is a multiple of group_size and rows/cols are positive.
void check_quant_shape(int64_t rows, int64_t cols, int bits, int group_size, const char* what);
// The same checks plus non-null arrays.
void check_quant_mat(const QuantMatRef& m, const char* what);

// Owning storage for a quantised matrix, as produced by quantize_rows.
struct QuantMatrix {
  int bits = 4;
  int group_size = 64;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint32_t> q;
  std::vector<uint16_t> scales;
  std::vector<uint16_t> biases;

  QuantMatRef ref() const {
    return {bits, group_size, rows, cols, q.data(), scales.data(), biases.data()};
  }
};

// Quantises f32 rows (row-major, w.size() == rows*cols). Per group, as MLX does:
// scale = (max - min) / (2^bits - 1), bias = min, q = round((w - bias) / scale); the bf16 bias
// is rounded down and the bf16 scale up, so the stored pair still spans the group and every
// value is within scale/2 of its dequantised value (no code is clamped). Non-finite input is an
// Error.
QuantMatrix quantize_rows(std::span<const float> w, int64_t rows, int64_t cols, int bits,
                          int group_size = 64);

// Row `row` of m dequantised to f32: out[c] = q * scale + bias. out.size() == cols.
void dequantize_row(const QuantMatRef& m, int64_t row, std::span<float> out);

// Code of element (row, col): the unpacking every kernel must agree with.
inline uint32_t quant_code(const QuantMatRef& m, int64_t row, int64_t col) {
  const int per_word = 32 / m.bits;
  const uint32_t word = m.q[row * m.words_per_row() + col / per_word];
  return (word >> ((col % per_word) * m.bits)) & ((1u << m.bits) - 1u);
}

}  // namespace streammoe
