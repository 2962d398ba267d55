#pragma once

// y = x Wᵀ for the weight matrices of linear layers, W [N, K] kept in f32, bf16 or int8.
//
// Two regimes. Many rows of x (an encoder's tokens): compute-bound, so the product is cut into
// fixed tiles shared out among the threads. With AVX-512, x is packed once into panels of a few
// rows, each tile packs its band of W (widening bf16/int8) once, and a register-blocked kernel
// sums every output over k in order; elsewhere each tile is a single-threaded Eigen GEMM. Eigen's
// own threading is not used because its blocking, and so the order of its sums, depends on the
// thread count; fixed tiles make y the same bits on any number of cores (and Eigen's tiles would
// repack x for every band of W, a quarter of the time on ViT's shapes). A few rows (decoding:
// one per sequence or beam): bandwidth-bound, since every weight is
// used once per row. Eigen's GEMM would pack the whole of W for them and its matrix-vector product
// is single-threaded, so `skinny` kernels stream W once for all rows, on every core, straight from
// its stored type. Each output is one dot product in a fixed order, so here too results do not
// depend on the thread count or on which other rows share the call.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define VED_AVX512 1
#endif

#include "ved/detail/half.hpp"
#include "ved/detail/parallel.hpp"
#include "ved/error.hpp"
#include "ved/model_options.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

namespace kernel {

// Round-to-nearest-even, as torch's float -> bfloat16 conversion; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

}  // namespace kernel

// The matrix of a linear layer: N output rows of K inputs, in one WeightType. F32 matrices keep
// the tensor they were given (which may be a memory-mapped checkpoint), in either layout:
// [N, K] as nn.Linear stores it, or [K, N] as GPT-2's Conv1D does, so neither is copied.
class WeightMatrix {
 public:
  WeightMatrix() = default;

  // w [N, K], or [K, N] when `transposed`.
  explicit WeightMatrix(Tensor<float> w, bool transposed = false)
      : type_(WeightType::F32), transposed_(transposed), f32_(std::move(w)) {
    if (f32_.ndim() != 2) throw InvalidArgument("WeightMatrix: weight must be 2-D");
    rows_ = f32_.dim(transposed ? 1 : 0);
    cols_ = f32_.dim(transposed ? 0 : 1);
  }

  WeightType type() const { return type_; }
  int64_t rows() const { return rows_; }  // N, output features
  int64_t cols() const { return cols_; }  // K, input features
  bool empty() const { return rows_ == 0 && cols_ == 0; }

  // The same matrix in `type` ([N, K] when converted; itself when already `type`). Int8 uses one
  // scale per row, max|w| / 127 (symmetric, as weight-only quantisation schemes do per output
  // channel), so a row's largest weight is exact.
  WeightMatrix converted(WeightType type, const std::string& what = "weight") const {
    if (type == type_) return *this;
    if (type_ != WeightType::F32)
      throw InvalidArgument("WeightMatrix: only f32 weights can be converted");
    WeightMatrix m;
    m.type_ = type;
    m.rows_ = rows_;
    m.cols_ = cols_;
    // A scale cannot represent inf or NaN, and converting them to int8 is undefined. Checked
    // here, before the parallel loop, which must not throw.
    if (type == WeightType::Int8)
      for (int64_t i = 0; i < f32_.numel(); ++i)
        if (!std::isfinite(f32_.data()[i]))
          throw WeightError(what + ": element " + std::to_string(i) + " is " +
                            std::to_string(f32_.data()[i]) + ", which int8 cannot represent");
    if (type == WeightType::BF16)
      m.bf16_ = Tensor<uint16_t>({rows_, cols_});
    else
      m.i8_ = Tensor<int8_t>({rows_, cols_}), m.scale_ = Tensor<float>({rows_});
    parallel_for(0, rows_, 16, [&](int64_t n) {
      std::vector<float> row(static_cast<size_t>(cols_));
      f32_row(n, row.data());
      if (type == WeightType::BF16) {
        uint16_t* out = m.bf16_.data() + n * cols_;
        for (int64_t k = 0; k < cols_; ++k) out[k] = kernel::f32_to_bf16(row[k]);
        return;
      }
      float amax = 0.0f;
      for (float v : row) amax = std::max(amax, std::fabs(v));
      const float scale = amax / 127.0f;
      m.scale_.data()[n] = scale;
      int8_t* out = m.i8_.data() + n * cols_;
      for (int64_t k = 0; k < cols_; ++k)
        out[k] = scale > 0.0f ? static_cast<int8_t>(std::nearbyint(row[k] / scale)) : int8_t{0};
    });
    return m;
  }

