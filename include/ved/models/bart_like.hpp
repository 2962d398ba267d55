#pragma once

// The decoder that BART, MBart and TrOCR share — transformers marks TrOCRAttention,
// MBartAttention and the three decoder layers as copies of BART's. One implementation with the
// switches the three families differ in: where the LayerNorms sit (post-LN for BART and TrOCR,
// pre-LN for MBart), an optional layernorm_embedding and final layer_norm, the embedding scale,
// learned positions with an offset of 2 or TrOCR's sinusoidal ones, and the width the
// cross-attention keys and values are projected from (TrOCR's cross_attention_hidden_size).
// Every attention multiplies the projected query by head_dim^-0.5 before q·kᵀ.

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ved/models/decoder_blocks.hpp"
#include "ved/models/registry.hpp"
#include "ved/nn/activations.hpp"
#include "ved/nn/layer_norm.hpp"
#include "ved/nn/linear.hpp"
#include "ved/nn/ops.hpp"

namespace ved {

// *.self_attn / *.encoder_attn of a decoder layer.
struct BartAttention {
  nn::Linear q_proj;    // .q_proj.{weight,bias} [d_model, d_model]
  nn::Linear k_proj;    // .k_proj.{weight,bias} [d_model, kdim]
  nn::Linear v_proj;    // .v_proj.{weight,bias} [d_model, kdim]
  nn::Linear out_proj;  // .out_proj.{weight,bias} [d_model, d_model]

  static BartAttention load(const WeightLoader& w, int64_t embed_dim, int64_t kdim) {
    return {nn::Linear::load(w.sub("q_proj"), embed_dim, embed_dim),
            nn::Linear::load(w.sub("k_proj"), kdim, embed_dim),
            nn::Linear::load(w.sub("v_proj"), kdim, embed_dim),
            nn::Linear::load(w.sub("out_proj"), embed_dim, embed_dim)};
  }
};

// Post-LN: x = LayerNorm(x + f(x)) (BART, TrOCR). Pre-LN: x = x + f(LayerNorm(x)) (MBart).
enum class LayerNormPosition { Post, Pre };

// model.decoder.layers.N
struct BartDecoderLayer {
  BartAttention self_attn;                // .self_attn
  nn::LayerNorm self_attn_layer_norm;     // .self_attn_layer_norm
  BartAttention encoder_attn;             // .encoder_attn (k/v from the encoder states)
  nn::LayerNorm encoder_attn_layer_norm;  // .encoder_attn_layer_norm
  nn::Linear fc1;                         // .fc1 [ffn_dim, d_model]
  nn::Linear fc2;                         // .fc2 [d_model, ffn_dim]
  nn::LayerNorm final_layer_norm;         // .final_layer_norm
  nn::Activation activation_fn = nn::Activation::Gelu;

  // nn.LayerNorm's default eps (1e-5) everywhere: these configs have no layer_norm_eps.
  static BartDecoderLayer load(const WeightLoader& w, int64_t d_model, int64_t ffn_dim,
                               int64_t kdim, nn::Activation act) {
    constexpr double eps = 1e-5;
    BartDecoderLayer l;
    l.self_attn = BartAttention::load(w.sub("self_attn"), d_model, d_model);
    l.self_attn_layer_norm = nn::LayerNorm::load(w.sub("self_attn_layer_norm"), d_model, eps);
    l.encoder_attn = BartAttention::load(w.sub("encoder_attn"), d_model, kdim);
    l.encoder_attn_layer_norm = nn::LayerNorm::load(w.sub("encoder_attn_layer_norm"), d_model, eps);
    l.fc1 = nn::Linear::load(w.sub("fc1"), d_model, ffn_dim);
    l.fc2 = nn::Linear::load(w.sub("fc2"), ffn_dim, d_model);
    l.final_layer_norm = nn::LayerNorm::load(w.sub("final_layer_norm"), d_model, eps);
    l.activation_fn = act;
    return l;
  }

  void start(DecoderState::Layer cache, const Tensor<float>& encoder_hidden_states,
             const detail::AttentionHeads& heads) const {
    heads.start_cross(cache, encoder_attn.k_proj, encoder_attn.v_proj, encoder_hidden_states);
  }

