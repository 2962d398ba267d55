#pragma once

// RoBERTa — "RoBERTa: A Robustly Optimized BERT Pretraining Approach" (Liu et al., 2019),
// transformers' modeling_roberta.py, as the decoder of a VisionEncoderDecoderModel:
// RobertaForCausalLM with is_decoder=true and add_cross_attention=true (e.g. a BEiT or ViT
// encoder with a roberta-base decoder). BERT's layers (bert.hpp) with two differences:
// position ids come from the input ids (fairseq's make_positions: padding_idx + 1 + i for real
// tokens, padding_idx for pad tokens, so the table has max_position_embeddings = max length +
// padding_idx + 1 rows), and the LM head is lm_head.{dense, layer_norm, decoder} with exact gelu
// whatever hidden_act says, its decoder tied to the word embeddings and its bias `lm_head.bias`.
// Special tokens (fairseq): <s>=0, <pad>=1, </s>=2 (decoder start and eos).

#include <memory>

#include "ved/models/bert.hpp"

namespace ved {

struct RobertaConfig : BertConfig {
  RobertaConfig() {
    vocab_size = 50265;
    pad_token_id = 1;
  }

  static RobertaConfig from(const PretrainedConfig& c) {
    RobertaConfig r;
    static_cast<BertConfig&>(r) = parse(c, r);
    if (r.pad_token_id < 0 || r.max_position_embeddings - r.pad_token_id - 1 <= 0)
      throw ConfigError(c.source + ": pad_token_id " + std::to_string(r.pad_token_id) +
                        " leaves no positions in max_position_embeddings " +
                        std::to_string(r.max_position_embeddings) +
                        " (position ids start at pad_token_id + 1)");
    return r;
  }
};

class RobertaForCausalLM : public detail::BertStyleDecoder {
 public:
  RobertaForCausalLM(const RobertaConfig& config, const WeightLoader& w)
      : BertStyleDecoder(config, w.sub("roberta"), "roberta") {
    const WeightLoader l = w.sub("lm_head");
    // RobertaLMHead calls transformers' `gelu` directly, not ACT2FN[hidden_act].
    head_ = BertLMPredictionHead::load(l, l.sub("dense"), l.sub("layer_norm"), nn::Activation::Gelu,
                                       config, word_embeddings_);
  }

  // Position ids reach padding_idx + length and must stay inside the table.
  int64_t max_positions() const override {
    return config_.max_position_embeddings - config_.pad_token_id - 1;
  }

 protected:
  // RobertaEmbeddings with no position_ids given (VisionEncoderDecoderModel never passes them):
  // create_position_ids_from_input_ids(input_ids, padding_idx, past_key_values_length).
  Tensor<int64_t> position_ids(const Tensor<int64_t>& input_ids, int64_t past) const override {
    return detail::fairseq_position_ids(input_ids, config_.pad_token_id, past);
  }
};

}  // namespace ved
