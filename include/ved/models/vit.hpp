#pragma once

// ViT — "An Image is Worth 16x16 Words" (Dosovitskiy et al., 2020), transformers' modeling_vit.py.
// Checkpoints: google/vit-base-patch16-224-in21k (the encoder of
// nlpconnect/vit-gpt2-image-captioning), the encoder of microsoft/trocr-base-* (qkv_bias=false,
// 384x384). Distinctive: non-overlapping patches through a strided Conv2d, a learned CLS token and
// learned absolute position embeddings, pre-LN blocks (layernorm_before / layernorm_after), a final
// LayerNorm. last_hidden_state is [B, 1 + patches, hidden], CLS first. The pooler is not used by
// VisionEncoderDecoderModel and is ignored.

#include <cmath>

#include "ved/models/registry.hpp"
#include "ved/nn/activations.hpp"
#include "ved/nn/attention.hpp"
#include "ved/nn/layer_norm.hpp"
#include "ved/nn/linear.hpp"

namespace ved {

struct ViTConfig {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double layer_norm_eps = 1e-12;
  int64_t image_size = 224;
  int64_t patch_size = 16;
  int64_t num_channels = 3;
  bool qkv_bias = true;

  static ViTConfig from(const PretrainedConfig& c) {
    ViTConfig v;
    v.hidden_size = c.get("hidden_size", v.hidden_size);
    v.num_hidden_layers = c.get("num_hidden_layers", v.num_hidden_layers);
    v.num_attention_heads = c.get("num_attention_heads", v.num_attention_heads);
    v.intermediate_size = c.get("intermediate_size", v.intermediate_size);
    v.hidden_act = c.get("hidden_act", v.hidden_act);
    v.layer_norm_eps = c.get("layer_norm_eps", v.layer_norm_eps);
    v.image_size = c.get("image_size", v.image_size);
    v.patch_size = c.get("patch_size", v.patch_size);
    v.num_channels = c.get("num_channels", v.num_channels);
    v.qkv_bias = c.get("qkv_bias", v.qkv_bias);
    if (v.hidden_size <= 0 || v.num_attention_heads <= 0 ||
        v.hidden_size % v.num_attention_heads != 0)
      throw ConfigError(c.source + ": hidden_size " + std::to_string(v.hidden_size) +
                        " is not a positive multiple of num_attention_heads " +
                        std::to_string(v.num_attention_heads));
    if (v.patch_size <= 0 || v.image_size <= 0 || v.image_size % v.patch_size != 0)
      throw ConfigError(c.source + ": image_size " + std::to_string(v.image_size) +
                        " is not a positive multiple of patch_size " +
                        std::to_string(v.patch_size));
    if (v.num_hidden_layers < 0 || v.intermediate_size <= 0 || v.num_channels <= 0)
      throw ConfigError(c.source +
                        ": num_hidden_layers, intermediate_size and num_channels must be positive");
    return v;
  }
};

// Conv2d(num_channels, hidden, kernel=patch, stride=patch) as a matrix product over unfolded
// patches.
struct ViTPatchEmbeddings {
  nn::Linear projection;  // encoder.embeddings.patch_embeddings.projection.{weight [hidden, C, p,
                          // p] -> [hidden, C*p*p], bias}
  int64_t channels = 3, patch = 16;

  static ViTPatchEmbeddings load(const WeightLoader& w, int64_t channels, int64_t patch,
                                 int64_t hidden) {
    ViTPatchEmbeddings e;
    e.channels = channels;
    e.patch = patch;
    const WeightLoader p = w.sub("projection");
    e.projection.weight = p.get("weight", {hidden, channels, patch, patch})
                              .reshape({hidden, channels * patch * patch});
    e.projection.bias = p.get("bias", {hidden});
    return e;
  }

  // pixel_values [B, C, H, W] -> [B, (H/p)*(W/p), hidden], patches in row-major order.
  Tensor<float> forward(const Tensor<float>& pixel_values) const {
    const int64_t B = pixel_values.dim(0), H = pixel_values.dim(2), W = pixel_values.dim(3);
    const int64_t gh = H / patch, gw = W / patch, k = channels * patch * patch;
    Tensor<float> cols({B, gh * gw, k});
    const float* src = pixel_values.data();
    float* dst = cols.data();
    parallel_for(0, B * gh, 1, [&](int64_t bi) {
      const int64_t b = bi / gh, i = bi % gh;
      for (int64_t j = 0; j < gw; ++j) {
        float* out = dst + ((b * gh + i) * gw + j) * k;
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t y = 0; y < patch; ++y) {
            const float* row = src + ((b * channels + c) * H + i * patch + y) * W + j * patch;
            std::copy(row, row + patch, out + (c * patch + y) * patch);
          }
      }
    });
    return projection.forward(cols);
  }
};

struct ViTEmbeddings {
  Tensor<float> cls_token;  // encoder.embeddings.cls_token [1, 1, hidden]
  Tensor<float>
      position_embeddings;  // encoder.embeddings.position_embeddings [1, 1 + patches, hidden]
  ViTPatchEmbeddings patch_embeddings;

