#pragma once

// DecoderState: everything one generation mutates while decoding, so that a loaded model stays
// immutable and can be shared by threads. Per decoder layer it holds
// - the self-attention keys and values of every position fed so far, one buffer per row, sized
//   for the whole generation up front (reserve()) so that a decoding step appends in place;
// - the cross-attention keys and values of the encoder states, once per image. Rows (beams,
//   sampled sequences) refer to their image by index, so expanding an image into beams copies no
//   encoder-sized data.
//
// Beam search reorders rows after every step (reorder()). A row's self-attention cache lives in a
// numbered slot and reordering permutes slot numbers: a row that survives once keeps its buffer,
// and only a row chosen by several beams has its filled positions copied, into the slot of a row
// that was dropped.

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "ved/detail/parallel.hpp"
#include "ved/nn/attention.hpp"
#include "ved/tensor.hpp"

namespace ved {

class DecoderState {
  struct LayerCache {
    int64_t width = 0;     // of the self-attention keys/values; 0 until the first append
    int64_t capacity = 0;  // positions every allocated slot buffer holds
    // Per slot [capacity, width]; empty until first written. Allocated uninitialised, so capacity
    // reserved for a long generation that stops early costs address space, not memory. From the
    // tensor pool, so that a long cache lies on huge pages: a head's keys are 64 floats in every
    // 4 KiB of a 1024-wide row, one 4 KiB page per position. nougat-base's last 64 of 1024
    // tokens took 43.8 / 44.1 ms a token on an Intel Xeon VM, 42.7 / 42.0 from the pool.
    std::vector<Tensor<float>> k, v;
    Tensor<float> cross_k, cross_v;  // [images, encoder length, width]
  };

 public:
  // One layer's caches as a decoder layer sees them: rows, not slots or images.
  class Layer {
   public:
    int64_t rows() const { return state_->batch_size(); }
    // Positions cached before the current step.
    int64_t length() const { return state_->length(); }

    // Makes room for `n` more positions of keys/values of width `width` in every row.
    void prepare_append(int64_t n, int64_t width) {
      if (cache_->width != 0 && cache_->width != width)
        throw InvalidArgument("DecoderState: self-attention width " + std::to_string(width) +
                              " differs from the cached " + std::to_string(cache_->width));
      cache_->width = width;
      const int64_t needed = length() + n;
      if (needed > cache_->capacity)
        state_->grow(*cache_,
                     std::max({needed, 2 * cache_->capacity, state_->reserved_positions_}));
      for (int64_t r = 0; r < rows(); ++r) state_->allocate_slot(*cache_, state_->slot_of(r));
    }
    // Row r's self-attention keys / values: [capacity, width], the first length() filled.
    float* self_keys(int64_t r) { return cache_->k[state_->slot_of(r)].data(); }
    float* self_values(int64_t r) { return cache_->v[state_->slot_of(r)].data(); }

    // Stores the cross-attention keys/values k, v [images, encoder length, width].
    void set_cross(const Tensor<float>& k, const Tensor<float>& v) {
      if (k.ndim() != 3 || k.shape() != v.shape() || k.dim(0) != state_->images_)
        throw InvalidArgument("DecoderState: cross-attention keys " + shape_str(k.shape()) +
                              " and values " + shape_str(v.shape()) + " do not hold one [" +
                              "length, width] block for each of " +
                              std::to_string(state_->images_) + " images");
      cache_->cross_k = k;
      cache_->cross_v = v;
    }
    // Row r's cross-attention keys / values: [cross_length(), width].
    const float* cross_keys(int64_t r) const { return cross_block(cache_->cross_k, r); }
    const float* cross_values(int64_t r) const { return cross_block(cache_->cross_v, r); }
    int64_t cross_length() const {
      if (cache_->cross_k.empty())
        throw InvalidArgument("DecoderState: the cross-attention keys were never set");
      return cache_->cross_k.dim(1);
    }

   private:
    friend class DecoderState;
    Layer(DecoderState* state, LayerCache* cache) : state_(state), cache_(cache) {}

    const float* cross_block(const Tensor<float>& t, int64_t r) const {
      return t.data() + state_->image_of(r) * t.dim(1) * t.dim(2);
    }

