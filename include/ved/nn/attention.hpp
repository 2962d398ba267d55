#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "ved/detail/parallel.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

// Row-major [rows, cols] matrix inside a wider row (one head of a [T, heads * head_dim] buffer).
using StridedMap =
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
               Eigen::OuterStride<>>;
using MutStridedMap =
    Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
               Eigen::OuterStride<>>;

// Attention inputs for one sequence: q [tq, heads*head_dim], k/v [tk, heads*head_dim], each
// with its own row stride so that packed qkv projections need no copy.
struct AttentionArgs {
  const float* q;
  int64_t q_stride;
  const float* k;
  const float* v;
  int64_t kv_stride;
  float* out;  // [tq, heads*head_dim], row stride out_stride
  int64_t out_stride;
  int64_t tq, tk, heads, head_dim;
  float scale;
  // Query i sits at absolute position tk - tq + i and sees keys up to it (decoder self-attention).
  bool causal;
};

// softmax(q kᵀ · scale) v for one head. Masked keys are left out of the softmax entirely,
// which is what adding finfo.min before softmax amounts to in float32.
inline void attend_head(const AttentionArgs& a, int64_t h) {
  const int64_t d = a.head_dim;
  StridedMap q(a.q + h * d, a.tq, d, Eigen::OuterStride<>(a.q_stride));
  StridedMap k(a.k + h * d, a.tk, d, Eigen::OuterStride<>(a.kv_stride));
  StridedMap v(a.v + h * d, a.tk, d, Eigen::OuterStride<>(a.kv_stride));
  MutStridedMap out(a.out + h * d, a.tq, d, Eigen::OuterStride<>(a.out_stride));
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> scores = q * k.transpose();
  const int64_t past = a.tk - a.tq;
  for (int64_t i = 0; i < a.tq; ++i) {
    const int64_t visible = a.causal ? std::min(a.tk, past + i + 1) : a.tk;
    float* s = scores.data() + i * a.tk;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < visible; ++j) {
      s[j] *= a.scale;
      m = std::max(m, s[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < visible; ++j) {
      s[j] = std::exp(s[j] - m);
      sum += s[j];
    }
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < visible; ++j) s[j] *= inv;
    for (int64_t j = visible; j < a.tk; ++j) s[j] = 0.0f;
  }
  out.noalias() = scores * v;
}

inline void attend(const AttentionArgs& a) {
  parallel_for(0, a.heads, 1, [&](int64_t h) { attend_head(a, h); });
}

// Full (non-causal) self-attention over a batch, as vision encoders use it:
// q, k, v [B, T, heads*head_dim] -> [B, T, heads*head_dim].
inline Tensor<float> batched_attention(const Tensor<float>& q, const Tensor<float>& k,
                                       const Tensor<float>& v, int64_t heads, float scale) {
  const int64_t B = q.dim(0), T = q.dim(1), D = q.dim(2), S = k.dim(1);
  Tensor<float> out({B, T, D});
  const int64_t hd = D / heads;
  parallel_for(0, B * heads, 1, [&](int64_t bh) {
    const int64_t b = bh / heads, h = bh % heads;
    AttentionArgs a{q.data() + b * T * D,
                    D,
                    k.data() + b * S * D,
                    v.data() + b * S * D,
                    D,
                    out.data() + b * T * D,
                    D,
                    T,
                    S,
                    heads,
                    hd,
                    scale,
                    false};
    attend_head(a, h);
  });
  return out;
}

}  // namespace ved::nn
