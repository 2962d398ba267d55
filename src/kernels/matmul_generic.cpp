// The portable kernels: any CPU, compiled with the library's own flags. Skinny products in plain
// loops (skinny_portable.inc); GEMM tiles as single-threaded Eigen products.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <unsupported/Eigen/SpecialFunctions>
#include <vector>

#include "kernels/matmul_kernels.hpp"
#include "ved/detail/half.hpp"
#include "ved/detail/parallel.hpp"

namespace ved::nn::kernels {
namespace generic {
namespace {

#include "kernels/skinny_portable.inc"

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMajor>;
using ConstStridedMap = Eigen::Map<const RowMajor, 0, Eigen::OuterStride<>>;
using RowMap = Eigen::Map<RowMajor>;

static_assert(kColumnBlock % kTileCols == 0, "a tile of transposed W lies in one column block");

// Each tile of y is one Eigen product; the tiles, not Eigen, are shared out among the threads,
// because Eigen's blocking (and so the order of its sums) depends on its thread count.
void gemm(const WeightView& w, const float* x, int64_t M, float* y, const Epilogue& e) {
  const int64_t N = w.rows, K = w.cols;
  const int64_t row_tiles = (M + kMaxTileRows - 1) / kMaxTileRows;
  const int64_t tile_rows = (M + row_tiles - 1) / row_tiles;
  const int64_t col_tiles = (N + kTileCols - 1) / kTileCols;
  const ConstRowMap xm(x, M, K);
  RowMap ym(y, M, N);
  parallel_for(0, row_tiles * col_tiles, 0, [&](int64_t tile) {
    const int64_t m0 = tile / col_tiles * tile_rows, n0 = tile % col_tiles * kTileCols;
    const int64_t mb = std::min(tile_rows, M - m0), nb = std::min(kTileCols, N - n0);
    auto out = ym.block(m0, n0, mb, nb);
    const auto rows = xm.middleRows(m0, mb);
    if (w.type != WeightType::F32) {
      RowMajor wide(nb, K);
      for (int64_t n = 0; n < nb; ++n) w.row_f32(n0 + n, wide.data() + n * K);
      out.noalias() = rows * wide.transpose();
    } else if (w.transposed) {
      // A tile's columns lie in one column block (kTileCols divides kColumnBlock).
      out.noalias() = rows * ConstStridedMap(w.column(n0), K, nb, Eigen::OuterStride<>(w.stride));
    } else {
      out.noalias() = rows * ConstStridedMap(w.f32, N, K, Eigen::OuterStride<>(w.stride))
                                 .middleRows(n0, nb)
                                 .transpose();
    }
    finish(e, y, N, m0, mb, n0, nb);
  });
}

void multiply(const WeightView& w, const float* x, int64_t M, float* y, const Epilogue& e) {
  if (M > kSkinnyRows) return gemm(w, x, M, y, e);
  skinny(w, x, M, y);
  finish(e, y, w.rows, 0, M, 0, w.rows);
}

}  // namespace

void softmax(float* s, int64_t n, float scale, const float* bias, const float* bias2) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    s[j] *= scale;
    if (bias) s[j] += bias[j];
    if (bias2) s[j] += bias2[j];
    m = std::max(m, s[j]);
  }
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  // As the vector sets: no denormal probabilities (row_kernels_x86.cpp), a NaN kept.
  const float inv = 1.0f / sum, least = std::numeric_limits<float>::min() * sum;
  for (int64_t j = 0; j < n; ++j) s[j] = s[j] < least ? 0.0f : s[j] * inv;
}

void layer_norm(const float* x, float* y, int64_t d, const float* weight, const float* bias,
                float eps) {
  // Two passes in double: the mean-subtracted variance keeps a 1e-12 eps meaningful.
  double mean = 0.0;
  for (int64_t i = 0; i < d; ++i) mean += x[i];
  mean /= static_cast<double>(d);
  double var = 0.0;
  for (int64_t i = 0; i < d; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(d);
  const double inv = 1.0 / std::sqrt(var + static_cast<double>(eps));
  for (int64_t i = 0; i < d; ++i)
    y[i] = static_cast<float>((x[i] - mean) * inv) * weight[i] + bias[i];
}

void gelu(float* p, int64_t n) {
  // Eigen's erf, a rational approximation within a couple of ulp of std::erf that gives the same
  // bits for its packets and its scalars.
  Eigen::Map<Eigen::ArrayXf> x(p, n);
  x = x * 0.5f * (1.0f + (x * 0.70710678118654752440f).erf());
}

void gelu_tanh(float* p, int64_t n) {
  // The library's tanh, a value at a time: what PyTorch computes, to its last bit or so.
  for (int64_t i = 0; i < n; ++i) {
    const float x = p[i], cube = x * x * x;
    p[i] = 0.5f * x * (1.0f + std::tanh(kGeluTanhBeta * (x + 0.044715f * cube)));
  }
}

void attend(const AttentionArgs& a, int64_t h, const float* bias, const float* bias2) {
  attend_by_products(generic_kernels(), a, h, bias, bias2);
}

}  // namespace generic

const KernelSet& generic_kernels() {
  static const KernelSet set{
      "generic",     generic::multiply,  generic::softmax, generic::layer_norm,
      generic::gelu, generic::gelu_tanh, generic::attend,  nullptr};
  return set;
}

// k is used in place as a [tk, head_dim] weight matrix, v as its transposed layout.
void attend_by_products(const KernelSet& set, const AttentionArgs& a, int64_t h, const float* bias,
                        const float* bias2) {
  const int64_t d = a.head_dim;
  std::vector<float> q(static_cast<size_t>(a.tq * d));
  for (int64_t i = 0; i < a.tq; ++i) std::copy_n(a.q + i * a.q_stride + h * d, d, q.data() + i * d);
  const WeightView k{WeightType::F32, false,   a.tk,    d,          a.keys(h),
                     nullptr,         nullptr, nullptr, a.kv_stride};
  std::vector<float> scores(static_cast<size_t>(a.tq * a.tk));
  set.multiply(k, q.data(), a.tq, scores.data(), {});
  const int64_t past = a.tk - a.tq;
  for (int64_t i = 0; i < a.tq; ++i) {
    const int64_t visible = a.causal ? std::min(a.tk, past + i + 1) : a.tk;
    float* s = scores.data() + i * a.tk;
    set.softmax(s, visible, a.scale, bias ? bias + i * a.tk : nullptr,
                bias2 ? bias2 + i * a.tk : nullptr);
    std::fill(s + visible, s + a.tk, 0.0f);
  }
  const WeightView v{WeightType::F32, true,    d,       a.tk,       a.values(h),
                     nullptr,         nullptr, nullptr, a.kv_stride};
  set.multiply(v, scores.data(), a.tq, q.data(), {});  // q's buffer now holds the head's output
  for (int64_t i = 0; i < a.tq; ++i)
    std::copy_n(q.data() + i * d, d, a.out + i * a.out_stride + h * d);
}

}  // namespace ved::nn::kernels
