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

// Rows [begin, end) of kX problems that share one weight (ps[0]'s codes, scales and biases):
// each superblock of codes is unpacked once and dotted with every x. Per x the arithmetic is
// that of kX = 1, in the same order, so each y is bit-identical to its problem alone.
template <int kBits, bool kSymmetric, int kGroup, int kX>
void rows_512(const Problem* ps, int64_t begin, int64_t end) {
  const Problem& p = ps[0];
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

  // The 64 codes of superblock sb of a row, unpacked.
  auto codes_at = [&](const uint8_t* row, int64_t sb) {
    const uint8_t* bytes = row + sb * kSuperBytes;
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
  // acc + the integer dot of unpacked codes with x's activations of superblock sb.
  auto dot = [&](__m512i codes, int x, int64_t sb, __m512i acc) {
    return _mm512_dpbusd_epi32(acc, codes, _mm512_loadu_si512(ps[x].x_codes + sb * 64));
  };

  alignas(64) float factors[kX][kGroupTile];
  RowSums sums[kX];
  for (int x = 0; x < kX; ++x) sums[x] = RowSums(ps[x].y);
  for (int64_t r = begin; r < end; ++r) {
    const uint8_t* row = reinterpret_cast<const uint8_t*>(p.q) + r * row_bytes;
    __m512 acc0[kX], acc1[kX];
    float scalar[kX];
    for (int x = 0; x < kX; ++x) {
      acc0[x] = _mm512_setzero_ps();
      acc1[x] = _mm512_setzero_ps();
      scalar[x] = 0.0f;
    }
    for (int64_t g0 = 0; g0 < groups; g0 += kGroupTile) {
      const int64_t n = groups - g0 < kGroupTile ? groups - g0 : kGroupTile;
      for (int x = 0; x < kX; ++x) {
        const __m256 bias =
            factors_and_bias<kSymmetric, kOffset>(ps[x], r, g0, n, factors[x], &scalar[x]);
        acc1[x] = _mm512_add_ps(acc1[x], _mm512_zextps256_ps512(bias));
      }
      if constexpr (kGroup == 32) {
        const int64_t sb0 = g0 / 2;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
          prefetch_ahead<2 * kSuperBytes>(row + (sb0 + i / 2) * kSuperBytes);
          const __m512i codes0 = codes_at(row, sb0 + i / 2),
                        codes1 = codes_at(row, sb0 + i / 2 + 1);
          for (int x = 0; x < kX; ++x) {
            const __m512i dot0 = dot(codes0, x, sb0 + i / 2, _mm512_setzero_si512());
            const __m512i dot1 = dot(codes1, x, sb0 + i / 2 + 1, _mm512_setzero_si512());
            const __m128 pairs = _mm_loadu_ps(factors[x] + i);
            const __m512 factor0 = _mm512_permutexvar_ps(pattern, _mm512_castps128_ps512(pairs));
            const __m512 factor1 = _mm512_permutexvar_ps(
                _mm512_add_epi32(pattern, _mm512_set1_epi32(2)), _mm512_castps128_ps512(pairs));
            acc0[x] = _mm512_fmadd_ps(factor0, _mm512_cvtepi32_ps(dot0), acc0[x]);
            acc1[x] = _mm512_fmadd_ps(factor1, _mm512_cvtepi32_ps(dot1), acc1[x]);
          }
        }
        for (; i + 2 <= n; i += 2) {
          const __m512i codes = codes_at(row, sb0 + i / 2);
          for (int x = 0; x < kX; ++x) {
            const __m512i d = dot(codes, x, sb0 + i / 2, _mm512_setzero_si512());
            const __m128 pair =
                _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(factors[x] + i)));
            acc0[x] = _mm512_fmadd_ps(_mm512_permutexvar_ps(pattern, _mm512_castps128_ps512(pair)),
                                      _mm512_cvtepi32_ps(d), acc0[x]);
          }
        }
        if (i < n) {  // the last 32 columns of a row of 64n + 32
          for (int x = 0; x < kX; ++x) {
            const int32_t d = tail32_dot<kBits, kSymmetric, kOffset>(
                row + superblocks * kSuperBytes, ps[x].x_codes + superblocks * 64);
            scalar[x] += factors[x][i] * static_cast<float>(d);
          }
        }
      } else {
        constexpr int kPerGroup = kGroup / 64;
        int64_t i = 0;
        for (; i + 2 <= n; i += 2) {
          prefetch_ahead<2 * kPerGroup * kSuperBytes>(row + (g0 + i) * kPerGroup * kSuperBytes);
          __m512i dot0[kX], dot1[kX];
          for (int x = 0; x < kX; ++x) dot0[x] = dot1[x] = _mm512_setzero_si512();
          for (int k = 0; k < kPerGroup; ++k) {
            const int64_t sb0 = (g0 + i) * kPerGroup + k, sb1 = (g0 + i + 1) * kPerGroup + k;
            const __m512i codes0 = codes_at(row, sb0), codes1 = codes_at(row, sb1);
            for (int x = 0; x < kX; ++x) {
              dot0[x] = dot(codes0, x, sb0, dot0[x]);
              dot1[x] = dot(codes1, x, sb1, dot1[x]);
            }
          }
          for (int x = 0; x < kX; ++x) {
            acc0[x] = _mm512_fmadd_ps(_mm512_set1_ps(factors[x][i]), _mm512_cvtepi32_ps(dot0[x]),
                                      acc0[x]);
            acc1[x] = _mm512_fmadd_ps(_mm512_set1_ps(factors[x][i + 1]),
                                      _mm512_cvtepi32_ps(dot1[x]), acc1[x]);
          }
        }
        if (i < n) {
          __m512i d[kX];
          for (int x = 0; x < kX; ++x) d[x] = _mm512_setzero_si512();
          for (int k = 0; k < kPerGroup; ++k) {
            const int64_t sb = (g0 + i) * kPerGroup + k;
            const __m512i codes = codes_at(row, sb);
            for (int x = 0; x < kX; ++x) d[x] = dot(codes, x, sb, d[x]);
          }
          for (int x = 0; x < kX; ++x)
            acc0[x] =
                _mm512_fmadd_ps(_mm512_set1_ps(factors[x][i]), _mm512_cvtepi32_ps(d[x]), acc0[x]);
        }
      }
    }
    for (int x = 0; x < kX; ++x) {
      const __m512 acc = _mm512_add_ps(acc0[x], acc1[x]);
      const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
      sums[x].add(r, _mm256_add_ps(_mm512_castps512_ps256(acc), high), scalar[x]);
    }
  }
  for (int x = 0; x < kX; ++x) sums[x].flush();
}

