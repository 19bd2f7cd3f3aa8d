#include "engine/ops/int8_matvec.h"

#include <algorithm>

#include "engine/ops/int8_kernels.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {

int8_kernels::Problem int8_kernels::problem_of(const QuantMatRef& w, const QuantizedActivation& x,
                                               std::span<float> y, bool simd_order) {
  Problem p;
  p.q = w.q;
  p.scales = w.scales;
  p.biases = w.symmetric() ? nullptr : w.biases;
  p.cols = w.cols;
  p.bits = w.bits;
  p.group_size = w.group_size;
  p.symmetric = w.symmetric();
  p.x_codes = simd_order ? x.simd_codes(w.bits) : x.codes.data();
  p.x_scales = x.scales.data();
  p.x_sums = x.sums.data();
  p.y = y.data();
  return p;
}

void quant_matvec_int8_rows(const int8_kernels::Problem& p, KernelIsa isa, int64_t begin, int64_t end) {
  switch (isa) {
#if defined(STREAMMOE_HAVE_AVX512VNNI)
    case KernelIsa::kAvx512Vnni:
      return int8_kernels::rows_avx512vnni(p, begin, end);
#endif
#if defined(STREAMMOE_HAVE_AVXVNNI)
    case KernelIsa::kAvxVnni:
      return int8_kernels::rows_avxvnni(p, begin, end);
#endif
#if defined(STREAMMOE_HAVE_AVX2)
    case KernelIsa::kAvx2:
      return int8_kernels::rows_avx2(p, begin, end);
#endif
    default:
      return int8_kernels::rows_scalar(p, begin, end);
  }
}

void quant_matvec_int8_rows_shared(std::span<const int8_kernels::Problem> ps, KernelIsa isa,
                                   int64_t begin, int64_t end) {
#if defined(STREAMMOE_HAVE_AVX512VNNI)
  if (isa == KernelIsa::kAvx512Vnni) {
    for (size_t i = 0; i < ps.size(); i += int8_kernels::kMaxSharedX)
      int8_kernels::rows_avx512vnni_shared(
          ps.data() + i,
          static_cast<int>(std::min<size_t>(int8_kernels::kMaxSharedX, ps.size() - i)), begin, end);
    return;
  }
#endif
  for (const int8_kernels::Problem& p : ps) quant_matvec_int8_rows(p, isa, begin, end);
}

void check_int8_matvec_weight(const QuantMatRef& w, const char* what) {
  check_quant_mat(w, what);
  if (w.group_size != 32 && w.group_size != 64 && w.group_size != 128)
    fail("{}: the int8 kernels take groups of 32, 64 or 128, not {}", what, w.group_size);
}

void quant_matvec_int8(const QuantMatRef& w, const QuantizedActivation& x, std::span<float> y,
                       KernelIsa isa, ThreadPool* pool) {
  check_int8_matvec_weight(w, "quant_matvec_int8");
  if (x.cols != w.cols || x.block_size != w.group_size ||
      static_cast<int64_t>(x.codes.size()) != x.cols ||
      static_cast<int64_t>(x.scales.size()) != x.cols / w.group_size ||
      static_cast<int64_t>(y.size()) != w.rows)
    fail(
        "quant_matvec_int8: shape mismatch: W [{}, {}] in groups of {}, x {} values in blocks of "
        "{}, y {}",
        w.rows, w.cols, w.group_size, x.cols, x.block_size, y.size());
  require_kernel_isa(isa, kInt8KernelIsas, "quant_matvec_int8");

  const int8_kernels::Problem p = int8_kernels::problem_of(w, x, y, isa != KernelIsa::kScalar);
  if (pool && pool->size() > 1) {
    pool->parallel_for(w.rows, [&](int64_t begin, int64_t end) { quant_matvec_int8_rows(p, isa, begin, end); });
  } else {
    quant_matvec_int8_rows(p, isa, 0, w.rows);
  }
}

void quant_matvec_int8(const QuantMatRef& w, const QuantizedActivation& x, std::span<float> y,
                       ThreadPool* pool) {
  quant_matvec_int8(w, x, y, best_int8_kernel_isa(), pool);
}

void quant_matvec_int8(const QuantMatRef& w, std::span<const float> x, std::span<float> y,
                       KernelIsa isa, ThreadPool* pool) {
  check_int8_matvec_weight(w, "quant_matvec_int8");
  if (static_cast<int64_t>(x.size()) != w.cols)
    fail("quant_matvec_int8: shape mismatch: W [{}, {}], x {}", w.rows, w.cols, x.size());
  // Reused across calls on this thread, as quant_matvec's group sums are.
  thread_local QuantizedActivation quantized;
  quantize_activation(x, w.group_size, isa, &quantized);
  quant_matvec_int8(w, quantized, y, isa, pool);
}

void quant_matvec_int8(const QuantMatRef& w, std::span<const float> x, std::span<float> y,
                       ThreadPool* pool) {
  quant_matvec_int8(w, x, y, best_int8_kernel_isa(), pool);
}

}  // namespace streammoe
