#pragma once

// BART — "BART: Denoising Sequence-to-Sequence Pre-training for Natural Language Generation,
// Translation, and Comprehension" (Lewis et al., 2019), transformers' modeling_bart.py:
// BartForCausalLM (e.g. facebook/bart-base's decoder under an image encoder). The shared decoder
// of bart_like.hpp in its original form: post-LN layers (LayerNorm(x + f(x))), layernorm_embedding
// after the embeddings and no final layer_norm; learned positions looked up at i + 2;
// `scale_embedding` (false by default); q scaled by head_dim^-0.5 before q·kᵀ; lm_head without
// bias, tied to embed_tokens unless tie_word_embeddings=false. Special tokens: <s>=0, <pad>=1,
// </s>=2 (the decoder start).

#include <memory>

#include "ved/models/bart_like.hpp"

namespace ved {

// BartConfig's decoder fields. `num_hidden_layers` and `num_attention_heads` describe the encoder
// in this config and are ignored.
struct BartConfig : detail::BartLikeConfig {
  static BartConfig from(const PretrainedConfig& c) {
    BartConfig b;
    b.read(c);
    b.validate(c);
    return b;
  }

  detail::BartLikeSpec spec() const {
    detail::BartLikeSpec s = base_spec("bart");
    s.norm = LayerNormPosition::Post;
    s.layernorm_embedding = true;
    s.final_layer_norm = false;
    s.output_name = "lm_head";
    return s;
  }
};

class BartForCausalLM : public detail::BartLikeForCausalLM {
 public:
  BartForCausalLM(const BartConfig& config, const WeightLoader& w)
      : BartLikeForCausalLM(config.spec(), w) {}
};

}  // namespace ved
