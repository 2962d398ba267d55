// The AVX-512 kernels (F, BW, VL): register-blocked dot products that stream W for a few rows of
// x, an 8 x 32 packed GEMM tile for many, and attention for many queries. At the end, the same
// with AVX512-BF16 / AVX512-VNNI dot-product instructions for bf16 and int8 weights (the "avx512
// (bf16, vnni)" sets), and the GEMM of those weights on AMX tiles ("avx512 (amx bf16, vnni)").

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/matmul_kernels.hpp"
#include "ved/detail/parallel.hpp"

// AVX512-BF16 and AVX512-VNNI intrinsics: GCC 10 and Clang 9 have both.
#if (defined(__clang__) && __clang_major__ >= 9) || \
    (defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10)
#define VED_HAVE_AVX512_DOT 1
#else
#define VED_HAVE_AVX512_DOT 0
#endif
// AMX-TILE and AMX-BF16 intrinsics: GCC 11 and Clang 12 (64-bit only).
#if VED_HAVE_AVX512_DOT && defined(__x86_64__) &&     \
    ((defined(__clang__) && __clang_major__ >= 12) || \
     (defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11))
#define VED_HAVE_AMX 1
#else
#define VED_HAVE_AMX 0
#endif

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

// The first n of 16 lanes: all for n >= 16, none for n <= 0. Blocks of 32 floats, held in two
// vectors, take first_lanes(n) and first_lanes(n - 16).
inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// Loads 16 consecutive weights of a row as f32; `tail` loads the first `mask` lanes only;
// `prefetch(off)` asks for weight off's line; `prefetch_near(k)` for the line 256 bytes past
// weight k's, from L2 into L1 (see dot_rows).
struct LoadF32 {
  const float* w;
  void prefetch(int64_t off) const { prefetch_l2(w + off); }
  void prefetch_near(int64_t k) const { __builtin_prefetch(w + k + 64); }
  __m512 operator()(int64_t off) const { return _mm512_loadu_ps(w + off); }
  __m512 tail(int64_t off, __mmask16 m) const { return _mm512_maskz_loadu_ps(m, w + off); }
};
struct LoadBF16 {
  const uint16_t* w;
  void prefetch(int64_t off) const { __builtin_prefetch(w + off); }
  void prefetch_near(int64_t) const {}
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
  void prefetch(int64_t off) const { __builtin_prefetch(w + off); }
  void prefetch_near(int64_t) const {}
  static __m512 widen(__m128i b) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)); }
  __m512 operator()(int64_t off) const {
    return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + off)));
  }
  __m512 tail(int64_t off, __mmask16 m) const { return widen(_mm_maskz_loadu_epi8(m, w + off)); }
};

// Tiles of four rows of W, at any number of rows of x: each load of x serves four FMAs (with one
// or two rows of W for four of x, the loads of x held beam search to half its batch-1 speed on
// 1024-wide decoders), and while a tile is read the next one is fetched. Up to 8 rows of x go
// through a tile at once (two rows of W at a time beyond 4): as two passes of 4, the second over
// W in L1, a server's batch of 8 read the 50257 x 768 LM head 8-15% slower.
constexpr int64_t kRowsPerDot = 4, kDotRows = 8;

