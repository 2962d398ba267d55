#pragma once

// Swin Transformer — "Hierarchical Vision Transformer using Shifted Windows" (Liu et al., 2021),
// transformers' modeling_swin.py. Checkpoints: microsoft/swin-{tiny,small,base}-patch4-window7-224
// and kin; DonutSwin (donut_swin.hpp, naver-clova-ix/donut-base) is this model without the final
// LayerNorm. Distinctive:
//  * patch embedding (a strided Conv2d) on the image zero-padded right/bottom to a multiple of
//    the patch, then a LayerNorm (eps 1e-5, nn.LayerNorm's default, not layer_norm_eps);
//  * stages of pre-LN blocks whose self-attention runs inside non-overlapping window_size²
//    windows with a learned relative position bias; every second block cyclically shifts the
//    map by window_size // 2 first, and masks (adds -100 to) scores between tokens that the shift
//    brought together from different regions;
//  * inside each block the map is zero-padded right/bottom to a multiple of the window (after
//    layernorm_before, so padded tokens take part in attention as zero vectors); a stage whose
//    map is no larger than the window uses one unshifted window of the map's size (and
//    transformers fails when the map is smaller than the window: the bias no longer fits);
//  * patch merging between stages: 2x2 neighbours concatenated in the order (0,0), (1,0), (0,1),
//    (1,1) (row, col), zero-padding odd sizes, LayerNorm(4C) and a bias-free Linear 4C -> 2C;
//  * a final LayerNorm (Swin) or none (DonutSwin).
// last_hidden_state is the last stage's sequence, [B, h*w, embed_dim * 2^(stages-1)], no CLS.
// The relative_position_index buffers are computed here from the window size; when a
// checkpoint stores them they are checked against it, never required.
//
// Input size: free, as in transformers (any image is padded to patches and windows); only the
// rank and channel count are checked, plus the window-versus-map condition above.
//
// Memory: attention is computed window by window, and blocks process the map in chunks of
// window rows, so no [tokens x tokens] matrix or full-size [tokens, 3C] / [tokens, 4C]
// intermediate exists (Donut's first stage has 307200 tokens).

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ved/models/registry.hpp"
#include "ved/models/vision_common.hpp"
#include "ved/nn/activations.hpp"
#include "ved/nn/attention.hpp"
#include "ved/nn/feed_forward.hpp"
#include "ved/nn/layer_norm.hpp"
#include "ved/nn/linear.hpp"
#include "ved/nn/patch_embed.hpp"

namespace ved {

struct SwinConfig {
  detail::SizeHW image_size{224, 224};  // int or [height, width]
  detail::SizeHW patch_size{4, 4};      // int or [height, width]
  int64_t num_channels = 3;
  int64_t embed_dim = 96;
  std::vector<int64_t> depths{2, 2, 6, 2};
  std::vector<int64_t> num_heads{3, 6, 12, 24};
  int64_t window_size = 7;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  std::string hidden_act = "gelu";
  bool use_absolute_embeddings = false;
  double layer_norm_eps = 1e-5;

  int64_t num_layers() const { return static_cast<int64_t>(depths.size()); }
  // Channels of stage i: int(embed_dim * 2 ** i).
  int64_t dim(int64_t stage) const { return embed_dim << stage; }
  // SwinIntermediate's width: int(mlp_ratio * dim), truncated as Python's int() does.
  int64_t mlp_dim(int64_t dim) const {
    return static_cast<int64_t>(mlp_ratio * static_cast<double>(dim));
  }
  // transformers overwrites config.json's hidden_size with this.
  int64_t hidden_size() const { return dim(num_layers() - 1); }

  // The feature map of each stage for an image of height x width: patches (padded up), then
  // halved (rounded up) by each patch merging.
  std::vector<detail::SizeHW> stage_resolutions(int64_t height, int64_t width) const {
    std::vector<detail::SizeHW> res;
    detail::SizeHW r{(height + patch_size.h - 1) / patch_size.h,
                     (width + patch_size.w - 1) / patch_size.w};
    for (int64_t i = 0; i < num_layers(); ++i) {
      res.push_back(r);
      r = {(r.h + 1) / 2, (r.w + 1) / 2};
    }
    return res;
  }

