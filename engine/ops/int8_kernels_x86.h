#pragma once
// Internal to the x86 integer-dot kernel files (int8_kernels_avx2.cpp, _avxvnni.cpp,
// _avx512vnni.cpp), each compiled with its own instruction-set flags. Everything here is in an
// unnamed namespace on purpose: each file gets its own copy, compiled with its own flags, so the
// linker can never hand one file's AVX-512 code to another (see int8_kernels.h).
//
// Layout (activation_quant.h): the weight codes of every 64 elements are unpacked in the order
// of the activation's simd_codes(bits), so the kernels pair codes and activations as they load
// them. A 32-bit lane of an integer dot holds the sum of 4 consecutive code * activation bytes;
// with groups of 32 one 64-element superblock spans two groups, and which lanes belong to which
// group depends on the unpacking (see the lane patterns below).
//
// 8-bit codes do not fit the unsigned-times-signed byte products as they are: the AVX2 kernel
// makes affine codes signed (c - 128) and the VNNI kernels make symmetric codes unsigned
// (c + 128). Either way the kernel computes dot' = sum (c - offset) * a and compensates in the
// bias: bias' = bias + offset * scale, since scale * d * dot + bias * d * sum(a)
// = scale * d * dot' + (bias + offset * scale) * d * sum(a).
#include <immintrin.h>

#include <cstdint>

#include "engine/ops/prefetch.h"

namespace streammoe::int8_kernels {
namespace {

// Groups whose factors and bias terms are computed per pass (a bounded stack array).
constexpr int64_t kGroupTile = 256;

// 8 bf16 values widened to f32.
inline __m256 bf16x8_to_f32(const uint16_t* v) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

inline float bf16_value(uint16_t v) {
  return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(static_cast<int>(v) << 16)));
}

// Collects the f32 accumulators of up to 8 consecutive rows and reduces them together (one
// transposing tree of 7 hadds instead of a dependent horizontal sum per row, which on short
// rows, 2048x512 experts, costs as much as a third of the row).
class RowSums {
 public:
  explicit RowSums(float* y = nullptr) : y_(y) {}
  // Row `row`'s result is the sum of acc's lanes plus scalar.
  void add(int64_t row, __m256 acc, float scalar) {
    if (count_ == 0) first_ = row;
    sums_[count_] = acc;
    scalars_[count_] = scalar;
    if (++count_ == 8) flush();
  }
  void flush() {
    if (count_ == 0) return;
    for (int i = count_; i < 8; ++i) sums_[i] = _mm256_setzero_ps();
    const __m256 h0123 = _mm256_hadd_ps(_mm256_hadd_ps(sums_[0], sums_[1]), _mm256_hadd_ps(sums_[2], sums_[3]));
    const __m256 h4567 = _mm256_hadd_ps(_mm256_hadd_ps(sums_[4], sums_[5]), _mm256_hadd_ps(sums_[6], sums_[7]));
    const __m256 total = _mm256_add_ps(_mm256_permute2f128_ps(h0123, h4567, 0x20),
                                       _mm256_permute2f128_ps(h0123, h4567, 0x31));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, total);
    for (int i = 0; i < count_; ++i) y_[first_ + i] = lanes[i] + scalars_[i];
    count_ = 0;
  }

 private:
  float* y_;
  int64_t first_ = 0;
  int count_ = 0;
  __m256 sums_[8];
  float scalars_[8];
};

// The offset an 8-bit kernel subtracts from its codes (see above): +128 turns affine codes
// signed, -128 turns symmetric codes unsigned, 0 leaves them.
template <int kBits>
constexpr int code_offset(bool symmetric, bool codes_signed) {
  if (kBits != 8) return 0;
  if (codes_signed) return symmetric ? 0 : 128;
  return symmetric ? -128 : 0;
}

// sum (c - offset) * a over a last 32 elements (cols = 64n + 32), codes in `bytes`, activations
// in the 32-element order of activation_quant.h.
template <int kBits, bool kSymmetric, int kOffset>
int32_t tail32_dot(const uint8_t* bytes, const int8_t* x) {
  int32_t dot = 0;
  if constexpr (kBits == 4) {
    for (int k = 0; k < 16; ++k) dot += (bytes[k] & 15) * x[k] + (bytes[k] >> 4) * x[16 + k];
  } else if constexpr (kBits == 2) {
    for (int k = 0; k < 8; ++k)
      for (int j = 0; j < 4; ++j) dot += ((bytes[k] >> (2 * j)) & 3) * x[8 * j + k];
  } else {
    for (int k = 0; k < 32; ++k) {
      const int32_t c = kSymmetric ? static_cast<int8_t>(bytes[k]) : bytes[k];
      dot += (c - kOffset) * x[k];
    }
  }
  return dot;
}

