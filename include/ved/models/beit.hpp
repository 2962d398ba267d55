#pragma once

// BEiT — "BERT Pre-Training of Image Transformers" (Bao et al., 2021), transformers'
// modeling_beit.py. Checkpoints: microsoft/beit-base-patch16-224(-pt22k-ft22k) and kin.
// Distinctive against ViT (whose modules it reuses):
//  * a relative position bias added to the attention scores: a learned table of
//    (2Wh-1)(2Ww-1) + 3 rows × heads, where the 3 extra rows are cls→token, token→cls and
//    cls→cls. One table per layer (use_relative_position_bias) and/or one shared by all layers
//    (use_shared_relative_position_bias). The index into the table is not stored in checkpoints;
//    it is computed from the patch grid here, as transformers does.
//  * absolute position embeddings only when use_absolute_position_embeddings;
//  * layer scale: lambda_1 / lambda_2 multiply the attention and MLP branches when
//    layer_scale_init_value > 0;
//  * the key projection has no bias;
//  * use_mean_pooling (beit-base): no final LayerNorm, last_hidden_state is the raw residual
//    stream (the norm lives in the unused pooler);
//  * mask_token (use_mask_token) is for masked image modeling and is ignored.
// last_hidden_state is [B, 1 + patches, hidden], CLS first.
//
// Input size: like transformers, any image of at least one patch is accepted. When its patch
// grid differs from the configured one, the absolute position grid is resized bicubically and
// the relative position table bilinearly, as modeling_beit.py does (including its
// [2Ww-1, 2Wh-1] reading of the table, which only matters for non-square grids).

#include <string>

#include "ved/models/vit.hpp"

namespace ved {

struct BeitConfig {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double layer_norm_eps = 1e-12;
  detail::SizeHW image_size{224, 224};  // int or [height, width]
  int64_t patch_size = 16;              // an int: modeling_beit.py divides the resolution by it
  int64_t num_channels = 3;
  bool use_absolute_position_embeddings = false;
  bool use_relative_position_bias = false;
  bool use_shared_relative_position_bias = false;
  double layer_scale_init_value = 0.1;
  bool use_mean_pooling = true;

  int64_t grid_h() const { return image_size.h / patch_size; }
  int64_t grid_w() const { return image_size.w / patch_size; }

  static BeitConfig from(const PretrainedConfig& c) {
    BeitConfig v;
    v.hidden_size = c.get("hidden_size", v.hidden_size);
    v.num_hidden_layers = c.get("num_hidden_layers", v.num_hidden_layers);
    v.num_attention_heads = c.get("num_attention_heads", v.num_attention_heads);
    v.intermediate_size = c.get("intermediate_size", v.intermediate_size);
    v.hidden_act = c.get("hidden_act", v.hidden_act);
    v.layer_norm_eps = c.get("layer_norm_eps", v.layer_norm_eps);
    v.image_size = detail::size_hw(c, "image_size", 224);
    if (c.has("patch_size") && !c.raw["patch_size"].is_number_integer())
      throw ConfigError(c.source + ": field 'patch_size' must be an integer for BEiT, got " +
                        c.raw["patch_size"].dump());
    v.patch_size = c.get("patch_size", v.patch_size);
    v.num_channels = c.get("num_channels", v.num_channels);
    v.use_absolute_position_embeddings =
        c.get("use_absolute_position_embeddings", v.use_absolute_position_embeddings);
    v.use_relative_position_bias =
        c.get("use_relative_position_bias", v.use_relative_position_bias);
    v.use_shared_relative_position_bias =
        c.get("use_shared_relative_position_bias", v.use_shared_relative_position_bias);
    v.layer_scale_init_value = c.get("layer_scale_init_value", v.layer_scale_init_value);
    v.use_mean_pooling = c.get("use_mean_pooling", v.use_mean_pooling);

    detail::require_positive(c, "hidden_size", v.hidden_size);
    detail::require_positive(c, "num_attention_heads", v.num_attention_heads);
    if (v.hidden_size % v.num_attention_heads != 0)
      throw ConfigError(c.source + ": hidden_size " + std::to_string(v.hidden_size) +
                        " is not a multiple of num_attention_heads " +
                        std::to_string(v.num_attention_heads));
    if (v.num_hidden_layers < 0)
      throw ConfigError(c.source + ": num_hidden_layers must not be negative");
    detail::require_positive(c, "intermediate_size", v.intermediate_size);
    detail::require_positive(c, "num_channels", v.num_channels);
    detail::require_positive(c, "patch_size", v.patch_size);
    if (v.image_size.h < v.patch_size || v.image_size.w < v.patch_size)
      throw ConfigError(c.source + ": image_size " + v.image_size.str() +
                        " is smaller than patch_size " + std::to_string(v.patch_size));
    nn::activation_from_name(v.hidden_act, c.source + ": hidden_act");
    return v;
  }
};

// The learned relative position table of one layer (or the shared one) and the index that
// spreads it over a patch grid's [1 + patches]² attention scores.
struct BeitRelativePositionBias {
  Tensor<float> relative_position_bias_table;  // *.relative_position_bias_table
                                               // [(2Wh-1)(2Ww-1) + 3, heads]
  int64_t window_h = 0, window_w = 0;          // the configured patch grid

