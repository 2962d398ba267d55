// The AVX2 + FMA kernels (x86-64 CPUs since 2013 without AVX-512): dot products that stream W
// for a few rows of x, and a 6 x 16 packed GEMM tile for many.

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/matmul_kernels.hpp"
#include "ved/detail/half.hpp"
#include "ved/detail/parallel.hpp"

#define VED_TARGET "avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt"
#include "kernels/target_begin.inc"

namespace ved::nn::kernels {
namespace avx2 {
namespace {

// Loads 16 consecutive weights of a row as two vectors of 8 f32; at(k) is weight k alone;
// `prefetch(off)` asks for the weights kPrefetchBytes past weight off.
struct LoadF32 {
  const float* w;
  void prefetch(int64_t off) const { prefetch_ahead(w + off); }
  void operator()(int64_t off, __m256& lo, __m256& hi) const {
    lo = _mm256_loadu_ps(w + off);
    hi = _mm256_loadu_ps(w + off + 8);
  }
  float at(int64_t k) const { return w[k]; }
};
struct LoadBF16 {
  const uint16_t* w;
  void prefetch(int64_t off) const { prefetch_ahead(w + off); }
  static __m256 widen(__m128i h) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  void operator()(int64_t off, __m256& lo, __m256& hi) const {
    lo = widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + off)));
    hi = widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + off + 8)));
  }
  float at(int64_t k) const { return ved::detail::bf16_to_f32(w[k]); }
};
struct LoadI8 {
  const int8_t* w;
  void prefetch(int64_t off) const { prefetch_ahead(w + off); }
  static __m256 widen(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)); }
  void operator()(int64_t off, __m256& lo, __m256& hi) const {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + off));
    lo = widen(b);
    hi = widen(_mm_srli_si128(b, 8));
  }
  float at(int64_t k) const { return static_cast<float>(w[k]); }
};

float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// One row of W per call: with 16 registers, two rows for four of x would not fit.
constexpr int64_t kRowsPerDot = 1, kDotRows = 4;  // rows of W, of x per call

// out[m * ldo + n] = x[m] · w[n] for MR rows of x and NR rows of W: 16 weights a step, in two
// sets of 8 sums per output. The last K % 16 products are added one by one.
template <int MR, int NR, typename Load>
void dot_rows(const float* x, int64_t K, const Load* w, float* out, int64_t ldo) {
  __m256 acc[MR][NR][2];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) acc[m][n][0] = acc[m][n][1] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m256 lo[NR], hi[NR];
    for (int n = 0; n < NR; ++n) {
      w[n].prefetch(k);
      w[n](k, lo[n], hi[n]);
    }
    for (int m = 0; m < MR; ++m) {
      const __m256 xlo = _mm256_loadu_ps(x + m * K + k), xhi = _mm256_loadu_ps(x + m * K + k + 8);
      for (int n = 0; n < NR; ++n) {
        acc[m][n][0] = _mm256_fmadd_ps(xlo, lo[n], acc[m][n][0]);
        acc[m][n][1] = _mm256_fmadd_ps(xhi, hi[n], acc[m][n][1]);
      }
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      float s = hsum(_mm256_add_ps(acc[m][n][0], acc[m][n][1]));
      for (int64_t r = k; r < K; ++r) s += x[m * K + r] * w[n].at(r);
      out[m * ldo + n] = s;
    }
}

// y[m, 0:64] = Σ_k x[m, k] · w[k, 0:64] for MR rows of x (row stride K) over a 64-column band
// of w (row stride ldw), each output one chain of FMAs over k in order. 16 registers hold the
// band's 64 sums for one row only, so k goes in chunks of kBandChunk rows of W (8 KiB, in L1),
// each swept once per 8 NV columns for all MR rows, the sums kept in `sums` between sweeps (a
// float stored and reloaded is the same float, so the chain is unbroken). As a plain loop per
// row of x, a beam of 4 read each band 4 times and vit-gpt2's beam-4 step took twice AVX-512's.
constexpr int64_t kBandChunk = 32;

