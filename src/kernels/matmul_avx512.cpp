// The AVX-512 kernels (F, BW, VL): register-blocked dot products that stream W for a few rows of
// x, and an 8 x 32 packed GEMM tile for many.

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/matmul_kernels.hpp"
#include "ved/detail/parallel.hpp"

// GCC 12 reports the "undefined" source register of its own _mm512_reduce_add_ps as used
// uninitialized once the intrinsic is inlined under a target pragma.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#define VED_TARGET "avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,bmi,bmi2,lzcnt,popcnt"
#include "kernels/target_begin.inc"

namespace ved::nn::kernels {
namespace avx512 {
namespace {

// Loads 16 consecutive weights of a row as f32; `tail` loads the first `mask` lanes only.
struct LoadF32 {
  const float* w;
  __m512 operator()(int64_t off) const { return _mm512_loadu_ps(w + off); }
  __m512 tail(int64_t off, __mmask16 m) const { return _mm512_maskz_loadu_ps(m, w + off); }
};
struct LoadBF16 {
  const uint16_t* w;
  static __m512 widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  __m512 operator()(int64_t off) const {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + off)));
  }
  __m512 tail(int64_t off, __mmask16 m) const {
    return widen(_mm256_maskz_loadu_epi16(m, w + off));
  }
};
struct LoadI8 {
  const int8_t* w;
  static __m512 widen(__m128i b) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)); }
  __m512 operator()(int64_t off) const {
    return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + off)));
  }
  __m512 tail(int64_t off, __mmask16 m) const { return widen(_mm_maskz_loadu_epi8(m, w + off)); }
};

// out[m][n] = x[m] · w[n] for MR rows of x and NR rows of W (row stride K), 16 lanes at a time.
template <int MR, int NR, typename Load>
void dot_tile(const float* x, int64_t K, const Load* w, float* out, int64_t ldo) {
  __m512 acc[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) acc[m][n] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 wv[NR];
    for (int n = 0; n < NR; ++n) wv[n] = w[n](k);
    for (int m = 0; m < MR; ++m) {
      const __m512 xv = _mm512_loadu_ps(x + m * K + k);
      for (int n = 0; n < NR; ++n) acc[m][n] = _mm512_fmadd_ps(xv, wv[n], acc[m][n]);
    }
  }
  if (k < K) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (K - k)) - 1u);
    __m512 wv[NR];
    for (int n = 0; n < NR; ++n) wv[n] = w[n].tail(k, mask);
    for (int m = 0; m < MR; ++m) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + m * K + k);
      for (int n = 0; n < NR; ++n) acc[m][n] = _mm512_fmadd_ps(xv, wv[n], acc[m][n]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) out[m * ldo + n] = _mm512_reduce_add_ps(acc[m][n]);
}

// y[m, 0:64] = Σ_k x[m, k] · w[k, 0:64] for MR rows of x (row stride K) over a 64-column band
// of w (row stride ldw): each weight is loaded once for all MR rows.
constexpr int64_t kTransposedRows = 6;