  // The first stage whose map is smaller than the window (transformers' relative position bias
  // no longer matches the scores there), or -1.
  int64_t stage_smaller_than_window(int64_t height, int64_t width) const {
    const auto res = stage_resolutions(height, width);
    for (size_t i = 0; i < res.size(); ++i)
      if (std::min(res[i].h, res[i].w) < window_size) return static_cast<int64_t>(i);
    return -1;
  }

  static SwinConfig from(const PretrainedConfig& c) {
    SwinConfig v;
    v.image_size = detail::size_hw(c, "image_size", 224);
    v.patch_size = detail::size_hw(c, "patch_size", 4);
    v.num_channels = c.get("num_channels", v.num_channels);
    v.embed_dim = c.get("embed_dim", v.embed_dim);
    v.depths = detail::int_list(c, "depths", v.depths);
    v.num_heads = detail::int_list(c, "num_heads", v.num_heads);
    if (c.has("window_size") && !c.raw["window_size"].is_number_integer())
      throw ConfigError(c.source + ": field 'window_size' must be an integer, got " +
                        c.raw["window_size"].dump());
    v.window_size = c.get("window_size", v.window_size);
    v.mlp_ratio = c.get("mlp_ratio", v.mlp_ratio);
    v.qkv_bias = c.get("qkv_bias", v.qkv_bias);
    v.hidden_act = c.get("hidden_act", v.hidden_act);
    v.use_absolute_embeddings = c.get("use_absolute_embeddings", v.use_absolute_embeddings);
    v.layer_norm_eps = c.get("layer_norm_eps", v.layer_norm_eps);
    v.validate(c);
    return v;
  }

  void validate(const PretrainedConfig& c) const {
    detail::require_positive(c, "embed_dim", embed_dim);
    detail::require_positive(c, "num_channels", num_channels);
    detail::require_positive(c, "window_size", window_size);
    detail::require_positive(c, "patch_size", std::min(patch_size.h, patch_size.w));
    detail::require_positive(c, "image_size", std::min(image_size.h, image_size.w));
    detail::require_positive(c, "mlp_ratio", mlp_ratio);
    if (depths.empty()) throw ConfigError(c.source + ": depths must list at least one stage");
    if (depths.size() > 16) throw ConfigError(c.source + ": depths lists too many stages");
    if (num_heads.size() != depths.size())
      throw ConfigError(c.source + ": num_heads has " + std::to_string(num_heads.size()) +
                        " entries but depths has " + std::to_string(depths.size()) +
                        " (one per stage)");
    for (int64_t i = 0; i < num_layers(); ++i) {
      const std::string at = "[" + std::to_string(i) + "]";
      if (depths[static_cast<size_t>(i)] < 0)
        throw ConfigError(c.source + ": depths" + at + " must not be negative");
      const int64_t heads = num_heads[static_cast<size_t>(i)];
      if (heads <= 0 || dim(i) % heads != 0)
        throw ConfigError(c.source + ": num_heads" + at + " = " + std::to_string(heads) +
                          " does not divide stage " + std::to_string(i) + "'s width " +
                          std::to_string(dim(i)) + " (embed_dim * 2^" + std::to_string(i) + ")");
      if (mlp_dim(dim(i)) <= 0)
        throw ConfigError(c.source + ": mlp_ratio gives stage " + std::to_string(i) +
                          " an empty MLP");
    }
    if (use_absolute_embeddings)
      throw ConfigError(c.source +
                        ": use_absolute_embeddings is true, but transformers' Swin cannot run "
                        "with it (its position table has num_patches + 1 rows for num_patches "
                        "tokens)");
    nn::activation_from_name(hidden_act, c.source + ": hidden_act");
    const int64_t bad = stage_smaller_than_window(image_size.h, image_size.w);
    if (bad >= 0) {
      const auto r = stage_resolutions(image_size.h, image_size.w)[static_cast<size_t>(bad)];
      throw ConfigError(c.source + ": window_size " + std::to_string(window_size) +
                        " is larger than stage " + std::to_string(bad) + "'s feature map " +
                        r.str() + " for image_size " + image_size.str() +
                        " (transformers fails there: the relative position bias no longer fits)");
    }
  }
};

struct SwinPatchEmbeddings {
  nn::PatchConv2d projection;  // encoder.embeddings.patch_embeddings.projection.{weight, bias}
};

struct SwinEmbeddings {
  SwinPatchEmbeddings patch_embeddings;
  nn::LayerNorm norm;  // encoder.embeddings.norm (eps 1e-5)
};

struct SwinSelfAttention {
  nn::Linear qkv;  // *.attention.self.{query,key,value}.{weight,bias}, packed
  Tensor<float> relative_position_bias_table;  // *.attention.self.relative_position_bias_table
                                               // [(2w-1)², heads]
  Tensor<float> relative_position_bias;        // the table spread over a window: [heads, w², w²]
  int64_t num_heads = 3, window_size = 7;

