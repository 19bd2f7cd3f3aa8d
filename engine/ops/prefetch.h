#pragma once
// Software prefetch for the matvec kernels, which stream each weight once. A core's demand misses
// and hardware prefetches keep too few lines in flight to cover the memory latency: one thread of
// the AVX-512 VNNI int8 kernel read q4 512x2048 expert matrices at 7.6 GB/s, 10.9 with this
// (2 threads 13.1 -> 18.8 GB/s; the lm_head-sized 32768x2048 13.3 -> 21.4; bench/kernels_bench,
// cold set). 2-4 KiB ahead into L1 (locality 3, _MM_HINT_T0) measured best, 1 KiB or L2 less.
// Prefetches never fault: the lines past a matrix's end cost only their bandwidth.
#include <cstdint>

namespace streammoe {

inline constexpr int64_t kPrefetchBytes = 2048;

// Prefetches the lines kPrefetchBytes past the kBytes at `p` (at least one line): issued at the
// top of a loop iteration that reads those kBytes.
template <int64_t kBytes>
inline void prefetch_ahead(const void* p) {
  const char* bytes = static_cast<const char*>(p) + kPrefetchBytes;
  for (int64_t off = 0; off < kBytes; off += 64) __builtin_prefetch(bytes + off, 0, 3);
}

}  // namespace streammoe
