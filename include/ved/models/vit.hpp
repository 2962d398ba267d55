#pragma once

// ViT — "An Image is Worth 16x16 Words" (Dosovitskiy et al., 2020), transformers' modeling_vit.py.
// Checkpoints: google/vit-base-patch16-224-in21k (the encoder of
// nlpconnect/vit-gpt2-image-captioning), the encoder of microsoft/trocr-base-* (qkv_bias=false,
// 384x384). Distinctive: non-overlapping patches through a strided Conv2d, a learned CLS token and
// learned absolute position embeddings, pre-LN blocks (layernorm_before / layernorm_after), a final
// LayerNorm. last_hidden_state is [B, 1 + patches, hidden], CLS first. The pooler is not used by
// VisionEncoderDecoderModel and is ignored.
//
// The modules here are shared: DeiT (deit.hpp) is ViT with a second prefix token, and BEiT
// (beit.hpp) runs ViTLayer with layer scale and a relative position bias.
//
// Input size: like transformers, the configured image_size is required unless
// interpolate_pos_encoding is switched on (set_interpolate_pos_encoding), in which case the
// position grid is resized bicubically to the input's patch grid as
// ViTEmbeddings.interpolate_pos_encoding does.

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "ved/models/registry.hpp"
#include "ved/models/vision_common.hpp"
#include "ved/nn/activations.hpp"
#include "ved/nn/attention.hpp"
#include "ved/nn/feed_forward.hpp"
#include "ved/nn/interpolate.hpp"
#include "ved/nn/layer_norm.hpp"
#include "ved/nn/linear.hpp"
#include "ved/nn/patch_embed.hpp"

namespace ved {

struct ViTConfig {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double layer_norm_eps = 1e-12;
  detail::SizeHW image_size{224, 224};  // int or [height, width]
  detail::SizeHW patch_size{16, 16};    // int or [height, width]
  int64_t num_channels = 3;
  bool qkv_bias = true;

  // Patches along each axis (Conv2d drops a remainder that does not fill a patch).
  int64_t grid_h() const { return image_size.h / patch_size.h; }
  int64_t grid_w() const { return image_size.w / patch_size.w; }

  static ViTConfig from(const PretrainedConfig& c) {
    ViTConfig v;
    v.hidden_size = c.get("hidden_size", v.hidden_size);
    v.num_hidden_layers = c.get("num_hidden_layers", v.num_hidden_layers);
    v.num_attention_heads = c.get("num_attention_heads", v.num_attention_heads);
    v.intermediate_size = c.get("intermediate_size", v.intermediate_size);
    v.hidden_act = c.get("hidden_act", v.hidden_act);
    v.layer_norm_eps = c.get("layer_norm_eps", v.layer_norm_eps);
    v.image_size = detail::size_hw(c, "image_size", 224);
    v.patch_size = detail::size_hw(c, "patch_size", 16);
    v.num_channels = c.get("num_channels", v.num_channels);
    v.qkv_bias = c.get("qkv_bias", v.qkv_bias);
    v.validate(c);
    return v;
  }