// out[m * ldo + n] = x[m] · w[n] for MR rows of x and NR rows of W, 16 weights a step into one set
// of 16 sums per output, so that an output is the same bits whatever MR and NR.
template <int MR, int NR, typename Load>
void dot_rows(const float* x, int64_t K, const Load* w, float* out, int64_t ldo) {
  __m512 acc[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) acc[m][n] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 wv[NR];
    for (int n = 0; n < NR; ++n) {
      // The same weight of the next tile's row n. f32 rows go into L2 first, then near their
      // loads into L1: a batch of 8 read W 1.1x faster so on an Intel Xeon VM (as in
      // axpy_band). bf16 and int8 rows here (widened to f32: CPUs without AVX512-BF16 or
      // VNNI) keep the one fetch into L1, which has not been measured against the two.
      w[n].prefetch(k + kRowsPerDot * K);
      w[n].prefetch_near(k);
      wv[n] = w[n](k);
    }
    for (int m = 0; m < MR; ++m) {
      const __m512 xv = _mm512_loadu_ps(x + m * K + k);
      for (int n = 0; n < NR; ++n) acc[m][n] = _mm512_fmadd_ps(xv, wv[n], acc[m][n]);
    }
  }
  if (k < K) {
    const __mmask16 mask = first_lanes(K - k);
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

// y[m, 0:16 NV] = Σ_k x[m, k] · w[k, 0:16 NV] for MR rows of x (row stride K) over a band of
// NV vectors of w's columns (row stride ldw): each weight is loaded once for all MR rows.
template <int MR, int NV>
void axpy_band(const float* x, int64_t K, const float* w, int64_t ldw, float* y, int64_t ldy) {
  __m512 acc[MR][NV];
  for (int m = 0; m < MR; ++m)
    for (int j = 0; j < NV; ++j) acc[m][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* wk = w + k * ldw;
    // The row 16 ahead is fetched into L2 and the row 4 ahead from there into L1, all four
    // lines from the band's start (so a half band's first pass brings in the second half too):
    // a WeightMatrix's band is one column block, its rows contiguous, so that is kPrefetchBytes
    // ahead in one stream. On an AMD EPYC VM one row of x read GPT-2's blocks at 33 GB/s with
    // the row 16 ahead fetched into L1, against 23 GB/s fetching every other line 8 rows ahead;
    // on an Intel Xeon VM fetching it into L2 only, with the near row into L1, read 1.2x faster
    // for 1, 4 and 8 rows of x (8 rows: 20 -> 24 GB/s): a prefetch into L1 holds one of the
    // core's few L1 miss buffers until its line comes from memory.
    for (int j = 0; j < 4; ++j) prefetch_l2(wk + 16 * ldw + 16 * j);
    for (int j = 0; j < 4; ++j) __builtin_prefetch(wk + 4 * ldw + 16 * j);
    __m512 wv[NV];
    for (int j = 0; j < NV; ++j) wv[j] = _mm512_loadu_ps(wk + 16 * j);
    for (int m = 0; m < MR; ++m) {
      const __m512 xv = _mm512_set1_ps(x[m * K + k]);
      for (int j = 0; j < NV; ++j) acc[m][j] = _mm512_fmadd_ps(xv, wv[j], acc[m][j]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int j = 0; j < NV; ++j) _mm512_storeu_ps(y + m * ldy + 16 * j, acc[m][j]);
}

#include "kernels/skinny_transposed.inc"

// Up to 6 rows of x share a pass over a whole 64-column band (24 sums in registers); 7 or 8 (a
// server's batch, 8 beams) make one pass over each half of it instead: as 6 + 2 rows, the second
// pass re-read the band for 2 rows' FMAs, and a batch of 8 streamed GPT-2's weights at half the
// rate of one row.
void skinny_transposed(const WeightView& w, const float* x, int64_t M, float* y) {
  const auto band = [](auto rows, const float* xm, int64_t K, const float* wb, int64_t ldw,
                       float* ym, int64_t ldy) {
    constexpr int MR = decltype(rows)::value;
    if constexpr (MR <= 6) {
      axpy_band<MR, 4>(xm, K, wb, ldw, ym, ldy);
    } else {
      axpy_band<MR, 2>(xm, K, wb, ldw, ym, ldy);
      axpy_band<MR, 2>(xm, K, wb + 32, ldw, ym + 32, ldy);
    }
  };
  skinny_transposed_by(band, w, x, M, y);
}

// 8 x 32 outputs in 16 registers: per k two loads of W, eight broadcasts of x and sixteen FMAs,
// so the FMA units, not the loads, set the pace.
constexpr int64_t kGemmRows = 8, kGemmCols = 32;

// Stores the first `rows` x `cols` of a kernel's block of sums to y, adding bias[j] and then
// residual[m * ldy + j] (either may be null) in registers first: added to y in memory, each load
// waited for the masked store just made to the same place (see gemm_packed.inc). Inlined
// always: called, the sums went through memory (GCC 12 would not inline it into either kernel).
__attribute__((always_inline)) inline void store_tile(__m512 (&acc)[kGemmRows][2], float* y,
                                                      int64_t ldy, int64_t rows, int64_t cols,
                                                      const float* bias, const float* residual) {
  const __mmask16 lo = first_lanes(cols), hi = first_lanes(cols - 16);
  if (bias) {
    const __m512 b0 = _mm512_maskz_loadu_ps(lo, bias), b1 = _mm512_maskz_loadu_ps(hi, bias + 16);
    for (auto& row : acc) row[0] = _mm512_add_ps(row[0], b0), row[1] = _mm512_add_ps(row[1], b1);
  }
  for (int64_t m = 0; m < rows; ++m) {
    if (residual) {
      acc[m][0] = _mm512_add_ps(acc[m][0], _mm512_maskz_loadu_ps(lo, residual + m * ldy));
      acc[m][1] = _mm512_add_ps(acc[m][1], _mm512_maskz_loadu_ps(hi, residual + m * ldy + 16));
    }
    _mm512_mask_storeu_ps(y + m * ldy, lo, acc[m][0]);
    _mm512_mask_storeu_ps(y + m * ldy + 16, hi, acc[m][1]);
  }
}

void gemm_panel(const float* x, int64_t K, const float* wp, float* y, int64_t ldy, int64_t rows,
                int64_t cols, const float* bias, const float* residual) {
  const float* xr[kGemmRows];  // rows past `rows` repeat the last: computed, never stored
  for (int m = 0; m < kGemmRows; ++m) xr[m] = x + std::min<int64_t>(m, rows - 1) * K;
  __m512 acc[kGemmRows][2];
  for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m512 w0 = _mm512_load_ps(wp + k * kGemmCols),
                 w1 = _mm512_load_ps(wp + k * kGemmCols + 16);
#pragma GCC unroll 16
    for (int m = 0; m < kGemmRows; ++m) {
      const __m512 xv = _mm512_set1_ps(xr[m][k]);
      acc[m][0] = _mm512_fmadd_ps(xv, w0, acc[m][0]);
      acc[m][1] = _mm512_fmadd_ps(xv, w1, acc[m][1]);
    }
  }
  store_tile(acc, y, ldy, rows, cols, bias, residual);
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

// 16 weights of row n of bf16 or int8 W from column k (the lanes of `mask`) as f32, as row_f32
// gives them: int8 times its row's scale.
__m512 widened(const WeightView& w, int64_t n, int64_t k, __mmask16 mask) {
  if (w.type == WeightType::BF16) return LoadBF16{w.bf16 + n * w.cols}.tail(k, mask);
  return _mm512_mul_ps(LoadI8{w.i8 + n * w.cols}.tail(k, mask), _mm512_set1_ps(w.scale[n]));
}

// W's columns [n0, n0 + width) as one packed panel: out[k * kGemmCols + j] = W[n0 + j, k].
void pack_panel(const WeightView& w, int64_t n0, int64_t width, float* out) {
  constexpr int64_t NR = kGemmCols;
  const int64_t K = w.cols;
  if (w.type == WeightType::F32 && w.transposed) {
    for (int64_t k = 0; k < K; ++k) std::copy_n(w.column(n0) + k * w.stride, width, out + k * NR);
    return;
  }
  int64_t j = 0;
  if (w.type == WeightType::F32) {  // whole 16 x 16 blocks transposed in registers
    for (; j + 16 <= width; j += 16) {
      const float* src = w.f32 + (n0 + j) * w.stride;
      int64_t k = 0;
      for (; k + 16 <= K; k += 16) transpose16(src + k, w.stride, out + k * NR + j, NR);
      for (; k < K; ++k)
        for (int64_t i = 0; i < 16; ++i) out[k * NR + j + i] = src[i * w.stride + k];
    }
  } else {
    // bf16 and int8 widened 16 x 16 at a time, then transposed in registers: widened a weight
    // at a time, the encoder's products of such weights ran at 60% of f32's.
    for (; j + 16 <= width; j += 16) {
      alignas(64) float block[16 * 16];
      for (int64_t k = 0; k < K; k += 16) {
        const int64_t len = std::min<int64_t>(16, K - k);
        const __mmask16 mask = first_lanes(len);
        for (int64_t i = 0; i < 16; ++i)
          _mm512_store_ps(block + 16 * i, widened(w, n0 + j + i, k, mask));
        if (len == 16) {
          transpose16(block, 16, out + k * NR + j, NR);
        } else {
          for (int64_t t = 0; t < len; ++t)
            for (int64_t i = 0; i < 16; ++i) out[(k + t) * NR + j + i] = block[16 * i + t];
        }
      }
    }
  }
  pack_rows_scalar(w, n0, j, width, out);
}

#include "kernels/skinny_rows.inc"

// Per-thread buffer of at least n elements, kept between calls: x converted for the
// reduced-precision kernels below (in the calling thread, before the workers read it).
template <typename T>
T* reduced_scratch(int64_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < static_cast<size_t>(n)) buf.resize(static_cast<size_t>(n));
  return buf.data();
}

// (after skinny_rows, whose skinny() it calls)
#include "kernels/gemm_packed.inc"

// The attention kernel (attention_rows.inc) with 8 queries a block, 8 x 3 vectors of sums: 24 of
// the 32 registers.
struct Lanes {
  using V = __m512;
  static constexpr int n = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static float dot(const float* x, const float* w, int64_t d) {  // dot_rows' one set of sums
    V acc = zero();
    for (int64_t k = 0; k < d; k += 16) acc = fma(load(x + k), load(w + k), acc);
    return _mm512_reduce_add_ps(acc);
  }
};
constexpr int kRows = 8, kMaxPass = 3;
void transpose_block(const float* in, int64_t ldi, float* out, int64_t ldo) {
  transpose16(in, ldi, out, ldo);
}

#include "kernels/attention_rows.inc"

}  // namespace

void attend(const AttentionArgs& a, int64_t h, const float* bias, const float* bias2) {
  attend_rows(*avx512_kernels(), a, h, bias, bias2);
}

bool attend_heads(const AttentionArgs& a, int64_t h0, int64_t h1) {
  return attend_heads_streamed(a, h0, h1);
}

}  // namespace avx512

