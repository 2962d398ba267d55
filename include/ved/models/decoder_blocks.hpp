#pragma once

// Pieces every text decoder here shares, so that BERT/RoBERTa and the BART family (BART, MBart,
// TrOCR) differ only in how they arrange them: attention through DecoderState's caches (self-
// attention keys/values grow by one position per step, cross-attention keys/values are computed
// once per image in start()), the two-layer feed-forward, the position-id rules, and the output
// projection.

#include <cmath>
#include <string>

#include "ved/models/decoder_state.hpp"
#include "ved/nn/activations.hpp"
#include "ved/nn/linear.hpp"
#include "ved/nn/ops.hpp"

namespace ved::detail {

// Where an attention block applies head_dim^-0.5. The BART family multiplies the projected query
// (`q_proj(x) * scaling`) before q·kᵀ; BERT scales the scores after it. Both are kept so that the
// float32 rounding follows transformers' order.
struct AttentionHeads {
  int64_t num_heads = 1;
  float scaling = 1.0f;
  bool scale_query = false;

  static AttentionHeads for_width(int64_t width, int64_t num_heads, bool scale_query) {
    const int64_t head_dim = width / num_heads;
    // head_dim**-0.5 in double, then rounded once to float, as PyTorch does with a Python scalar.
    return {num_heads, static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim))),
            scale_query};
  }

  // Causal self-attention of x [B, T, D] over the cached positions plus these T; appends the new
  // keys and values to `cache`. Returns the heads' context [B, T, D] (before the output dense).
  Tensor<float> self_attention(DecoderState::Layer cache, const nn::Linear& q, const nn::Linear& k,
                               const nn::Linear& v, const Tensor<float>& x) const {
    float kernel_scale = scaling;
    const Tensor<float> query = project_query(q, x, &kernel_scale);
    return cached_self_attention(cache, query, k.forward(x), v.forward(x), num_heads, kernel_scale);
  }

  // Attention of x [B, T, D] over the encoder keys/values that start_cross() stored.
  Tensor<float> cross_attention(DecoderState::Layer cache, const nn::Linear& q,
                                const Tensor<float>& x) const {
    float kernel_scale = scaling;
    const Tensor<float> query = project_query(q, x, &kernel_scale);
    return ved::cross_attention(cache, query, num_heads, kernel_scale);
  }

  // Projects encoder states [B, S, kdim] to this layer's cross-attention keys and values.
  void start_cross(DecoderState::Layer cache, const nn::Linear& k, const nn::Linear& v,
                   const Tensor<float>& encoder_hidden_states) const {
    cache.set_cross(k.forward(encoder_hidden_states), v.forward(encoder_hidden_states), num_heads);
  }

 private:
  Tensor<float> project_query(const nn::Linear& q, const Tensor<float>& x,
                              float* kernel_scale) const {
    Tensor<float> query = q.forward(x);
    if (scale_query) {
      query.matrix() *= scaling;
      *kernel_scale = 1.0f;
    }
    return query;
  }
};

// out(act(in(x))): BERT's intermediate.dense/output.dense, the BART family's fc1/fc2.
inline Tensor<float> feed_forward(const nn::Linear& in, nn::Activation act, const nn::Linear& out,
                                  const Tensor<float>& x) {
  return out.forward(in.forward(x, act));
}

// transformers' create_position_ids_from_input_ids (fairseq's make_positions), used by RoBERTa
// and TrOCR's sinusoidal positions: a non-pad token gets padding_idx + past + (non-pad tokens of
// this call up to and including it), a pad token gets padding_idx. `past` is the cache length,
// pads included, so a row fed pads after it finished keeps counting from the cache length.
inline Tensor<int64_t> fairseq_position_ids(const Tensor<int64_t>& input_ids, int64_t padding_idx,
                                            int64_t past) {
  const int64_t B = input_ids.dim(0), T = input_ids.dim(1);
  Tensor<int64_t> pos({B, T});
  for (int64_t b = 0; b < B; ++b) {
    int64_t count = 0;
    for (int64_t t = 0; t < T; ++t) {
      const bool real = input_ids.data()[b * T + t] != padding_idx;
      count += real ? 1 : 0;
      pos.data()[b * T + t] = real ? count + past + padding_idx : padding_idx;
    }
  }
  return pos;
}

// arange(past, past + T) + offset for every row: BERT (offset 0) and the learned tables of the
// BART family (offset 2).
inline Tensor<int64_t> sequential_position_ids(int64_t B, int64_t T, int64_t past, int64_t offset) {
  Tensor<int64_t> pos({B, T});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) pos.data()[b * T + t] = past + t + offset;
  return pos;
}

// h [B, T, D] += table[position_ids] (position ids [B, T], checked against the table).
inline void add_embedding_rows(Tensor<float>& h, const Tensor<float>& table,
                               const Tensor<int64_t>& position_ids, const char* what) {
  nn::add_inplace(h, nn::embedding(table, position_ids, what));
}

// A decoder's inputs must be [B, T] ids with T > 0 that fit the positions left.
inline void check_decoder_input(const char* family, const DecoderState& state,
                                const Tensor<int64_t>& input_ids, int64_t max_length,
                                const char* max_field) {
  if (input_ids.ndim() != 2 || input_ids.dim(0) != state.batch_size() || input_ids.dim(1) == 0)
    throw InvalidArgument(std::string(family) + ": input_ids must have shape [" +
                          std::to_string(state.batch_size()) + ", length > 0], got " +
                          shape_str(input_ids.shape()));
  const int64_t length = state.length() + input_ids.dim(1);
  if (max_length > 0 && length > max_length)
    throw InvalidArgument(std::string(family) + ": sequence length " + std::to_string(length) +
                          " exceeds the " + std::to_string(max_length) + " positions that " +
                          max_field + " allows");
}

// The output projection of a causal LM (h [B, T, D] -> logits [B, T, V]): the input embeddings
// when `tied` (save_pretrained leaves the tied name out of the file), else the stored tensor
// `name` under `w`; with `bias` when given.
inline nn::Linear output_embeddings(bool tied, const Tensor<float>& input_embeddings,
                                    const WeightLoader& w, const std::string& name,
                                    Tensor<float> bias = Tensor<float>()) {
  Tensor<float> weight = tied ? input_embeddings : w.get(name, input_embeddings.shape());
  return nn::Linear(nn::WeightMatrix(std::move(weight)), std::move(bias))
      .converted(w.linear_weight_type(), w.full_name(name));
}

}  // namespace ved::detail
