// AVX-512 VNNI integer-dot kernels (compiled with -mavx512f/bw/vl/vnni, run only where the CPU
// has them): one 512-bit vpdpbusd multiplies a whole 64-element superblock of unsigned codes by
// its signed activation bytes, four products summed into each of 16 int32 lanes. Symmetric
// 8-bit codes are made unsigned (c + 128) first (see int8_kernels_x86.h).
//
// Unpacking 64 codes: 4-bit: the 32 packed bytes broadcast to both halves, the upper half
// shifted right by 4, masked: [low nibbles | high nibbles]. 2-bit: the 16 packed bytes broadcast
// to the four quarters, quarter j shifted right by 2j, masked: [pair 0 | 1 | 2 | 3]. Both match
// the activation orders of activation_quant.h.
#if defined(STREAMMOE_HAVE_AVX512VNNI)
#include "engine/ops/int8_kernels.h"
#include "engine/ops/int8_kernels_x86.h"

// GCC 12 warns falsely inside its own AVX-512 intrinsics that start from _mm512_undefined_*
// ("'__Y' may be used uninitialized", GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace streammoe::int8_kernels {
namespace {

template <int kBits, bool kSymmetric, int kGroup>
void rows_512(const Problem& p, int64_t begin, int64_t end) {
  constexpr int kOffset = code_offset<kBits>(kSymmetric, /*codes_signed=*/false);
  constexpr int kSuperBytes = 8 * kBits;
  const int64_t groups = p.cols / kGroup;
  const int64_t row_bytes = p.cols * kBits / 8;
  const int64_t superblocks = p.cols / 64;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const __m512i two_bits = _mm512_set1_epi8(0x03);
  const __m512i nibble_shifts = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
  const __m512i pair_shifts = _mm512_setr_epi64(0, 0, 2, 2, 4, 4, 6, 6);
  // Groups of 32: which of the superblock's two groups each int32 lane belongs to.
  const __m512i pattern =
      kBits == 4   ? _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1)
      : kBits == 2 ? _mm512_setr_epi32(0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1)
                   : _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);

  auto codes_of = [&](const uint8_t* bytes) {
    if constexpr (kBits == 4) {
      const __m512i packed = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes)));
      return _mm512_and_si512(_mm512_srlv_epi64(packed, nibble_shifts), nibble);
    } else if constexpr (kBits == 2) {
      const __m512i packed = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
      return _mm512_and_si512(_mm512_srlv_epi64(packed, pair_shifts), two_bits);
    } else {
      const __m512i c = _mm512_loadu_si512(bytes);
      return kSymmetric ? _mm512_xor_si512(c, _mm512_set1_epi8(-128)) : c;
    }
  };
  // Integer dot of superblock sb accumulated onto acc.
  auto superblock_dot = [&](const uint8_t* row, int64_t sb, __m512i acc) {
    return _mm512_dpbusd_epi32(acc, codes_of(row + sb * kSuperBytes), _mm512_loadu_si512(p.x_codes + sb * 64));
  };

  alignas(64) float factors[kGroupTile];
  RowSums sums(p.y);
  for (int64_t r = begin; r < end; ++r) {
    const uint8_t* row = reinterpret_cast<const uint8_t*>(p.q) + r * row_bytes;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    float scalar = 0.0f;
    for (int64_t g0 = 0; g0 < groups; g0 += kGroupTile) {
      const int64_t n = groups - g0 < kGroupTile ? groups - g0 : kGroupTile;
      const __m256 bias = factors_and_bias<kSymmetric, kOffset>(p, r, g0, n, factors, &scalar);
      acc1 = _mm512_add_ps(acc1, _mm512_zextps256_ps512(bias));
      if constexpr (kGroup == 32) {
        const int64_t sb0 = g0 / 2;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
          prefetch_ahead<2 * kSuperBytes>(row + (sb0 + i / 2) * kSuperBytes);
          const __m512i dot0 = superblock_dot(row, sb0 + i / 2, _mm512_setzero_si512());
          const __m512i dot1 = superblock_dot(row, sb0 + i / 2 + 1, _mm512_setzero_si512());
          const __m128 pairs = _mm_loadu_ps(factors + i);
          const __m512 factor0 = _mm512_permutexvar_ps(pattern, _mm512_castps128_ps512(pairs));
          const __m512 factor1 = _mm512_permutexvar_ps(
              _mm512_add_epi32(pattern, _mm512_set1_epi32(2)), _mm512_castps128_ps512(pairs));
          acc0 = _mm512_fmadd_ps(factor0, _mm512_cvtepi32_ps(dot0), acc0);
          acc1 = _mm512_fmadd_ps(factor1, _mm512_cvtepi32_ps(dot1), acc1);
        }
        for (; i + 2 <= n; i += 2) {
          const __m512i dot = superblock_dot(row, sb0 + i / 2, _mm512_setzero_si512());
          const __m128 pair = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(factors + i)));
          acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(pattern, _mm512_castps128_ps512(pair)),
                                 _mm512_cvtepi32_ps(dot), acc0);
        }
        if (i < n) {  // the last 32 columns of a row of 64n + 32
          const int32_t dot = tail32_dot<kBits, kSymmetric, kOffset>(
              row + superblocks * kSuperBytes, p.x_codes + superblocks * 64);
          scalar += factors[i] * static_cast<float>(dot);
        }
      } else {
        constexpr int kPerGroup = kGroup / 64;
        int64_t i = 0;
        for (; i + 2 <= n; i += 2) {
          prefetch_ahead<2 * kPerGroup * kSuperBytes>(row + (g0 + i) * kPerGroup * kSuperBytes);
          __m512i dot0 = _mm512_setzero_si512(), dot1 = _mm512_setzero_si512();
          for (int k = 0; k < kPerGroup; ++k) {
            dot0 = superblock_dot(row, (g0 + i) * kPerGroup + k, dot0);
            dot1 = superblock_dot(row, (g0 + i + 1) * kPerGroup + k, dot1);
          }
          acc0 = _mm512_fmadd_ps(_mm512_set1_ps(factors[i]), _mm512_cvtepi32_ps(dot0), acc0);
          acc1 = _mm512_fmadd_ps(_mm512_set1_ps(factors[i + 1]), _mm512_cvtepi32_ps(dot1), acc1);
        }
        if (i < n) {
          __m512i dot = _mm512_setzero_si512();
          for (int k = 0; k < kPerGroup; ++k) dot = superblock_dot(row, (g0 + i) * kPerGroup + k, dot);
          acc0 = _mm512_fmadd_ps(_mm512_set1_ps(factors[i]), _mm512_cvtepi32_ps(dot), acc0);
        }
      }
    }
    const __m512 acc = _mm512_add_ps(acc0, acc1);
    const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
    sums.add(r, _mm256_add_ps(_mm512_castps512_ps256(acc), high), scalar);
  }
  sums.flush();
}

template <int kBits, bool kSymmetric>
void by_group(const Problem& p, int64_t begin, int64_t end) {
  if (p.group_size == 32) return rows_512<kBits, kSymmetric, 32>(p, begin, end);
  if (p.group_size == 64) return rows_512<kBits, kSymmetric, 64>(p, begin, end);
  return rows_512<kBits, kSymmetric, 128>(p, begin, end);
}

}  // namespace

void rows_avx512vnni(const Problem& p, int64_t begin, int64_t end) {
  if (p.bits == 8 && p.symmetric) return by_group<8, true>(p, begin, end);
  if (p.bits == 8) return by_group<8, false>(p, begin, end);
  if (p.bits == 4) return by_group<4, false>(p, begin, end);
  return by_group<2, false>(p, begin, end);
}

}  // namespace streammoe::int8_kernels
#endif  // STREAMMOE_HAVE_AVX512VNNI