const KernelSet* avx512_kernels() {
  static const KernelSet set{"avx512",           avx512::multiply,    avx512::softmax,
                             avx512::layer_norm, avx512::gelu,        avx512::gelu_tanh,
                             avx512::attend,     avx512::attend_heads};
  return &set;
}

}  // namespace ved::nn::kernels

#include "kernels/target_end.inc"

// Reduced-precision products with the dot-product instructions of newer AVX-512 CPUs, each
// compiled under its own target, since a CPU may have one extension and not the other (Ice Lake
// has VNNI but not BF16). The kernels above widen bf16 and int8 weights to f32 and multiply with
// f32 FMAs: two or three extra instructions for every 16 weights and every row of x, which bound
// decoding by the instructions rather than by the (halved or quartered) weight bytes. Here x is
// brought to W's type once per call instead, and one instruction multiplies 32 bf16 or 64 int8
// pairs and adds them into 16 f32 or int32 sums. That changes the numbers, not only the speed: x
// is rounded to bf16, or quantised to int8, before the products (see each kernel). Products of
// more than kSkinnyRows rows (encoders) of bf16 or int8 weights run a vdpbf16ps GEMM with x
// rounded to bf16 (gemm_bf16), or the widening GEMM above on a CPU without AVX512-BF16.
#if VED_HAVE_AVX512_DOT

#undef VED_TARGET
#define VED_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c,bmi,bmi2,lzcnt,popcnt"
#include "kernels/target_begin.inc"

namespace ved::nn::kernels {
namespace avx512 {
namespace {

// The same 64 bytes as 32 bf16 (a vector cast reinterprets the bits, in GCC and Clang alike).
__m512bh as_bf16(__m512i v) {
  return (__m512bh)v;
}
__m512i as_bytes(__m512bh v) {
  return (__m512i)v;
}

// n floats to bf16, rounded to nearest even as torch (and WeightMatrix::converted) rounds, by
// vcvtne2ps2bf16. (It also flushes denormal inputs to zero: |x| < 1.2e-38 adds nothing anyway.)
void to_bf16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(out + i, as_bytes(v));
  }
  if (i < n) {
    const int64_t left = n - i;  // 1..31
    const __mmask16 lo = first_lanes(left), hi = first_lanes(left - 16);
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + i + 16),
                                           _mm512_maskz_loadu_ps(lo, x + i));
    _mm512_mask_storeu_epi16(out + i, __mmask32((uint64_t{1} << left) - 1u), as_bytes(v));
  }
}

// W's line kPrefetchBytes past p into L2, the one 512 bytes past it into L1: for 4 rows of x
// (beams) a 3072 x 768 bf16 product read W 1.35x faster than with the far line fetched into L1,
// on an Intel Xeon VM. (dot_row_i8 keeps prefetch_ahead: int8 rows read slower so.)
inline void prefetch_stream(const void* p) {
  prefetch_l2(static_cast<const char*>(p) + kPrefetchBytes);
  __builtin_prefetch(static_cast<const char*>(p) + 512);
}

// out[m] = Σ_k x[m, k] · w[k] for MR rows of x and one row of W, all bf16. vdpbf16ps multiplies
// pairs of bf16 exactly (8-bit significands: the product fits an f32) and adds both into one of
// 16 f32 sums; two sets of sums, added up across lanes at the end: the same accumulation as the
// f32 kernel's, on one 64-byte load of W per 32 weights and no widening.
template <int MR>
void dot_row_bf16(const uint16_t* x, int64_t K, const uint16_t* w, float* out) {
  __m512 acc[MR][2];
  for (int m = 0; m < MR; ++m) acc[m][0] = acc[m][1] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 64 <= K; k += 64) {
    prefetch_stream(w + k);
    prefetch_stream(w + k + 32);
    const __m512bh w0 = as_bf16(_mm512_loadu_si512(w + k)),
                   w1 = as_bf16(_mm512_loadu_si512(w + k + 32));
    for (int m = 0; m < MR; ++m) {
      acc[m][0] = _mm512_dpbf16_ps(acc[m][0], as_bf16(_mm512_loadu_si512(x + m * K + k)), w0);
      acc[m][1] = _mm512_dpbf16_ps(acc[m][1], as_bf16(_mm512_loadu_si512(x + m * K + k + 32)), w1);
    }
  }
  for (int half = 0; k < K; k += 32, half ^= 1) {  // up to two steps of 32, the last masked
    const __mmask32 mask =
        K - k >= 32 ? __mmask32(0xFFFFFFFFu) : __mmask32((uint64_t{1} << (K - k)) - 1u);
    const __m512bh wv = as_bf16(_mm512_maskz_loadu_epi16(mask, w + k));
    for (int m = 0; m < MR; ++m)
      acc[m][half] = _mm512_dpbf16_ps(acc[m][half],
                                      as_bf16(_mm512_maskz_loadu_epi16(mask, x + m * K + k)), wv);
  }
  for (int m = 0; m < MR; ++m) out[m] = _mm512_reduce_add_ps(_mm512_add_ps(acc[m][0], acc[m][1]));
}

// bf16 weights: x rounded to bf16 (8 significant bits: a relative error of at most 2^-8 per
// element, the rounding the weights had), then exact products summed in f32. Against the
// widening kernel (x kept f32) a dot product moves by at most 2^-8 Σ|x w|, typically about
// 2^-8 / sqrt(3) · ||x ∘ w||: an error of the size of, and independent of, the one the weights'
// own rounding made, so the difference from f32 weights and activations grows by about sqrt(2).
void skinny_bf16(const WeightView& w, const float* x, int64_t M, float* y) {
  const int64_t N = w.rows, K = w.cols;
  uint16_t* xb = reduced_scratch<uint16_t>(M * K);
  to_bf16(x, M * K, xb);
  for_each_tile<1>(N, K, M, y, [&](int64_t n, int64_t, int64_t m0, int64_t mr, float* out) {
    const uint16_t *row = w.bf16 + n * K, *xm = xb + m0 * K;
    switch (mr) {
      case 1:
        return dot_row_bf16<1>(xm, K, row, out);
      case 2:
        return dot_row_bf16<2>(xm, K, row, out);
      case 3:
        return dot_row_bf16<3>(xm, K, row, out);
      default:
        return dot_row_bf16<4>(xm, K, row, out);
    }
  });
}

// The GEMM of bf16 weights (many rows of x: an encoder's tokens) on vdpbf16ps, laid out as the
// f32 GEMM (gemm_packed.inc: the same tiles, so y is the same bits on any number of threads) but
// over pairs of k: a packed element is 32 bits holding two bf16 of consecutive k, x's rounded
// from f32 as in skinny_bf16 and W's as stored. One vdpbf16ps does 32 multiply-adds where an FMA
// does 16, and the W panel is half the bytes, so the encoder's products run at up to twice the
// f32 GEMM's rate; the price is x rounded to bf16 (relative 2^-8 per element) in every product.
// int8 weights take the same path where the CPU has AVX512-BF16: an int8 (-127..127) is exact in
// bf16, so the panel holds W's integers exactly and each column is scaled after the sum. (With
// vpdpbusd and x quantised to int8 instead, as skinny_vnni does, the encoder ran another 1.2x
// faster, but its per-token rounding cost top-1 agreement on a trained model: 97.2% per step
// over 8 x 30 steps where weight-only int8 gave 98.3%, one seed 94.6%.)