template <int kBits, bool kSymmetric, int kX>
void by_group(const Problem* ps, int64_t begin, int64_t end) {
  if (ps[0].group_size == 32) return rows_512<kBits, kSymmetric, 32, kX>(ps, begin, end);
  if (ps[0].group_size == 64) return rows_512<kBits, kSymmetric, 64, kX>(ps, begin, end);
  return rows_512<kBits, kSymmetric, 128, kX>(ps, begin, end);
}

template <int kX>
void by_format(const Problem* ps, int64_t begin, int64_t end) {
  const Problem& p = ps[0];
  if (p.bits == 8 && p.symmetric) return by_group<8, true, kX>(ps, begin, end);
  if (p.bits == 8) return by_group<8, false, kX>(ps, begin, end);
  if (p.bits == 4) return by_group<4, false, kX>(ps, begin, end);
  return by_group<2, false, kX>(ps, begin, end);
}

}  // namespace

void rows_avx512vnni(const Problem& p, int64_t begin, int64_t end) { by_format<1>(&p, begin, end); }

static_assert(kMaxSharedX == 4, "rows_avx512vnni_shared instantiates 1 to 4 activations");

void rows_avx512vnni_shared(const Problem* ps, int n, int64_t begin, int64_t end) {
  switch (n) {
    case 1:
      return by_format<1>(ps, begin, end);
    case 2:
      return by_format<2>(ps, begin, end);
    case 3:
      return by_format<3>(ps, begin, end);
    default:
      return by_format<4>(ps, begin, end);
  }
}

}  // namespace streammoe::int8_kernels
#endif  // STREAMMOE_HAVE_AVX512VNNI
