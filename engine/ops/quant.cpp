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

// Codes of one affine group: scale = range / max_code, bias = min, as MLX does.
void quantize_affine_group(const float* values, int group_size, int bits, int* codes,
                           uint16_t* scale_out, uint16_t* bias_out) {
  const int max_code = (1 << bits) - 1;
  float lo = values[0], hi = values[0];
  for (int i = 0; i < group_size; ++i) {
    lo = std::min(lo, values[i]);
    hi = std::max(hi, values[i]);
  }
  const uint16_t bias_bf16 = bf16_round_down(lo);
  const float bias = bf16_to_f32(bias_bf16);
  const double range = static_cast<double>(hi) - static_cast<double>(bias);
  const uint16_t scale_bf16 = bf16_round_up(float_at_least(range / max_code));
  const float scale = bf16_to_f32(scale_bf16);
  *scale_out = scale_bf16;
  *bias_out = bias_bf16;
  for (int i = 0; i < group_size; ++i) {
    int code = 0;
    if (scale > 0.0f) code = static_cast<int>(std::nearbyint((values[i] - bias) / scale));
    codes[i] = std::clamp(code, 0, max_code);
  }
}

// Codes of one symmetric group: scale = max|w| / 127, rounded up so no code passes 127.
void quantize_symmetric_group(const float* values, int group_size, int* codes,
                              uint16_t* scale_out) {
  float amax = 0.0f;
  for (int i = 0; i < group_size; ++i) amax = std::max(amax, std::abs(values[i]));
  const uint16_t scale_bf16 = bf16_round_up(float_at_least(static_cast<double>(amax) / 127.0));
  const float scale = bf16_to_f32(scale_bf16);
  *scale_out = scale_bf16;
  for (int i = 0; i < group_size; ++i) {
    int code = 0;
    if (scale > 0.0f) code = static_cast<int>(std::nearbyint(values[i] / scale));
    codes[i] = std::clamp(code, -127, 127);
  }
}

}  // namespace

std::string_view quant_scheme_name(QuantScheme scheme) {
  switch (scheme) {
    case QuantScheme::kAffine:
      return "affine";
    case QuantScheme::kSymmetric:
      return "symmetric";
  }
  return "unknown";
}

bool parse_quant_scheme(std::string_view name, QuantScheme* out) {
  for (QuantScheme scheme : {QuantScheme::kAffine, QuantScheme::kSymmetric}) {
    if (name == quant_scheme_name(scheme)) {
      *out = scheme;
      return true;
    }
  }
  return false;
}

void check_quant_shape(int64_t rows, int64_t cols, int bits, int group_size, const char* what) {
  if (bits != 2 && bits != 4) fail("{}: {}-bit quantisation is not supported (2 or 4)", what, bits);
  check_quant_format(rows, cols, {bits, group_size, QuantScheme::kAffine}, what);
}

void check_quant_format(int64_t rows, int64_t cols, const QuantFormat& format, const char* what) {
  const int bits = format.bits, group_size = format.group_size;
  if (bits != 2 && bits != 4 && bits != 8)
    fail("{}: {}-bit quantisation is not supported (2, 4 or 8)", what, bits);
  if (format.scheme == QuantScheme::kSymmetric && bits != 8)
    fail("{}: symmetric quantisation is 8-bit only, not {}-bit", what, bits);
  if (group_size <= 0 || group_size % 32 != 0)
    fail("{}: group size {} is not a positive multiple of 32", what, group_size);
  if (rows <= 0 || cols <= 0) fail("{}: shape [{}, {}] is empty or negative", what, rows, cols);
  if (cols % group_size != 0)
    fail("{}: {} columns are not a multiple of the group size {}", what, cols, group_size);
}

void check_quant_mat(const QuantMatRef& m, const char* what) {
  check_quant_format(m.rows, m.cols, m.format(), what);
  if (!m.q || !m.scales || (!m.symmetric() && !m.biases))
    fail("{}: quantised matrix has a null array", what);
}

QuantBytes quant_bytes(int64_t rows, int64_t cols, int bits, int group_size) {
  check_quant_shape(rows, cols, bits, group_size, "quant_bytes");
  return quant_bytes(rows, cols, {bits, group_size, QuantScheme::kAffine});
}

QuantBytes quant_bytes(int64_t rows, int64_t cols, const QuantFormat& format) {
  check_quant_format(rows, cols, format, "quant_bytes");
  const int64_t groups = rows * (cols / format.group_size);
  const bool has_biases = format.scheme == QuantScheme::kAffine;
  return {rows * cols * format.bits / 8, groups * 2, has_biases ? groups * 2 : 0};
}

QuantMatrix quantize_rows(std::span<const float> w, int64_t rows, int64_t cols, int bits,
                          int group_size) {
  check_quant_shape(rows, cols, bits, group_size, "quantize_rows");
  return quantize_rows(w, rows, cols, {bits, group_size, QuantScheme::kAffine});
}

QuantMatrix quantize_rows(std::span<const float> w, int64_t rows, int64_t cols,
                          const QuantFormat& format) {
  check_quant_format(rows, cols, format, "quantize_rows");
  if (static_cast<int64_t>(w.size()) != rows * cols)
    fail("quantize_rows: {} values given for a [{}, {}] matrix", w.size(), rows, cols);

  const int bits = format.bits, group_size = format.group_size;
  const bool symmetric = format.scheme == QuantScheme::kSymmetric;
  QuantMatrix m;
  m.bits = bits;
  m.group_size = group_size;
  m.rows = rows;
  m.cols = cols;
  m.scheme = format.scheme;
  const QuantBytes bytes = quant_bytes(rows, cols, format);
  m.q.assign(bytes.q / 4, 0u);
  m.scales.resize(bytes.scales / 2);
  m.biases.resize(bytes.biases / 2);

  const uint32_t code_mask = (1u << bits) - 1u;
  const int per_word = 32 / bits;
  const int64_t groups_per_row = cols / group_size;
  std::vector<int> codes(group_size);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups_per_row; ++g) {
      const float* values = w.data() + r * cols + g * group_size;
      for (int i = 0; i < group_size; ++i)
        if (!std::isfinite(values[i]))
          fail("quantize_rows: non-finite value at row {}, column {}", r, g * group_size + i);
      const int64_t group = r * groups_per_row + g;
      if (symmetric)
        quantize_symmetric_group(values, group_size, codes.data(), &m.scales[group]);
      else
        quantize_affine_group(values, group_size, bits, codes.data(), &m.scales[group],
                              &m.biases[group]);
      for (int i = 0; i < group_size; ++i) {
        const int64_t col = g * group_size + i;
        m.q[r * (cols / per_word) + col / per_word] |=
            (static_cast<uint32_t>(codes[i]) & code_mask) << ((col % per_word) * bits);
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
    const float scaled = static_cast<float>(quant_level(m, row, c)) * bf16_to_f32(m.scales[group]);
    out[c] = m.symmetric() ? scaled : scaled + bf16_to_f32(m.biases[group]);
  }
}

}  // namespace streammoe