// Per group of one row: factor_g = scale_g * d_g into `factors`; returns the lanes of
// sum (bias_g + offset * scale_g) * sum_g over the groups [g0, g0 + n), the groups past the last
// multiple of 8 added to *scalar.
template <bool kSymmetric, int kOffset>
__m256 factors_and_bias(const Problem& p, int64_t row, int64_t g0, int64_t n, float* factors,
                        float* scalar) {
  const int64_t groups = p.cols / p.group_size;
  const uint16_t* scales = p.scales + row * groups + g0;
  const uint16_t* biases = kSymmetric ? nullptr : p.biases + row * groups + g0;
  const float* x_scales = p.x_scales + g0;
  const float* x_sums = p.x_sums + g0;
  constexpr bool kHasBias = !kSymmetric || kOffset != 0;
  __m256 bias_acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 s = bf16x8_to_f32(scales + i);
    _mm256_storeu_ps(factors + i, _mm256_mul_ps(s, _mm256_loadu_ps(x_scales + i)));
    if constexpr (kHasBias) {
      __m256 bias;
      if constexpr (kSymmetric)
        bias = _mm256_mul_ps(_mm256_set1_ps(static_cast<float>(kOffset)), s);
      else if constexpr (kOffset != 0)
        bias = _mm256_fmadd_ps(_mm256_set1_ps(static_cast<float>(kOffset)), s, bf16x8_to_f32(biases + i));
      else
        bias = bf16x8_to_f32(biases + i);
      bias_acc = _mm256_fmadd_ps(bias, _mm256_loadu_ps(x_sums + i), bias_acc);
    }
  }
  for (; i < n; ++i) {
    const float s = bf16_value(scales[i]);
    factors[i] = s * x_scales[i];
    if constexpr (kHasBias) {
      const float bias = (kSymmetric ? 0.0f : bf16_value(biases[i])) + static_cast<float>(kOffset) * s;
      *scalar += bias * x_sums[i];
    }
  }
  return bias_acc;
}