  // relative_position_index [w², w²]: tokens i, j of a window (row-major) look up the row of
  // their offset (dy + w-1) * (2w-1) + (dx + w-1).
  static std::vector<int64_t> relative_position_index(int64_t w) {
    const int64_t T = w * w;
    std::vector<int64_t> index(static_cast<size_t>(T * T));
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j)
        index[static_cast<size_t>(i * T + j)] =
            (i / w - j / w + w - 1) * (2 * w - 1) + (i % w - j % w + w - 1);
    return index;
  }

  static SwinSelfAttention load(const WeightLoader& w, int64_t dim, int64_t heads, int64_t window,
                                bool qkv_bias) {
    SwinSelfAttention a;
    a.num_heads = heads;
    a.window_size = window;
    a.qkv = nn::Linear::stack({nn::Linear::load(w.sub("query"), dim, dim, qkv_bias),
                               nn::Linear::load(w.sub("key"), dim, dim, qkv_bias),
                               nn::Linear::load(w.sub("value"), dim, dim, qkv_bias)});
    const int64_t T = window * window;
    a.relative_position_bias_table =
        w.get("relative_position_bias_table", {(2 * window - 1) * (2 * window - 1), heads});
    const std::vector<int64_t> index = relative_position_index(window);
    if (w.has("relative_position_index")) {
      const Tensor<int64_t> stored = w.get_as<int64_t>("relative_position_index", {T, T});
      if (!std::equal(index.begin(), index.end(), stored.data()))
        throw WeightError("tensor " + w.full_name("relative_position_index") +
                          " differs from the index of a " + std::to_string(window) + "x" +
                          std::to_string(window) + " window");
    }
    a.relative_position_bias = Tensor<float>({heads, T, T});
    const float* table = a.relative_position_bias_table.data();
    for (int64_t p = 0; p < T * T; ++p)
      for (int64_t h = 0; h < heads; ++h)
        a.relative_position_bias.data()[h * T * T + p] =
            table[index[static_cast<size_t>(p)] * heads + h];
    return a;
  }
};

struct SwinAttention {
  SwinSelfAttention self;  // *.attention.self
  nn::Linear output;       // *.attention.output.dense
};

// The shifted-window mask: transformers labels the padded map in 3x3 regions
// (rows/columns [0, -w), [-w, -s), [-s, end)) and adds -100 where two tokens' labels differ. Only
// windows in the last window row and/or column straddle regions, and all windows of one such
// kind share one mask, so three [w², w²] masks cover the map (interior windows add zeros,
// i.e. nothing).
struct SwinShiftMasks {
  std::array<Tensor<float>, 4> masks;  // by kind: 1 last column, 2 last row, 3 both; 0 unused

  SwinShiftMasks(int64_t window, int64_t shift) {
    const int64_t T = window * window;
    // Region of in-window coordinate k of a window at the far edge: 1 before the shift
    // boundary, 2 after it; windows not at that edge are all in region 0.
    auto region = [&](bool at_edge, int64_t k) -> int64_t {
      return at_edge ? (k < window - shift ? 1 : 2) : 0;
    };
    for (int kind = 1; kind < 4; ++kind) {
      const bool last_row = kind & 2, last_col = kind & 1;
      Tensor<float> m({T, T});
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j) {
          const int64_t li = region(last_row, i / window) * 3 + region(last_col, i % window);
          const int64_t lj = region(last_row, j / window) * 3 + region(last_col, j % window);
          m.data()[i * T + j] = li != lj ? -100.0f : 0.0f;
        }
      masks[static_cast<size_t>(kind)] = m;
    }
  }

  const float* for_window(int64_t wy, int64_t wx, int64_t rows, int64_t cols) const {
    const int kind = (wy == rows - 1 ? 2 : 0) + (wx == cols - 1 ? 1 : 0);
    return kind == 0 ? nullptr : masks[static_cast<size_t>(kind)].data();
  }
};

