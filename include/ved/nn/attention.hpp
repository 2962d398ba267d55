#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "ved/detail/parallel.hpp"
#include "ved/nn/linear.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

// Attention inputs for one sequence: q [tq, heads*head_dim], k/v [tk, heads*head_dim], each
// with its own row stride so that packed qkv projections need no copy; or k/v [heads, tk,
// head_dim] (kv_stride head_dim, kv_head_stride the distance between heads), as the decoder's
// caches keep them so that a head's positions are one run of memory.
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
  // The model's weights are bf16 or int8: q kᵀ and the probabilities' product with v may take
  // bf16 operands (f32 sums, f32 softmax), as that model's products already round x, where the
  // kernels have a faster path for them (AMX). Otherwise f32 throughout.
  bool reduced = false;
  // Between head h's keys (values) and head h + 1's; 0: head_dim, a position's heads side by side.
  int64_t kv_head_stride = 0;

  const float* keys(int64_t h) const { return k + h * head_step(); }
  const float* values(int64_t h) const { return v + h * head_step(); }
  int64_t head_step() const { return kv_head_stride != 0 ? kv_head_stride : head_dim; }
};

// One row of scores in place: s = s · scale + bias + bias2 (each bias optional, added in that
// order), then softmax over the n entries, with the kernels chosen for this CPU
// (src/kernels/dispatch.cpp): vectorised, its exp within 2 ulp as PyTorch's vectorised exp is.
void softmax_scores(float* s, int64_t n, float scale, const float* bias, const float* bias2);

// softmax(q kᵀ · scale + bias + bias2) v for one head. `bias` and `bias2` are optional additive
// terms of the scores, [tq, tk] row-major, added one after the other in that order as
// transformers adds them (Swin: relative position bias, then the shifted-window mask; BEiT: the
// layer's relative position bias, then the shared one). Masked keys (causal) are left out of the
// softmax entirely, which is what adding finfo.min before softmax amounts to in float32.
//
// The kernels chosen for this CPU compute it (src/kernels/dispatch.cpp): k and v are read in
// place, with their row stride.
void attend_head(const AttentionArgs& a, int64_t h, const float* bias, const float* bias2);

// softmax(q kᵀ · scale) v for one head.
inline void attend_head(const AttentionArgs& a, int64_t h) {
  attend_head(a, h, nullptr, nullptr);
}

// Heads [h0, h1) of softmax(q kᵀ · scale) v, each the same bits as attend_head gives it. For a
// few queries (decoding) over keys and values laid out head by head (the decoder's caches), the
// kernels read each head's positions as one sequential stream (src/kernels/attention_rows.inc).
void attend_heads(const AttentionArgs& a, int64_t h0, int64_t h1);

// Attention of `rows` independent sequences (args_of(r): row r's AttentionArgs), all heads,
// parallel over rows and runs of heads. A row's heads go as few runs as keep every thread busy,
// and the split never changes a head's bits.
template <typename ArgsOf>
void attend_sequences(int64_t rows, int64_t heads, const ArgsOf& args_of) {
  if (rows < 1 || heads < 1) return;
  const int64_t threads = detail::max_threads();
  const int64_t runs = std::clamp<int64_t>((threads + rows - 1) / rows, 1, heads);
  const int64_t per_run = (heads + runs - 1) / runs;
  parallel_for(0, rows * runs, 1, [&](int64_t i) {
    const int64_t h0 = i % runs * per_run;
    if (h0 < heads) attend_heads(args_of(i / runs), h0, std::min(heads, h0 + per_run));
  });
}

inline void attend(const AttentionArgs& a) {
  attend_sequences(1, a.heads, [&](int64_t) { return a; });
}

// Self-attention within independent sequences ("windows": Swin's windows, or the images of a
// batch) from a packed projection: qkv [N, T, 3 * heads * head_dim] holding q | k | v along the
// last dimension -> [N, T, heads * head_dim]. `biases(n, h)` returns the two optional additive
// score terms of window n, head h (see attend_head) as a std::pair of pointers; a lambda, so the
// kernel stays free of indirect calls. `reduced`: see AttentionArgs. Parallel over windows ×
// heads.
template <typename Biases>
Tensor<float> packed_self_attention(const Tensor<float>& qkv, int64_t heads, float scale,
                                    Biases&& biases, bool reduced = false) {
  const int64_t N = qkv.dim(0), T = qkv.dim(1), D = qkv.dim(2) / 3, hd = D / heads;
  Tensor<float> out = Tensor<float>::uninitialized({N, T, D});
  const float* src = qkv.data();
  float* dst = out.data();
  parallel_for(0, N * heads, 1, [&](int64_t nh) {
    const int64_t n = nh / heads, h = nh % heads;
    const float* base = src + n * T * 3 * D;
    AttentionArgs a{base, 3 * D, base + D, base + 2 * D, 3 * D, dst + n * T * D, D,
                    T,    T,     heads,    hd,           scale, false,           reduced};
    const auto [b1, b2] = biases(n, h);
    attend_head(a, h, b1, b2);
  });
  return out;
}

inline Tensor<float> packed_self_attention(const Tensor<float>& qkv, int64_t heads, float scale) {
  return packed_self_attention(qkv, heads, scale, [](int64_t, int64_t) {
    return std::pair<const float*, const float*>(nullptr, nullptr);
  });
}

}  // namespace ved::nn
