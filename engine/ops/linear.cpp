#include "engine/ops/linear.h"

#include <algorithm>
#include <vector>

#include "engine/ops/dense_matvec.h"
#include "engine/ops/int8_kernels.h"
#include "engine/ops/int8_matvec.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

// Below this many weight bytes a product is done on the calling thread: waking the pool costs
// more than it saves (measured: 2 threads made the 192-wide tiny model 6x slower).
constexpr int64_t kMinParallelBytes = 256 * 1024;

int64_t weight_bytes(const LinearRef& w) {
  if (w.quantized()) return quant_bytes(w.quant.rows, w.quant.cols, w.quant.format()).total();
  return w.dense.rows * w.dense.cols * static_cast<int64_t>(dtype_size(w.dense.dtype));
}

// linear_batch's tile of W: small enough to stay in the L2 cache (512 KiB per core or more on
// the CPUs we run on) beside the batch's activations while every x meets it.
constexpr int64_t kTileBytes = 64 * 1024;

// Calls tile(begin, end) for every tile [begin, end) of W's rows, tiles split over `pool`. Tiles
// are whole multiples of 8 rows.
template <typename Tile>
void over_row_tiles(int64_t rows, int64_t row_bytes, ThreadPool* pool, const Tile& tile_fn) {
  const int64_t tile = std::max<int64_t>(8, kTileBytes / std::max<int64_t>(row_bytes, 1) / 8 * 8);
  const auto tiles = [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += tile) tile_fn(b, std::min(end, b + tile));
  };
  if (pool && pool->size() > 1) {
    pool->parallel_for(rows, tiles);
  } else {
    tiles(0, rows);
  }
}

}  // namespace

void linear(const LinearRef& w, std::span<const float> x, std::span<float> y, DequantMode mode,
            ThreadPool* pool, MatvecPath path) {
  if (weight_bytes(w) < kMinParallelBytes) pool = nullptr;
  if (!w.quantized()) return dense_matvec(w.dense, x, y, pool);
  if (path == MatvecPath::kInt8) return quant_matvec_int8(w.quant, x, y, pool);
  quant_matvec(w.quant, x, y, mode, pool);
}

void linear(const LinearRef& w, std::span<const float> x, const QuantizedActivation& xq,
            std::span<float> y, ThreadPool* pool) {
  if (static_cast<int64_t>(x.size()) != xq.cols)
    fail("linear: x has {} values but its quantisation {}", x.size(), xq.cols);
  if (weight_bytes(w) < kMinParallelBytes) pool = nullptr;
  if (!w.quantized()) return dense_matvec(w.dense, x, y, pool);
  quant_matvec_int8(w.quant, xq, y, pool);
}

void row_to_f32(const LinearRef& w, int64_t row, std::span<float> out) {
  if (w.quantized()) return dequantize_row(w.quant, row, out);
  if (static_cast<int64_t>(out.size()) != w.dense.cols)
    fail("row_to_f32: output has {} values for {} columns", out.size(), w.dense.cols);
  row_to_f32(w.dense, row, out);
}

const QuantizedActivation& SharedActivation::quantized(int block_size) {
  if (quantized_block_ != block_size) {
    quantized_block_ = 0;  // stays 0 if quantising throws
    quantize_activation(x_, block_size, &quantized_);
    quantized_block_ = block_size;
  }
  return quantized_;
}

void linear(const LinearRef& w, SharedActivation& x, std::span<float> y, DequantMode mode,
            ThreadPool* pool, MatvecPath path) {
  if (path == MatvecPath::kF32 || !w.quantized()) return linear(w, x.values(), y, mode, pool, path);
  check_int8_matvec_weight(w.quant, "linear");
  if (static_cast<int64_t>(x.values().size()) != w.quant.cols)
    fail("linear: W [{}, {}] met x of {} values", w.quant.rows, w.quant.cols, x.values().size());
  linear(w, x.values(), x.quantized(w.quant.group_size), y, pool);
}