  static BeitRelativePositionBias load(const WeightLoader& w, int64_t window_h, int64_t window_w,
                                       int64_t heads) {
    BeitRelativePositionBias b;
    b.window_h = window_h;
    b.window_w = window_w;
    b.relative_position_bias_table =
        w.get("relative_position_bias_table", {(2 * window_h - 1) * (2 * window_w - 1) + 3, heads});
    return b;
  }

  // generate_relative_position_index: [(1 + gh*gw)²] row-major. Patch pairs index the
  // (2gh-1) x (2gw-1) grid of offsets; row 0 (CLS as query) uses the third-to-last row, column 0
  // (CLS as key) the second-to-last, and CLS→CLS the last.
  static std::vector<int64_t> relative_position_index(int64_t gh, int64_t gw) {
    const int64_t area = gh * gw, T = area + 1;
    const int64_t num_relative_distance = (2 * gh - 1) * (2 * gw - 1) + 3;
    std::vector<int64_t> index(static_cast<size_t>(T * T));
    for (int64_t i = 0; i < area; ++i)
      for (int64_t j = 0; j < area; ++j) {
        const int64_t dy = i / gw - j / gw + gh - 1, dx = i % gw - j % gw + gw - 1;
        index[static_cast<size_t>((1 + i) * T + 1 + j)] = dy * (2 * gw - 1) + dx;
      }
    for (int64_t j = 0; j < T; ++j) index[static_cast<size_t>(j)] = num_relative_distance - 3;
    for (int64_t i = 0; i < T; ++i) index[static_cast<size_t>(i * T)] = num_relative_distance - 2;
    index[0] = num_relative_distance - 1;
    return index;
  }

  // The bias [heads, 1 + gh*gw, 1 + gh*gw] for a gh x gw patch grid.
  Tensor<float> forward(int64_t gh, int64_t gw) const {
    const int64_t heads = relative_position_bias_table.dim(1);
    const int64_t old_h = 2 * window_h - 1, old_w = 2 * window_w - 1;
    const int64_t new_h = 2 * gh - 1, new_w = 2 * gw - 1;
    // The offset rows read as an [old_w, old_h] grid and resized to [new_h, new_w]: exactly
    // transformers' reshape(1, old_width, old_height, -1) + interpolate(size=(new_height,
    // new_width), mode="bilinear"); an identity copy when the grid is the configured square one.
    Tensor<float> grid({old_w, old_h, heads});
    const float* src = relative_position_bias_table.data();
    std::copy(src, src + old_h * old_w * heads, grid.data());
    const Tensor<float> resized = nn::interpolate_bilinear(grid, new_h, new_w);
    const int64_t rows = new_h * new_w + 3;
    Tensor<float> table({rows, heads});
    std::copy(resized.data(), resized.data() + resized.numel(), table.data());
    std::copy(src + old_h * old_w * heads, src + (old_h * old_w + 3) * heads,
              table.data() + (rows - 3) * heads);

    const std::vector<int64_t> index = relative_position_index(gh, gw);
    const int64_t T = gh * gw + 1;
    Tensor<float> bias({heads, T, T});
    float* out = bias.data();
    const float* t = table.data();
    for (int64_t p = 0; p < T * T; ++p)
      for (int64_t h = 0; h < heads; ++h)
        out[h * T * T + p] = t[index[static_cast<size_t>(p)] * heads + h];
    return bias;
  }
};

using BeitSelfAttention = ViTSelfAttention;  // query (bias), key (no bias), value (bias)
using BeitLayer = ViTLayer;                  // with lambda_1 / lambda_2 when layer scale is on

class BeitModel : public VisionEncoder {
 public:
  BeitModel(const BeitConfig& config, const WeightLoader& w) : config_(config) {
    const int64_t D = config.hidden_size, gh = config.grid_h(), gw = config.grid_w();
    const int64_t heads = config.num_attention_heads;
    const WeightLoader emb = w.sub("embeddings");
    cls_token_ = emb.get("cls_token", {1, 1, D});
    if (config.use_absolute_position_embeddings)
      position_embeddings_ = emb.get("position_embeddings", {1, 1 + gh * gw, D});
    patch_embeddings_.projection =
        nn::PatchConv2d::load(emb.sub("patch_embeddings").sub("projection"), config.num_channels,
                              config.patch_size, config.patch_size, D);

    ViTLayer::Options o;
    o.hidden = D;
    o.heads = heads;
    o.intermediate = config.intermediate_size;
    o.eps = config.layer_norm_eps;
    o.act = nn::activation_from_name(config.hidden_act, "hidden_act");
    o.key_bias = false;
    o.layer_scale = config.layer_scale_init_value > 0;
    const WeightLoader enc = w.sub("encoder");
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
      const WeightLoader l = enc.sub("layer").sub(i);
      layers_.push_back(BeitLayer::load(l, o));
      if (config.use_relative_position_bias)
        relative_position_bias_.push_back(BeitRelativePositionBias::load(
            l.sub("attention").sub("attention").sub("relative_position_bias"), gh, gw, heads));
    }
    if (config.use_shared_relative_position_bias)
      shared_relative_position_bias_.push_back(
          BeitRelativePositionBias::load(enc.sub("relative_position_bias"), gh, gw, heads));
    if (!config.use_mean_pooling)
      layernorm_ = nn::LayerNorm::load(w.sub("layernorm"), D, config.layer_norm_eps);
    // The biases of the configured grid, computed once.
    for (const auto& b : relative_position_bias_) layer_bias_.push_back(b.forward(gh, gw));
    for (const auto& b : shared_relative_position_bias_) shared_bias_ = b.forward(gh, gw);
  }

