#pragma once
// Counter-based random numbers: value i of a stream is a pure function of (stream seed, i), so a
// tensor filled in chunks, in any order, on any number of threads, comes out bit-identical.
#include <cstdint>

namespace streammoe {

// splitmix64's finaliser: a bijective 64-bit mix.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t stream_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return mix64(mix64(mix64(seed ^ mix64(a)) ^ b) ^ c);
}

inline uint64_t random_bits(uint64_t stream, uint64_t index) {
  return mix64(stream + index * 0xd1b54a32d192ed03ull);
}

// Uniform in [0, 1).
inline float uniform01(uint64_t bits) { return static_cast<float>(bits >> 40) * 0x1p-24f; }

// Approximately standard normal: Irwin-Hall sum of four 16-bit uniforms, standardised. Bounded at
// +-3.46, which is all a random-weight model needs, and one mix per value.
inline float approx_normal(uint64_t bits) {
  float sum = 0.0f;
  for (int k = 0; k < 4; ++k) sum += static_cast<float>((bits >> (16 * k)) & 0xffff) * 0x1p-16f;
  return (sum - 2.0f) * 1.7320508f;
}

}  // namespace streammoe