template <int MR, int NV>
void axpy_band(const float* x, int64_t K, const float* w, int64_t ldw, float* y, int64_t ldy) {
  alignas(32) float sums[MR][64] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kBandChunk) {
    const int64_t k1 = std::min(K, k0 + kBandChunk);
    for (int64_t c = 0; c < 64; c += 8 * NV) {
      __m256 acc[MR][NV];
      for (int m = 0; m < MR; ++m)
        for (int v = 0; v < NV; ++v) acc[m][v] = _mm256_load_ps(&sums[m][c + 8 * v]);
      for (int64_t k = k0; k < k1; ++k) {
        const float* wk = w + k * ldw + c;
        // The first sweep fetches the next chunk's rows, all four lines of each: with the
        // band's rows ldw apart, the hardware prefetchers did not follow them, and in a
        // WeightMatrix's column blocks (contiguous rows) one row of x still read W faster so.
        // They go into L2 only, and the row 4 ahead from there into L1 (see prefetch_l2): 8 rows
        // of x (a batch) read W 1.17x faster so on an Intel Xeon VM.
        if (c == 0) {
          for (int j = 0; j < 64; j += 16) prefetch_l2(wk + kBandChunk * ldw + j);
          for (int j = 0; j < 64; j += 16) __builtin_prefetch(wk + 4 * ldw + j);
        }
        __m256 wv[NV];
        for (int v = 0; v < NV; ++v) wv[v] = _mm256_loadu_ps(wk + 8 * v);
        for (int m = 0; m < MR; ++m) {
          const __m256 xv = _mm256_broadcast_ss(x + m * K + k);
          for (int v = 0; v < NV; ++v) acc[m][v] = _mm256_fmadd_ps(xv, wv[v], acc[m][v]);
        }
      }
      for (int m = 0; m < MR; ++m)
        for (int v = 0; v < NV; ++v) _mm256_store_ps(&sums[m][c + 8 * v], acc[m][v]);
    }
  }
  for (int m = 0; m < MR; ++m) std::copy_n(sums[m], 64, y + m * ldy);
}

#include "kernels/skinny_transposed.inc"

// Up to 8 rows of x a pass over a 64-column band, as many sums in registers as fit (rows x
// vectors + vectors of W + a broadcast <= 16).
void skinny_transposed(const WeightView& w, const float* x, int64_t M, float* y) {
  const auto band = [](auto rows, const float* xm, int64_t K, const float* wb, int64_t ldw,
                       float* ym, int64_t ldy) {
    constexpr int MR = decltype(rows)::value;
    constexpr int NV = MR == 1 ? 8 : MR == 2 ? 4 : MR <= 6 ? 2 : 1;
    axpy_band<MR, NV>(xm, K, wb, ldw, ym, ldy);
  };
  skinny_transposed_by(band, w, x, M, y);
}

// (after skinny_transposed, which it calls)
#include "kernels/skinny_rows.inc"

// 6 x 16 outputs in 12 of the 16 registers: per k two loads of W, six broadcasts of x and twelve
// FMAs.
constexpr int64_t kGemmRows = 6, kGemmCols = 16;

void gemm_panel(const float* x, int64_t K, const float* wp, float* y, int64_t ldy, int64_t rows,
                int64_t cols, const float* bias, const float* residual) {
  const float* xr[kGemmRows];  // rows past `rows` repeat the last: computed, never stored
  for (int m = 0; m < kGemmRows; ++m) xr[m] = x + std::min<int64_t>(m, rows - 1) * K;
  __m256 acc[kGemmRows][2];
  for (auto& row : acc) row[0] = row[1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m256 w0 = _mm256_load_ps(wp + k * kGemmCols),
                 w1 = _mm256_load_ps(wp + k * kGemmCols + 8);
#pragma GCC unroll 6
    for (int m = 0; m < kGemmRows; ++m) {
      const __m256 xv = _mm256_broadcast_ss(xr[m] + k);
      acc[m][0] = _mm256_fmadd_ps(xv, w0, acc[m][0]);
      acc[m][1] = _mm256_fmadd_ps(xv, w1, acc[m][1]);
    }
  }
  // Through a local tile, with every row stored: a store loop bounded by `rows` would make GCC
  // keep the accumulators in memory across the k loop.
  alignas(32) float tile[kGemmRows][kGemmCols];
#pragma GCC unroll 6
  for (int m = 0; m < kGemmRows; ++m) {
    _mm256_store_ps(tile[m], acc[m][0]);
    _mm256_store_ps(tile[m] + 8, acc[m][1]);
  }
  for (int64_t m = 0; m < rows; ++m) {
    float* out = y + m * ldy;
    for (int64_t j = 0; j < cols; ++j) {
      float v = tile[m][j];
      if (bias) v += bias[j];
      if (residual) v += residual[m * ldy + j];
      out[j] = v;
    }
  }
}