  void validate(const PretrainedConfig& c) const {
    detail::require_positive(c, "hidden_size", hidden_size);
    detail::require_positive(c, "num_attention_heads", num_attention_heads);
    if (hidden_size % num_attention_heads != 0)
      throw ConfigError(c.source + ": hidden_size " + std::to_string(hidden_size) +
                        " is not a multiple of num_attention_heads " +
                        std::to_string(num_attention_heads));
    if (num_hidden_layers < 0)
      throw ConfigError(c.source + ": num_hidden_layers must not be negative");
    detail::require_positive(c, "intermediate_size", intermediate_size);
    detail::require_positive(c, "num_channels", num_channels);
    detail::require_positive(c, "patch_size", std::min(patch_size.h, patch_size.w));
    if (image_size.h < patch_size.h || image_size.w < patch_size.w)
      throw ConfigError(c.source + ": image_size " + image_size.str() +
                        " is smaller than patch_size " + patch_size.str());
    nn::activation_from_name(hidden_act, c.source + ": hidden_act");
  }
};

struct ViTPatchEmbeddings {
  nn::PatchConv2d projection;  // encoder.embeddings.patch_embeddings.projection.{weight, bias}
};

// The prefix tokens (CLS, and DeiT's distillation token) followed by the patch embeddings, plus
// the learned position embeddings over all of them.
struct ViTEmbeddings {
  Tensor<float> cls_token;            // encoder.embeddings.cls_token [1, 1, hidden]
  Tensor<float> distillation_token;   // DeiT: encoder.embeddings.distillation_token [1, 1, hidden]
  Tensor<float> position_embeddings;  // encoder.embeddings.position_embeddings [1, prefix +
                                      // patches, hidden]
  ViTPatchEmbeddings patch_embeddings;

  int64_t prefix_tokens() const { return distillation_token.empty() ? 1 : 2; }

  // interpolate_pos_encoding: the patch rows of the table as a square grid, resized bicubically
  // to grid_h x grid_w. transformers returns the table untouched when the patch count matches
  // and the image is square.
  Tensor<float> interpolate_pos_encoding(int64_t height, int64_t width) const {
    const int64_t P = prefix_tokens(), D = position_embeddings.dim(2);
    const int64_t num_positions = position_embeddings.dim(1) - P;
    const int64_t gh = height / patch_embeddings.projection.patch_h;
    const int64_t gw = width / patch_embeddings.projection.patch_w;
    if (gh * gw == num_positions && height == width) return position_embeddings;
    const auto side = static_cast<int64_t>(std::sqrt(static_cast<double>(num_positions)));
    if (side * side != num_positions)
      throw InvalidArgument("interpolate_pos_encoding: the position table has " +
                            std::to_string(num_positions) +
                            " patch rows, which is not a square grid");
    const Tensor<float> table = position_embeddings.reshape({P + num_positions, D});
    Tensor<float> grid({side, side, D});
    std::copy(table.data() + P * D, table.data() + table.numel(), grid.data());
    const Tensor<float> resized = nn::interpolate_bicubic(grid, gh, gw);
    Tensor<float> out({1, P + gh * gw, D});
    std::copy(table.data(), table.data() + P * D, out.data());
    std::copy(resized.data(), resized.data() + resized.numel(), out.data() + P * D);
    return out;
  }

  Tensor<float> forward(const Tensor<float>& pixel_values, bool interpolate) const {
    const Tensor<float> patches = patch_embeddings.projection.forward(pixel_values, false).tokens;
    const int64_t B = patches.dim(0), N = patches.dim(1), D = patches.dim(2), P = prefix_tokens();
    const Tensor<float> pos =
        interpolate ? interpolate_pos_encoding(pixel_values.dim(2), pixel_values.dim(3))
                    : position_embeddings;
    if (pos.dim(1) != P + N)
      throw InvalidArgument("ViT embeddings: " + std::to_string(N) +
                            " patches but position embeddings for " +
                            std::to_string(pos.dim(1) - P));
    Tensor<float> x({B, P + N, D});
    const auto pm = pos.reshape({P + N, D}).matrix();
    for (int64_t b = 0; b < B; ++b) {
      auto xb = x[b].matrix();
      xb.row(0) = cls_token.matrix().row(0);
      if (P == 2) xb.row(1) = distillation_token.matrix().row(0);
      xb.bottomRows(N) = patches[b].matrix();
      xb += pm;
    }
    return x;
  }
};

// query / key / value nn.Linear layers, packed into one [3 * hidden, hidden] GEMM.
struct ViTSelfAttention {
  nn::Linear qkv;  // encoder.encoder.layer.*.attention.attention.{query,key,value}.{weight,bias}
  int64_t num_heads = 12;