// Two bf16 of one row, k = 2q and 2q + 1 (zero past K), as one 32-bit element.
uint32_t bf16_pair(const uint16_t* row, int64_t K, int64_t q) {
  const uint32_t lo = row[2 * q], hi = 2 * q + 1 < K ? row[2 * q + 1] : 0u;
  return lo | hi << 16;
}
// The same of an int8 row, its integers converted to bf16 (exactly).
uint32_t i8_pair(const int8_t* row, int64_t K, int64_t q) {
  const uint32_t lo = kernel::f32_to_bf16(row[2 * q]),
                 hi = 2 * q + 1 < K ? kernel::f32_to_bf16(row[2 * q + 1]) : 0u;
  return lo | hi << 16;
}

// 8 x 32 outputs in 16 registers, per pair of k two loads of W, eight broadcasts of x pairs and
// sixteen vdpbf16ps (as gemm_panel, two k at a time). `scale`: the 32 columns' int8 scales, or
// null for bf16 W; then bias and residual as gemm_panel adds them.
void gemm_panel_bf16(const uint32_t* xp, const uint32_t* wp, int64_t K2, float* y, int64_t ldy,
                     int64_t rows, int64_t cols, const float* scale, const float* bias,
                     const float* residual) {
  __m512 acc[kGemmRows][2];
  for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
  for (int64_t q = 0; q < K2; ++q) {
    const __m512bh w0 = as_bf16(_mm512_load_si512(wp + q * kGemmCols)),
                   w1 = as_bf16(_mm512_load_si512(wp + q * kGemmCols + 16));
    const uint32_t* xq = xp + q * kGemmRows;
#pragma GCC unroll 16
    for (int m = 0; m < kGemmRows; ++m) {
      const __m512bh xv = as_bf16(_mm512_set1_epi32(static_cast<int>(xq[m])));
      acc[m][0] = _mm512_dpbf16_ps(acc[m][0], xv, w0);
      acc[m][1] = _mm512_dpbf16_ps(acc[m][1], xv, w1);
    }
  }
  if (scale) {
    const __m512 s0 = _mm512_loadu_ps(scale), s1 = _mm512_loadu_ps(scale + 16);
    for (int64_t m = 0; m < rows; ++m) {
      acc[m][0] = _mm512_mul_ps(acc[m][0], s0);
      acc[m][1] = _mm512_mul_ps(acc[m][1], s1);
    }
  }
  store_tile(acc, y, ldy, rows, cols, bias, residual);
}

// A panel of R rows of x (8 for gemm_panel_bf16, 16 for gemm_amx and AMX attention's keys),
// rows ldx apart: out[q * R + m] = bf16_pair(row m, q), rounded as to_bf16 rounds, zero for rows
// m >= `rows`. 16 pairs of each row
// at a time (one vcvtne2ps2bf16 per 32 floats), transposed in registers: through a bf16 copy of
// each row and a store per pair, packing x took 5% of trocr-small's bf16 encoder on an AMD EPYC
// VM, a tenth of its products.
template <int64_t R>
void pack_x_pairs(const float* x, int64_t K, int64_t rows, uint32_t* out, int64_t ldx) {
  static_assert(R == 8 || R == 16, "a panel is half or all of a 16 x 16 block");
  const int64_t K2 = (K + 1) / 2;
  alignas(64) uint32_t block[16 * 16] = {};  // rows m, 16 pairs each; rows past R stay zero
  alignas(64) uint32_t pairs[16 * 16];       // its transpose: 16 pairs' rows m
  for (int64_t q0 = 0; q0 < K2; q0 += 16) {
    const int64_t k0 = 2 * q0, left = std::min<int64_t>(32, K - k0);
    const __mmask16 lo = first_lanes(left), hi = first_lanes(left - 16);
    for (int64_t m = 0; m < R; ++m) {
      __m512i v = _mm512_setzero_si512();
      if (m < rows) {
        const float* xm = x + m * ldx + k0;
        v = as_bytes(
            _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, xm + 16), _mm512_maskz_loadu_ps(lo, xm)));
      }
      _mm512_store_si512(block + 16 * m, v);
    }
    transpose16(reinterpret_cast<const float*>(block), 16, reinterpret_cast<float*>(pairs), 16);
    for (int64_t q = 0; q < std::min<int64_t>(16, K2 - q0); ++q) {
      if constexpr (R == 8)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (q0 + q) * R),
                            _mm256_load_si256(reinterpret_cast<const __m256i*>(pairs + 16 * q)));
      else
        _mm512_storeu_si512(out + (q0 + q) * R, _mm512_load_si512(pairs + 16 * q));
    }
  }
}

// int8 W's rows [n0, n0 + width) as one packed panel of bf16 pairs: out[q * kGemmCols + j] =
// i8_pair(row n0 + j, q). Blocks of 16 rows by 32 k are converted a row at a time (int8 -> f32
// -> bf16, all exact) and transposed in registers as 32-bit elements.
void pack_panel_i8_as_bf16(const WeightView& w, int64_t n0, int64_t width, uint32_t* out) {
  constexpr int64_t NR = kGemmCols;
  const int64_t K = w.cols, K2 = (K + 1) / 2;
  int64_t j = 0;
  for (; j + 16 <= width; j += 16) {
    alignas(64) float block[16 * 16];
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      for (int i = 0; i < 16; ++i) {
        const int8_t* src = w.i8 + (n0 + j + i) * K + k;
        const __m512 a = _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src))));
        const __m512 b = _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16))));
        _mm512_store_si512(block + 16 * i, as_bytes(_mm512_cvtne2ps_pbh(b, a)));
      }
      transpose16(block, 16, reinterpret_cast<float*>(out) + k / 2 * NR + j, NR);
    }
    for (int64_t q = k / 2; q < K2; ++q)
      for (int64_t i = 0; i < 16; ++i) out[q * NR + j + i] = i8_pair(w.i8 + (n0 + j + i) * K, K, q);
  }
  for (; j < width; ++j)
    for (int64_t q = 0; q < K2; ++q) out[q * NR + j] = i8_pair(w.i8 + (n0 + j) * K, K, q);
}

