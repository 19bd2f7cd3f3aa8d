// Microbenchmarks of the matvec kernels on expert-shaped matrices, reporting the bandwidth of
// weight bytes consumed (packed codes + scales + biases, or the dense weights).
//
// Two working sets:
//   hot:  one matrix, read again every iteration (it stays in L2/L3: the kernel's compute bound)
//   cold: a rotation of copies totalling kColdWorkingSetBytes, well past the last-level cache,
//         so every iteration reads its weights from DRAM (as a freshly streamed expert would).
//
// Names: <format>/<mode>/<isa>/t<threads>/<set>/<rows>x<cols>, e.g. q4/fma/avx2/t1/hot/1024x4096.
// Formats: q4, q2 (affine, the experts), q8 (affine) and q8s (symmetric): groups of 64.
// Modes: naive and fma dequantise to f32 (quant_matvec.h); int8 quantises x per call and takes
// integer dots (int8_matvec.h), so its time includes quantising x.
// Qwen3.5-397B-A17B experts (hidden 4096, moe_intermediate 1024): gate/up are 1024x4096 and down
// is 4096x1024. Qwen3.5-35B-A3B experts (hidden 2048, moe_intermediate 512): 512x2048 and
// 2048x512; its lm_head is 248320x2048, benchmarked as a 32768-row slice (64 MiB at 8 bits,
// twice the L3, so it streams from DRAM as the whole lm_head would).
//
// act/quantize/<isa>/<cols> times quantize_activation alone: the cost the int8 mode pays once
// per x, which a caller reusing a QuantizedActivation (gate and up of each expert) pays once.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/ops/activation_quant.h"
#include "engine/ops/dense_matvec.h"
#include "engine/ops/int8_matvec.h"
#include "engine/ops/quant_matvec.h"
#include "engine/util/dtype.h"
#include "engine/util/thread_pool.h"

