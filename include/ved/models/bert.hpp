#pragma once

// BERT — "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
// (Devlin et al., 2018), transformers' modeling_bert.py, as the decoder of a
// VisionEncoderDecoderModel: BertLMHeadModel with is_decoder=true (causal self-attention) and
// add_cross_attention=true, as from_encoder_decoder_pretrained("...", "bert-base-uncased") builds
// it. Distinctive: word + absolute position (from 0) + token-type-0 embeddings summed and
// LayerNorm'ed; post-LN layers (each sub-block is LayerNorm(x + f(x))), LayerNorm eps
// `layer_norm_eps` (1e-12); scores divided by sqrt(head_dim) after q·kᵀ; an LM head transform
// (dense, hidden_act, LayerNorm) before the decoder matrix, which is tied to the word embeddings,
// with its own bias `cls.predictions.bias`. Special tokens: [CLS]=101 starts, [SEP]=102 ends,
// [PAD]=0. RoBERTa (roberta.hpp) reuses these blocks.

#include <memory>
#include <string>
#include <vector>

#include "ved/models/decoder_blocks.hpp"
#include "ved/models/registry.hpp"
#include "ved/nn/activations.hpp"
#include "ved/nn/layer_norm.hpp"
#include "ved/nn/linear.hpp"
#include "ved/nn/ops.hpp"

namespace ved {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  std::string position_embedding_type = "absolute";
  bool is_decoder = false;
  bool add_cross_attention = false;
  bool tie_word_embeddings = true;

  static BertConfig from(const PretrainedConfig& c) { return parse(c, BertConfig{}); }

  nn::Activation activation(const std::string& where) const {
    return nn::activation_from_name(hidden_act, where + ": hidden_act");
  }

 protected:
  // Reads every field over the family's defaults `d` (RoBERTa only changes defaults).
  static BertConfig parse(const PretrainedConfig& c, BertConfig d) {
    d.vocab_size = c.get("vocab_size", d.vocab_size);
    d.hidden_size = c.get("hidden_size", d.hidden_size);
    d.num_hidden_layers = c.get("num_hidden_layers", d.num_hidden_layers);
    d.num_attention_heads = c.get("num_attention_heads", d.num_attention_heads);
    d.intermediate_size = c.get("intermediate_size", d.intermediate_size);
    d.hidden_act = c.get("hidden_act", d.hidden_act);
    d.max_position_embeddings = c.get("max_position_embeddings", d.max_position_embeddings);
    d.type_vocab_size = c.get("type_vocab_size", d.type_vocab_size);
    d.layer_norm_eps = c.get("layer_norm_eps", d.layer_norm_eps);
    d.pad_token_id = c.get("pad_token_id", d.pad_token_id);
    d.position_embedding_type = c.get("position_embedding_type", d.position_embedding_type);
    d.is_decoder = c.get("is_decoder", d.is_decoder);
    d.add_cross_attention = c.get("add_cross_attention", d.add_cross_attention);
    d.tie_word_embeddings = c.get("tie_word_embeddings", d.tie_word_embeddings);
    const std::string& s = c.source;
    if (d.hidden_size <= 0 || d.num_attention_heads <= 0 ||
        d.hidden_size % d.num_attention_heads != 0)
      throw ConfigError(s + ": hidden_size " + std::to_string(d.hidden_size) +
                        " is not a positive multiple of num_attention_heads " +
                        std::to_string(d.num_attention_heads));
    if (d.vocab_size <= 0)
      throw ConfigError(s + ": vocab_size must be positive, got " + std::to_string(d.vocab_size));
    if (d.num_hidden_layers < 0) throw ConfigError(s + ": num_hidden_layers must not be negative");
    if (d.intermediate_size <= 0) throw ConfigError(s + ": intermediate_size must be positive");
    if (d.max_position_embeddings <= 0)
      throw ConfigError(s + ": max_position_embeddings must be positive");
    if (d.type_vocab_size <= 0)
      throw ConfigError(s + ": type_vocab_size must be positive (token type 0 is always added)");
    if (d.position_embedding_type != "absolute")
      throw ConfigError(s + ": position_embedding_type '" + d.position_embedding_type +
                        "' is not supported (only 'absolute')");
    if (!d.add_cross_attention)
      throw ConfigError(s +
                        ": add_cross_attention is false; the decoder needs cross-attention to "
                        "read the image");
    // transformers refuses cross-attention in a non-decoder layer, and without is_decoder the
    // self-attention would not be causal.
    if (!d.is_decoder) throw ConfigError(s + ": is_decoder must be true for a text decoder");
    d.activation(s);
    return d;
  }
};

// *.attention.self / *.crossattention.self: the q/k/v projections.
struct BertSelfAttention {
  nn::Linear query;  // .query.{weight,bias}
  nn::Linear key;    // .key.{weight,bias} (from the encoder states in cross-attention)
  nn::Linear value;  // .value.{weight,bias}