    DecoderState* state_;
    LayerCache* cache_;
  };

  // One row per image.
  DecoderState(int64_t batch_size, int64_t num_layers)
      : images_(batch_size), slots_(batch_size), layers_(static_cast<size_t>(num_layers)) {
    row_slot_.resize(static_cast<size_t>(batch_size));
    std::iota(row_slot_.begin(), row_slot_.end(), 0);
    row_image_ = row_slot_;
    for (auto& l : layers_) add_slots(l, batch_size);
  }
  // Move-only: a copy would share its slot buffers (pool tensors) with the original.
  DecoderState(const DecoderState&) = delete;
  DecoderState& operator=(const DecoderState&) = delete;
  DecoderState(DecoderState&&) = default;
  DecoderState& operator=(DecoderState&&) = default;

  int64_t batch_size() const { return static_cast<int64_t>(row_slot_.size()); }
  int64_t length() const { return length_; }
  void advance(int64_t n) { length_ += n; }
  Layer layer(int64_t i) { return Layer(this, &layers_.at(static_cast<size_t>(i))); }

  // Sizes the self-attention caches for `positions` positions per row, so that decoding up to
  // that length never reallocates. Longer sequences still work: the caches then grow.
  void reserve(int64_t positions) {
    reserved_positions_ = std::max(reserved_positions_, positions);
    for (auto& l : layers_)
      if (l.width != 0 && l.capacity < reserved_positions_) grow(l, reserved_positions_);
  }

  // New row i continues old row rows[i]; the row count may change (beam expansion).
  void reorder(const std::vector<int64_t>& rows) {
    const int64_t old_rows = batch_size();
    for (int64_t r : rows)
      if (r < 0 || r >= old_rows)
        throw InvalidArgument("DecoderState::reorder: row " + std::to_string(r) +
                              " out of range [0, " + std::to_string(old_rows) + ")");
    // The first new row that continues an old row takes over its slot; the slots of old rows
    // nothing continues receive copies for the others.
    taken_.assign(static_cast<size_t>(old_rows), 0);
    for (int64_t r : rows) taken_[static_cast<size_t>(r)] = 1;
    for (int64_t r = 0; r < old_rows; ++r)
      if (!taken_[static_cast<size_t>(r)]) free_slots_.push_back(row_slot_[static_cast<size_t>(r)]);
    std::fill(taken_.begin(), taken_.end(), 0);
    next_slot_.resize(rows.size());
    next_image_.resize(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      const size_t from = static_cast<size_t>(rows[i]);
      next_image_[i] = row_image_[from];
      if (!taken_[from]) {
        taken_[from] = 1;
        next_slot_[i] = row_slot_[from];
      } else {
        next_slot_[i] = take_free_slot();
        copy_slot(row_slot_[from], next_slot_[i]);
      }
    }
    row_slot_.swap(next_slot_);
    row_image_.swap(next_image_);
  }

 private:
  size_t slot_of(int64_t row) const {
    return static_cast<size_t>(row_slot_[static_cast<size_t>(row)]);
  }
  int64_t image_of(int64_t row) const { return row_image_[static_cast<size_t>(row)]; }

  static void add_slots(LayerCache& l, int64_t n) {
    l.k.resize(l.k.size() + static_cast<size_t>(n));
    l.v.resize(l.v.size() + static_cast<size_t>(n));
  }

  int64_t take_free_slot() {
    if (!free_slots_.empty()) {
      const int64_t s = free_slots_.back();
      free_slots_.pop_back();
      return s;
    }
    for (auto& l : layers_) add_slots(l, 1);
    return slots_++;
  }

  void allocate_slot(LayerCache& l, size_t slot) {
    if (l.k[slot].empty()) {
      l.k[slot] = Tensor<float>::uninitialized({l.capacity, l.width});
      l.v[slot] = Tensor<float>::uninitialized({l.capacity, l.width});
    }
  }

  // Copies the filled positions of slot `from` into slot `to`, in every layer.
  void copy_slot(int64_t from, int64_t to) {
    const size_t f = static_cast<size_t>(from), t = static_cast<size_t>(to);
    for (auto& l : layers_) {
      if (l.k[f].empty()) continue;  // nothing written yet
      allocate_slot(l, t);
      const int64_t n = length_ * l.width;
      std::copy(l.k[f].data(), l.k[f].data() + n, l.k[t].data());
      std::copy(l.v[f].data(), l.v[f].data() + n, l.v[t].data());
    }
  }