// bf16 W's rows [n0, n0 + width) as one packed panel of pairs: out[q * kGemmCols + j] =
// bf16_pair(row n0 + j, q). Rows of even K are arrays of pairs, so whole 16 x 16 blocks of pairs
// are transposed in registers as 32-bit elements (transpose16); the rest one by one.
void pack_panel_bf16(const WeightView& w, int64_t n0, int64_t width, uint32_t* out) {
  constexpr int64_t NR = kGemmCols;
  const int64_t K = w.cols, K2 = (K + 1) / 2;
  int64_t j = 0;
  if (K % 2 == 0)
    for (; j + 16 <= width; j += 16) {
      const float* src = reinterpret_cast<const float*>(w.bf16 + (n0 + j) * K);
      float* dst = reinterpret_cast<float*>(out);
      int64_t q = 0;
      for (; q + 16 <= K2; q += 16) transpose16(src + q, K2, dst + q * NR + j, NR);
      for (; q < K2; ++q)
        for (int64_t i = 0; i < 16; ++i)
          out[q * NR + j + i] = bf16_pair(w.bf16 + (n0 + j + i) * K, K, q);
    }
  for (; j < width; ++j)
    for (int64_t q = 0; q < K2; ++q) out[q * NR + j] = bf16_pair(w.bf16 + (n0 + j) * K, K, q);
}

// The grid of gemm_bf16 and gemm_amx: panels of MR rows of x, in row tiles of at most
// kMaxTileRows rows (evenly sized), by kTileCols columns, fixed by the shape alone. x is packed a
// group of row tiles at a time, by pack(p0, panels, capacity) for the group's panels from p0
// (`capacity` panels at most in any group), so that the copy stays a few MiB however tall x is
// (Donut's first stage has 300k tokens); a group still holds enough tiles for every thread. Then
// tile(p0, first, last, n_tile) on the threads for each of the group's tiles: its panels
// [p0 + first, p0 + last) by the columns from n_tile.
template <typename Pack, typename Tile>
void for_each_panel_tile(int64_t M, int64_t N, int64_t MR, const Pack& pack, const Tile& tile) {
  const int64_t panels = (M + MR - 1) / MR;
  const int64_t row_tiles = (panels * MR + kMaxTileRows - 1) / kMaxTileRows;
  const int64_t tile_panels = (panels + row_tiles - 1) / row_tiles;
  const int64_t col_tiles = (N + kTileCols - 1) / kTileCols;
  const int64_t group_tiles = std::max<int64_t>(1, 32 / col_tiles);
  for (int64_t t0 = 0; t0 < row_tiles; t0 += group_tiles) {
    const int64_t p0 = t0 * tile_panels;
    const int64_t group_panels = std::min(panels, (t0 + group_tiles) * tile_panels) - p0;
    pack(p0, group_panels, std::min(panels, group_tiles * tile_panels));
    const int64_t tiles = (group_panels + tile_panels - 1) / tile_panels * col_tiles;
    parallel_for(0, tiles, 0, [&](int64_t t) {
      const int64_t first = t / col_tiles * tile_panels;
      tile(p0, first, std::min(group_panels, first + tile_panels), t % col_tiles * kTileCols);
    });
  }
}

// W bf16, or int8 (see above).
void gemm_bf16(const WeightView& w, const float* x, int64_t M, float* y, const Epilogue& e) {
  const int64_t N = w.rows, K = w.cols, K2 = (K + 1) / 2;
  constexpr int64_t MR = kGemmRows, NR = kGemmCols;
  const SplitEpilogue epilogue(e);
  uint32_t* xp = nullptr;  // x as bf16 pairs, panel by panel
  const auto pack = [&](int64_t p0, int64_t panels, int64_t capacity) {
    xp = reinterpret_cast<uint32_t*>(scratch(2, capacity * MR * K2));
    parallel_for(0, panels, 0, [&](int64_t p) {
      const int64_t r = (p0 + p) * MR;
      pack_x_pairs<MR>(x + r * K, K, std::min(MR, M - r), xp + p * MR * K2, K);
    });
  };
  const auto tile = [&](int64_t p0, int64_t first, int64_t last, int64_t n_tile) {
    uint32_t* wp = reinterpret_cast<uint32_t*>(scratch(0, NR * K2));
    for (int64_t n0 = n_tile; n0 < std::min(N, n_tile + kTileCols); n0 += NR) {
      const int64_t width = std::min(NR, N - n0);
      if (width < NR)
        for (int64_t q = 0; q < K2; ++q) std::fill(wp + q * NR + width, wp + (q + 1) * NR, 0u);
      float scale[NR] = {};
      if (w.type == WeightType::Int8) {
        pack_panel_i8_as_bf16(w, n0, width, wp);
        std::copy_n(w.scale + n0, width, scale);
      } else {
        pack_panel_bf16(w, n0, width, wp);
      }
      const float* column_scale = w.type == WeightType::Int8 ? scale : nullptr;
      for (int64_t p = first; p < last; ++p) {
        const int64_t r = (p0 + p) * MR, rows = std::min(MR, M - r);
        gemm_panel_bf16(xp + p * MR * K2, wp, K2, y + r * N + n0, N, rows, width, column_scale,
                        epilogue.bias(n0), epilogue.residual(N, r, n0));
        epilogue.rest(y, N, r, rows, n0, width);
      }
    }
  };
  for_each_panel_tile(M, N, MR, pack, tile);
}

}  // namespace
}  // namespace avx512
}  // namespace ved::nn::kernels

#include "kernels/target_end.inc"

#undef VED_TARGET
#define VED_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c,bmi,bmi2,lzcnt,popcnt"
#include "kernels/target_begin.inc"

namespace ved::nn::kernels {
namespace avx512 {
namespace {

// x[m] quantised to int8 for vpdpbusd: q = round(x / s) in [-127, 127] with s = max|x| / 127,
// one scale per row (dynamic, symmetric, as weight-and-activation int8 schemes quantise
// activations per token). Returns s, and sum = Σ q for the offset correction; s is NaN when the
// row holds inf or NaN (which int8 cannot carry), 0 for a row of zeros.
float quantise_row(const float* x, int64_t K, int8_t* q, int32_t& sum) {
  __m512 amax = _mm512_setzero_ps();
  __mmask16 bad = 0;
  const __m512 big = _mm512_set1_ps(3.4028235e38f);
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 mask = first_lanes(K - k);
    const __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(mask, x + k));
    bad |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);  // inf or NaN
    amax = _mm512_max_ps(amax, a);
  }
  sum = 0;
  if (bad) return __builtin_nanf("");
  const float top = _mm512_reduce_max_ps(amax);
  const __m512 inv = _mm512_set1_ps(top > 0.0f ? 127.0f / top : 0.0f);
  __m512i total = _mm512_setzero_si512();
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 mask = first_lanes(K - k);
    // Round to nearest even; |x| · 127 / max|x| stays within 127 (+ rounding), so no clamp.
    const __m512i v =
        _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + k), inv),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    total = _mm512_add_epi32(total, v);
    _mm512_mask_cvtepi32_storeu_epi8(q + k, mask, v);
  }
  sum = _mm512_reduce_add_epi32(total);
  return top / 127.0f;
}

