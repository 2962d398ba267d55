#pragma once

// DecoderState: everything one generation mutates while decoding, so that a loaded model stays
// immutable and can be shared by threads. Per decoder layer it holds
// - the self-attention keys and values of every position fed so far, one buffer per row, laid
//   out head by head ([heads, capacity, head_dim], as transformers' cache is) so that attention
//   reads each head's positions as one run of memory. A step appends in place; a full buffer is
//   copied into one of twice the positions, up to the generation's length (reserve()), so that
//   the copies cost about two steps' reads of the cache and a page that stops early holds
//   little memory;
// - the cross-attention keys and values of the encoder states, once per image and laid out head
//   by head too. Rows (beams, sampled sequences) refer to their image by index, so expanding an
//   image into beams copies no encoder-sized data.
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

namespace detail {

// n positions of x [n, heads * head_dim] into out, head h's position t at
// out[h * head_stride + t * head_dim]: the caches' layout (DecoderState).
inline void copy_by_head(const float* x, int64_t n, int64_t heads, int64_t head_dim, float* out,
                         int64_t head_stride) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < heads; ++h)
      std::copy_n(x + (t * heads + h) * head_dim, head_dim, out + h * head_stride + t * head_dim);
}

}  // namespace detail

class DecoderState {
  struct LayerCache {
    int64_t heads = 0, head_dim = 0;  // of the self-attention keys/values; 0 until first append
    int64_t capacity = 0;             // positions every allocated slot buffer holds
    // Per slot [heads, capacity, head_dim]; empty until first written. Allocated uninitialised
    // (positions past length() are never read), from the tensor pool, so that a long cache lies
    // on huge pages.
    std::vector<Tensor<float>> k, v;
    Tensor<float> cross_k, cross_v;  // [images, heads, encoder length, head_dim]
  };

 public:
  // One layer's caches as a decoder layer sees them: rows, not slots or images.
  class Layer {
   public:
    int64_t rows() const { return state_->batch_size(); }
    // Positions cached before the current step.
    int64_t length() const { return state_->length(); }

    // Makes room for `n` more positions of `heads` heads of keys/values, `head_dim` wide, in
    // every row.
    void prepare_append(int64_t n, int64_t heads, int64_t head_dim) {
      if (heads < 1 || head_dim < 1)
        throw InvalidArgument("DecoderState: " + std::to_string(heads) + " heads of width " +
                              std::to_string(head_dim));
      if (cache_->heads != 0 && (cache_->heads != heads || cache_->head_dim != head_dim))
        throw InvalidArgument("DecoderState: " + std::to_string(heads) + " self-attention heads" +
                              " of width " + std::to_string(head_dim) + " differ from the " +
                              std::to_string(cache_->heads) + " cached of width " +
                              std::to_string(cache_->head_dim));
      cache_->heads = heads;
      cache_->head_dim = head_dim;
      const int64_t needed = length() + n;
      if (needed > cache_->capacity)
        state_->grow(*cache_, state_->next_capacity(cache_->capacity, needed));
      for (int64_t r = 0; r < rows(); ++r) state_->allocate_slot(*cache_, state_->slot_of(r));
    }
    // Row r's self-attention keys / values: head h's position t at
    // [h * head_stride() + t * head_dim], the first length() positions filled.
    float* self_keys(int64_t r) { return cache_->k[state_->slot_of(r)].data(); }
    float* self_values(int64_t r) { return cache_->v[state_->slot_of(r)].data(); }
    int64_t head_stride() const { return cache_->capacity * cache_->head_dim; }

    // Stores the cross-attention keys/values k, v [images, encoder length, width] of `heads`
    // heads, head by head.
    void set_cross(const Tensor<float>& k, const Tensor<float>& v, int64_t heads) {
      if (k.ndim() != 3 || k.shape() != v.shape() || k.dim(0) != state_->images_)
        throw InvalidArgument("DecoderState: cross-attention keys " + shape_str(k.shape()) +
                              " and values " + shape_str(v.shape()) + " do not hold one [" +
                              "length, width] block for each of " +
                              std::to_string(state_->images_) + " images");
      if (heads < 1 || k.dim(2) % heads != 0)
        throw InvalidArgument("DecoderState: cross-attention width " + std::to_string(k.dim(2)) +
                              " is not " + std::to_string(heads) + " heads");
      cache_->cross_k = by_head(k, heads);
      cache_->cross_v = by_head(v, heads);
    }
    // Row r's cross-attention keys / values: head h's position t at
    // [h * cross_head_stride() + t * head_dim].
    const float* cross_keys(int64_t r) const { return cross_block(cache_->cross_k, r); }
    const float* cross_values(int64_t r) const { return cross_block(cache_->cross_v, r); }
    int64_t cross_length() const {
      if (cache_->cross_k.empty())
        throw InvalidArgument("DecoderState: the cross-attention keys were never set");
      return cache_->cross_k.dim(2);
    }
    int64_t cross_head_stride() const { return cross_length() * cache_->cross_k.dim(3); }

   private:
    friend class DecoderState;
    Layer(DecoderState* state, LayerCache* cache) : state_(state), cache_(cache) {}

    const float* cross_block(const Tensor<float>& t, int64_t r) const {
      return t.data() + state_->image_of(r) * t.dim(1) * t.dim(2) * t.dim(3);
    }