  static BertSelfAttention load(const WeightLoader& w, int64_t hidden) {
    return {nn::Linear::load(w.sub("query"), hidden, hidden),
            nn::Linear::load(w.sub("key"), hidden, hidden),
            nn::Linear::load(w.sub("value"), hidden, hidden)};
  }
};

// *.attention.output / *.crossattention.output: LayerNorm(dense(context) + input).
struct BertSelfOutput {
  nn::Linear dense;         // .dense.{weight,bias}
  nn::LayerNorm LayerNorm;  // .LayerNorm.{weight,bias}

  static BertSelfOutput load(const WeightLoader& w, int64_t in, int64_t hidden, double eps) {
    return {nn::Linear::load(w.sub("dense"), in, hidden),
            nn::LayerNorm::load(w.sub("LayerNorm"), hidden, eps)};
  }

  Tensor<float> forward(const Tensor<float>& x, const Tensor<float>& input) const {
    Tensor<float> h = dense.forward(x);
    nn::add_inplace(h, input);
    return LayerNorm.forward(h);
  }
};

// *.output after the intermediate dense: the same LayerNorm(dense(x) + residual).
using BertOutput = BertSelfOutput;

struct BertAttention {
  BertSelfAttention self;  // .self
  BertSelfOutput output;   // .output

  static BertAttention load(const WeightLoader& w, int64_t hidden, double eps) {
    return {BertSelfAttention::load(w.sub("self"), hidden),
            BertSelfOutput::load(w.sub("output"), hidden, hidden, eps)};
  }
};

// *.encoder.layer.N: self-attention, cross-attention and feed-forward, each post-LN.
struct BertLayer {
  BertAttention attention;       // .attention
  BertAttention crossattention;  // .crossattention
  nn::Linear intermediate;       // .intermediate.dense (followed by hidden_act)
  BertOutput output;             // .output.{dense,LayerNorm}: LayerNorm(dense(x) + attention out)
  nn::Activation act = nn::Activation::Gelu;

  static BertLayer load(const WeightLoader& w, const BertConfig& c, nn::Activation act) {
    const int64_t D = c.hidden_size;
    BertLayer l;
    l.attention = BertAttention::load(w.sub("attention"), D, c.layer_norm_eps);
    l.crossattention = BertAttention::load(w.sub("crossattention"), D, c.layer_norm_eps);
    l.intermediate = nn::Linear::load(w.sub("intermediate").sub("dense"), D, c.intermediate_size);
    l.output = BertOutput::load(w.sub("output"), c.intermediate_size, D, c.layer_norm_eps);
    l.act = act;
    return l;
  }

  void start(DecoderState::Layer cache, const Tensor<float>& encoder_hidden_states,
             const detail::AttentionHeads& heads) const {
    heads.start_cross(cache, crossattention.self.key, crossattention.self.value,
                      encoder_hidden_states);
  }

  Tensor<float> forward(DecoderState::Layer cache, const Tensor<float>& h,
                        const detail::AttentionHeads& heads) const {
    const BertSelfAttention& sa = attention.self;
    Tensor<float> x =
        attention.output.forward(heads.self_attention(cache, sa.query, sa.key, sa.value, h), h);
    x = crossattention.output.forward(heads.cross_attention(cache, crossattention.self.query, x),
                                      x);
    return output.forward(intermediate.forward(x, act), x);
  }
};

// The LM head: transform (dense, activation, LayerNorm) then the decoder matrix and its bias.
// BERT: cls.predictions.{transform.dense, transform.LayerNorm, decoder, bias} with hidden_act;
// RoBERTa's RobertaLMHead: lm_head.{dense, layer_norm, decoder, bias} with exact gelu.
struct BertLMPredictionHead {
  nn::Linear dense;
  nn::Activation act = nn::Activation::Gelu;
  nn::LayerNorm layer_norm;
  nn::Linear decoder;  // [vocab, hidden]: the word embeddings when tied; bias `bias`

  // `w` is the head's prefix (decoder, bias); `dense` and `norm` name the transform's layers.
  static BertLMPredictionHead load(const WeightLoader& w, const WeightLoader& dense,
                                   const WeightLoader& norm, nn::Activation act,
                                   const BertConfig& c, const Tensor<float>& word_embeddings) {
    BertLMPredictionHead p;
    p.dense = nn::Linear::load(dense, c.hidden_size, c.hidden_size);
    p.act = act;
    p.layer_norm = nn::LayerNorm::load(norm, c.hidden_size, c.layer_norm_eps);
    // `bias` and `decoder.bias` are one parameter; save_pretrained keeps `bias` and drops the
    // other, but a file that kept only `decoder.bias` is read too.
    Tensor<float> bias = w.has("bias") || !w.sub("decoder").has("bias")
                             ? w.get("bias", {c.vocab_size})
                             : w.sub("decoder").get("bias", {c.vocab_size});
    p.decoder = detail::output_embeddings(c.tie_word_embeddings, word_embeddings, w.sub("decoder"),
                                          "weight", std::move(bias));
    return p;
  }