struct SwinLayer {
  nn::LayerNorm layernorm_before;  // encoder.encoder.layers.*.blocks.*.layernorm_before
  SwinAttention attention;         // encoder.encoder.layers.*.blocks.*.attention
  nn::LayerNorm layernorm_after;   // encoder.encoder.layers.*.blocks.*.layernorm_after
  nn::FeedForward mlp;             // encoder.encoder.layers.*.blocks.*.{intermediate,output}.dense
  int64_t window_size = 7, shift_size = 0;

  // hidden [B, H*W, C] -> [B, H*W, C].
  Tensor<float> forward(const Tensor<float>& hidden, int64_t H, int64_t W) const {
    // set_shift_and_window_size: a map no larger than the window is one unshifted window.
    int64_t win = window_size, shift = shift_size;
    if (std::min(H, W) <= window_size) {
      if (std::min(H, W) < window_size)
        throw InvalidArgument("Swin: a " + std::to_string(H) + "x" + std::to_string(W) +
                              " feature map is smaller than window_size " +
                              std::to_string(window_size) +
                              " (transformers fails there); use a larger image");
      shift = 0;
      win = std::min(H, W);
    }
    const int64_t B = hidden.dim(0), C = hidden.dim(2), T = win * win;
    if (layernorm_before.weight.numel() != C)
      throw InvalidArgument("Swin: hidden states have " + std::to_string(C) +
                            " channels, layernorm_before expects " +
                            std::to_string(layernorm_before.weight.numel()));
    const int64_t rows = (H + win - 1) / win, cols = (W + win - 1) / win;
    const int64_t Hp = rows * win, Wp = cols * win;
    const std::optional<SwinShiftMasks> masks =
        shift > 0 ? std::optional<SwinShiftMasks>(SwinShiftMasks(win, shift)) : std::nullopt;
    const SwinSelfAttention& self = attention.self;
    const float scale = 1.0f / std::sqrt(static_cast<float>(C / self.num_heads));
    // Every token of the map is in exactly one window, so the windows' results fill `out`.
    Tensor<float> out = Tensor<float>::uninitialized(hidden.shape());
    const float* res = hidden.data();
    float* dst = out.data();

    // Window-row chunks of about 4k tokens keep the [tokens, 3C] projection and its neighbours
    // a few MB: with 16k, Donut's 2560 x 1920 third stage churned through 100 MB maps that the
    // storage pool could not keep, and their page faults cost a tenth of the encoder.
    const int64_t chunk = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, B * cols * T));
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t nr = std::min(chunk, rows - r0), nwin = B * nr * cols;
      // Window n holds batch b, window (r0 + wr, wc); its token t sits at (y, x) of the shifted,
      // padded map, i.e. at ((y + shift) % Hp, (x + shift) % Wp) of the padded map (the cyclic
      // roll by -shift), which is real when inside H x W and a zero pad otherwise.
      auto source = [&](int64_t n, int64_t t) -> int64_t {
        const int64_t b = n / (nr * cols), wr = n / cols % nr, wc = n % cols;
        const int64_t py = ((r0 + wr) * win + t / win + shift) % Hp;
        const int64_t px = (wc * win + t % win + shift) % Wp;
        return py < H && px < W ? (b * H + py) * W + px : -1;
      };
      Tensor<float> windows = Tensor<float>::uninitialized({nwin, T, C});
      parallel_for(0, nwin, 1, [&](int64_t n) {
        for (int64_t t = 0; t < T; ++t) {
          const int64_t s = source(n, t);
          float* w = windows.data() + (n * T + t) * C;
          if (s >= 0)
            layernorm_before.forward_row(res + s * C, w);  // per token: as LN, then partition
          else
            std::fill(w, w + C, 0.0f);  // padding
        }
      });
      const Tensor<float> ctx = nn::packed_self_attention(
          self.qkv.forward(windows), self.num_heads, scale,
          [&](int64_t n, int64_t h) {
            const float* mask =
                masks ? masks->for_window(r0 + n / cols % nr, n % cols, rows, cols) : nullptr;
            return std::pair<const float*, const float*>(
                self.relative_position_bias.data() + h * T * T, mask);
          },
          self.qkv.weight().type() != WeightType::F32);
      const Tensor<float> o = attention.output.forward(ctx);
      parallel_for(0, nwin, 1, [&](int64_t n) {
        for (int64_t t = 0; t < T; ++t) {
          const int64_t s = source(n, t);
          if (s < 0) continue;
          const float* a = o.data() + (n * T + t) * C;
          for (int64_t c = 0; c < C; ++c) dst[s * C + c] = res[s * C + c] + a[c];
        }
      });
    }
    // In place: one map of the whole stage less per block (39 MB at Donut's 1280x960).
    nn::residual_feed_forward(out, layernorm_after, mlp, {}, out.data());
    return out;
  }
};