// out[m] = Σ_k q[m, k] · w[k] for MR rows of quantised x and one row of int8 W, exactly, in
// int32. vpdpbusd multiplies unsigned by signed bytes, four pairs into each of 16 int32 sums; W is
// made unsigned by flipping its sign bit (w + 128, in 1..255 since W's int8 lie in -127..127), so
// each sum comes out as Σ q·w + 128 Σ q and the caller subtracts 128 Σ q, known per row of x: one
// extra instruction per 64 weights for all rows, none per row. Integer sums are exact, so the
// order of the sums does not matter at all; they cannot overflow for K <= 65536
// (255 · 127 · K < 2^31).
template <int MR>
void dot_row_i8(const int8_t* x, int64_t K, const int8_t* w, int32_t* out) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i acc[MR][2];
  for (int m = 0; m < MR; ++m) acc[m][0] = acc[m][1] = _mm512_setzero_si512();
  int64_t k = 0;
  for (; k + 128 <= K; k += 128) {
    prefetch_ahead(w + k);
    prefetch_ahead(w + k + 64);
    const __m512i w0 = _mm512_xor_si512(_mm512_loadu_si512(w + k), flip),
                  w1 = _mm512_xor_si512(_mm512_loadu_si512(w + k + 64), flip);
    for (int m = 0; m < MR; ++m) {
      acc[m][0] = _mm512_dpbusd_epi32(acc[m][0], w0, _mm512_loadu_si512(x + m * K + k));
      acc[m][1] = _mm512_dpbusd_epi32(acc[m][1], w1, _mm512_loadu_si512(x + m * K + k + 64));
    }
  }
  // Up to two steps of 64, the last masked: zero bytes of x past K make their products vanish
  // whatever W's bytes are.
  for (int half = 0; k < K; k += 64, half ^= 1) {
    const __mmask64 mask =
        K - k >= 64 ? _cvtu64_mask64(~uint64_t{0}) : _cvtu64_mask64((uint64_t{1} << (K - k)) - 1u);
    const __m512i wv = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, w + k), flip);
    for (int m = 0; m < MR; ++m)
      acc[m][half] =
          _mm512_dpbusd_epi32(acc[m][half], wv, _mm512_maskz_loadu_epi8(mask, x + m * K + k));
  }
  for (int m = 0; m < MR; ++m)
    out[m] = _mm512_reduce_add_epi32(_mm512_add_epi32(acc[m][0], acc[m][1]));
}

// int8 weights with x quantised per row to int8 as well: y = s_x · s_w · Σ q·w, the sum exact.
// The numeric cost is x's rounding: |x - s_x q| <= max|x| / 254 per element, so a dot product
// moves by about max|x| / (254 · sqrt(3)) · ||w||, larger than bf16's and largest for rows whose
// maximum is an outlier far above their typical element (a few of GPT-2's hidden features are),
// which is why the top-1 agreement asked of int8 is lower. A row holding inf or NaN is computed
// by the widening kernel instead, alone, so it gives what f32 activations give.
void skinny_vnni(const WeightView& w, const float* x, int64_t M, float* y) {
  const int64_t N = w.rows, K = w.cols;
  int8_t* xq = reduced_scratch<int8_t>(M * K);
  float sx[kSkinnyRows];
  int32_t corr[kSkinnyRows];
  for (int64_t m = 0; m < M; ++m) {
    int32_t sum;
    sx[m] = quantise_row(x + m * K, K, xq + m * K, sum);
    corr[m] = 128 * sum;
  }
  for_each_tile<1>(N, K, M, y, [&](int64_t n, int64_t, int64_t m0, int64_t mr, float* out) {
    const int8_t *row = w.i8 + n * K, *xm = xq + m0 * K;
    int32_t dot[4];
    switch (mr) {
      case 1:
        dot_row_i8<1>(xm, K, row, dot);
        break;
      case 2:
        dot_row_i8<2>(xm, K, row, dot);
        break;
      case 3:
        dot_row_i8<3>(xm, K, row, dot);
        break;
      default:
        dot_row_i8<4>(xm, K, row, dot);
    }
    for (int64_t m = 0; m < mr; ++m)
      out[m] = static_cast<float>(dot[m] - corr[m0 + m]) * (sx[m0 + m] * w.scale[n]);
  });
  for (int64_t m = 0; m < M; ++m)
    if (sx[m] != sx[m]) avx512::multiply(w, x + m * K, 1, y + m * N, {});
}

}  // namespace
}  // namespace avx512
}  // namespace ved::nn::kernels

#include "kernels/target_end.inc"

#if VED_HAVE_AMX
#undef VED_TARGET
#define VED_TARGET \
  "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-bf16,fma,f16c,bmi,bmi2,lzcnt,popcnt"
#include "kernels/target_begin.inc"

namespace ved::nn::kernels {
namespace avx512 {
namespace {

// The GEMM of bf16 and int8 weights on AMX (Intel Xeon since Sapphire Rapids), with the same
// operands as gemm_bf16 (x rounded to bf16, int8 columns scaled after the sum). One tdpbf16ps
// multiplies a 16 x 32 block by a 32 x 16 one (8192 multiply-adds) where vdpbf16ps does 32; on
// an Intel Xeon VM, where vdpbf16ps did not outpace f32 FMAs (see dispatch.cpp), this made bf16
// encoders 3x faster than f32 ones. The tiles of y are gemm_bf16's grid (for_each_panel_tile)
// with 32-row panels, and every sum runs over k in order, 32 k per instruction, so y is the same
// bits on any number of threads.
//
// The product is computed transposed, yᵀ = W xᵀ: W's rows are then the left operand as they lie
// in memory (16 rows by 32 k a tile), and only x needs packing, as pairs of k per row (the right
// operand's layout), once per call. Packing W's panels instead, as the other GEMMs do, took a
// quarter of the time of the products themselves. Eight tile registers of 16 rows x 64 bytes:
// tmm0-3 the sums of 32 columns of y by 32 rows, tmm4-5 two 16-row blocks of W, tmm6-7 two
// 16-row panels of x.
constexpr int64_t kAmxRows = 32, kAmxCols = 32;

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t bytes_per_row[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
const TileConfig kTileConfig;

// tmm0-3, the sums of a 32 x 32 block, to zero.
inline void zero_sums() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

// W's rows [n0, n0 + width) as kAmxCols bf16 rows of Kp, zero past K and past width: for int8
// weights (converted exactly), the last, narrower block of rows, and a K that is not a whole
// number of tiles (a tile load would read past the row).
void stage_rows_bf16(const WeightView& w, int64_t n0, int64_t width, int64_t Kp, uint16_t* out) {
  const int64_t K = w.cols;
  for (int64_t i = 0; i < kAmxCols; ++i) {
    uint16_t* row = out + i * Kp;
    int64_t k = 0;
    if (i < width && w.type == WeightType::BF16) {
      std::copy_n(w.bf16 + (n0 + i) * K, K, row);
      k = K;
    } else if (i < width) {
      for (; k < K; k += 16) {
        const __mmask16 mask = first_lanes(K - k);
        const __m512 v = _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, w.i8 + (n0 + i) * K + k)));
        _mm256_mask_storeu_epi16(row + k, mask, reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)));
      }
      k = K;
    }
    std::fill(row + k, row + Kp, uint16_t{0});
  }
}