  // Loads the three projections; a projection without bias (qkv_bias=false, BEiT's key) gets a
  // zero bias, which adds nothing.
  static ViTSelfAttention load(const WeightLoader& w, int64_t hidden, int64_t heads, bool q_bias,
                               bool k_bias, bool v_bias) {
    ViTSelfAttention a;
    a.num_heads = heads;
    a.qkv = nn::Linear::stack({nn::Linear::load(w.sub("query"), hidden, hidden, q_bias),
                               nn::Linear::load(w.sub("key"), hidden, hidden, k_bias),
                               nn::Linear::load(w.sub("value"), hidden, hidden, v_bias)});
    return a;
  }

  // x [B, T, hidden]. `bias` / `bias2`: optional additive score terms [heads, T, T] (BEiT's
  // relative position biases).
  Tensor<float> forward(const Tensor<float>& x, const float* bias = nullptr,
                        const float* bias2 = nullptr) const {
    const int64_t T = x.dim(1), hd = x.dim(2) / num_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    return nn::packed_self_attention(
        qkv.forward(x), num_heads, scale,
        [&](int64_t, int64_t h) {
          return std::pair<const float*, const float*>(bias ? bias + h * T * T : nullptr,
                                                       bias2 ? bias2 + h * T * T : nullptr);
        },
        qkv.weight().type() != WeightType::F32);
  }
};

// Pre-LN transformer block. BEiT's BeitLayer is this block with layer scale (lambda_1 / lambda_2
// multiply the attention and MLP branches) and additive attention biases.
struct ViTLayer {
  nn::LayerNorm layernorm_before;    // encoder.encoder.layer.*.layernorm_before
  ViTSelfAttention attention;        // encoder.encoder.layer.*.attention.attention
  nn::Linear attention_output;       // encoder.encoder.layer.*.attention.output.dense
  nn::LayerNorm layernorm_after;     // encoder.encoder.layer.*.layernorm_after
  nn::FeedForward mlp;               // encoder.encoder.layer.*.intermediate.dense, *.output.dense
  Tensor<float> lambda_1, lambda_2;  // BEiT: encoder.encoder.layer.*.lambda_{1,2} [hidden]

  struct Options {
    int64_t hidden = 768, heads = 12, intermediate = 3072;
    double eps = 1e-12;
    nn::Activation act = nn::Activation::Gelu;
    bool query_bias = true, key_bias = true, value_bias = true;
    bool layer_scale = false;
  };

  static ViTLayer load(const WeightLoader& l, const Options& o) {
    ViTLayer layer;
    const WeightLoader att = l.sub("attention");
    layer.attention = ViTSelfAttention::load(att.sub("attention"), o.hidden, o.heads, o.query_bias,
                                             o.key_bias, o.value_bias);
    layer.attention_output = nn::Linear::load(att.sub("output").sub("dense"), o.hidden, o.hidden);
    layer.layernorm_before = nn::LayerNorm::load(l.sub("layernorm_before"), o.hidden, o.eps);
    layer.layernorm_after = nn::LayerNorm::load(l.sub("layernorm_after"), o.hidden, o.eps);
    layer.mlp =
        nn::FeedForward::load(l.sub("intermediate").sub("dense"), l.sub("output").sub("dense"),
                              o.hidden, o.intermediate, o.act);
    if (o.layer_scale) {
      layer.lambda_1 = l.get("lambda_1", {o.hidden});
      layer.lambda_2 = l.get("lambda_2", {o.hidden});
    }
    return layer;
  }