struct SwinPatchMerging {
  nn::LayerNorm norm;    // encoder.encoder.layers.*.downsample.norm [4C] (eps 1e-5)
  nn::Linear reduction;  // encoder.encoder.layers.*.downsample.reduction [2C, 4C], no bias

  // x [B, H*W, C] -> [B, ceil(H/2) * ceil(W/2), 2C]: each 2x2 block's four tokens side by side
  // (zeros past an odd edge), normed, reduced. A chunk of rows at a time, so that the [.., 4C]
  // concatenation is never whole: at Donut's 2560 x 1920 it and its norm were two fresh 157 MB
  // maps, whose page faults took five times the merge's arithmetic.
  Tensor<float> forward(const Tensor<float>& x, int64_t H, int64_t W) const {
    const int64_t B = x.dim(0), C = x.dim(2), H2 = (H + 1) / 2, W2 = (W + 1) / 2;
    const int64_t rows = B * H2 * W2;
    if (norm.weight.numel() != 4 * C || reduction.in_features() != 4 * C)
      throw InvalidArgument("Swin: patch merging got " + std::to_string(C) +
                            " channels, its norm and reduction expect " +
                            std::to_string(norm.weight.numel() / 4));
    static constexpr int64_t kOffsets[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};  // (row, col)
    static constexpr int64_t kChunkRows = 2048;
    Tensor<float> out = Tensor<float>::uninitialized({B, H2 * W2, reduction.out_features()});
    Tensor<float> normed = Tensor<float>::uninitialized({std::min(rows, kChunkRows), 4 * C});
    const float* src = x.data();
    for (int64_t r0 = 0; r0 < rows; r0 += kChunkRows) {
      const int64_t n = std::min(kChunkRows, rows - r0);
      parallel_for(0, n, 64, [&](int64_t i) {
        const int64_t r = r0 + i, b = r / (H2 * W2), y2 = r / W2 % H2, x2 = r % W2;
        float* dst = normed.data() + i * 4 * C;
        for (int k = 0; k < 4; ++k) {
          const int64_t y = 2 * y2 + kOffsets[k][0], xx = 2 * x2 + kOffsets[k][1];
          if (y < H && xx < W)
            std::copy_n(src + ((b * H + y) * W + xx) * C, C, dst + k * C);
          else
            std::fill_n(dst + k * C, C, 0.0f);
        }
        norm.forward_row(dst, dst);  // in place: each element is read before it is written
      });
      reduction.forward(normed.data(), n, out.data() + r0 * reduction.out_features());
    }
    return out;
  }
};

struct SwinStage {
  std::vector<SwinLayer> blocks;               // encoder.encoder.layers.*.blocks.*
  std::optional<SwinPatchMerging> downsample;  // encoder.encoder.layers.*.downsample (not last)
};

class SwinModel : public VisionEncoder {
 public:
  SwinModel(const SwinConfig& config, const WeightLoader& w)
      : SwinModel(config, w, /*final_layernorm=*/true, "Swin") {}