std::span<SharedActivation> bind_rows(std::vector<SharedActivation>& acts, std::span<const float> x, int64_t width) {
  const size_t T = x.size() / static_cast<size_t>(width);
  if (acts.size() < T) acts.resize(T);
  for (size_t t = 0; t < T; ++t) acts[t].bind(x.subspan(t * width, width));
  return {acts.data(), T};
}

void linear_batch(const LinearRef& w, std::span<SharedActivation* const> xs, std::span<const std::span<float>> ys,
                  DequantMode mode, ThreadPool* pool, MatvecPath path) {
  if (xs.size() != ys.size()) fail("linear_batch: {} activations for {} outputs", xs.size(), ys.size());
  for (size_t i = 0; i < xs.size(); ++i)
    if (static_cast<int64_t>(xs[i]->values().size()) != w.cols() || static_cast<int64_t>(ys[i].size()) != w.rows())
      fail("linear_batch: W [{}, {}] met x of {} values into y of {}", w.rows(), w.cols(), xs[i]->values().size(),
           ys[i].size());
  if (xs.size() == 1) return linear(w, *xs[0], ys[0], mode, pool, path);
  const int64_t bytes = weight_bytes(w), row_bytes = bytes / std::max<int64_t>(w.rows(), 1);
  if (bytes * static_cast<int64_t>(xs.size()) < kMinParallelBytes) pool = nullptr;
  const size_t n = xs.size();

  if (!w.quantized()) {
    const KernelIsa isa = best_kernel_isa();
    return over_row_tiles(w.rows(), row_bytes, pool, [&](int64_t b, int64_t e) {
      for (size_t i = 0; i < n; ++i)
        dense_matvec_rows(w.dense, xs[i]->values().data(), ys[i].data(), isa, b, e);
    });
  }
  if (path == MatvecPath::kInt8) {
    check_int8_matvec_weight(w.quant, "linear_batch");
    const KernelIsa isa = best_int8_kernel_isa();
    // The calling thread's buffers, named here so that the pool's threads see them (a
    // thread_local named inside the lambda would be each worker's own, empty one).
    thread_local std::vector<int8_kernels::Problem> problems_buffer;
    std::vector<int8_kernels::Problem>& problems = problems_buffer;
    problems.resize(n);
    for (size_t i = 0; i < n; ++i)
      problems[i] = int8_kernels::problem_of(w.quant, xs[i]->quantized(w.quant.group_size), ys[i],
                                             isa != KernelIsa::kScalar);
    return over_row_tiles(w.rows(), row_bytes, pool, [&](int64_t b, int64_t e) {
      quant_matvec_int8_rows_shared(std::span(problems).first(n), isa, b, e);
    });
  }
  check_quant_mat(w.quant, "linear_batch");
  const KernelIsa isa = best_kernel_isa();
  thread_local std::vector<PreparedX> prepared_buffer;  // as problems_buffer above
  std::vector<PreparedX>& prepared = prepared_buffer;
  if (prepared.size() < n) prepared.resize(n);
  for (size_t i = 0; i < n; ++i) prepare_x(w.quant, xs[i]->values(), mode, isa, &prepared[i]);
  over_row_tiles(w.rows(), row_bytes, pool, [&](int64_t b, int64_t e) {
    for (size_t i = 0; i < n; ++i)
      quant_matvec_rows(w.quant, prepared[i], ys[i].data(), mode, isa, b, e);
  });
}

void linear_batch(const LinearRef& w, std::span<SharedActivation> xs, std::span<float> y, DequantMode mode,
                  ThreadPool* pool, MatvecPath path) {
  const size_t n = xs.size(), rows = static_cast<size_t>(w.rows());
  if (y.size() != n * rows) fail("linear_batch: {} outputs for {} activations of W [{}, {}]", y.size(), n, rows, w.cols());
  thread_local std::vector<SharedActivation*> x_ptrs;
  thread_local std::vector<std::span<float>> y_rows;
  x_ptrs.clear();
  y_rows.clear();
  for (size_t i = 0; i < n; ++i) {
    x_ptrs.push_back(&xs[i]);
    y_rows.push_back(y.subspan(i * rows, rows));
  }
  linear_batch(w, x_ptrs, y_rows, mode, pool, path);
}

}  // namespace streammoe
