#pragma once

// y = x Wᵀ for the weight matrices of linear layers, W [N, K] kept in f32, bf16 or int8.
//
// Two regimes. Many rows of x (an encoder's tokens): compute-bound, so the product is cut into
// fixed tiles shared out among the threads. With AVX2 or AVX-512, each tile packs its band of W
// (widening bf16/int8) once, and a register-blocked kernel reads a few rows of x where they lie
// (AVX512-BF16's vdpbf16ps: x and W packed as bf16 pairs; on CPUs with AMX, tiles of bf16 W
// multiplied in place) and sums every output over k in order;
// elsewhere each tile is a single-threaded Eigen GEMM. Eigen's
// own threading is not used because its blocking, and so the order of its sums, depends on the
// thread count; fixed tiles make y the same bits on any number of cores (and Eigen's tiles would
// repack x for every band of W, a quarter of the time on ViT's shapes). A few rows (decoding:
// one per sequence or beam): bandwidth-bound, since every weight is
// used once per row. Eigen's GEMM would pack the whole of W for them and its matrix-vector product
// is single-threaded, so `skinny` kernels stream W once for all rows, on every core, straight from
// its stored type (with AVX512-BF16 / VNNI, dot-product instructions on bf16 or int8 copies of
// x). Each output is one dot product in a fixed order, so here too results do not depend on the
// thread count or on which other rows share the call (up to 8 rows: the server batches on it).
//
// The kernels live in src/kernels/, compiled for several instruction sets (generic x86-64 or
// any other CPU, AVX2 + FMA, AVX-512), and the best one this CPU has is chosen when ved starts
// (VED_ISA=generic|avx2|avx512 asks for a lower one; ved::kernel_isa() names the one in use).
// This header holds no ISA-specific code, so it means the same whatever flags a program is
// compiled with.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "ved/detail/half.hpp"
#include "ved/detail/mapped_file.hpp"
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

// Transposed f32 weights ([K, N], as GPT-2's Conv1D stores them) are kept in blocks of this many
// columns, each block's K rows contiguous (see WeightMatrix). It is also the width of the bands
// that the kernels stream such weights in.
constexpr int64_t kColumnBlock = 64;

// What the kernels see of a WeightMatrix: N rows of K weights in one of its types.
struct WeightView {
  WeightType type;
  bool transposed;  // f32 stored [K, N]
  int64_t rows, cols;
  const float* f32;  // row n of [N, K] at f32 + n * stride; transposed: see column()
  const uint16_t* bf16;
  const int8_t* i8;
  const float* scale;  // int8: per row
  int64_t stride;      // f32: between stored rows (cols; transposed: rows, or a block's width)
  // Transposed: between blocks of kColumnBlock columns, each of K rows `stride` apart (a
  // WeightMatrix's layout); 0 for one [K, N] matrix with rows `stride` apart.
  int64_t block_stride = 0;

  // Transposed: weight (k, n) is column(n)[k * stride], and so are the columns after n up to the
  // end of n's block of kColumnBlock.
  const float* column(int64_t n) const {
    return block_stride ? f32 + n / kColumnBlock * block_stride + n % kColumnBlock : f32 + n;
  }

  // Row n as f32 (what the kernels multiply by).
  void row_f32(int64_t n, float* out) const {
    switch (type) {
      case WeightType::F32:
        if (transposed) {
          const float* c = column(n);
          for (int64_t k = 0; k < cols; ++k) out[k] = c[k * stride];
        } else {
          std::copy(f32 + n * stride, f32 + n * stride + cols, out);
        }
        return;
      case WeightType::BF16:
        for (int64_t k = 0; k < cols; ++k) out[k] = ved::detail::bf16_to_f32(bf16[n * cols + k]);
        return;
      case WeightType::Int8:
        for (int64_t k = 0; k < cols; ++k) out[k] = static_cast<float>(i8[n * cols + k]) * scale[n];
        return;
    }
  }
};

// What a product does to its outputs once they are summed: y += bias (one value per column),
// then `activate` in place over each row's run of columns, then y += residual. The kernels run it
// on each block of y as soon as the block is done, on the thread that made it, while it is still
// in cache: a layer's bias, activation and residual connection were three more passes over y (two
// of them single-threaded), 4-5% of trocr-small's encoder. The same steps as over the whole of y
// afterwards, so the same bits.
struct Epilogue {
  const float* bias = nullptr;                      // [N], or none
  void (*activate)(float* p, int64_t n) = nullptr;  // or none
  const float* residual = nullptr;                  // [M, N], not overlapping y; or none
};

