#pragma once

#include <vector>

#include "ved/nn/attention.hpp"
#include "ved/tensor.hpp"

namespace ved {

// What a decoder carries from one generation step to the next: per layer, the self-attention keys
// and values of every position so far and the cross-attention keys and values of the encoder
// states (computed once per image). Rows can be reordered, which is all beam search needs.
class DecoderState {
 public:
  struct Layer {
    std::vector<std::vector<float>> self_k, self_v;  // per row: [length, hidden] flattened
    std::vector<Tensor<float>> cross_k,
        cross_v;  // per row: [encoder length, hidden] (shared, never written)
  };

  DecoderState(int64_t batch_size, int64_t num_layers)
      : batch_size_(batch_size), layers_(static_cast<size_t>(num_layers)) {
    for (auto& l : layers_) {
      l.self_k.resize(static_cast<size_t>(batch_size));
      l.self_v.resize(static_cast<size_t>(batch_size));
      l.cross_k.resize(static_cast<size_t>(batch_size));
      l.cross_v.resize(static_cast<size_t>(batch_size));
    }
  }

  int64_t batch_size() const { return batch_size_; }
  int64_t length() const { return length_; }
  void advance(int64_t n) { length_ += n; }
  Layer& layer(int64_t i) { return layers_[static_cast<size_t>(i)]; }
  const Layer& layer(int64_t i) const { return layers_[static_cast<size_t>(i)]; }

  // New row i becomes a copy of old row rows[i]; the row count may change (beam expansion).
  void reorder(const std::vector<int64_t>& rows) {
    for (int64_t r : rows)
      if (r < 0 || r >= batch_size_)
        throw InvalidArgument("DecoderState::reorder: row " + std::to_string(r) + " out of range");
    for (auto& l : layers_) {
      l.self_k = pick(l.self_k, rows);
      l.self_v = pick(l.self_v, rows);
      l.cross_k = pick(l.cross_k, rows);
      l.cross_v = pick(l.cross_v, rows);
    }
    batch_size_ = static_cast<int64_t>(rows.size());
  }

 private:
  template <typename V>
  static std::vector<V> pick(const std::vector<V>& from, const std::vector<int64_t>& rows) {
    std::vector<V> out;
    out.reserve(rows.size());
    for (int64_t r : rows) out.push_back(from[static_cast<size_t>(r)]);
    return out;
  }

  int64_t batch_size_;
  int64_t length_ = 0;
  std::vector<Layer> layers_;
};

// Self-attention of new positions q/k/v [B, T, D] over everything the cache holds: the new keys
// and values are appended to `layer` first, then each query sees the positions up to its own.
inline Tensor<float> cached_self_attention(DecoderState::Layer& layer, const Tensor<float>& q,
                                           const Tensor<float>& k, const Tensor<float>& v,
                                           int64_t heads, float scale) {
  const int64_t B = q.dim(0), T = q.dim(1), D = q.dim(2);
  Tensor<float> out({B, T, D});
  for (int64_t b = 0; b < B; ++b) {
    auto& ck = layer.self_k[static_cast<size_t>(b)];
    auto& cv = layer.self_v[static_cast<size_t>(b)];
    ck.insert(ck.end(), k.data() + b * T * D, k.data() + (b + 1) * T * D);
    cv.insert(cv.end(), v.data() + b * T * D, v.data() + (b + 1) * T * D);
  }
  parallel_for(0, B * heads, 1, [&](int64_t bh) {
    const int64_t b = bh / heads;
    const auto& ck = layer.self_k[static_cast<size_t>(b)];
    const auto& cv = layer.self_v[static_cast<size_t>(b)];
    const int64_t tk = static_cast<int64_t>(ck.size()) / D;
    nn::AttentionArgs a{q.data() + b * T * D,
                        D,
                        ck.data(),
                        cv.data(),
                        D,
                        out.data() + b * T * D,
                        D,
                        T,
                        tk,
                        heads,
                        D / heads,
                        scale,
                        true};
    nn::attend_head(a, bh % heads);
  });
  return out;
}

// Attention of q [B, T, D] over each row's encoder keys and values.
inline Tensor<float> cross_attention(const DecoderState::Layer& layer, const Tensor<float>& q,
                                     int64_t heads, float scale) {
  const int64_t B = q.dim(0), T = q.dim(1), D = q.dim(2);
  Tensor<float> out({B, T, D});
  parallel_for(0, B * heads, 1, [&](int64_t bh) {
    const int64_t b = bh / heads;
    const Tensor<float>& ck = layer.cross_k[static_cast<size_t>(b)];
    const Tensor<float>& cv = layer.cross_v[static_cast<size_t>(b)];
    nn::AttentionArgs a{q.data() + b * T * D,
                        D,
                        ck.data(),
                        cv.data(),
                        D,
                        out.data() + b * T * D,
                        D,
                        T,
                        ck.dim(0),
                        heads,
                        D / heads,
                        scale,
                        false};
    nn::attend_head(a, bh % heads);
  });
  return out;
}

// Stores each row's cross-attention keys and values k/v [B, S, D] in `layer`.
inline void set_cross_kv(DecoderState::Layer& layer, const Tensor<float>& k,
                         const Tensor<float>& v) {
  for (int64_t b = 0; b < k.dim(0); ++b) {
    layer.cross_k[static_cast<size_t>(b)] = k[b];
    layer.cross_v[static_cast<size_t>(b)] = v[b];
  }
}

}  // namespace ved