  Tensor<float> forward(const Tensor<float>& pixel_values) const {
    const Tensor<float> patches = patch_embeddings.forward(pixel_values);
    const int64_t B = patches.dim(0), N = patches.dim(1), D = patches.dim(2);
    Tensor<float> x({B, N + 1, D});
    for (int64_t b = 0; b < B; ++b) {
      auto xb = x[b].matrix();
      xb.row(0) = cls_token.matrix().row(0);
      xb.bottomRows(N) = patches[b].matrix();
      xb += position_embeddings.reshape({N + 1, D}).matrix();
    }
    return x;
  }
};

struct ViTSelfAttention {
  nn::Linear query, key, value;  // encoder.encoder.layer.*.attention.attention.{query,key,value}
  int64_t num_heads = 12;

  Tensor<float> forward(const Tensor<float>& x) const {
    const float scale = 1.0f / std::sqrt(static_cast<float>(x.dim(-1) / num_heads));
    return nn::batched_attention(query.forward(x), key.forward(x), value.forward(x), num_heads,
                                 scale);
  }
};

struct ViTLayer {
  nn::LayerNorm layernorm_before;  // encoder.encoder.layer.*.layernorm_before
  ViTSelfAttention attention;
  nn::Linear attention_output;    // encoder.encoder.layer.*.attention.output.dense
  nn::LayerNorm layernorm_after;  // encoder.encoder.layer.*.layernorm_after
  nn::Linear intermediate;        // encoder.encoder.layer.*.intermediate.dense
  nn::Linear output;              // encoder.encoder.layer.*.output.dense
  nn::Activation act = nn::Activation::Gelu;

  Tensor<float> forward(const Tensor<float>& hidden) const {
    Tensor<float> h = attention_output.forward(attention.forward(layernorm_before.forward(hidden)));
    h.matrix() += hidden.matrix();
    Tensor<float> m = intermediate.forward(layernorm_after.forward(h));
    nn::activate_inplace(act, m);
    Tensor<float> out = output.forward(m);
    out.matrix() += h.matrix();
    return out;
  }
};

class ViTModel : public VisionEncoder {
 public:
  ViTModel(const ViTConfig& config, const WeightLoader& w) : config_(config) {
    const int64_t D = config.hidden_size, patches = (config.image_size / config.patch_size) *
                                                    (config.image_size / config.patch_size);
    const WeightLoader emb = w.sub("embeddings");
    embeddings_.cls_token = emb.get("cls_token", {1, 1, D});
    embeddings_.position_embeddings = emb.get("position_embeddings", {1, patches + 1, D});
    embeddings_.patch_embeddings = ViTPatchEmbeddings::load(
        emb.sub("patch_embeddings"), config.num_channels, config.patch_size, D);
    const nn::Activation act = nn::activation_from_name(config.hidden_act, "encoder.hidden_act");
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
      const WeightLoader l = w.sub("encoder").sub("layer").sub(i);
      ViTLayer layer;
      const WeightLoader att = l.sub("attention");
      layer.attention.query =
          nn::Linear::load(att.sub("attention").sub("query"), D, D, config.qkv_bias);
      layer.attention.key =
          nn::Linear::load(att.sub("attention").sub("key"), D, D, config.qkv_bias);
      layer.attention.value =
          nn::Linear::load(att.sub("attention").sub("value"), D, D, config.qkv_bias);
      layer.attention.num_heads = config.num_attention_heads;
      layer.attention_output = nn::Linear::load(att.sub("output").sub("dense"), D, D);
      layer.layernorm_before =
          nn::LayerNorm::load(l.sub("layernorm_before"), D, config.layer_norm_eps);
      layer.layernorm_after =
          nn::LayerNorm::load(l.sub("layernorm_after"), D, config.layer_norm_eps);
      layer.intermediate =
          nn::Linear::load(l.sub("intermediate").sub("dense"), D, config.intermediate_size);
      layer.output = nn::Linear::load(l.sub("output").sub("dense"), config.intermediate_size, D);
      layer.act = act;
      layers_.push_back(std::move(layer));
    }
    layernorm_ = nn::LayerNorm::load(w.sub("layernorm"), D, config.layer_norm_eps);
  }

  Tensor<float> forward(const Tensor<float>& pixel_values) const override {
    const Shape& s = pixel_values.shape();
    if (s.size() != 4 || s[1] != config_.num_channels || s[2] != config_.image_size ||
        s[3] != config_.image_size)
      throw InvalidArgument("ViT: pixel_values has shape " + shape_str(s) + ", expected [batch, " +
                            std::to_string(config_.num_channels) + ", " +
                            std::to_string(config_.image_size) + ", " +
                            std::to_string(config_.image_size) + "]");
    Tensor<float> h = embeddings_.forward(pixel_values);
    for (const auto& layer : layers_) h = layer.forward(h);
    return layernorm_.forward(h);
  }

  int64_t hidden_size() const override { return config_.hidden_size; }

 private:
  ViTConfig config_;
  ViTEmbeddings embeddings_;
  std::vector<ViTLayer> layers_;
  nn::LayerNorm layernorm_;  // encoder.layernorm
};

namespace detail {
inline const RegisterEncoder register_vit("vit", [](const PretrainedConfig& c,
                                                    const WeightLoader& w) {
  return std::make_unique<ViTModel>(ViTConfig::from(c), w);
});
}  // namespace detail

}  // namespace ved
