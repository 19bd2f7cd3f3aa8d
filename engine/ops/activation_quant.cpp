#include "engine/ops/activation_quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "engine/ops/activation_kernels.h"
#include "engine/util/error.h"

namespace streammoe {
namespace activation_kernels {

void quantize_blocks_scalar(const float* x, int64_t n, int block_size, int8_t* codes,
                            float* scales, float* sums) {
  for (int64_t b = 0; b < n / block_size; ++b) {
    const float* block = x + b * block_size;
    int8_t* q = codes + b * block_size;
    float amax = 0.0f;
    bool finite = true;
    for (int i = 0; i < block_size; ++i) {
      const float a = std::fabs(block[i]);
      if (!(a <= FLT_MAX)) finite = false;
      amax = std::max(amax, a);
    }
    std::fill(q, q + block_size, int8_t{0});
    if (!finite) {
      scales[b] = sums[b] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    if (amax < kMinActivationAmax) {
      scales[b] = sums[b] = 0.0f;
      continue;
    }
    const float d = amax / 127.0f;
    const float inverse = 127.0f / amax;
    int32_t code_sum = 0;
    for (int i = 0; i < block_size; ++i) {
      const float rounded = std::nearbyint(block[i] * inverse);
      const int code = static_cast<int>(std::min(std::max(rounded, -127.0f), 127.0f));
      q[i] = static_cast<int8_t>(code);
      code_sum += code;
    }
    scales[b] = d;
    sums[b] = d * static_cast<float>(code_sum);
  }
}

void reorder_scalar(const int8_t* codes, int64_t n, int8_t* codes_4bit, int8_t* codes_2bit) {
  for (int64_t base = 0; base < n;) {
    const int chunk = n - base >= 64 ? 64 : 32;
    const int half = chunk / 2, quarter = chunk / 4;
    for (int i = 0; i < half; ++i) {
      codes_4bit[base + i] = codes[base + 2 * i];
      codes_4bit[base + half + i] = codes[base + 2 * i + 1];
    }
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < quarter; ++k) codes_2bit[base + quarter * j + k] = codes[base + 4 * k + j];
    base += chunk;
  }
}

}  // namespace activation_kernels

void quantize_activation(std::span<const float> x, int block_size, QuantizedActivation* out) {
  quantize_activation(x, block_size, kernel_isa_available(KernelIsa::kAvx2) ? KernelIsa::kAvx2
                                                                            : KernelIsa::kScalar,
                      out);
}

void quantize_activation(std::span<const float> x, int block_size, KernelIsa isa,
                         QuantizedActivation* out) {
  const int64_t n = static_cast<int64_t>(x.size());
  if (block_size <= 0 || block_size % 32 != 0)
    fail("quantize_activation: block size {} is not a positive multiple of 32", block_size);
  if (n == 0 || n % block_size != 0)
    fail("quantize_activation: {} values are not a positive multiple of the block size {}", n,
         block_size);
  require_kernel_isa(isa, "quantize_activation");
  out->block_size = block_size;
  out->cols = n;
  out->codes.resize(n);
  out->codes_4bit.resize(n);
  out->codes_2bit.resize(n);
  out->scales.resize(n / block_size);
  out->sums.resize(n / block_size);
#if defined(STREAMMOE_HAVE_AVX2)
  if (isa != KernelIsa::kScalar) {  // the VNNI instruction sets add nothing here
    activation_kernels::quantize_blocks_avx2(x.data(), n, block_size, out->codes.data(),
                                             out->scales.data(), out->sums.data());
    activation_kernels::reorder_avx2(out->codes.data(), n, out->codes_4bit.data(),
                                     out->codes_2bit.data());
    return;
  }
#endif
  activation_kernels::quantize_blocks_scalar(x.data(), n, block_size, out->codes.data(),
                                             out->scales.data(), out->sums.data());
  activation_kernels::reorder_scalar(out->codes.data(), n, out->codes_4bit.data(),
                                     out->codes_2bit.data());
}

}  // namespace streammoe