// The 256-bit kernel, for AVX2 (maddubs) and AVX-VNNI (vpdpbusd): Dot supplies
//   kCodesSigned: whether byte8 multiplies signed codes (AVX2) or unsigned ones (VNNI);
//   small(c0, a0, c1, a1): int32 lanes of c0 * a0 + c1 * a1, codes 0..15;
//   byte8(c, a): int32 lanes of (c - offset) * a for 32 raw 8-bit codes.
// Two accumulators take alternate groups so that consecutive multiply-adds do not wait on
// each other.
template <int kBits, bool kSymmetric, int kGroup, typename Dot>
void rows_256(const Problem& p, int64_t begin, int64_t end) {
  constexpr int kOffset = code_offset<kBits>(kSymmetric, Dot::kCodesSigned);
  constexpr int kSuperBytes = 8 * kBits;  // packed bytes of 64 elements
  const int64_t groups = p.cols / kGroup;
  const int64_t row_bytes = p.cols * kBits / 8;
  const int64_t superblocks = p.cols / 64;
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i two_bits = _mm256_set1_epi8(0x03);
  const __m256i shifts01 = _mm256_setr_epi64x(0, 0, 2, 2);
  const __m256i shifts23 = _mm256_setr_epi64x(4, 4, 6, 6);
  // Groups of 32, 2/4 bits: which of the superblock's two groups each int32 lane belongs to.
  const __m256i pattern = kBits == 4 ? _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)
                                     : _mm256_setr_epi32(0, 0, 1, 1, 0, 0, 1, 1);

  // Integer dots of superblock sb: for 2/4 bits one vector (lanes of both groups when groups
  // are 32); for 8 bits the first and second 32 elements apart.
  auto superblock_dots = [&](const uint8_t* row, int64_t sb, __m256i* d0, __m256i* d1) {
    const uint8_t* bytes = row + sb * kSuperBytes;
    const int8_t* x = p.x_codes + sb * 64;
    const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
    const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32));
    if constexpr (kBits == 4) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes));
      *d0 = Dot::small(_mm256_and_si256(packed, nibble), a0,
                       _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble), a1);
    } else if constexpr (kBits == 2) {
      const __m256i packed =
          _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
      *d0 = Dot::small(_mm256_and_si256(_mm256_srlv_epi64(packed, shifts01), two_bits), a0,
                       _mm256_and_si256(_mm256_srlv_epi64(packed, shifts23), two_bits), a1);
    } else {
      *d0 = Dot::template byte8<kSymmetric>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes)), a0);
      *d1 = Dot::template byte8<kSymmetric>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + 32)), a1);
    }
  };
  // acc += the superblock's two groups of 32, scaled by factors[0] and factors[1].
  auto add_group_pair = [&](const uint8_t* row, int64_t sb, const float* factors, __m256& acc) {
    __m256i d0, d1;
    superblock_dots(row, sb, &d0, &d1);
    if constexpr (kBits == 8) {
      const __m256 second = _mm256_mul_ps(_mm256_broadcast_ss(factors + 1), _mm256_cvtepi32_ps(d1));
      acc = _mm256_fmadd_ps(_mm256_broadcast_ss(factors), _mm256_cvtepi32_ps(d0), _mm256_add_ps(acc, second));
    } else {
      const __m128 pair = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(factors)));
      const __m256 factor = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(pair), pattern);
      acc = _mm256_fmadd_ps(factor, _mm256_cvtepi32_ps(d0), acc);
    }
  };
  // acc += the integer dot of group g (of 64 or 128) scaled by factor.
  auto add_group = [&](const uint8_t* row, int64_t g, const float* factor, __m256& acc) {
    constexpr int kPerGroup = kGroup / 64;
    __m256i dot = _mm256_setzero_si256();
    for (int k = 0; k < kPerGroup; ++k) {
      __m256i d0, d1;
      superblock_dots(row, g * kPerGroup + k, &d0, &d1);
      dot = _mm256_add_epi32(dot, kBits == 8 ? _mm256_add_epi32(d0, d1) : d0);
    }
    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(factor), _mm256_cvtepi32_ps(dot), acc);
  };

  alignas(32) float factors[kGroupTile];
  RowSums sums(p.y);
  for (int64_t r = begin; r < end; ++r) {
    const uint8_t* row = reinterpret_cast<const uint8_t*>(p.q) + r * row_bytes;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float scalar = 0.0f;
    for (int64_t g0 = 0; g0 < groups; g0 += kGroupTile) {
      const int64_t n = groups - g0 < kGroupTile ? groups - g0 : kGroupTile;
      acc1 = _mm256_add_ps(acc1, factors_and_bias<kSymmetric, kOffset>(p, r, g0, n, factors, &scalar));
      int64_t i = 0;
      if constexpr (kGroup == 32) {
        const int64_t sb0 = g0 / 2;
        for (; i + 4 <= n; i += 4) {
          prefetch_ahead<2 * kSuperBytes>(row + (sb0 + i / 2) * kSuperBytes);
          add_group_pair(row, sb0 + i / 2, factors + i, acc0);
          add_group_pair(row, sb0 + i / 2 + 1, factors + i + 2, acc1);
        }
        if (i + 2 <= n) {
          add_group_pair(row, sb0 + i / 2, factors + i, acc0);
          i += 2;
        }
        if (i < n) {  // the last 32 columns of a row of 64n + 32
          const int32_t dot = tail32_dot<kBits, kSymmetric, kOffset>(
              row + superblocks * kSuperBytes, p.x_codes + superblocks * 64);
          scalar += factors[i] * static_cast<float>(dot);
        }
      } else {
        for (; i + 2 <= n; i += 2) {
          prefetch_ahead<2 * (kGroup / 64) * kSuperBytes>(row +
                                                          (g0 + i) * (kGroup / 64) * kSuperBytes);
          add_group(row, g0 + i, factors + i, acc0);
          add_group(row, g0 + i + 1, factors + i + 1, acc1);
        }
        if (i < n) add_group(row, g0 + i, factors + i, acc0);
      }
    }
    sums.add(r, _mm256_add_ps(acc0, acc1), scalar);
  }
  sums.flush();
}

template <typename Dot>
void dispatch_256(const Problem& p, int64_t begin, int64_t end) {
  auto by_group = [&]<int kBits, bool kSymmetric>() {
    if (p.group_size == 32) return rows_256<kBits, kSymmetric, 32, Dot>(p, begin, end);
    if (p.group_size == 64) return rows_256<kBits, kSymmetric, 64, Dot>(p, begin, end);
    return rows_256<kBits, kSymmetric, 128, Dot>(p, begin, end);
  };
  if (p.bits == 8 && p.symmetric) return by_group.template operator()<8, true>();
  if (p.bits == 8) return by_group.template operator()<8, false>();
  if (p.bits == 4) return by_group.template operator()<4, false>();
  return by_group.template operator()<2, false>();
}

}  // namespace
}  // namespace streammoe::int8_kernels
