#pragma once

// mBART — "Multilingual Denoising Pre-training for Neural Machine Translation" (Liu et al., 2020),
// transformers' modeling_mbart.py: MBartForCausalLM, the decoder of Donut
// (naver-clova-ix/donut-base*, with a DonutSwin encoder) and Nougat. A BART-style decoder
// (bart_like.hpp) with pre-LN layers (x + f(LayerNorm(x))), layernorm_embedding after the
// embeddings and a final model.decoder.layer_norm after the layers; `scale_embedding` (×sqrt
// (d_model), true for Donut); learned positions looked up at i + 2; lm_head without bias (the
// causal LM has no final_logits_bias), tied to embed_tokens unless tie_word_embeddings=false.
// Special tokens: <s>=0, <pad>=1, </s>=2; Donut starts from a task prompt token.

#include <memory>

#include "ved/models/bart_like.hpp"

namespace ved {

// MBartConfig's decoder fields. `num_hidden_layers` and `num_attention_heads` describe the
// encoder in this config and are ignored.
struct MBartConfig : detail::BartLikeConfig {
  static MBartConfig from(const PretrainedConfig& c) {
    MBartConfig m;
    m.read(c);
    m.validate(c);
    return m;
  }

  detail::BartLikeSpec spec() const {
    detail::BartLikeSpec s = base_spec("mbart");
    s.norm = LayerNormPosition::Pre;
    s.layernorm_embedding = true;
    s.final_layer_norm = true;
    s.output_name = "lm_head";
    return s;
  }
};

using MBartAttention = BartAttention;
// MBart's layer is BART's with the LayerNorms moved in front of each sub-block.
using MBartDecoderLayer = BartDecoderLayer;

class MBartForCausalLM : public detail::BartLikeForCausalLM {
 public:
  MBartForCausalLM(const MBartConfig& config, const WeightLoader& w)
      : BartLikeForCausalLM(config.spec(), w) {}
};

}  // namespace ved