  Tensor<float> forward(const Tensor<float>& h) const {
    return decoder.forward(layer_norm.forward(dense.forward(h, act)));
  }
};

namespace detail {

// What BertLMHeadModel and RobertaForCausalLM share: embeddings, layers and LM head, differing
// only in position ids and head names.
class BertStyleDecoder : public TextDecoder {
 public:
  DecoderState start(const Tensor<float>& encoder_hidden_states) const override {
    DecoderState state(encoder_hidden_states.dim(0), static_cast<int64_t>(layers_.size()));
    for (size_t i = 0; i < layers_.size(); ++i)
      layers_[i].start(state.layer(static_cast<int64_t>(i)), encoder_hidden_states, heads_);
    return state;
  }

  Tensor<float> forward(DecoderState& state, const Tensor<int64_t>& input_ids,
                        bool last_only) const override {
    check_decoder_input(family_, state, input_ids, max_positions(), "max_position_embeddings");
    const int64_t T = input_ids.dim(1);
    // BertEmbeddings: (word + token_type[0]) + position, then LayerNorm.
    Tensor<float> h = nn::embedding(word_embeddings_, input_ids, ids_what_.c_str());
    h.matrix().rowwise() += Eigen::Map<const Eigen::RowVectorXf>(token_type_embeddings_.data(),
                                                                 token_type_embeddings_.dim(1));
    add_embedding_rows(h, position_embeddings_, position_ids(input_ids, state.length()),
                       positions_what_.c_str());
    h = embeddings_norm_.forward(h);
    for (size_t i = 0; i < layers_.size(); ++i)
      h = layers_[i].forward(state.layer(static_cast<int64_t>(i)), h, heads_);
    state.advance(T);
    if (last_only && T > 1) h = nn::take_position(h, T - 1);
    return head_.forward(h);
  }

  int64_t hidden_size() const override { return config_.hidden_size; }
  int64_t encoder_hidden_size() const override { return config_.hidden_size; }
  int64_t vocab_size() const override { return config_.vocab_size; }

 protected:
  // `model` is the bert./roberta. prefix; the LM head is loaded by the subclass.
  BertStyleDecoder(const BertConfig& config, const WeightLoader& model, const char* family)
      : config_(config),
        family_(family),
        ids_what_(std::string(family) + " input_ids"),
        positions_what_(std::string(family) + " position_ids") {
    const int64_t D = config.hidden_size;
    const WeightLoader e = model.sub("embeddings");
    word_embeddings_ = e.get("word_embeddings.weight", {config.vocab_size, D});
    position_embeddings_ = e.get("position_embeddings.weight", {config.max_position_embeddings, D});
    token_type_embeddings_ =
        e.get("token_type_embeddings.weight", {config.type_vocab_size, D})[0].reshape({1, D});
    embeddings_norm_ = nn::LayerNorm::load(e.sub("LayerNorm"), D, config.layer_norm_eps);
    const nn::Activation act = config.activation(family_);
    for (int64_t i = 0; i < config.num_hidden_layers; ++i)
      layers_.push_back(BertLayer::load(model.sub("encoder").sub("layer").sub(i), config, act));
    heads_ = AttentionHeads::for_width(D, config.num_attention_heads, /*scale_query=*/false);
  }

  virtual Tensor<int64_t> position_ids(const Tensor<int64_t>& input_ids, int64_t past) const = 0;

  BertConfig config_;
  const char* family_;
  std::string ids_what_, positions_what_;  // for errors about out-of-range ids
  Tensor<float> word_embeddings_;          // <model>.embeddings.word_embeddings.weight
  Tensor<float> position_embeddings_;      // <model>.embeddings.position_embeddings.weight
  Tensor<float> token_type_embeddings_;    // <model>.embeddings.token_type_embeddings.weight[0]
  nn::LayerNorm embeddings_norm_;          // <model>.embeddings.LayerNorm
  std::vector<BertLayer> layers_;          // <model>.encoder.layer.N
  AttentionHeads heads_;
  BertLMPredictionHead head_;
};

}  // namespace detail

class BertLMHeadModel : public detail::BertStyleDecoder {
 public:
  BertLMHeadModel(const BertConfig& config, const WeightLoader& w)
      : BertStyleDecoder(config, w.sub("bert"), "bert") {
    const WeightLoader p = w.sub("cls").sub("predictions");
    head_ = BertLMPredictionHead::load(p, p.sub("transform").sub("dense"),
                                       p.sub("transform").sub("LayerNorm"),
                                       config.activation(family_), config, word_embeddings_);
  }

  int64_t max_positions() const override { return config_.max_position_embeddings; }

 protected:
  // BertEmbeddings slices its position_ids buffer at [past, past + T).
  Tensor<int64_t> position_ids(const Tensor<int64_t>& input_ids, int64_t past) const override {
    return detail::sequential_position_ids(input_ids.dim(0), input_ids.dim(1), past, 0);
  }
};

}  // namespace ved