  Tensor<float> forward(const Tensor<float>& pixel_values) const override {
    const Shape& s = pixel_values.shape();
    if (s.size() != 4 || s[1] != config_.num_channels || s[2] < config_.patch_size ||
        s[3] < config_.patch_size)
      throw InvalidArgument("BEiT: pixel_values has shape " + shape_str(s) + ", expected [batch, " +
                            std::to_string(config_.num_channels) +
                            ", height, width] of at least one " +
                            std::to_string(config_.patch_size) + "-pixel patch");
    const int64_t gh = s[2] / config_.patch_size, gw = s[3] / config_.patch_size;
    const bool native = gh == config_.grid_h() && gw == config_.grid_w();
    std::vector<Tensor<float>> layer_bias;
    Tensor<float> shared_bias;
    if (native) {
      layer_bias = layer_bias_;
      shared_bias = shared_bias_;
    } else {
      for (const auto& b : relative_position_bias_) layer_bias.push_back(b.forward(gh, gw));
      for (const auto& b : shared_relative_position_bias_) shared_bias = b.forward(gh, gw);
    }
    Tensor<float> h = embed(pixel_values);
    for (size_t i = 0; i < layers_.size(); ++i)
      h = layers_[i].forward(h, layer_bias.empty() ? nullptr : layer_bias[i].data(),
                             shared_bias.empty() ? nullptr : shared_bias.data());
    return config_.use_mean_pooling ? h : layernorm_.forward(h);
  }

  int64_t hidden_size() const override { return config_.hidden_size; }

 private:
  // BeitEmbeddings: [CLS, patches], with the absolute positions (resized bicubically to the
  // input's grid) added to the patches inside the patch embedding and to CLS afterwards.
  Tensor<float> embed(const Tensor<float>& pixel_values) const {
    const auto patches = patch_embeddings_.projection.forward(pixel_values, false);
    const int64_t B = patches.tokens.dim(0), N = patches.tokens.dim(1), D = hidden_size();
    Tensor<float> x({B, 1 + N, D});
    Tensor<float> grid_pos;
    if (!position_embeddings_.empty()) {
      const int64_t gh = config_.grid_h(), gw = config_.grid_w();
      Tensor<float> grid({gh, gw, D});
      std::copy(position_embeddings_.data() + D, position_embeddings_.data() + (1 + gh * gw) * D,
                grid.data());
      grid_pos = nn::interpolate_bicubic(grid, patches.grid_h, patches.grid_w);
    }
    for (int64_t b = 0; b < B; ++b) {
      auto xb = x[b].matrix();
      xb.bottomRows(N) = patches.tokens[b].matrix();
      xb.row(0) = cls_token_.matrix().row(0);
      if (!grid_pos.empty()) {
        xb.bottomRows(N) += grid_pos.reshape({N, D}).matrix();
        xb.row(0) += position_embeddings_.reshape({-1, D}).matrix().row(0);
      }
    }
    return x;
  }

  BeitConfig config_;
  Tensor<float> cls_token_;              // encoder.embeddings.cls_token [1, 1, hidden]
  Tensor<float> position_embeddings_;    // encoder.embeddings.position_embeddings [1, 1 + patches,
                                         // hidden], only with use_absolute_position_embeddings
  ViTPatchEmbeddings patch_embeddings_;  // encoder.embeddings.patch_embeddings.projection
  std::vector<BeitLayer> layers_;        // encoder.encoder.layer.*
  // encoder.encoder.layer.*.attention.attention.relative_position_bias (per layer) and
  // encoder.encoder.relative_position_bias (shared); at most one entry for the shared one.
  std::vector<BeitRelativePositionBias> relative_position_bias_, shared_relative_position_bias_;
  std::vector<Tensor<float>> layer_bias_;  // [heads, T, T] per layer for the configured grid
  Tensor<float> shared_bias_;
  nn::LayerNorm layernorm_;  // encoder.layernorm, absent with use_mean_pooling
};

}  // namespace ved