  Tensor<float> forward(const Tensor<float>& hidden, const float* bias = nullptr,
                        const float* bias2 = nullptr) const {
    const Tensor<float> a = attention.forward(layernorm_before.forward(hidden), bias, bias2);
    Tensor<float> h;
    if (lambda_1.empty()) {
      h = attention_output.forward_residual(a, hidden);
    } else {
      h = attention_output.forward(a);
      auto hm = h.matrix();
      hm.array().rowwise() *=
          Eigen::Map<const Eigen::Array<float, 1, Eigen::Dynamic>>(lambda_1.data(), h.dim(-1));
      hm += hidden.matrix();
    }
    return nn::residual_feed_forward(h, layernorm_after, mlp, lambda_2);
  }
};

class ViTModel : public VisionEncoder {
 public:
  ViTModel(const ViTConfig& config, const WeightLoader& w) : ViTModel(config, w, false, "ViT") {}

  // Off by default: transformers' forward refuses an input whose size differs from image_size
  // unless interpolate_pos_encoding=True is passed. Set it before sharing the model between
  // threads.
  void set_interpolate_pos_encoding(bool on) { interpolate_pos_encoding_ = on; }
  bool interpolate_pos_encoding() const { return interpolate_pos_encoding_; }

  Tensor<float> forward(const Tensor<float>& pixel_values) const override {
    const Shape& s = pixel_values.shape();
    const detail::SizeHW img = config_.image_size, patch = config_.patch_size;
    if (s.size() != 4 || s[1] != config_.num_channels ||
        (!interpolate_pos_encoding_ && (s[2] != img.h || s[3] != img.w)))
      throw InvalidArgument(name_ + ": pixel_values has shape " + shape_str(s) +
                            ", expected [batch, " + std::to_string(config_.num_channels) + ", " +
                            std::to_string(img.h) + ", " + std::to_string(img.w) + "]" +
                            (interpolate_pos_encoding_ ? "" : " (image_size)"));
    if (s[2] < patch.h || s[3] < patch.w)
      throw InvalidArgument(name_ + ": pixel_values " + shape_str(s) +
                            " is smaller than one patch " + patch.str());
    Tensor<float> h = embeddings_.forward(pixel_values, interpolate_pos_encoding_);
    for (const auto& layer : layers_) h = layer.forward(h);
    return layernorm_.forward(h);
  }

  int64_t hidden_size() const override { return config_.hidden_size; }

 protected:
  // DeiT: the same model with a distillation token after CLS.
  ViTModel(const ViTConfig& config, const WeightLoader& w, bool distillation_token,
           std::string name)
      : config_(config), name_(std::move(name)) {
    const int64_t D = config.hidden_size;
    const int64_t prefix = distillation_token ? 2 : 1;
    const int64_t patches = config.grid_h() * config.grid_w();
    const WeightLoader emb = w.sub("embeddings");
    embeddings_.cls_token = emb.get("cls_token", {1, 1, D});
    if (distillation_token)
      embeddings_.distillation_token = emb.get("distillation_token", {1, 1, D});
    embeddings_.position_embeddings = emb.get("position_embeddings", {1, prefix + patches, D});
    embeddings_.patch_embeddings.projection =
        nn::PatchConv2d::load(emb.sub("patch_embeddings").sub("projection"), config.num_channels,
                              config.patch_size.h, config.patch_size.w, D);
    ViTLayer::Options o;
    o.hidden = D;
    o.heads = config.num_attention_heads;
    o.intermediate = config.intermediate_size;
    o.eps = config.layer_norm_eps;
    o.act = nn::activation_from_name(config.hidden_act, "hidden_act");
    o.query_bias = o.key_bias = o.value_bias = config.qkv_bias;
    for (int64_t i = 0; i < config.num_hidden_layers; ++i)
      layers_.push_back(ViTLayer::load(w.sub("encoder").sub("layer").sub(i), o));
    layernorm_ = nn::LayerNorm::load(w.sub("layernorm"), D, config.layer_norm_eps);
  }

 private:
  ViTConfig config_;
  std::string name_;
  ViTEmbeddings embeddings_;
  std::vector<ViTLayer> layers_;
  nn::LayerNorm layernorm_;  // encoder.layernorm
  bool interpolate_pos_encoding_ = false;
};

}  // namespace ved