    // x [images, length, heads * head_dim] -> [images, heads, length, head_dim], x read in
    // order, a task per 64 positions (read a head at a time, each row's 256 bytes of every 4 KiB
    // took Donut's 2560 x 1920 keys and values 0.1 s).
    static Tensor<float> by_head(const Tensor<float>& x, int64_t heads) {
      constexpr int64_t kPositions = 64;
      const int64_t images = x.dim(0), n = x.dim(1), d = x.dim(2) / heads;
      const int64_t chunks = (n + kPositions - 1) / kPositions;
      Tensor<float> out = Tensor<float>::uninitialized({images, heads, n, d});
      parallel_for(0, images * chunks, 1, [&](int64_t task) {
        const int64_t i = task / chunks, t0 = task % chunks * kPositions;
        detail::copy_by_head(x.data() + (i * n + t0) * heads * d, std::min(kPositions, n - t0),
                             heads, d, out.data() + i * heads * n * d + t0 * d, n * d);
      });
      return out;
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

  // The longest a row will grow: the caches never take more positions than this, unless a
  // longer sequence comes (they then grow to it).
  void reserve(int64_t positions) {
    reserved_positions_ = std::max(reserved_positions_, positions);
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

  // The caches' first capacity, then twice the last, but not past the reserved length while
  // `needed` is within it: a buffer laid out head by head is touched at every head's start, so
  // reserving nougat-base's 4096 positions up front would hold 335 MB a row from its first token.
  int64_t next_capacity(int64_t capacity, int64_t needed) const {
    constexpr int64_t kFirstCapacity = 128;
    const int64_t c = std::max({needed, 2 * capacity, kFirstCapacity});
    return needed <= reserved_positions_ ? std::min(c, reserved_positions_) : c;
  }

  void allocate_slot(LayerCache& l, size_t slot) {
    if (l.k[slot].empty()) {
      l.k[slot] = Tensor<float>::uninitialized({l.heads, l.capacity, l.head_dim});
      l.v[slot] = Tensor<float>::uninitialized({l.heads, l.capacity, l.head_dim});
    }
  }

  // Each head's filled positions of `from` (heads from_capacity positions apart) into `to`
  // (to_capacity apart).
  void copy_filled(const LayerCache& l, const float* from, int64_t from_capacity, float* to,
                   int64_t to_capacity) const {
    for (int64_t h = 0; h < l.heads; ++h)
      std::copy_n(from + h * from_capacity * l.head_dim, length_ * l.head_dim,
                  to + h * to_capacity * l.head_dim);
  }

  // Copies the filled positions of slot `from` into slot `to`, in every layer.
  void copy_slot(int64_t from, int64_t to) {
    const size_t f = static_cast<size_t>(from), t = static_cast<size_t>(to);
    for (auto& l : layers_) {
      if (l.k[f].empty()) continue;  // nothing written yet
      allocate_slot(l, t);
      copy_filled(l, l.k[f].data(), l.capacity, l.k[t].data(), l.capacity);
      copy_filled(l, l.v[f].data(), l.capacity, l.v[t].data(), l.capacity);
    }
  }

  // Reallocates every allocated slot of `l` to `capacity` positions, keeping what is filled.
  void grow(LayerCache& l, int64_t capacity) {
    for (auto* buffers : {&l.k, &l.v})
      for (auto& b : *buffers) {
        if (b.empty()) continue;
        Tensor<float> bigger = Tensor<float>::uninitialized({l.heads, capacity, l.head_dim});
        copy_filled(l, b.data(), l.capacity, bigger.data(), capacity);
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
  const int64_t B = q.dim(0), T = q.dim(1), D = q.dim(2), past = layer.length(), d = D / heads;
  layer.prepare_append(T, heads, d);
  const int64_t stride = layer.head_stride();
  for (int64_t b = 0; b < B; ++b) {
    detail::copy_by_head(k.data() + b * T * D, T, heads, d, layer.self_keys(b) + past * d, stride);
    detail::copy_by_head(v.data() + b * T * D, T, heads, d, layer.self_values(b) + past * d,
                         stride);
  }
  Tensor<float> out({B, T, D});
  nn::attend_sequences(B, heads, [&](int64_t b) {
    return nn::AttentionArgs{q.data() + b * T * D,
                             D,
                             layer.self_keys(b),
                             layer.self_values(b),
                             d,
                             out.data() + b * T * D,
                             D,
                             T,
                             past + T,
                             heads,
                             d,
                             scale,
                             true,
                             false,
                             stride};
  });
  return out;
}

// Attention of q [B, T, D] over each row's encoder keys and values. Consecutive rows of one image
// (its beams, or its sampled sequences) attend together, as one block of queries: the image's
// keys and values are then read once per step instead of once per row.
inline Tensor<float> cross_attention(DecoderState::Layer layer, const Tensor<float>& q,
                                     int64_t heads, float scale) {
  const int64_t B = q.dim(0), T = q.dim(1), D = q.dim(2), S = layer.cross_length();
  const int64_t stride = layer.cross_head_stride();
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
                             D / heads,
                             out.data() + first * T * D,
                             D,
                             rows * T,
                             S,
                             heads,
                             D / heads,
                             scale,
                             false,
                             false,
                             stride};
  });
  return out;
}

}  // namespace ved
