#pragma once

// GPT-2 — "Language Models are Unsupervised Multitask Learners" (Radford et al., 2019),
// transformers' modeling_gpt2.py, as the decoder of a VisionEncoderDecoderModel
// (GPT2LMHeadModel with add_cross_attention=true), e.g. nlpconnect/vit-gpt2-image-captioning.
// Distinctive: Conv1D projections stored [in, out]; packed c_attn (q,k,v) in self-attention and
// q_attn + packed c_attn (k,v) in cross-attention; pre-LN blocks (ln_1, ln_cross_attn, ln_2) and a
// final ln_f; learned absolute positions from 0; gelu_new (tanh) MLP; lm_head tied to wte unless
// tie_word_embeddings=false.

#include <cmath>

#include "ved/models/decoder_blocks.hpp"
#include "ved/models/registry.hpp"
#include "ved/nn/activations.hpp"
#include "ved/nn/layer_norm.hpp"
#include "ved/nn/linear.hpp"
#include "ved/nn/ops.hpp"

namespace ved {

struct GPT2Config {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_layer = 12;
  int64_t n_head = 12;
  std::optional<int64_t> n_inner;
  std::string activation_function = "gelu_new";
  double layer_norm_epsilon = 1e-5;
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;
  bool add_cross_attention = false;
  bool tie_word_embeddings = true;

  static GPT2Config from(const PretrainedConfig& c) {
    GPT2Config g;
    g.vocab_size = c.get("vocab_size", g.vocab_size);
    g.n_positions = c.get("n_positions", g.n_positions);
    g.n_embd = c.get("n_embd", g.n_embd);
    g.n_layer = c.get("n_layer", g.n_layer);
    g.n_head = c.get("n_head", g.n_head);
    g.n_inner = c.get_optional<int64_t>("n_inner");
    g.activation_function = c.get("activation_function", g.activation_function);
    g.layer_norm_epsilon = c.get("layer_norm_epsilon", g.layer_norm_epsilon);
    g.scale_attn_weights = c.get("scale_attn_weights", g.scale_attn_weights);
    g.scale_attn_by_inverse_layer_idx =
        c.get("scale_attn_by_inverse_layer_idx", g.scale_attn_by_inverse_layer_idx);
    g.add_cross_attention = c.get("add_cross_attention", g.add_cross_attention);
    g.tie_word_embeddings = c.get("tie_word_embeddings", g.tie_word_embeddings);
    if (g.n_embd <= 0 || g.n_head <= 0 || g.n_embd % g.n_head != 0)
      throw ConfigError(c.source + ": n_embd " + std::to_string(g.n_embd) +
                        " is not a positive multiple of n_head " + std::to_string(g.n_head));
    if (g.vocab_size <= 0 || g.n_positions <= 0 || g.n_layer < 0 || (g.n_inner && *g.n_inner <= 0))
      throw ConfigError(c.source +
                        ": vocab_size, n_positions, n_layer and n_inner must be positive");
    if (!g.add_cross_attention)
      throw ConfigError(c.source +
                        ": add_cross_attention is false; a GPT-2 decoder needs cross-attention to "
                        "read the image");
    return g;
  }
  int64_t inner_dim() const { return n_inner.value_or(4 * n_embd); }
};

struct GPT2Attention {
  nn::Linear
      c_attn;  // attn.c_attn: packed q,k,v   | crossattention.c_attn: packed k,v (from the encoder)
  nn::Linear q_attn;  // crossattention.q_attn only
  nn::Linear c_proj;
};

struct GPT2MLP {
  nn::Linear c_fc, c_proj;  // mlp.c_fc, mlp.c_proj
  nn::Activation act = nn::Activation::GeluNew;