namespace streammoe {
namespace {

constexpr int64_t kColdWorkingSetBytes = int64_t{192} << 20;  // 6x the 32 MiB L3 of the dev box

struct Shape {
  int64_t rows;
  int64_t cols;
};
const Shape kExpertShapes[] = {{1024, 4096}, {4096, 1024}};
const Shape kSmallExpertShapes[] = {{512, 2048}, {2048, 512}};  // Qwen3.5-35B-A3B
const Shape kLmHeadSlice = {32768, 2048};                        // of Qwen3.5-35B-A3B's 248320

// A quantised-matvec formulation: f32 dequantisation (naive, fma) or integer dots.
struct Path {
  const char* name;
  bool int8;
  DequantMode mode;
};
const Path kPaths[] = {{"naive", false, DequantMode::kNaive},
                       {"fma", false, DequantMode::kFma},
                       {"int8", true, DequantMode::kFma}};

std::vector<float> random_vector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

int copies_for(int64_t bytes, bool cold) {
  return cold ? static_cast<int>(std::max<int64_t>(2, kColdWorkingSetBytes / bytes)) : 1;
}

// One quantised matrix and `copies` byte-identical copies of its arrays.
struct QuantSet {
  QuantMatrix original;
  std::vector<QuantMatrix> copies;
};

// Codes drawn at random rather than quantised from f32 (the speed does not depend on them, and
// the lm_head slice would need 256 MiB of f32 first); scales and biases of a plausible size.
QuantMatrix random_quant_matrix(Shape s, const QuantFormat& format) {
  QuantMatrix m;
  m.bits = format.bits;
  m.group_size = format.group_size;
  m.rows = s.rows;
  m.cols = s.cols;
  m.scheme = format.scheme;
  const QuantBytes bytes = quant_bytes(s.rows, s.cols, format);
  std::mt19937 rng(5);
  m.q.resize(bytes.q / 4);
  for (uint32_t& word : m.q) word = rng() & (format.scheme == QuantScheme::kSymmetric ? 0x7f7f7f7fu : ~0u);
  m.scales.assign(bytes.scales / 2, f32_to_bf16(0.01f));
  m.biases.assign(bytes.biases / 2, f32_to_bf16(-0.08f));
  return m;
}

QuantSet make_quant_set(Shape s, const QuantFormat& format, int copies) {
  QuantSet set;
  if (format.bits == 8)
    set.original = random_quant_matrix(s, format);
  else  // as this benchmark always has
    set.original = quantize_rows(random_vector(s.rows * s.cols, 1), s.rows, s.cols, format.bits, 64);
  set.copies.assign(copies, set.original);
  return set;
}

void run_quant(benchmark::State& state, Shape s, QuantFormat format, Path path, KernelIsa isa,
               int threads, bool cold) {
  const QuantBytes bytes = quant_bytes(s.rows, s.cols, format);
  const QuantSet set = make_quant_set(s, format, copies_for(bytes.total(), cold));
  std::unique_ptr<ThreadPool> pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  const std::vector<float> x = random_vector(s.cols, 2);
  std::vector<float> y(s.rows);
  size_t next = 0;
  for (auto _ : state) {
    if (path.int8)
      quant_matvec_int8(set.copies[next].ref(), x, y, isa, pool.get());
    else
      quant_matvec(set.copies[next].ref(), x, y, path.mode, isa, pool.get());
    next = next + 1 == set.copies.size() ? 0 : next + 1;
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * bytes.total());
}

void run_quantize_activation(benchmark::State& state, int64_t cols, KernelIsa isa) {
  const std::vector<float> x = random_vector(cols, 2);
  QuantizedActivation q;
  for (auto _ : state) {
    quantize_activation(x, 64, isa, &q);
    benchmark::DoNotOptimize(q.codes.data());
    benchmark::ClobberMemory();
  }
}

void run_dense(benchmark::State& state, Shape s, DType dtype, KernelIsa isa, int threads,
               bool cold) {
  const int64_t element_bytes = dtype == DType::kF32 ? 4 : 2;
  const int64_t bytes = s.rows * s.cols * element_bytes;
  const int copies = copies_for(bytes, cold);
  // The values do not matter to the speed; fill with small finite numbers of the dtype.
  std::vector<char> data(bytes * copies);
  const std::vector<float> w = random_vector(s.rows * s.cols, 3);
  for (int64_t i = 0; i < s.rows * s.cols; ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(data.data() + i * 4, &w[i], 4);
    } else {
      const uint16_t h = dtype == DType::kBF16 ? f32_to_bf16(w[i]) : f32_to_f16(w[i]);
      std::memcpy(data.data() + i * 2, &h, 2);
    }
  }
  for (int c = 1; c < copies; ++c) std::memcpy(data.data() + c * bytes, data.data(), bytes);
  std::unique_ptr<ThreadPool> pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  const std::vector<float> x = random_vector(s.cols, 2);
  std::vector<float> y(s.rows);
  int next = 0;
  for (auto _ : state) {
    const MatRef ref{dtype, data.data() + next * bytes, s.rows, s.cols};
    dense_matvec(ref, x, y, isa, pool.get());
    next = next + 1 == copies ? 0 : next + 1;
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}

const char* set_name(bool cold) { return cold ? "cold" : "hot"; }

// The cost of handing a trivial task to the pool and waiting for it: the floor under every
// threaded matvec above.
void run_pool_dispatch(benchmark::State& state, int threads) {
  ThreadPool pool(threads);
  std::vector<int64_t> touched(64);
  for (auto _ : state) {
    pool.parallel_for(static_cast<int64_t>(touched.size()), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) ++touched[i];
    });
    benchmark::ClobberMemory();
  }
}

// On a machine shared with other processes the fastest repetition is the best estimate of what
// the kernel itself costs (run with --benchmark_repetitions=N to get it).
double fastest(const std::vector<double>& samples) {
  return *std::min_element(samples.begin(), samples.end());
}