void gemm_amx(const WeightView& w, const float* x, int64_t M, float* y, const Epilogue& e) {
  const int64_t N = w.rows, K = w.cols;
  // k padded with zeros to whole tiles: 32 bf16 of W, 16 pairs of x.
  const int64_t K2p = ((K + 1) / 2 + 15) / 16 * 16, Kp = 2 * K2p;
  constexpr int64_t MR = kAmxRows, NR = kAmxCols, kHalf = MR / 2;
  const SplitEpilogue epilogue(e);
  // Each 32-row panel of x as two 16-row panels of K2p pairs (zero past K and past M).
  uint32_t* xp = nullptr;
  const auto pack = [&](int64_t p0, int64_t panels, int64_t capacity) {
    xp = reinterpret_cast<uint32_t*>(scratch(2, capacity * MR * K2p));
    parallel_for(0, panels * 2, 0, [&](int64_t half) {
      const int64_t r = p0 * MR + half * kHalf, rows = std::clamp<int64_t>(M - r, 0, kHalf);
      uint32_t* out = xp + half * kHalf * K2p;
      pack_x_pairs<kHalf>(rows ? x + r * K : x, K, rows, out, K);
      std::fill(out + (K + 1) / 2 * kHalf, out + K2p * kHalf, 0u);
    });
  };
  const auto tile = [&](int64_t p0, int64_t first, int64_t last, int64_t n_tile) {
    uint16_t* staged = reinterpret_cast<uint16_t*>(scratch(0, NR * Kp / 2));
    alignas(64) float sums[NR * MR], block[MR * NR];  // yᵀ's block, then y's
    _tile_loadconfig(&kTileConfig);
    for (int64_t n0 = n_tile; n0 < std::min(N, n_tile + kTileCols); n0 += NR) {
      const int64_t width = std::min(NR, N - n0);
      float scale[NR] = {};
      if (w.type == WeightType::Int8) std::copy_n(w.scale + n0, width, scale);
      const bool in_place = w.type == WeightType::BF16 && width == NR && K == Kp;
      if (!in_place) stage_rows_bf16(w, n0, width, Kp, staged);
      const uint16_t* wa = in_place ? w.bf16 + n0 * K : staged;
      const int64_t lda = in_place ? K : Kp;
      // The tile loads read memory that the compiler does not know they read.
      asm volatile("" ::: "memory");
      for (int64_t p = first; p < last; ++p) {
        const int64_t r = (p0 + p) * MR, rows = std::min(MR, M - r);
        const uint32_t* x0 = xp + p * MR * K2p;
        const uint32_t* x1 = x0 + kHalf * K2p;
        zero_sums();
        for (int64_t q = 0; q < K2p; q += 16) {
          _tile_loadd(4, wa + 2 * q, lda * 2);
          _tile_loadd(5, wa + 16 * lda + 2 * q, lda * 2);
          _tile_loadd(6, x0 + q * kHalf, kHalf * 4);
          _tile_loadd(7, x1 + q * kHalf, kHalf * 4);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, sums, MR * 4);
        _tile_stored(1, sums + 16, MR * 4);
        _tile_stored(2, sums + 16 * MR, MR * 4);
        _tile_stored(3, sums + 16 * MR + 16, MR * 4);
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j)
            transpose16(sums + 16 * i * MR + 16 * j, MR, block + 16 * j * NR + 16 * i, NR);
        // Out through gemm_panel_bf16's store, 8 rows at a time.
        for (int64_t m0 = 0; m0 < rows; m0 += kGemmRows) {
          __m512 acc[kGemmRows][2];
          for (int64_t m = 0; m < kGemmRows; ++m)
            for (int j = 0; j < 2; ++j) {
              acc[m][j] = _mm512_load_ps(block + (m0 + m) * NR + 16 * j);
              if (w.type == WeightType::Int8)
                acc[m][j] = _mm512_mul_ps(acc[m][j], _mm512_loadu_ps(scale + 16 * j));
            }
          store_tile(acc, y + (r + m0) * N + n0, N, std::min(kGemmRows, rows - m0), width,
                     epilogue.bias(n0), epilogue.residual(N, r + m0, n0));
        }
        epilogue.rest(y, N, r, rows, n0, width);
      }
    }
    _tile_release();
  };
  for_each_panel_tile(M, N, MR, pack, tile);
}

// 16 floats rounded to bf16 (as to_bf16 rounds), one per 32-bit lane's low half.
inline __m512i bf16_lanes(__m512 v) {
  return _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)));
}