// y [M, N] = x [M, K] Wᵀ, then the epilogue, with the kernels chosen for this CPU
// (src/kernels/dispatch.cpp).
void multiply(const WeightView& w, const float* x, int64_t M, float* y, const Epilogue& e = {});

// The matrix of a linear layer: N output rows of K inputs, in one WeightType. F32 matrices in
// nn.Linear's [N, K] layout keep the tensor they were given (which may be a memory-mapped
// checkpoint); GPT-2's Conv1D ones, [K, N], are copied into column blocks (see the constructor).
class WeightMatrix {
 public:
  WeightMatrix() = default;

  // w [N, K], or [K, N] when `transposed`. A transposed matrix is kept as blocks of kColumnBlock
  // columns, each [K, kColumnBlock] with its rows contiguous, the last padded with zeros (one
  // block of N columns when N is narrower, so no shape grows more than twofold): decoding
  // streams it a block of columns at a time, and in the stored layout a block's rows lie N floats
  // apart, a 256-byte run in each 4 KiB page, which the hardware prefetchers do not follow across
  // pages. On an AMD EPYC VM a 768 x 3072 product of one row read such weights at 18 GB/s (25 in
  // nn.Linear's layout, same run), and in blocks at 33 GB/s (28): GPT-2's decoding step took 22%
  // less time. The sums are the same, in the same order. The copy gives back the mapped pages it
  // was read from (detail::release_mapped), so a checkpoint's Conv1D weights stay resident once.
  explicit WeightMatrix(Tensor<float> w, bool transposed = false)
      : type_(WeightType::F32), transposed_(transposed) {
    if (w.ndim() != 2) throw InvalidArgument("WeightMatrix: weight must be 2-D");
    rows_ = w.dim(transposed ? 1 : 0);
    cols_ = w.dim(transposed ? 0 : 1);
    if (!transposed) {
      f32_ = std::move(w);
      return;
    }
    const int64_t K = cols_, N = rows_, blocks = (N + kColumnBlock - 1) / kColumnBlock;
    const int64_t ld = block_width();
    f32_ = Tensor<float>({blocks, K, ld});  // zeros past column N
    parallel_for(0, blocks, 1, [&](int64_t b) {
      const int64_t n0 = b * kColumnBlock, width = std::min(kColumnBlock, N - n0);
      for (int64_t k = 0; k < K; ++k)
        std::copy_n(w.data() + k * N + n0, width, f32_.data() + (b * K + k) * ld);
    });
    detail::release_mapped(w.data(), static_cast<size_t>(w.numel()) * sizeof(float));
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
    if (type == WeightType::Int8) {
      std::vector<float> row(static_cast<size_t>(cols_));
      for (int64_t n = 0; n < rows_; ++n) {
        f32_row(n, row.data());
        for (int64_t k = 0; k < cols_; ++k)
          if (!std::isfinite(row[k]))  // named by its index in the tensor as stored
            throw WeightError(what + ": element " +
                              std::to_string(transposed_ ? k * rows_ + n : n * cols_ + k) + " is " +
                              std::to_string(row[k]) + ", which int8 cannot represent");
      }
    }
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
  void f32_row(int64_t n, float* out) const { view().row_f32(n, out); }

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

  // y [M, N] = x [M, K] Wᵀ (row-major, contiguous), then the epilogue.
  void multiply(const float* x, int64_t M, float* y, const Epilogue& e = {}) const {
    if (M <= 0 || rows_ == 0) return;
    nn::multiply(view(), x, M, y, e);
  }

  WeightView view() const {
    return {type_,
            transposed_,
            rows_,
            cols_,
            f32_.data(),
            bf16_.data(),
            i8_.data(),
            scale_.data(),
            transposed_ ? block_width() : cols_,
            transposed_ ? block_width() * cols_ : 0};
  }

 private:
  // Transposed: the stored width of each column block.
  int64_t block_width() const { return std::min(rows_, kColumnBlock); }

  WeightType type_ = WeightType::F32;
  bool transposed_ = false;  // f32 [K, N], in column blocks
  int64_t rows_ = 0, cols_ = 0;
  Tensor<float> f32_;
  Tensor<uint16_t> bf16_;
  Tensor<int8_t> i8_;
  Tensor<float> scale_;  // int8: per row
};

}  // namespace ved::nn