std::string format_name(const QuantFormat& format) {
  return fmt::format("q{}{}", format.bits, format.scheme == QuantScheme::kSymmetric ? "s" : "");
}

// Every path on every instruction set it has here, 1 and 2 threads.
void register_quant(Shape s, const QuantFormat& format, bool cold) {
  for (const Path& path : kPaths) {
    for (KernelIsa isa : kAllKernelIsas) {
      const std::span<const KernelIsa> family =
          path.int8 ? std::span<const KernelIsa>(kInt8KernelIsas) : std::span<const KernelIsa>(kF32KernelIsas);
      if (std::find(family.begin(), family.end(), isa) == family.end() || !kernel_isa_available(isa))
        continue;
      for (int threads : {1, 2}) {
        const std::string name =
            fmt::format("{}/{}/{}/t{}/{}/{}x{}", format_name(format), path.name,
                        enum_name(isa), threads, set_name(cold), s.rows, s.cols);
        benchmark::RegisterBenchmark(name.c_str(), run_quant, s, format, path, isa, threads, cold)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond)
            ->ComputeStatistics("min", fastest);
      }
    }
  }
}

void register_all() {
  for (int threads : {1, 2})
    benchmark::RegisterBenchmark(fmt::format("pool/dispatch/t{}", threads).c_str(),
                                 run_pool_dispatch, threads)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond)
        ->ComputeStatistics("min", fastest);
  for (KernelIsa isa : kInt8KernelIsas) {
    if (!kernel_isa_available(isa)) continue;
    for (int64_t cols : {512, 2048, 4096})
      benchmark::RegisterBenchmark(
          fmt::format("act/quantize/{}/{}", enum_name(isa), cols).c_str(),
          run_quantize_activation, cols, isa)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond)
          ->ComputeStatistics("min", fastest);
  }
  std::vector<KernelIsa> isas = {KernelIsa::kScalar};
  if (kernel_isa_available(KernelIsa::kAvx2)) isas.push_back(KernelIsa::kAvx2);
  for (bool cold : {false, true}) {
    for (Shape s : kExpertShapes)
      for (int bits : {4, 2}) register_quant(s, {bits, 64, QuantScheme::kAffine}, cold);
    for (Shape s : kSmallExpertShapes)
      for (int bits : {4, 2}) register_quant(s, {bits, 64, QuantScheme::kAffine}, cold);
    if (cold) {  // resident weights: the lm_head is read from DRAM once per token
      register_quant(kLmHeadSlice, {8, 64, QuantScheme::kAffine}, cold);
      register_quant(kLmHeadSlice, {8, 64, QuantScheme::kSymmetric}, cold);
      register_quant(kLmHeadSlice, {4, 64, QuantScheme::kAffine}, cold);
      for (KernelIsa isa : isas)  // the bf16 lm_head it would replace
        for (int threads : {1, 2})
          benchmark::RegisterBenchmark(
              fmt::format("BF16/dense/{}/t{}/cold/{}x{}", enum_name(isa), threads,
                          kLmHeadSlice.rows, kLmHeadSlice.cols)
                  .c_str(),
              run_dense, kLmHeadSlice, DType::kBF16, isa, threads, true)
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond)
              ->ComputeStatistics("min", fastest);
    }
    for (Shape s : kExpertShapes) {
      for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
        for (KernelIsa isa : isas) {
          for (int threads : {1, 2}) {
            const std::string name =
                fmt::format("{}/dense/{}/t{}/{}/{}x{}", enum_name(dtype), enum_name(isa),
                            threads, set_name(cold), s.rows, s.cols);
            benchmark::RegisterBenchmark(name.c_str(), run_dense, s, dtype, isa, threads, cold)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond)
                ->ComputeStatistics("min", fastest);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace streammoe

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  streammoe::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