  Tensor<float> forward(const Tensor<float>& x) const {
    return c_proj.forward(c_fc.forward(x, act));
  }
};

struct GPT2Block {
  nn::LayerNorm ln_1;            // decoder.transformer.h.*.ln_1
  GPT2Attention attn;            // decoder.transformer.h.*.attn
  nn::LayerNorm ln_cross_attn;   // decoder.transformer.h.*.ln_cross_attn
  GPT2Attention crossattention;  // decoder.transformer.h.*.crossattention
  nn::LayerNorm ln_2;            // decoder.transformer.h.*.ln_2
  GPT2MLP mlp;                   // decoder.transformer.h.*.mlp
  float scale = 1.0f;
};

class GPT2LMHeadModel : public TextDecoder {
 public:
  GPT2LMHeadModel(const GPT2Config& config, const WeightLoader& w) : config_(config) {
    const int64_t D = config.n_embd, F = config.inner_dim();
    const WeightLoader t = w.sub("transformer");
    wte_ = t.get("wte.weight", {config.vocab_size, D});
    wpe_ = t.get("wpe.weight", {config.n_positions, D});
    const nn::Activation act =
        nn::activation_from_name(config.activation_function, "decoder.activation_function");
    const int64_t head_dim = D / config.n_head;
    for (int64_t i = 0; i < config.n_layer; ++i) {
      const WeightLoader h = t.sub("h").sub(i);
      GPT2Block b;
      b.ln_1 = nn::LayerNorm::load(h.sub("ln_1"), D, config.layer_norm_epsilon);
      b.attn.c_attn = nn::Linear::load_conv1d(h.sub("attn").sub("c_attn"), D, 3 * D);
      b.attn.c_proj = nn::Linear::load_conv1d(h.sub("attn").sub("c_proj"), D, D);
      b.ln_cross_attn = nn::LayerNorm::load(h.sub("ln_cross_attn"), D, config.layer_norm_epsilon);
      b.crossattention.q_attn =
          nn::Linear::load_conv1d(h.sub("crossattention").sub("q_attn"), D, D);
      b.crossattention.c_attn =
          nn::Linear::load_conv1d(h.sub("crossattention").sub("c_attn"), D, 2 * D);
      b.crossattention.c_proj =
          nn::Linear::load_conv1d(h.sub("crossattention").sub("c_proj"), D, D);
      b.ln_2 = nn::LayerNorm::load(h.sub("ln_2"), D, config.layer_norm_epsilon);
      b.mlp.c_fc = nn::Linear::load_conv1d(h.sub("mlp").sub("c_fc"), D, F);
      b.mlp.c_proj = nn::Linear::load_conv1d(h.sub("mlp").sub("c_proj"), F, D);
      b.mlp.act = act;
      b.scale = 1.0f;
      if (config.scale_attn_weights) b.scale /= std::sqrt(static_cast<float>(head_dim));
      if (config.scale_attn_by_inverse_layer_idx) b.scale /= static_cast<float>(i + 1);
      blocks_.push_back(std::move(b));
    }
    ln_f_ = nn::LayerNorm::load(t.sub("ln_f"), D, config.layer_norm_epsilon);
    // Tied heads are not in the file (save_pretrained drops decoder.lm_head.weight).
    lm_head_ = detail::output_embeddings(config.tie_word_embeddings, wte_, w, "lm_head.weight");
  }

  DecoderState start(const Tensor<float>& encoder_hidden_states) const override {
    DecoderState state(encoder_hidden_states.dim(0), config_.n_layer);
    for (int64_t i = 0; i < config_.n_layer; ++i) {
      auto kv = nn::split_last(
          blocks_[static_cast<size_t>(i)].crossattention.c_attn.forward(encoder_hidden_states), 2);
      state.layer(i).set_cross(kv[0], kv[1], config_.n_head);
    }
    return state;
  }

  Tensor<float> forward(DecoderState& state, const Tensor<int64_t>& input_ids,
                        bool last_only) const override {
    detail::check_decoder_input("gpt2", state, input_ids, config_.n_positions, "n_positions");
    const int64_t B = input_ids.dim(0), T = input_ids.dim(1);
    Tensor<float> h = nn::embedding(wte_, input_ids, "gpt2 input_ids");
    for (int64_t b = 0; b < B; ++b)
      h[b].matrix() += wpe_.slice(state.length(), state.length() + T).matrix();
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const GPT2Block& blk = blocks_[i];
      DecoderState::Layer cache = state.layer(static_cast<int64_t>(i));
      auto qkv = nn::split_last(blk.attn.c_attn.forward(blk.ln_1.forward(h)), 3);
      nn::add_inplace(h, blk.attn.c_proj.forward(cached_self_attention(
                             cache, qkv[0], qkv[1], qkv[2], config_.n_head, blk.scale)));
      const Tensor<float> q = blk.crossattention.q_attn.forward(blk.ln_cross_attn.forward(h));
      nn::add_inplace(h, blk.crossattention.c_proj.forward(
                             cross_attention(cache, q, config_.n_head, blk.scale)));
      nn::add_inplace(h, blk.mlp.forward(blk.ln_2.forward(h)));
    }
    state.advance(T);
    if (last_only) h = nn::take_position(h, T - 1);
    return lm_head_.forward(ln_f_.forward(h));
  }

  int64_t hidden_size() const override { return config_.n_embd; }
  int64_t encoder_hidden_size() const override { return config_.n_embd; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t max_positions() const override { return config_.n_positions; }

 private:
  GPT2Config config_;
  Tensor<float> wte_;  // decoder.transformer.wte.weight [vocab, n_embd]
  Tensor<float> wpe_;  // decoder.transformer.wpe.weight [n_positions, n_embd]
  std::vector<GPT2Block> blocks_;
  nn::LayerNorm ln_f_;  // decoder.transformer.ln_f
  nn::Linear lm_head_;  // decoder.lm_head.weight, or wte when tied
};

}  // namespace ved