  Tensor<float> forward(DecoderState::Layer cache, Tensor<float> h,
                        const detail::AttentionHeads& heads, LayerNormPosition norm) const {
    const bool pre = norm == LayerNormPosition::Pre;
    // Self-attention.
    {
      const Tensor<float> x = pre ? self_attn_layer_norm.forward(h) : h;
      nn::add_inplace(h, self_attn.out_proj.forward(heads.self_attention(
                             cache, self_attn.q_proj, self_attn.k_proj, self_attn.v_proj, x)));
      if (!pre) h = self_attn_layer_norm.forward(h);
    }
    // Cross-attention over the image.
    {
      const Tensor<float> x = pre ? encoder_attn_layer_norm.forward(h) : h;
      nn::add_inplace(
          h, encoder_attn.out_proj.forward(heads.cross_attention(cache, encoder_attn.q_proj, x)));
      if (!pre) h = encoder_attn_layer_norm.forward(h);
    }
    // Feed-forward.
    {
      const Tensor<float> x = pre ? final_layer_norm.forward(h) : h;
      nn::add_inplace(h, detail::feed_forward(fc1, activation_fn, fc2, x));
      if (!pre) h = final_layer_norm.forward(h);
    }
    return h;
  }
};

namespace detail {

// What a BART-family causal LM is made of, filled in by each family's config.
struct BartLikeSpec {
  const char* family = "bart";
  int64_t vocab_size = 0, d_model = 0, decoder_layers = 0, decoder_attention_heads = 1,
          decoder_ffn_dim = 0, max_position_embeddings = 0, pad_token_id = 1;
  int64_t kdim = 0;  // width of the encoder states the cross-attention reads
  nn::Activation activation = nn::Activation::Gelu;
  bool scale_embedding = false;  // token embeddings × sqrt(d_model)
  LayerNormPosition norm = LayerNormPosition::Post;
  bool layernorm_embedding = true;  // LayerNorm right after token + position embeddings
  bool final_layer_norm = false;    // model.decoder.layer_norm after the layers (MBart)
  // Empty: learned positions `embed_positions.weight` looked up at past + i + 2. Otherwise a
  // fixed table indexed by fairseq position ids (TrOCR's sinusoidal positions).
  Tensor<float> fixed_positions;
  bool tie_word_embeddings = true;
  const char* output_name = "lm_head";  // the output projection under the causal LM's prefix
};

// model.decoder.* plus the output projection, as a TextDecoder.
class BartLikeForCausalLM : public TextDecoder {
 public:
  BartLikeForCausalLM(BartLikeSpec spec, const WeightLoader& w) : spec_(std::move(spec)) {
    const int64_t D = spec_.d_model;
    const WeightLoader d = w.sub("model").sub("decoder");
    embed_tokens_ = d.get("embed_tokens.weight", {spec_.vocab_size, D});
    // Python's math.sqrt, rounded to float once, as the float32 multiply sees it.
    embed_scale_ =
        spec_.scale_embedding ? static_cast<float>(std::sqrt(static_cast<double>(D))) : 1.0f;
    embed_positions_ = spec_.fixed_positions.empty()
                           ? d.get("embed_positions.weight", {spec_.max_position_embeddings + 2, D})
                           : spec_.fixed_positions;
    if (spec_.layernorm_embedding)
      layernorm_embedding_ = nn::LayerNorm::load(d.sub("layernorm_embedding"), D, 1e-5);
    for (int64_t i = 0; i < spec_.decoder_layers; ++i)
      layers_.push_back(BartDecoderLayer::load(d.sub("layers").sub(i), D, spec_.decoder_ffn_dim,
                                               spec_.kdim, spec_.activation));
    if (spec_.final_layer_norm) layer_norm_ = nn::LayerNorm::load(d.sub("layer_norm"), D, 1e-5);
    heads_ = AttentionHeads::for_width(D, spec_.decoder_attention_heads, /*scale_query=*/true);
    output_ = output_embeddings(spec_.tie_word_embeddings, embed_tokens_, w.sub(spec_.output_name),
                                "weight");
    ids_what_ = std::string(spec_.family) + " input_ids";
    positions_what_ = std::string(spec_.family) + " position_ids";
  }

  DecoderState start(const Tensor<float>& encoder_hidden_states) const override {
    DecoderState state(encoder_hidden_states.dim(0), static_cast<int64_t>(layers_.size()));
    for (size_t i = 0; i < layers_.size(); ++i)
      layers_[i].start(state.layer(static_cast<int64_t>(i)), encoder_hidden_states, heads_);
    return state;
  }

  Tensor<float> forward(DecoderState& state, const Tensor<int64_t>& input_ids,
                        bool last_only) const override {
    check_decoder_input(spec_.family, state, input_ids, max_positions(), "max_position_embeddings");
    const int64_t B = input_ids.dim(0), T = input_ids.dim(1), past = state.length();
    Tensor<float> h = nn::embedding(embed_tokens_, input_ids, ids_what_.c_str());
    if (embed_scale_ != 1.0f) h.matrix() *= embed_scale_;
    const Tensor<int64_t> positions =
        spec_.fixed_positions.empty() ? sequential_position_ids(B, T, past, /*offset=*/2)
                                      : fairseq_position_ids(input_ids, spec_.pad_token_id, past);
    add_embedding_rows(h, embed_positions_, positions, positions_what_.c_str());
    if (layernorm_embedding_) h = layernorm_embedding_->forward(h);
    for (size_t i = 0; i < layers_.size(); ++i)
      h = layers_[i].forward(state.layer(static_cast<int64_t>(i)), std::move(h), heads_,
                             spec_.norm);
    state.advance(T);
    if (last_only && T > 1) h = nn::take_position(h, T - 1);
    if (layer_norm_) h = layer_norm_->forward(h);
    return output_.forward(h);
  }