  // Row n as f32 (what the kernels multiply by).
  void f32_row(int64_t n, float* out) const {
    switch (type_) {
      case WeightType::F32:
        if (transposed_) {
          for (int64_t k = 0; k < cols_; ++k) out[k] = f32_.data()[k * rows_ + n];
        } else {
          std::copy(f32_.data() + n * cols_, f32_.data() + (n + 1) * cols_, out);
        }
        return;
      case WeightType::BF16:
        for (int64_t k = 0; k < cols_; ++k)
          out[k] = ved::detail::bf16_to_f32(bf16_.data()[n * cols_ + k]);
        return;
      case WeightType::Int8:
        for (int64_t k = 0; k < cols_; ++k)
          out[k] = static_cast<float>(i8_.data()[n * cols_ + k]) * scale_.data()[n];
        return;
    }
  }

  // Matrices with the same K stacked row-wise: one product instead of several (fused q, k, v).
  static WeightMatrix stack(const std::vector<const WeightMatrix*>& parts) {
    WeightMatrix m;
    m.type_ = parts.at(0)->type_;
    m.cols_ = parts[0]->cols_;
    for (const WeightMatrix* p : parts) {
      if (p->type_ != m.type_ || p->cols_ != m.cols_)
        throw InvalidArgument("WeightMatrix::stack: parts differ in type or width");
      m.rows_ += p->rows_;
    }
    if (m.type_ == WeightType::F32) m.f32_ = Tensor<float>({m.rows_, m.cols_});
    if (m.type_ == WeightType::BF16) m.bf16_ = Tensor<uint16_t>({m.rows_, m.cols_});
    if (m.type_ == WeightType::Int8)
      m.i8_ = Tensor<int8_t>({m.rows_, m.cols_}), m.scale_ = Tensor<float>({m.rows_});
    int64_t row = 0;
    for (const WeightMatrix* p : parts) {
      for (int64_t n = 0; n < p->rows_; ++n, ++row) {
        if (m.type_ == WeightType::F32) p->f32_row(n, m.f32_.data() + row * m.cols_);
        if (m.type_ == WeightType::BF16)
          std::copy_n(p->bf16_.data() + n * m.cols_, m.cols_, m.bf16_.data() + row * m.cols_);
        if (m.type_ == WeightType::Int8) {
          std::copy_n(p->i8_.data() + n * m.cols_, m.cols_, m.i8_.data() + row * m.cols_);
          m.scale_.data()[row] = p->scale_.data()[n];
        }
      }
    }
    return m;
  }

  // y [M, N] = x [M, K] Wᵀ (row-major, contiguous).
  void multiply(const float* x, int64_t M, float* y) const;

 private:
  template <typename Load>
  void skinny(const float* x, int64_t M, float* y, const Load& load) const;
  void skinny_transposed(const float* x, int64_t M, float* y) const;
  void gemm(const float* x, int64_t M, float* y) const;
  void pack_panel(int64_t n0, int64_t width, float* out) const;

