#pragma once

// TrOCR — "TrOCR: Transformer-based Optical Character Recognition with Pre-trained Models"
// (Li et al., 2021), transformers' modeling_trocr.py: TrOCRForCausalLM, the decoder of
// microsoft/trocr-{small,base,large}-{printed,handwritten,stage1}. A BART-style post-LN decoder
// (bart_like.hpp) with: `scale_embedding` (×sqrt(d_model), the small models), learned positions
// looked up at i + 2 or, with use_learned_position_embeddings=false, fairseq sinusoidal positions
// that are not stored and are indexed by RoBERTa-style position ids from the input ids; an
// optional layernorm_embedding; `activation_function` gelu (base/large) or relu (small);
// cross-attention keys/values projected straight from cross_attention_hidden_size (the encoder's
// width), so VisionEncoderDecoderModel adds no enc_to_dec_proj; `output_projection` (no bias)
// tied to embed_tokens unless tie_word_embeddings=false. Special tokens (fairseq): <s>=0,
// <pad>=1, </s>=2, decoder start = </s>.

#include <cmath>
#include <memory>
#include <optional>
#include <string>

#include "ved/models/bart_like.hpp"

namespace ved {

// TrOCRConfig: BART's shared fields (d_model, decoder_layers, ...) plus TrOCR's own. Its
// attribute_map aliases hidden_size, num_hidden_layers and num_attention_heads.
struct TrOCRConfig : detail::BartLikeConfig {
  bool use_learned_position_embeddings = true;
  bool layernorm_embedding = true;
  std::optional<int64_t> cross_attention_hidden_size;  // encoder width the k/v projections read

  TrOCRConfig() { max_position_embeddings = 512; }

  static TrOCRConfig from(const PretrainedConfig& c) {
    TrOCRConfig t;
    t.read(c);
    if (c.has("num_hidden_layers")) t.decoder_layers = c.get("num_hidden_layers", t.decoder_layers);
    if (c.has("num_attention_heads"))
      t.decoder_attention_heads = c.get("num_attention_heads", t.decoder_attention_heads);
    t.use_learned_position_embeddings =
        c.get("use_learned_position_embeddings", t.use_learned_position_embeddings);
    t.layernorm_embedding = c.get("layernorm_embedding", t.layernorm_embedding);
    t.cross_attention_hidden_size = c.get_optional<int64_t>("cross_attention_hidden_size");
    t.validate(c);
    if (t.cross_attention_hidden_size && *t.cross_attention_hidden_size <= 0)
      throw ConfigError(c.source + ": cross_attention_hidden_size must be positive, got " +
                        std::to_string(*t.cross_attention_hidden_size));
    if (!t.use_learned_position_embeddings) {
      if (c.raw.contains("pad_token_id") && !c.has("pad_token_id"))
        throw ConfigError(c.source +
                          ": pad_token_id is null, but sinusoidal positions "
                          "(use_learned_position_embeddings=false) are counted from it");
      if (t.pad_token_id < 0)
        throw ConfigError(c.source +
                          ": pad_token_id must not be negative with sinusoidal positions");
      if (t.d_model < 4)
        throw ConfigError(c.source + ": d_model " + std::to_string(t.d_model) +
                          " is too small for sinusoidal positions (at least 4)");
    }
    return t;
  }

  detail::BartLikeSpec spec() const {
    detail::BartLikeSpec s = base_spec("trocr");
    s.kdim = cross_attention_hidden_size.value_or(d_model);
    s.norm = LayerNormPosition::Post;
    s.layernorm_embedding = layernorm_embedding;
    s.final_layer_norm = false;
    s.output_name = "output_projection";
    return s;
  }
};

// fairseq's sinusoidal table (tensor2tensor layout): row p is [sin(p·f_0..f_{h-1}),
// cos(p·f_0..f_{h-1})] with h = dim/2 and f_k = exp(-k·ln(10000)/(h-1)), a zero column appended
// for odd dims, and row padding_idx all zeros. Computed in float32 in transformers' order.
struct TrOCRSinusoidalPositionalEmbedding {
  static Tensor<float> get_embedding(int64_t num_embeddings, int64_t embedding_dim,
                                     int64_t padding_idx) {
    const int64_t half = embedding_dim / 2;
    // math.log(10000) / (half_dim - 1) in double; the float32 tensor multiply rounds it once.
    const float step = static_cast<float>(-(std::log(10000.0) / static_cast<double>(half - 1)));
    std::vector<float> freq(static_cast<size_t>(half));
    for (int64_t k = 0; k < half; ++k)
      freq[static_cast<size_t>(k)] = std::exp(static_cast<float>(k) * step);
    Tensor<float> table({num_embeddings, embedding_dim});
    for (int64_t p = 0; p < num_embeddings; ++p) {
      if (p == padding_idx) continue;  // stays zero
      float* row = table.data() + p * embedding_dim;
      for (int64_t k = 0; k < half; ++k) {
        const float angle = static_cast<float>(p) * freq[static_cast<size_t>(k)];
        row[k] = std::sin(angle);
        row[half + k] = std::cos(angle);
      }
    }
    return table;
  }
};

// TrOCRDecoderLayer is BART's post-LN decoder layer.
using TrOCRAttention = BartAttention;
using TrOCRDecoderLayer = BartDecoderLayer;

class TrOCRForCausalLM : public detail::BartLikeForCausalLM {
 public:
  TrOCRForCausalLM(const TrOCRConfig& config, const WeightLoader& w)
      : BartLikeForCausalLM(spec_for(config), w) {}

 private:
  static detail::BartLikeSpec spec_for(const TrOCRConfig& config) {
    detail::BartLikeSpec s = config.spec();
    // transformers builds max_position_embeddings + padding_idx + 1 rows: position ids reach
    // padding_idx + length.
    if (!config.use_learned_position_embeddings)
      s.fixed_positions = TrOCRSinusoidalPositionalEmbedding::get_embedding(
          config.max_position_embeddings + config.pad_token_id + 1, config.d_model,
          config.pad_token_id);
    return s;
  }
};

}  // namespace ved