  Tensor<float> forward(const Tensor<float>& pixel_values) const override {
    const Shape& s = pixel_values.shape();
    if (s.size() != 4 || s[1] != config_.num_channels || s[2] <= 0 || s[3] <= 0)
      throw InvalidArgument(name_ + ": pixel_values has shape " + shape_str(s) +
                            ", expected [batch, " + std::to_string(config_.num_channels) +
                            ", height, width]");
    auto patches = embeddings_.patch_embeddings.projection.forward(pixel_values, /*pad=*/true);
    Tensor<float> h = embeddings_.norm.forward(patches.tokens);
    int64_t H = patches.grid_h, W = patches.grid_w;
    for (const auto& stage : stages_) {
      for (const auto& block : stage.blocks) h = block.forward(h, H, W);
      if (stage.downsample) {
        h = stage.downsample->forward(h, H, W);
        H = (H + 1) / 2;
        W = (W + 1) / 2;
      }
    }
    return layernorm_ ? layernorm_->forward(h) : h;
  }

  int64_t hidden_size() const override { return config_.hidden_size(); }
  const SwinConfig& config() const { return config_; }

 protected:
  // DonutSwin: the same model without the final LayerNorm.
  SwinModel(const SwinConfig& config, const WeightLoader& w, bool final_layernorm, std::string name)
      : config_(config), name_(std::move(name)) {
    const WeightLoader emb = w.sub("embeddings");
    embeddings_.patch_embeddings.projection =
        nn::PatchConv2d::load(emb.sub("patch_embeddings").sub("projection"), config.num_channels,
                              config.patch_size.h, config.patch_size.w, config.embed_dim);
    embeddings_.norm = nn::LayerNorm::load(emb.sub("norm"), config.embed_dim, 1e-5);
    const nn::Activation act = nn::activation_from_name(config.hidden_act, "hidden_act");
    const double eps = config.layer_norm_eps;
    for (int64_t i = 0; i < config.num_layers(); ++i) {
      const WeightLoader st = w.sub("encoder").sub("layers").sub(i);
      const int64_t dim = config.dim(i), heads = config.num_heads[static_cast<size_t>(i)];
      SwinStage stage;
      for (int64_t j = 0; j < config.depths[static_cast<size_t>(i)]; ++j) {
        const WeightLoader b = st.sub("blocks").sub(j);
        SwinLayer layer;
        layer.window_size = config.window_size;
        layer.shift_size = j % 2 == 0 ? 0 : config.window_size / 2;
        layer.layernorm_before = nn::LayerNorm::load(b.sub("layernorm_before"), dim, eps);
        layer.attention.self = SwinSelfAttention::load(b.sub("attention").sub("self"), dim, heads,
                                                       config.window_size, config.qkv_bias);
        layer.attention.output =
            nn::Linear::load(b.sub("attention").sub("output").sub("dense"), dim, dim);
        layer.layernorm_after = nn::LayerNorm::load(b.sub("layernorm_after"), dim, eps);
        layer.mlp =
            nn::FeedForward::load(b.sub("intermediate").sub("dense"), b.sub("output").sub("dense"),
                                  dim, config.mlp_dim(dim), act);
        stage.blocks.push_back(std::move(layer));
      }
      if (i + 1 < config.num_layers()) {
        const WeightLoader d = st.sub("downsample");
        stage.downsample = SwinPatchMerging{
            nn::LayerNorm::load(d.sub("norm"), 4 * dim, 1e-5),
            nn::Linear::load(d.sub("reduction"), 4 * dim, 2 * dim, /*has_bias=*/false)};
      }
      stages_.push_back(std::move(stage));
    }
    if (final_layernorm)
      layernorm_ = nn::LayerNorm::load(w.sub("layernorm"), config.hidden_size(), eps);
  }

 private:
  SwinConfig config_;
  std::string name_;
  SwinEmbeddings embeddings_;               // encoder.embeddings
  std::vector<SwinStage> stages_;           // encoder.encoder.layers.*
  std::optional<nn::LayerNorm> layernorm_;  // encoder.layernorm (Swin only)
};

}  // namespace ved