  int64_t hidden_size() const override { return spec_.d_model; }
  int64_t encoder_hidden_size() const override { return spec_.kdim; }
  int64_t vocab_size() const override { return spec_.vocab_size; }
  int64_t max_positions() const override { return spec_.max_position_embeddings; }

 private:
  BartLikeSpec spec_;
  Tensor<float> embed_tokens_;  // model.decoder.embed_tokens.weight [vocab, d_model]
  float embed_scale_ = 1.0f;
  Tensor<float> embed_positions_;  // model.decoder.embed_positions.weight [max + 2, d_model]
  std::optional<nn::LayerNorm> layernorm_embedding_;  // model.decoder.layernorm_embedding
  std::vector<BartDecoderLayer> layers_;              // model.decoder.layers.N
  std::optional<nn::LayerNorm> layer_norm_;           // model.decoder.layer_norm
  AttentionHeads heads_;
  nn::Linear output_;  // <output_name>.weight [vocab, d_model], or embed_tokens when tied
  std::string ids_what_, positions_what_;
};

// The config fields BART, MBart and TrOCR share, with transformers' names and BART's defaults
// (TrOCR changes max_position_embeddings).
struct BartLikeConfig {
  int64_t vocab_size = 50265;
  int64_t d_model = 1024;  // attribute_map alias: hidden_size
  int64_t decoder_layers = 12;
  int64_t decoder_attention_heads = 16;
  int64_t decoder_ffn_dim = 4096;
  std::string activation_function = "gelu";
  int64_t max_position_embeddings = 1024;
  bool scale_embedding = false;
  int64_t pad_token_id = 1;
  bool tie_word_embeddings = true;

 protected:
  // `hidden_size` wins over d_model when both are present: PretrainedConfig sets the
  // attribute_map aliases after the family's own fields.
  void read(const PretrainedConfig& c) {
    vocab_size = c.get("vocab_size", vocab_size);
    d_model = c.get("d_model", d_model);
    if (c.has("hidden_size")) d_model = c.get("hidden_size", d_model);
    decoder_layers = c.get("decoder_layers", decoder_layers);
    decoder_attention_heads = c.get("decoder_attention_heads", decoder_attention_heads);
    decoder_ffn_dim = c.get("decoder_ffn_dim", decoder_ffn_dim);
    activation_function = c.get("activation_function", activation_function);
    max_position_embeddings = c.get("max_position_embeddings", max_position_embeddings);
    scale_embedding = c.get("scale_embedding", scale_embedding);
    pad_token_id = c.get("pad_token_id", pad_token_id);
    tie_word_embeddings = c.get("tie_word_embeddings", tie_word_embeddings);
  }

  void validate(const PretrainedConfig& c) const {
    const std::string& src = c.source;
    if (d_model <= 0 || decoder_attention_heads <= 0 || d_model % decoder_attention_heads != 0)
      throw ConfigError(src + ": d_model " + std::to_string(d_model) +
                        " is not a positive multiple of decoder_attention_heads " +
                        std::to_string(decoder_attention_heads));
    if (vocab_size <= 0)
      throw ConfigError(src + ": vocab_size must be positive, got " + std::to_string(vocab_size));
    if (decoder_layers < 0) throw ConfigError(src + ": decoder_layers must not be negative");
    if (decoder_ffn_dim <= 0) throw ConfigError(src + ": decoder_ffn_dim must be positive");
    if (max_position_embeddings <= 0)
      throw ConfigError(src + ": max_position_embeddings must be positive");
    nn::activation_from_name(activation_function, src + ": activation_function");
  }

  BartLikeSpec base_spec(const char* family) const {
    BartLikeSpec s;
    s.family = family;
    s.vocab_size = vocab_size;
    s.d_model = d_model;
    s.decoder_layers = decoder_layers;
    s.decoder_attention_heads = decoder_attention_heads;
    s.decoder_ffn_dim = decoder_ffn_dim;
    s.max_position_embeddings = max_position_embeddings;
    s.pad_token_id = pad_token_id;
    s.kdim = d_model;
    s.activation = nn::activation_from_name(activation_function, "activation_function");
    s.scale_embedding = scale_embedding;
    s.tie_word_embeddings = tie_word_embeddings;
    return s;
  }
};

}  // namespace detail

}  // namespace ved