  // Reallocates every allocated slot of `l` to `capacity` positions, keeping what is filled.
  void grow(LayerCache& l, int64_t capacity) {
    const int64_t filled = length_ * l.width;
    for (auto* buffers : {&l.k, &l.v})
      for (auto& b : *buffers) {
        if (b.empty()) continue;
        Tensor<float> bigger = Tensor<float>::uninitialized({capacity, l.width});
        std::copy(b.data(), b.data() + filled, bigger.data());
        b = std::move(bigger);
      }
    l.capacity = capacity;
  }

  int64_t images_;
  int64_t length_ = 0;
  int64_t reserved_positions_ = 0;
  int64_t slots_;  // slot buffers per layer (rows plus free slots)
  std::vector<LayerCache> layers_;
  std::vector<int64_t> row_slot_, row_image_;
  std::vector<int64_t> free_slots_;
  // Scratch of reorder(), kept so that beam search's per-step reorder does not allocate.
  std::vector<int64_t> next_slot_, next_image_;
  std::vector<char> taken_;
};

// Self-attention of new positions q/k/v [B, T, D] over everything the cache holds: the new keys
// and values are appended to `layer` first, then each query sees the positions up to its own.
inline Tensor<float> cached_self_attention(DecoderState::Layer layer, const Tensor<float>& q,
                                           const Tensor<float>& k, const Tensor<float>& v,
                                           int64_t heads, float scale) {
  const int64_t B = q.dim(0), T = q.dim(1), D = q.dim(2), past = layer.length();
  layer.prepare_append(T, D);
  for (int64_t b = 0; b < B; ++b) {
    std::copy(k.data() + b * T * D, k.data() + (b + 1) * T * D, layer.self_keys(b) + past * D);
    std::copy(v.data() + b * T * D, v.data() + (b + 1) * T * D, layer.self_values(b) + past * D);
  }
  Tensor<float> out({B, T, D});
  nn::attend_sequences(B, heads, [&](int64_t b) {
    return nn::AttentionArgs{q.data() + b * T * D,
                             D,
                             layer.self_keys(b),
                             layer.self_values(b),
                             D,
                             out.data() + b * T * D,
                             D,
                             T,
                             past + T,
                             heads,
                             D / heads,
                             scale,
                             true};
  });
  return out;
}

// Attention of q [B, T, D] over each row's encoder keys and values. Consecutive rows of one image
// (its beams, or its sampled sequences) attend together, as one block of queries: the image's
// keys and values are then read once per step instead of once per row.
inline Tensor<float> cross_attention(DecoderState::Layer layer, const Tensor<float>& q,
                                     int64_t heads, float scale) {
  const int64_t B = q.dim(0), T = q.dim(1), D = q.dim(2), S = layer.cross_length();
  std::vector<int64_t> group_start;  // first row of each run of rows sharing an image
  for (int64_t b = 0; b < B; ++b)
    if (b == 0 || layer.cross_keys(b) != layer.cross_keys(b - 1)) group_start.push_back(b);
  const int64_t groups = static_cast<int64_t>(group_start.size());
  group_start.push_back(B);
  Tensor<float> out({B, T, D});
  nn::attend_sequences(groups, heads, [&](int64_t g) {
    const int64_t first = group_start[static_cast<size_t>(g)];
    const int64_t rows = group_start[static_cast<size_t>(g + 1)] - first;
    return nn::AttentionArgs{q.data() + first * T * D,
                             D,
                             layer.cross_keys(first),
                             layer.cross_values(first),
                             D,
                             out.data() + first * T * D,
                             D,
                             rows * T,
                             S,
                             heads,
                             D / heads,
                             scale,
                             false};
  });
  return out;
}

// Stores the cross-attention keys and values k/v [images, S, D] of `layer`.
inline void set_cross_kv(DecoderState::Layer layer, const Tensor<float>& k,
                         const Tensor<float>& v) {
  layer.set_cross(k, v);
}

}  // namespace ved