// One head of attention on AMX tiles, for models whose weights are bf16 or int8
// (AttentionArgs::reduced): q, k, the probabilities and v are rounded to bf16, as those models'
// products round x; the sums, the scaling, the biases and the softmax stay f32. In trocr-small's
// bf16 encoder (577 tokens, 64-wide heads) the f32 kernel (attention_rows.inc) took as long as
// all the encoder's products on AMX.
//
// k is packed once as the right operand of q kᵀ (16-key panels of pairs of features), v as that
// of p v (16-feature panels of pairs of keys). Then 32 queries at a time: their scores against
// every key (32 x 32 blocks, four tiles each, the features in order), the softmax of each row,
// its probabilities as bf16, and the block's output, 32 features at a time (the keys in order).
// A query's sums never involve another query's operands, so its output does not depend on the
// block it falls in nor on the thread count. Heads whose width is not a whole number of
// 16-float rows, and fewer than 16 queries, take the f32 kernel.
void attend_amx(const AttentionArgs& a, int64_t h, const float* bias, const float* bias2) {
  const int64_t d = a.head_dim, tq = a.tq, tk = a.tk;
  if (!a.reduced || d % 16 != 0 || tq < 16 || tk < 1) return attend(a, h, bias, bias2);
  constexpr int64_t B = 32;  // queries and keys a block; features or keys a tile row
  const int64_t dp = (d + B - 1) / B * B, tkp = (tk + B - 1) / B * B;
  // In 4-byte units: kp [tkp / 16][dp / 2][16], vp [d / 16][tkp / 2][16], the block's scores
  // [B][tkp] and probabilities [B][tkp / 2], its queries [B][dp / 2] and a staged output [B][B].
  const int64_t kp_size = tkp * dp / 2, vp_size = d * tkp / 2;
  thread_local std::vector<float> buffer;
  const size_t need =
      static_cast<size_t>(kp_size + vp_size + B * tkp * 3 / 2 + B * dp / 2 + B * B + 16);
  if (buffer.size() < need) buffer.resize(need);
  float* base = buffer.data() + (64 - reinterpret_cast<uintptr_t>(buffer.data()) % 64) % 64 / 4;
  uint32_t* kp = reinterpret_cast<uint32_t*>(base);
  uint32_t* vp = kp + kp_size;
  float* s = reinterpret_cast<float*>(vp + vp_size);
  uint16_t* pb = reinterpret_cast<uint16_t*>(s + B * tkp);
  uint16_t* qb = pb + B * tkp;
  float* staged = reinterpret_cast<float*>(qb + B * dp);

  for (int64_t j0 = 0; j0 < tkp; j0 += 16) {
    const int64_t rows = std::clamp<int64_t>(tk - j0, 0, 16);
    uint32_t* panel = kp + j0 * dp / 2;
    pack_x_pairs<16>(a.keys(h) + (rows ? j0 * a.kv_stride : 0), d, rows, panel, a.kv_stride);
    std::fill(panel + d / 2 * 16, panel + dp / 2 * 16, 0u);
  }
  for (int64_t q = 0; q < tkp / 2; ++q) {
    const int64_t j = 2 * q;
    const float* v0 = a.values(h) + j * a.kv_stride;
    for (int64_t c0 = 0; c0 < d; c0 += 16) {
      const __m512i lo = j < tk ? bf16_lanes(_mm512_loadu_ps(v0 + c0)) : _mm512_setzero_si512();
      const __m512i hi =
          j + 1 < tk ? bf16_lanes(_mm512_loadu_ps(v0 + a.kv_stride + c0)) : _mm512_setzero_si512();
      _mm512_store_si512(vp + (c0 * tkp / 2 + q * 16),
                         _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }

  _tile_loadconfig(&kTileConfig);
  for (int64_t i0 = 0; i0 < tq; i0 += B) {
    const int64_t rows = std::min(B, tq - i0);
    for (int64_t r = 0; r < B; ++r) {
      uint16_t* row = qb + r * dp;
      if (r < rows) to_bf16(a.q + (i0 + r) * a.q_stride + h * d, d, row);
      std::fill(row + (r < rows ? d : 0), row + dp, uint16_t{0});
    }
    asm volatile("" ::: "memory");  // the tile loads read what was just stored
    for (int64_t j0 = 0; j0 < tkp; j0 += B) {
      zero_sums();
      for (int64_t c = 0; c < dp; c += B) {
        _tile_loadd(4, qb + c, dp * 2);
        _tile_loadd(5, qb + 16 * dp + c, dp * 2);
        _tile_loadd(6, kp + j0 * dp / 2 + c / 2 * 16, 64);
        _tile_loadd(7, kp + (j0 + 16) * dp / 2 + c / 2 * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, s + j0, tkp * 4);
      _tile_stored(1, s + j0 + 16, tkp * 4);
      _tile_stored(2, s + 16 * tkp + j0, tkp * 4);
      _tile_stored(3, s + 16 * tkp + j0 + 16, tkp * 4);
    }
    for (int64_t r = 0; r < B; ++r) {
      uint16_t* p = pb + r * tkp;
      if (r >= rows) {
        std::fill(p, p + tkp, uint16_t{0});
        continue;
      }
      float* row = s + r * tkp;
      scores_to_probabilities(a, i0 + r, row, bias, bias2);  // attention_rows.inc's
      std::fill(row + tk, row + tkp, 0.0f);                  // the padding keys
      to_bf16(row, tkp, p);
    }
    asm volatile("" ::: "memory");
    float* out = a.out + i0 * a.out_stride + h * d;
    for (int64_t c0 = 0; c0 < d; c0 += B) {
      const bool two = d - c0 > 16;  // a second 16-feature panel
      zero_sums();
      for (int64_t j = 0; j < tkp; j += B) {
        _tile_loadd(4, pb + j, tkp * 2);
        _tile_loadd(5, pb + 16 * tkp + j, tkp * 2);
        _tile_loadd(6, vp + c0 * tkp / 2 + j / 2 * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(2, 5, 6);
        if (two) {
          _tile_loadd(7, vp + (c0 + 16) * tkp / 2 + j / 2 * 16, 64);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
      // Whole blocks straight into the output, the last one through `staged`.
      float* o = rows == B ? out + c0 : staged;
      const int64_t ldo = rows == B ? a.out_stride : B;
      _tile_stored(0, o, ldo * 4);
      _tile_stored(2, o + 16 * ldo, ldo * 4);
      if (two) {
        _tile_stored(1, o + 16, ldo * 4);
        _tile_stored(3, o + 16 * ldo + 16, ldo * 4);
      }
      if (rows < B)
        for (int64_t r = 0; r < rows; ++r)
          std::copy_n(staged + r * B, two ? 32 : 16, out + r * a.out_stride + c0);
    }
  }
  _tile_release();
}

}  // namespace
}  // namespace avx512
}  // namespace ved::nn::kernels

#include "kernels/target_end.inc"
#endif  // VED_HAVE_AMX

namespace ved::nn::kernels {
namespace avx512 {
namespace {

// int8 sums stay exact up to this K (see dot_row_i8); wider products widen instead.
constexpr int64_t kMaxVnniCols = 65536;

// The reduced-precision paths for the products they cover (bf16 or int8 weights this CPU has
// the instruction for: few rows, and many with kBf16Gemm); everything else, f32 above all, is
// the AVX-512 set's own, whose GEMM widens bf16 and int8 weights to f32.
template <bool kBf16, bool kVnni, bool kBf16Gemm, bool kAmx = false>
void multiply_reduced(const WeightView& w, const float* x, int64_t M, float* y, const Epilogue& e) {
  static_assert(kBf16 || !kBf16Gemm, "the bf16 GEMM needs AVX512-BF16");
  const bool reduced = w.type == WeightType::BF16 || w.type == WeightType::Int8;
#if VED_HAVE_AMX
  if (kAmx && M > kSkinnyRows && reduced) return gemm_amx(w, x, M, y, e);
#endif
  if (kBf16Gemm && M > kSkinnyRows && reduced) return gemm_bf16(w, x, M, y, e);
  if (kBf16 && M <= kSkinnyRows && w.type == WeightType::BF16) {
    skinny_bf16(w, x, M, y);
  } else if (kVnni && M <= kSkinnyRows && w.type == WeightType::Int8 && w.cols <= kMaxVnniCols) {
    skinny_vnni(w, x, M, y);
  } else {
    return avx512::multiply(w, x, M, y, e);
  }
  finish(e, y, w.rows, 0, M, 0, w.rows);
}

}  // namespace
}  // namespace avx512

const KernelSet* avx512_reduced_kernels(bool bf16, bool vnni, bool bf16_gemm, bool amx) {
  using avx512::multiply_reduced;
  const auto set = [](const char* name, decltype(KernelSet::multiply) multiply,
                      decltype(KernelSet::attend) attend = avx512::attend) {
    return KernelSet{name,         multiply,          avx512::softmax, avx512::layer_norm,
                     avx512::gelu, avx512::gelu_tanh, attend,          avx512::attend_heads};
  };
  static const KernelSet sets[] = {
    set("avx512 (vnni)", multiply_reduced<false, true, false>),
    set("avx512 (bf16 decoding)", multiply_reduced<true, false, false>),
    set("avx512 (bf16 decoding, vnni)", multiply_reduced<true, true, false>),
    set("avx512 (bf16)", multiply_reduced<true, false, true>),
    set("avx512 (bf16, vnni)", multiply_reduced<true, true, true>),
#if VED_HAVE_AMX
    set("avx512 (amx bf16, vnni)", multiply_reduced<true, true, false, true>, avx512::attend_amx),
#endif
  };
  if (!bf16) return vnni ? &sets[0] : nullptr;
#if VED_HAVE_AMX
  if (amx && vnni) return &sets[5];
#endif
  return &sets[1 + int(vnni) + 2 * int(bf16_gemm)];
}

}  // namespace ved::nn::kernels

#else

const ved::nn::kernels::KernelSet* ved::nn::kernels::avx512_reduced_kernels(bool, bool, bool,
                                                                            bool) {
  return nullptr;
}

#endif