#include "kernels/gemm_pack.inc"

// out[i * ldo + j] = in[j * ldi + i] for an 8 x 8 block, in registers: for W's rows into GEMM
// panels (copied a float at a time, packing was a seventh of a 768 x 768 product) and for the
// keys of attention.
void transpose_block(const float* in, int64_t ldi, float* out, int64_t ldo) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(in + i * ldi);
  for (int i = 0; i < 4; ++i) {  // pairs of rows interleaved
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {  // 4 x 4 blocks within each 128-bit lane
    r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {  // rows 0-3 and 4-7 of column i and of column i + 4
    _mm256_storeu_ps(out + i * ldo, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(out + (i + 4) * ldo, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

// W's columns [n0, n0 + width) as one packed panel: out[k * kGemmCols + j] = W[n0 + j, k],
// f32 rows 8 x 8 blocks at a time transposed in registers.
void pack_panel(const WeightView& w, int64_t n0, int64_t width, float* out) {
  constexpr int64_t NR = kGemmCols;
  const int64_t K = w.cols;
  if (w.type == WeightType::F32 && w.transposed) {
    for (int64_t k = 0; k < K; ++k) std::copy_n(w.column(n0) + k * w.stride, width, out + k * NR);
    return;
  }
  int64_t j = 0;
  if (w.type == WeightType::F32)
    for (; j + 8 <= width; j += 8) {
      const float* src = w.f32 + (n0 + j) * w.stride;
      int64_t k = 0;
      for (; k + 8 <= K; k += 8) transpose_block(src + k, w.stride, out + k * NR + j, NR);
      for (; k < K; ++k)
        for (int64_t i = 0; i < 8; ++i) out[k * NR + j + i] = src[i * w.stride + k];
    }
  pack_rows_scalar(w, n0, j, width, out);
}

#include "kernels/gemm_packed.inc"

// The attention kernel (attention_rows.inc) with 6 queries a block, 6 x 2 vectors of sums: with
// the two vectors of columns and a query's broadcast, 15 of the 16 registers.
struct Lanes {
  using V = __m256;
  static constexpr int n = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static float dot(const float* x, const float* w, int64_t d) {  // dot_rows' two sets of sums
    V lo = zero(), hi = zero();
    for (int64_t k = 0; k < d; k += 16) {
      lo = fma(load(x + k), load(w + k), lo);
      hi = fma(load(x + k + 8), load(w + k + 8), hi);
    }
    return hsum(_mm256_add_ps(lo, hi));
  }
};
constexpr int kRows = 6, kMaxPass = 2;

#include "kernels/attention_rows.inc"

void attend(const AttentionArgs& a, int64_t h, const float* bias, const float* bias2) {
  attend_rows(*avx2_kernels(), a, h, bias, bias2);
}

bool attend_heads(const AttentionArgs& a, int64_t h0, int64_t h1) {
  return attend_heads_streamed(a, h0, h1);
}

}  // namespace
}  // namespace avx2

const KernelSet* avx2_kernels() {
  static const KernelSet set{"avx2",     avx2::multiply,  avx2::softmax, avx2::layer_norm,
                             avx2::gelu, avx2::gelu_tanh, avx2::attend,  avx2::attend_heads};
  return &set;
}

}  // namespace ved::nn::kernels

#include "kernels/target_end.inc"