template <int MR>
void axpy_band(const float* x, int64_t K, const float* w, int64_t ldw, float* y, int64_t ldy) {
  __m512 acc[MR][4];
  for (int m = 0; m < MR; ++m)
    for (int j = 0; j < 4; ++j) acc[m][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* wk = w + k * ldw;
    // The band's rows lie ldw apart; fetching a few rows ahead helps the hardware prefetcher.
    _mm_prefetch(reinterpret_cast<const char*>(wk + 8 * ldw), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(wk + 8 * ldw + 32), _MM_HINT_T0);
    __m512 wv[4];
    for (int j = 0; j < 4; ++j) wv[j] = _mm512_loadu_ps(wk + 16 * j);
    for (int m = 0; m < MR; ++m) {
      const __m512 xv = _mm512_set1_ps(x[m * K + k]);
      for (int j = 0; j < 4; ++j) acc[m][j] = _mm512_fmadd_ps(xv, wv[j], acc[m][j]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int j = 0; j < 4; ++j) _mm512_storeu_ps(y + m * ldy + 16 * j, acc[m][j]);
}

// Skinny product for f32 stored [K, N]: rows of W are columns of the output, so each thread
// takes a band of output columns and accumulates x[m, k] · W[k, band] over k in order, for up
// to kTransposedRows rows of x per pass over the band.
void skinny_transposed(const WeightView& w, const float* x, int64_t M, float* y) {
  const int64_t N = w.rows, K = w.cols;
  constexpr int64_t kBand = 64;
  parallel_for(0, (N + kBand - 1) / kBand, serial_blocks(kBand * K * M), [&](int64_t band) {
    const int64_t n0 = band * kBand, width = std::min(kBand, N - n0);
    if (width == kBand) {
      for (int64_t m0 = 0; m0 < M; m0 += kTransposedRows) {
        const int64_t mr = std::min(kTransposedRows, M - m0);
        const float* xm = x + m0 * K;
        float* ym = y + m0 * N + n0;
        switch (mr) {
          case 1:
            axpy_band<1>(xm, K, w.f32 + n0, w.stride, ym, N);
            break;
          case 2:
            axpy_band<2>(xm, K, w.f32 + n0, w.stride, ym, N);
            break;
          case 3:
            axpy_band<3>(xm, K, w.f32 + n0, w.stride, ym, N);
            break;
          case 4:
            axpy_band<4>(xm, K, w.f32 + n0, w.stride, ym, N);
            break;
          case 5:
            axpy_band<5>(xm, K, w.f32 + n0, w.stride, ym, N);
            break;
          default:
            axpy_band<6>(xm, K, w.f32 + n0, w.stride, ym, N);
        }
      }
      return;
    }
    for (int64_t m = 0; m < M; ++m) {
      float acc[kBand] = {};
      for (int64_t k = 0; k < K; ++k) {
        const float xv = x[m * K + k];
        const float* wk = w.f32 + k * w.stride + n0;
        for (int64_t j = 0; j < width; ++j) acc[j] += xv * wk[j];
      }
      std::copy(acc, acc + width, y + m * N + n0);
    }
  });
}

// 8 x 32 outputs in 16 registers: per k two loads of W, eight broadcasts of x and sixteen FMAs,
// so the FMA units, not the loads, set the pace.
constexpr int64_t kGemmRows = 8, kGemmCols = 32;

void gemm_panel(const float* xp, const float* wp, int64_t K, float* y, int64_t ldy, int64_t rows,
                int64_t cols) {
  __m512 acc[kGemmRows][2];
  for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m512 w0 = _mm512_load_ps(wp + k * kGemmCols),
                 w1 = _mm512_load_ps(wp + k * kGemmCols + 16);
    const float* xk = xp + k * kGemmRows;
#pragma GCC unroll 16
    for (int m = 0; m < kGemmRows; ++m) {
      const __m512 xv = _mm512_set1_ps(xk[m]);
      acc[m][0] = _mm512_fmadd_ps(xv, w0, acc[m][0]);
      acc[m][1] = _mm512_fmadd_ps(xv, w1, acc[m][1]);
    }
  }
  const __mmask16 lo = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1u);
  const __mmask16 hi = cols >= 32  ? __mmask16(0xFFFF)
                       : cols > 16 ? __mmask16((1u << (cols - 16)) - 1u)
                                   : __mmask16(0);
  for (int64_t m = 0; m < rows; ++m) {
    _mm512_mask_storeu_ps(y + m * ldy, lo, acc[m][0]);
    _mm512_mask_storeu_ps(y + m * ldy + 16, hi, acc[m][1]);
  }
}

// out[i * ldo + j] = in[j * ldi + i] for a 16 x 16 block, in registers.
void transpose16(const float* in, int64_t ldi, float* out, int64_t ldo) {
  // The masked forms with every lane set: GCC 12's unmasked ones start from an "undefined"
  // register that -Wuninitialized reports.
  constexpr __mmask16 kAll = 0xFFFF;
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(in + i * ldi);
  for (int i = 0; i < 8; ++i) {  // pairs of rows interleaved
    t[2 * i] = _mm512_maskz_unpacklo_ps(kAll, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_ps(kAll, r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // 4 x 4 blocks within each 128-bit lane
    r[4 * i] = _mm512_maskz_shuffle_ps(kAll, t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_maskz_shuffle_ps(kAll, t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_maskz_shuffle_ps(kAll, t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_maskz_shuffle_ps(kAll, t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {  // 128-bit lanes across pairs of 4-row groups
    t[i] = _mm512_maskz_shuffle_f32x4(kAll, r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_maskz_shuffle_f32x4(kAll, r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_maskz_shuffle_f32x4(kAll, r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_maskz_shuffle_f32x4(kAll, r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_maskz_shuffle_f32x4(kAll, t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_maskz_shuffle_f32x4(kAll, t[i], t[i + 8], 0xDD);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(out + i * ldo, r[i]);
}

#include "kernels/gemm_pack.inc"

// W's columns [n0, n0 + width) as one packed panel: out[k * kGemmCols + j] = W[n0 + j, k].
void pack_panel(const WeightView& w, int64_t n0, int64_t width, float* out) {
  constexpr int64_t NR = kGemmCols;
  const int64_t K = w.cols;
  if (w.type == WeightType::F32 && w.transposed) {
    for (int64_t k = 0; k < K; ++k) std::copy_n(w.f32 + k * w.stride + n0, width, out + k * NR);
    return;
  }
  int64_t j = 0;
  if (w.type == WeightType::F32)  // whole 16 x 16 blocks transposed in registers
    for (; j + 16 <= width; j += 16) {
      const float* src = w.f32 + (n0 + j) * w.stride;
      int64_t k = 0;
      for (; k + 16 <= K; k += 16) transpose16(src + k, w.stride, out + k * NR + j, NR);
      for (; k < K; ++k)
        for (int64_t i = 0; i < 16; ++i) out[k * NR + j + i] = src[i * w.stride + k];
    }
  pack_rows_scalar(w, n0, j, width, out);
}

#include "kernels/skinny_rows.inc"

// (after skinny_rows, whose skinny() it calls)
#include "kernels/gemm_packed.inc"

}  // namespace
}  // namespace avx512

const KernelSet* avx512_kernels() {
  static const KernelSet set{"avx512", avx512::multiply};
  return &set;
}

}  // namespace ved::nn::kernels

#include "kernels/target_end.inc"