  WeightType type_ = WeightType::F32;
  bool transposed_ = false;  // f32 stored [K, N]
  int64_t rows_ = 0, cols_ = 0;
  Tensor<float> f32_;
  Tensor<uint16_t> bf16_;
  Tensor<int8_t> i8_;
  Tensor<float> scale_;  // int8: per row
};

namespace kernel {

// Up to this many rows of x, products stream W through the skinny kernels; above it they are
// compute-bound and blocked GEMM wins. Beam search (4 beams) and small batches stay below.
constexpr int64_t kSkinnyRows = 8;

// How many blocks of `block_work` multiply-adds a skinny product must have before it is split
// across threads: waking a team costs microseconds, as much as a small layer's whole product.
inline int64_t serial_blocks(int64_t block_work) {
  constexpr int64_t kMinParallelWork = int64_t{1} << 17;
  return std::max<int64_t>(1, kMinParallelWork / std::max<int64_t>(1, block_work));
}

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMajor>;
using RowMap = Eigen::Map<RowMajor>;

#ifdef VED_AVX512
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
inline void dot_tile(const float* x, int64_t K, const Load* w, float* out, int64_t ldo) {
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
inline void axpy_band(const float* x, int64_t K, const float* w, int64_t ldw, float* y,
                      int64_t ldy) {
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

template <typename Tile>
inline void for_transposed_rows(int64_t rows, const Tile& tile) {
  switch (rows) {
    case 1:
      return tile(std::integral_constant<int, 1>());
    case 2:
      return tile(std::integral_constant<int, 2>());
    case 3:
      return tile(std::integral_constant<int, 3>());
    case 4:
      return tile(std::integral_constant<int, 4>());
    case 5:
      return tile(std::integral_constant<int, 5>());
    default:
      return tile(std::integral_constant<int, 6>());
  }
}

// The packed GEMM: x in panels of kGemmRows rows ([k][row], zero rows past M), W in panels of
// kGemmCols columns ([k][col], zero columns past N). 8 x 32 outputs in 16 registers: per k two
// loads of W, eight broadcasts of x and sixteen FMAs, so the FMA units, not the loads, set the
// pace.
constexpr int64_t kGemmRows = 8, kGemmCols = 32;

// y[0:rows, 0:cols] (row stride ldy) = one x panel times one W panel, summed over k in order.
inline void gemm_panel(const float* xp, const float* wp, int64_t K, float* y, int64_t ldy,
                       int64_t rows, int64_t cols) {
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
inline void transpose16(const float* in, int64_t ldi, float* out, int64_t ldo) {
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

// Per-thread buffers of at least n floats, 64-byte aligned, kept between calls: slot 0 holds a
// packed W panel, slot 1 a widened weight row while one is packed.
inline float* scratch(int slot, int64_t n) {
  thread_local std::vector<float> buf[2];
  std::vector<float>& b = buf[slot];
  if (b.size() < static_cast<size_t>(n + 16)) b.assign(static_cast<size_t>(n + 16), 0.0f);
  const auto addr = reinterpret_cast<uintptr_t>(b.data());
  return b.data() + ((64 - addr % 64) % 64) / sizeof(float);
}
#endif

// Portable loaders: weight k of a row as f32.
struct PortableF32 {
  const float* w;
  float operator[](int64_t k) const { return w[k]; }
};
struct PortableBF16 {
  const uint16_t* w;
  float operator[](int64_t k) const { return ved::detail::bf16_to_f32(w[k]); }
};
struct PortableI8 {
  const int8_t* w;
  float operator[](int64_t k) const { return static_cast<float>(w[k]); }
};

// The portable kernel: the same tile, 16 partial sums per dot product, summed pairwise at the end.
template <int MR, int NR, typename Load>
inline void dot_tile_generic(const float* x, int64_t K, const Load* w, float* out, int64_t ldo) {
  float acc[MR][NR][16] = {};
  for (int64_t k0 = 0; k0 < K; k0 += 16) {
    const int64_t len = std::min<int64_t>(16, K - k0);
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n)
        for (int64_t l = 0; l < len; ++l) acc[m][n][l] += x[m * K + k0 + l] * w[n][k0 + l];
  }
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      float* a = acc[m][n];
      for (int width = 8; width >= 1; width /= 2)
        for (int l = 0; l < width; ++l) a[l] += a[l + width];
      out[m * ldo + n] = a[0];
    }
}

// The tile for MR = 1..4 rows chosen at run time.
template <int NR, typename Tile>
inline void for_rows(int64_t rows, const Tile& tile) {
  switch (rows) {
    case 1:
      return tile(std::integral_constant<int, 1>(), std::integral_constant<int, NR>());
    case 2:
      return tile(std::integral_constant<int, 2>(), std::integral_constant<int, NR>());
    case 3:
      return tile(std::integral_constant<int, 3>(), std::integral_constant<int, NR>());
    default:
      return tile(std::integral_constant<int, 4>(), std::integral_constant<int, NR>());
  }
}

}  // namespace kernel

// Skinny product, parallel over blocks of output rows. `load(n)` gives row n's loader (AVX-512)
// or pointer (portable); `scale(n)` the factor its dot products are multiplied by.
template <typename Load>
void WeightMatrix::skinny(const float* x, int64_t M, float* y, const Load& load) const {
  constexpr int64_t NR = 4, kBlock = 16;
  const int64_t N = rows_, K = cols_;
  const float* scale = type_ == WeightType::Int8 ? scale_.data() : nullptr;
  parallel_for(0, (N + kBlock - 1) / kBlock, kernel::serial_blocks(kBlock * K * M),
               [&](int64_t block) {
                 const int64_t n_end = std::min(N, (block + 1) * kBlock);
                 for (int64_t n0 = block * kBlock; n0 < n_end; n0 += NR) {
                   const int64_t nr = std::min(NR, n_end - n0);
                   decltype(load(0)) w[NR];
                   for (int64_t n = 0; n < NR; ++n) w[n] = load(std::min(n0 + n, N - 1));
                   for (int64_t m0 = 0; m0 < M; m0 += 4) {
                     const int64_t mr = std::min<int64_t>(4, M - m0);
                     float tile[4][NR];
                     auto run = [&](auto MR, auto) {
#ifdef VED_AVX512
                       kernel::dot_tile<MR(), NR>(x + m0 * K, K, w, &tile[0][0], NR);
#else
          kernel::dot_tile_generic<MR(), NR>(x + m0 * K, K, w, &tile[0][0], NR);
#endif
                     };
                     kernel::for_rows<NR>(mr, run);
                     for (int64_t m = 0; m < mr; ++m)
                       for (int64_t n = 0; n < nr; ++n)
                         y[(m0 + m) * N + n0 + n] = scale ? tile[m][n] * scale[n0 + n] : tile[m][n];
                   }
                 }
               });
}

// Skinny product for f32 stored [K, N]: rows of W are columns of the output, so each thread
// takes a band of output columns and accumulates x[m, k] · W[k, band] over k in order, for up
// to kTransposedRows rows of x per pass over the band.
inline void WeightMatrix::skinny_transposed(const float* x, int64_t M, float* y) const {
  const int64_t N = rows_, K = cols_;
  constexpr int64_t kBand = 64;
  const float* w = f32_.data();
  parallel_for(0, (N + kBand - 1) / kBand, kernel::serial_blocks(kBand * K * M), [&](int64_t band) {
    const int64_t n0 = band * kBand, width = std::min(kBand, N - n0);
#ifdef VED_AVX512
    if (width == kBand) {
      for (int64_t m0 = 0; m0 < M; m0 += kernel::kTransposedRows) {
        const int64_t mr = std::min(kernel::kTransposedRows, M - m0);
        kernel::for_transposed_rows(mr, [&](auto MR) {
          kernel::axpy_band<MR()>(x + m0 * K, K, w + n0, N, y + m0 * N + n0, N);
        });
      }
      return;
    }
#endif
    for (int64_t m = 0; m < M; ++m) {
      float acc[kBand] = {};
      for (int64_t k = 0; k < K; ++k) {
        const float xv = x[m * K + k];
        const float* wk = w + k * N + n0;
        for (int64_t j = 0; j < width; ++j) acc[j] += xv * wk[j];
      }
      std::copy(acc, acc + width, y + m * N + n0);
    }
  });
}

// Many rows: a grid of tiles of y that depends on the shape alone, never on the thread count (see
// the top of the file). Row blocks of at most 384 rows, evenly sized, by 64 columns leave 12 or
// more tiles to share out for every layer of a base-sized model (197 and 577 tokens, batches of
// 8). The team is forked even for one tile: inside a parallel region Eigen stays single-threaded.
#ifdef VED_AVX512
// W's columns [n0, n0 + width) as one packed panel: out[k * kGemmCols + j] = W[n0 + j, k].
inline void WeightMatrix::pack_panel(int64_t n0, int64_t width, float* out) const {
  constexpr int64_t NR = kernel::kGemmCols;
  const int64_t K = cols_;
  if (width < NR)
    for (int64_t k = 0; k < K; ++k) std::fill(out + k * NR + width, out + (k + 1) * NR, 0.0f);
  if (type_ == WeightType::F32 && transposed_) {
    for (int64_t k = 0; k < K; ++k) std::copy_n(f32_.data() + k * rows_ + n0, width, out + k * NR);
    return;
  }
  int64_t j = 0;
  if (type_ == WeightType::F32)  // whole 16 x 16 blocks transposed in registers
    for (; j + 16 <= width; j += 16) {
      const float* w = f32_.data() + (n0 + j) * K;
      int64_t k = 0;
      for (; k + 16 <= K; k += 16) kernel::transpose16(w + k, K, out + k * NR + j, NR);
      for (; k < K; ++k)
        for (int64_t i = 0; i < 16; ++i) out[k * NR + j + i] = w[i * K + k];
    }
  float* row = kernel::scratch(1, K);
  for (; j < width; ++j) {
    const float* w = row;
    if (type_ == WeightType::F32)
      w = f32_.data() + (n0 + j) * K;
    else
      f32_row(n0 + j, row);
    for (int64_t k = 0; k < K; ++k) out[k * NR + j] = w[k];
  }
}
#endif

inline void WeightMatrix::gemm(const float* x, int64_t M, float* y) const {
  const int64_t N = rows_, K = cols_;
  constexpr int64_t kMaxTileRows = 384, kTileCols = 64;
#ifdef VED_AVX512
  constexpr int64_t MR = kernel::kGemmRows, NR = kernel::kGemmCols;
  const int64_t panels = (M + MR - 1) / MR;
  const int64_t row_tiles = (panels * MR + kMaxTileRows - 1) / kMaxTileRows;
  const int64_t tile_panels = (panels + row_tiles - 1) / row_tiles;
  const int64_t col_tiles = (N + kTileCols - 1) / kTileCols;
  // x is packed a group of row tiles at a time, so that the copy stays a few MiB however tall x
  // is (Donut's first stage has 300k tokens); a group still holds enough tiles for every thread.
  const int64_t group_tiles = std::max<int64_t>(1, 32 / col_tiles);
  std::vector<float> packed_x;
  for (int64_t t0 = 0; t0 < row_tiles; t0 += group_tiles) {
    const int64_t p0 = t0 * tile_panels;
    const int64_t group_panels = std::min(panels, (t0 + group_tiles) * tile_panels) - p0;
    packed_x.resize(static_cast<size_t>(group_panels * MR * K) + 16);
    float* xp = packed_x.data() +
                ((64 - reinterpret_cast<uintptr_t>(packed_x.data()) % 64) % 64) / sizeof(float);
    parallel_for(0, group_panels, 0, [&](int64_t p) {
      float* out = xp + p * MR * K;
      for (int64_t m = 0; m < MR; ++m) {
        const int64_t row = (p0 + p) * MR + m;
        if (row < M) {
          const float* src = x + row * K;
          for (int64_t k = 0; k < K; ++k) out[k * MR + m] = src[k];
        } else {
          for (int64_t k = 0; k < K; ++k) out[k * MR + m] = 0.0f;
        }
      }
    });
    const int64_t tiles = (group_panels + tile_panels - 1) / tile_panels * col_tiles;
    parallel_for(0, tiles, 0, [&](int64_t tile) {
      const int64_t first = tile / col_tiles * tile_panels;
      const int64_t last = std::min(group_panels, first + tile_panels);
      const int64_t n_tile = tile % col_tiles * kTileCols;
      float* wp = kernel::scratch(0, NR * K);
      for (int64_t n0 = n_tile; n0 < std::min(N, n_tile + kTileCols); n0 += NR) {
        const int64_t width = std::min(NR, N - n0);
        pack_panel(n0, width, wp);
        for (int64_t p = first; p < last; ++p) {
          const int64_t row = (p0 + p) * MR;
          kernel::gemm_panel(xp + p * MR * K, wp, K, y + row * N + n0, N, std::min(MR, M - row),
                             width);
        }
      }
    });
  }
#else
  const int64_t row_tiles = (M + kMaxTileRows - 1) / kMaxTileRows;
  const int64_t tile_rows = (M + row_tiles - 1) / row_tiles;
  const int64_t col_tiles = (N + kTileCols - 1) / kTileCols;
  const kernel::ConstRowMap xm(x, M, K);
  kernel::RowMap ym(y, M, N);
  parallel_for(0, row_tiles * col_tiles, 0, [&](int64_t tile) {
    const int64_t m0 = tile / col_tiles * tile_rows, n0 = tile % col_tiles * kTileCols;
    const int64_t mb = std::min(tile_rows, M - m0), nb = std::min(kTileCols, N - n0);
    auto out = ym.block(m0, n0, mb, nb);
    const auto rows = xm.middleRows(m0, mb);
    if (type_ != WeightType::F32) {
      kernel::RowMajor wide(nb, K);
      for (int64_t n = 0; n < nb; ++n) f32_row(n0 + n, wide.data() + n * K);
      out.noalias() = rows * wide.transpose();
    } else if (transposed_) {
      out.noalias() = rows * kernel::ConstRowMap(f32_.data(), K, N).middleCols(n0, nb);
    } else {
      out.noalias() = rows * kernel::ConstRowMap(f32_.data(), N, K).middleRows(n0, nb).transpose();
    }
  });
#endif
}

inline void WeightMatrix::multiply(const float* x, int64_t M, float* y) const {
  if (M <= 0 || rows_ == 0) return;
  if (M > kernel::kSkinnyRows) return gemm(x, M, y);
  const int64_t K = cols_;
#ifdef VED_AVX512
  using F32 = kernel::LoadF32;
  using BF16 = kernel::LoadBF16;
  using I8 = kernel::LoadI8;
#else
  using F32 = kernel::PortableF32;
  using BF16 = kernel::PortableBF16;
  using I8 = kernel::PortableI8;
#endif
  switch (type_) {
    case WeightType::F32:
      if (transposed_) return skinny_transposed(x, M, y);
      return skinny(x, M, y, [&](int64_t n) { return F32{f32_.data() + n * K}; });
    case WeightType::BF16:
      return skinny(x, M, y, [&](int64_t n) { return BF16{bf16_.data() + n * K}; });
    case WeightType::Int8:
      return skinny(x, M, y, [&](int64_t n) { return I8{i8_.data() + n * K}; });
  }
}

}  // namespace ved::nn
