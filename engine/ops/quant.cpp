#include "engine/ops/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/util/dtype.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

uint32_t float_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

// bf16 rounded toward -infinity (finite input): truncation rounds toward zero, which is down
// for positive values; for negative ones step one unit further from zero.
uint16_t bf16_round_down(float f) {
  const uint32_t bits = float_bits(f);
  uint16_t truncated = static_cast<uint16_t>(bits >> 16);
  if ((bits & 0xffffu) != 0 && (bits & 0x80000000u) != 0) ++truncated;
  return truncated;
}

uint16_t bf16_round_up(float f) { return bf16_round_down(-f) ^ 0x8000u; }

// The smallest float >= d, so that rounding the scale up stays an upper bound.
float float_at_least(double d) {
  float f = static_cast<float>(d);
  if (static_cast<double>(f) < d) f = std::nextafter(f, INFINITY);
  return f;
}

}  // namespace

void check_quant_shape(int64_t rows, int64_t cols, int bits, int group_size, const char* what) {
  if (bits != 2 && bits != 4) fail("{}: {}-bit quantisation is not supported (2 or 4)", what, bits);
  if (group_size <= 0 || group_size % 32 != 0)
    fail("{}: group size {} is not a positive multiple of 32", what, group_size);
  if (rows <= 0 || cols <= 0) fail("{}: shape [{}, {}] is empty or negative", what, rows, cols);
  if (cols % group_size != 0)
    fail("{}: {} columns are not a multiple of the group size {}", what, cols, group_size);
}

void check_quant_mat(const QuantMatRef& m, const char* what) {
  check_quant_shape(m.rows, m.cols, m.bits, m.group_size, what);
  if (!m.q || !m.scales || !m.biases) fail("{}: quantised matrix has a null array", what);
}

QuantBytes quant_bytes(int64_t rows, int64_t cols, int bits, int group_size) {
  check_quant_shape(rows, cols, bits, group_size, "quant_bytes");
  const int64_t groups = rows * (cols / group_size);
  return {rows * cols * bits / 8, groups * 2, groups * 2};
}

QuantMatrix quantize_rows(std::span<const float> w, int64_t rows, int64_t cols, int bits,
                          int group_size) {
  check_quant_shape(rows, cols, bits, group_size, "quantize_rows");
  if (static_cast<int64_t>(w.size()) != rows * cols)
    fail("quantize_rows: {} values given for a [{}, {}] matrix", w.size(), rows, cols);

  QuantMatrix m;
  m.bits = bits;
  m.group_size = group_size;
  m.rows = rows;
  m.cols = cols;
  const QuantBytes bytes = quant_bytes(rows, cols, bits, group_size);
  m.q.assign(bytes.q / 4, 0u);
  m.scales.resize(bytes.scales / 2);
  m.biases.resize(bytes.biases / 2);

  const int max_code = (1 << bits) - 1;
  const int per_word = 32 / bits;
  const int64_t groups_per_row = cols / group_size;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups_per_row; ++g) {
      const float* values = w.data() + r * cols + g * group_size;
      float lo = values[0], hi = values[0];
      for (int i = 0; i < group_size; ++i) {
        if (!std::isfinite(values[i]))
          fail("quantize_rows: non-finite value at row {}, column {}", r, g * group_size + i);
        lo = std::min(lo, values[i]);
        hi = std::max(hi, values[i]);
      }
      const uint16_t bias_bf16 = bf16_round_down(lo);
      const float bias = bf16_to_f32(bias_bf16);
      const double range = static_cast<double>(hi) - static_cast<double>(bias);
      const uint16_t scale_bf16 = bf16_round_up(float_at_least(range / max_code));
      const float scale = bf16_to_f32(scale_bf16);
      m.scales[r * groups_per_row + g] = scale_bf16;
      m.biases[r * groups_per_row + g] = bias_bf16;

      for (int i = 0; i < group_size; ++i) {
        int code = 0;
        if (scale > 0.0f) code = static_cast<int>(std::nearbyint((values[i] - bias) / scale));
        code = std::clamp(code, 0, max_code);
        const int64_t col = g * group_size + i;
        m.q[r * (cols / per_word) + col / per_word] |= static_cast<uint32_t>(code)
                                                       << ((col % per_word) * bits);
      }
    }
  }
  return m;
}

void dequantize_row(const QuantMatRef& m, int64_t row, std::span<float> out) {
  check_quant_mat(m, "dequantize_row");
  if (row < 0 || row >= m.rows) fail("dequantize_row: row {} out of range [0, {})", row, m.rows);
  if (static_cast<int64_t>(out.size()) != m.cols)
    fail("dequantize_row: output has {} values for {} columns", out.size(), m.cols);
  const int64_t groups_per_row = m.groups_per_row();
  for (int64_t c = 0; c < m.cols; ++c) {
    const int64_t group = row * groups_per_row + c / m.group_size;
    out[c] = static_cast<float>(quant_code(m, row, c)) * bf16_to_f32(m.scales[group]) +
             bf16_to_f32(m.biases[group]);
  }
}

}  // namespace streammoe
