// The vision encoders beyond the fixtures' geometry: config errors, inputs that are not a
// multiple of the patch or window (Swin, checked against a from-the-definition reference),
// BEiT's bias variants, position interpolation (ViT/DeiT/BEiT), and the resize kernels.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "../test_util.hpp"
#include "ved/models/all.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

using test::all_close;

PretrainedConfig encoder_config(const std::string& model) {
  return VisionEncoderDecoderConfig::from_file(test::fixture("models/" + model + "/config.json"))
      .encoder;
}

WeightLoader encoder_weights(const std::string& model) {
  return WeightLoader(WeightSource::from_dir(test::fixture("models/" + model))).sub("encoder");
}

Tensor<float> random_pixels(Shape shape, unsigned seed) {
  Tensor<float> t(std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (float& v : t) v = n(rng);
  return t;
}

// A fixture's tensors, editable, written to a temporary file as a new WeightSource.
class EditedWeights {
 public:
  explicit EditedWeights(const std::string& model) {
    auto f = SafetensorsFile::open(test::fixture("models/" + model + "/model.safetensors"));
    for (const auto& [name, rec] : f->records()) {
      if (rec.dtype == DType::I64)
        ints_[name] = f->tensor<int64_t>(name).clone();
      else
        floats_[name] = f->tensor<float>(name).clone();
    }
  }
  Tensor<float>& operator[](const std::string& name) { return floats_.at(name); }
  void set(const std::string& name, Tensor<float> t) { floats_[name] = std::move(t); }
  void erase(const std::string& name) {
    floats_.erase(name);
    ints_.erase(name);
  }
  Tensor<int64_t>& index(const std::string& name) { return ints_.at(name); }
  // Shapes of the encoder's tensors, without the "encoder." prefix.
  std::map<std::string, Shape> encoder_shapes() const {
    std::map<std::string, Shape> shapes;
    for (const auto& [n, t] : floats_)
      if (n.rfind("encoder.", 0) == 0) shapes[n.substr(8)] = t.shape();
    return shapes;
  }

  WeightLoader loader() {
    std::vector<TensorToWrite> out;
    for (const auto& [n, t] : floats_) out.push_back(to_write(n, t));
    for (const auto& [n, t] : ints_) out.push_back(to_write(n, t));
    const std::string path = dir_.file("model" + std::to_string(files_++) + ".safetensors");
    write_safetensors(path, out);
    return WeightLoader(WeightSource::from_file(path)).sub("encoder");
  }

 private:
  test::TempDir dir_;
  int files_ = 0;  // a fresh file per loader(): earlier ones may still be mapped
  std::map<std::string, Tensor<float>> floats_;
  std::map<std::string, Tensor<int64_t>> ints_;
};

template <typename E>
void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected an error";
  } catch (const E& e) {
    const std::string what = e.what();
    for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << what;
  }
}

void expect_config_error(const std::string& model, const std::function<void(detail::json&)>& edit,
                         const std::vector<std::string>& needles) {
  PretrainedConfig c = encoder_config(model);
  edit(c.raw);
  expect_error<ConfigError>([&] { make_encoder(c, encoder_weights(model)); }, needles);
}

// ---------------------------------------------------------------- config errors

TEST(VisionEncoderConfig, HeadsMustDivideTheWidth) {
  for (const char* model : {"vit-gpt2", "deit-trocr", "beit-roberta"}) {
    SCOPED_TRACE(model);
    expect_config_error(model, [](detail::json& j) { j["num_attention_heads"] = 5; },
                        {"num_attention_heads", "5", "hidden_size"});
  }
  expect_config_error("swin-gpt2",
                      [](detail::json& j) {
                        j["num_heads"] = {3, 4};
                      },
                      {"num_heads[0]", "16"});
  expect_config_error("donutswin-mbart",
                      [](detail::json& j) {
                        j["num_heads"] = {2, 5};
                      },
                      {"num_heads[1]", "32"});
}

TEST(VisionEncoderConfig, UnknownActivationNamesTheField) {
  for (const char* model :
       {"vit-gpt2", "deit-trocr", "beit-roberta", "swin-gpt2", "donutswin-mbart"}) {
    SCOPED_TRACE(model);
    expect_config_error(model, [](detail::json& j) { j["hidden_act"] = "gelu_fancy"; },
                        {"hidden_act", "gelu_fancy", "encoder"});
  }
}

TEST(VisionEncoderConfig, SwinStageListsMustAgree) {
  expect_config_error("swin-gpt2",
                      [](detail::json& j) {
                        j["depths"] = {2, 2, 2};
                      },
                      {"num_heads has 2 entries but depths has 3"});
  expect_config_error("donutswin-mbart", [](detail::json& j) { j["num_heads"] = {2}; },
                      {"num_heads has 1 entries but depths has 2"});
  expect_config_error("swin-gpt2", [](detail::json& j) { j["depths"] = "2,2"; }, {"depths"});
  expect_config_error("swin-gpt2", [](detail::json& j) { j["depths"] = detail::json::array(); },
                      {"depths"});
}

TEST(VisionEncoderConfig, SwinWindowLargerThanAFeatureMap) {
  // 32x32 / patch 4 = 8x8, then 4x4: a window of 5 no longer fits the second stage, 9 not even
  // the first.
  expect_config_error("swin-gpt2", [](detail::json& j) { j["window_size"] = 5; },
                      {"window_size 5", "stage 1", "4x4"});
  expect_config_error("swin-gpt2", [](detail::json& j) { j["window_size"] = 9; },
                      {"window_size 9", "stage 0", "8x8"});
  // donut: 32x24 / 4 = 8x6, then 4x3.
  expect_config_error("donutswin-mbart", [](detail::json& j) { j["window_size"] = 4; },
                      {"window_size 4", "stage 1", "4x3"});
  expect_config_error("swin-gpt2",
                      [](detail::json& j) {
                        j["window_size"] = {4, 4};
                      },
                      {"window_size"});
  expect_config_error("swin-gpt2", [](detail::json& j) { j["window_size"] = 0; }, {"window_size"});
}

TEST(VisionEncoderConfig, SwinAbsoluteEmbeddingsAreRefused) {
  expect_config_error("swin-gpt2", [](detail::json& j) { j["use_absolute_embeddings"] = true; },
                      {"use_absolute_embeddings"});
}

TEST(VisionEncoderConfig, SizesAndTypes) {
  expect_config_error("vit-gpt2", [](detail::json& j) { j["image_size"] = {32}; }, {"image_size"});
  expect_config_error("vit-gpt2", [](detail::json& j) { j["image_size"] = 4; },
                      {"image_size", "patch_size"});
  expect_config_error("vit-gpt2", [](detail::json& j) { j["patch_size"] = 0; }, {"patch_size"});
  expect_config_error("beit-roberta",
                      [](detail::json& j) {
                        j["patch_size"] = {8, 8};
                      },
                      {"patch_size"});
  expect_config_error("swin-gpt2", [](detail::json& j) { j["embed_dim"] = -16; }, {"embed_dim"});
  expect_config_error("deit-trocr", [](detail::json& j) { j["qkv_bias"] = "yes"; }, {"qkv_bias"});
}

// transformers' Conv2d drops pixels that do not fill a patch: image_size need not be a multiple.
TEST(VisionEncoderConfig, ViTImageNotAMultipleOfThePatch) {
  PretrainedConfig c = encoder_config("vit-gpt2");
  c.raw["image_size"] = 35;  // still a 4x4 grid of 8-pixel patches
  const auto enc = make_encoder(c, encoder_weights("vit-gpt2"));
  const Tensor<float> px = random_pixels({1, 3, 35, 35}, 1);
  Tensor<float> cropped({1, 3, 32, 32});
  for (int64_t ch = 0; ch < 3; ++ch)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) cropped({0, ch, y, x}) = px({0, ch, y, x});
  const auto native = make_encoder(encoder_config("vit-gpt2"), encoder_weights("vit-gpt2"));
  EXPECT_TRUE(all_close(enc->forward(px), native->forward(cropped), 0, 0));
}

// ---------------------------------------------------------------- input checks

TEST(VisionEncoderInput, WrongShapesAreInvalidArguments) {
  for (const char* model :
       {"vit-gpt2", "deit-trocr", "beit-roberta", "swin-gpt2", "donutswin-mbart"}) {
    SCOPED_TRACE(model);
    const auto enc = make_encoder(encoder_config(model), encoder_weights(model));
    expect_error<InvalidArgument>(
        [&] {
          enc->forward(Tensor<float>({1, 1, 32, 32}));
        },
        {"pixel_values"});
    expect_error<InvalidArgument>(
        [&] {
          enc->forward(Tensor<float>({3, 32, 32}));
        },
        {"pixel_values"});
  }
  const auto vit = make_encoder(encoder_config("vit-gpt2"), encoder_weights("vit-gpt2"));
  expect_error<InvalidArgument>(
      [&] {
        vit->forward(Tensor<float>({1, 3, 40, 32}));
      },
      {"image_size", "[batch, 3, 32, 32]"});
  // Swin: a map that ends up smaller than the window (16x40 -> 4x10 -> 2x5 with window 4).
  const auto swin = make_encoder(encoder_config("swin-gpt2"), encoder_weights("swin-gpt2"));
  expect_error<InvalidArgument>(
      [&] {
        swin->forward(Tensor<float>({1, 3, 16, 40}));
      },
      {"window_size 4", "2x5"});
}

// ---------------------------------------------------------------- Swin reference

// Swin computed straight from its definition in double precision, token by token: each query
// finds its window in the shifted, padded map, the window's members are looked up through the
// cyclic shift (zero beyond the real map), and the shift mask compares the 3x3 region labels of
// transformers' img_mask. No window partition, roll or per-window mask kinds as in the model.
class SwinReference {
 public:
  SwinReference(const SwinConfig& c, const WeightLoader& w, bool final_layernorm)
      : c_(c), w_(w), final_layernorm_(final_layernorm) {}

  using Map = std::vector<std::vector<double>>;  // [tokens][channels]

  Map forward(const Tensor<float>& px, int64_t b) const {
    const int64_t C0 = c_.embed_dim, ph = c_.patch_size.h, pw = c_.patch_size.w;
    const int64_t H = (px.dim(2) + ph - 1) / ph, W = (px.dim(3) + pw - 1) / pw;
    const auto cw = get("embeddings.patch_embeddings.projection.weight");
    const auto cb = get("embeddings.patch_embeddings.projection.bias");
    Map x(static_cast<size_t>(H * W), std::vector<double>(static_cast<size_t>(C0)));
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx)
        for (int64_t o = 0; o < C0; ++o) {
          double s = cb[o];
          for (int64_t ch = 0; ch < c_.num_channels; ++ch)
            for (int64_t i = 0; i < ph; ++i)
              for (int64_t j = 0; j < pw; ++j) {
                const int64_t py = y * ph + i, pxx = xx * pw + j;
                if (py >= px.dim(2) || pxx >= px.dim(3)) continue;  // zero padding
                s += cw[((o * c_.num_channels + ch) * ph + i) * pw + j] * px({b, ch, py, pxx});
              }
          x[y * W + xx][o] = s;
        }
    x = layer_norm(x, "embeddings.norm", 1e-5);
    int64_t h = H, wd = W;
    for (int64_t s = 0; s < c_.num_layers(); ++s) {
      const std::string st = "encoder.layers." + std::to_string(s) + ".";
      for (int64_t k = 0; k < c_.depths[s]; ++k)
        x = block(x, h, wd, st + "blocks." + std::to_string(k) + ".", c_.num_heads[s], k % 2 == 1);
      if (s + 1 < c_.num_layers()) {
        x = merge(x, h, wd, st + "downsample.");
        h = (h + 1) / 2;
        wd = (wd + 1) / 2;
      }
    }
    return final_layernorm_ ? layer_norm(x, "layernorm", c_.layer_norm_eps) : x;
  }

 private:
  // A stored tensor as doubles (WeightLoader wants its exact shape: set_shapes).
  std::vector<double> get(const std::string& name) const {
    const Tensor<float> t = w_.get(name, shapes_.at(name));
    return std::vector<double>(t.begin(), t.end());
  }

 public:
  void set_shapes(std::map<std::string, Shape> shapes) { shapes_ = std::move(shapes); }

 private:
  Map layer_norm(const Map& x, const std::string& prefix, double eps) const {
    const auto g = get(prefix + ".weight"), bb = get(prefix + ".bias");
    Map out = x;
    for (auto& row : out) {
      double mean = 0, var = 0;
      for (double v : row) mean += v;
      mean /= static_cast<double>(row.size());
      for (double v : row) var += (v - mean) * (v - mean);
      var /= static_cast<double>(row.size());
      for (size_t i = 0; i < row.size(); ++i)
        row[i] = (row[i] - mean) / std::sqrt(var + eps) * g[i] + bb[i];
    }
    return out;
  }

  std::vector<double> linear(const std::vector<double>& x, const std::vector<double>& w,
                             const std::vector<double>* bias, int64_t out) const {
    const int64_t in = static_cast<int64_t>(x.size());
    std::vector<double> y(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      double s = bias ? (*bias)[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += w[o * in + i] * x[i];
      y[o] = s;
    }
    return y;
  }

  Map block(const Map& x, int64_t H, int64_t W, const std::string& p, int64_t heads,
            bool odd) const {
    const int64_t C = static_cast<int64_t>(x[0].size()), hd = C / heads, ws = c_.window_size;
    int64_t win = ws, shift = odd ? ws / 2 : 0;
    if (std::min(H, W) <= ws) {
      win = std::min(H, W);
      shift = 0;
    }
    const int64_t Hp = (H + win - 1) / win * win, Wp = (W + win - 1) / win * win;
    const Map ln = layer_norm(x, p + "layernorm_before", c_.layer_norm_eps);
    const auto wq = get(p + "attention.self.query.weight"),
               bq = get(p + "attention.self.query.bias");
    const auto wk = get(p + "attention.self.key.weight"), bk = get(p + "attention.self.key.bias");
    const auto wv = get(p + "attention.self.value.weight"),
               bv = get(p + "attention.self.value.bias");
    const auto wo = get(p + "attention.output.dense.weight");
    const auto bo = get(p + "attention.output.dense.bias");
    const auto table = get(p + "attention.self.relative_position_bias_table");
    // Value of the padded, unshifted map at (y, x).
    auto at = [&](int64_t y, int64_t xx) {
      return y < H && xx < W ? ln[y * W + xx] : std::vector<double>(static_cast<size_t>(C), 0.0);
    };
    // transformers' img_mask label of shifted-map coordinate (ys, xs).
    auto label = [&](int64_t ys, int64_t xs) {
      auto region = [&](int64_t v, int64_t n) { return v < n - win ? 0 : v < n - shift ? 1 : 2; };
      return region(ys, Hp) * 3 + region(xs, Wp);
    };
    Map out = x;
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx) {
        const int64_t ys = (y - shift + Hp) % Hp, xs = (xx - shift + Wp) % Wp;
        const int64_t wy = ys / win, wx = xs / win;
        const auto q = linear(ln[y * W + xx], wq, &bq, C);
        std::vector<std::vector<double>> ks, vs;
        std::vector<std::pair<int64_t, int64_t>> members;
        for (int64_t i = 0; i < win; ++i)
          for (int64_t j = 0; j < win; ++j) {
            const int64_t ms = wy * win + i, mx = wx * win + j;
            const auto v = at((ms + shift) % Hp, (mx + shift) % Wp);
            ks.push_back(linear(v, wk, &bk, C));
            vs.push_back(linear(v, wv, &bv, C));
            members.push_back({ms, mx});
          }
        std::vector<double> ctx(static_cast<size_t>(C), 0.0);
        for (int64_t h = 0; h < heads; ++h) {
          std::vector<double> s(members.size());
          double m = -1e300;
          for (size_t k = 0; k < members.size(); ++k) {
            double d = 0;
            for (int64_t e = 0; e < hd; ++e) d += q[h * hd + e] * ks[k][h * hd + e];
            const int64_t dy = ys % win - members[k].first % win + ws - 1;
            const int64_t dx = xs % win - members[k].second % win + ws - 1;
            d = d / std::sqrt(static_cast<double>(hd)) +
                table[(dy * (2 * ws - 1) + dx) * heads + h];
            if (shift > 0 && label(ys, xs) != label(members[k].first, members[k].second)) d -= 100;
            s[k] = d;
            m = std::max(m, d);
          }
          double sum = 0;
          for (double& v : s) sum += (v = std::exp(v - m));
          for (size_t k = 0; k < members.size(); ++k)
            for (int64_t e = 0; e < hd; ++e) ctx[h * hd + e] += s[k] / sum * vs[k][h * hd + e];
        }
        const auto a = linear(ctx, wo, &bo, C);
        for (int64_t e = 0; e < C; ++e) out[y * W + xx][e] += a[e];
      }
    // MLP
    const Map ln2 = layer_norm(out, p + "layernorm_after", c_.layer_norm_eps);
    const auto w1 = get(p + "intermediate.dense.weight"), b1 = get(p + "intermediate.dense.bias");
    const auto w2 = get(p + "output.dense.weight"), b2 = get(p + "output.dense.bias");
    const int64_t inner = c_.mlp_dim(C);
    for (size_t t = 0; t < out.size(); ++t) {
      auto hmid = linear(ln2[t], w1, &b1, inner);
      for (double& v : hmid) v = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
      const auto o = linear(hmid, w2, &b2, C);
      for (int64_t e = 0; e < C; ++e) out[t][e] += o[e];
    }
    return out;
  }

  Map merge(const Map& x, int64_t H, int64_t W, const std::string& p) const {
    const int64_t C = static_cast<int64_t>(x[0].size()), H2 = (H + 1) / 2, W2 = (W + 1) / 2;
    Map cat(static_cast<size_t>(H2 * W2));
    const int64_t order[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    for (int64_t y = 0; y < H2; ++y)
      for (int64_t xx = 0; xx < W2; ++xx)
        for (const auto& o : order) {
          const int64_t sy = 2 * y + o[0], sx = 2 * xx + o[1];
          for (int64_t e = 0; e < C; ++e)
            cat[y * W2 + xx].push_back(sy < H && sx < W ? x[sy * W + sx][e] : 0.0);
        }
    const Map n = layer_norm(cat, p + "norm", 1e-5);
    const auto wr = get(p + "reduction.weight");
    Map out;
    for (const auto& row : n) out.push_back(linear(row, wr, nullptr, 2 * C));
    return out;
  }

  SwinConfig c_;
  WeightLoader w_;
  bool final_layernorm_;
  std::map<std::string, Shape> shapes_;
};

void expect_matches_reference(const PretrainedConfig& pc, const WeightLoader& weights,
                              const std::map<std::string, Shape>& shapes, bool final_layernorm,
                              int64_t height, int64_t width) {
  SCOPED_TRACE(pc.model_type + " " + std::to_string(height) + "x" + std::to_string(width));
  const auto enc = make_encoder(pc, weights);
  const Tensor<float> px = random_pixels({2, 3, height, width}, 7);
  const Tensor<float> got = enc->forward(px);
  SwinReference ref(SwinConfig::from(pc), weights, final_layernorm);
  ref.set_shapes(shapes);
  for (int64_t b = 0; b < 2; ++b) {
    const auto want = ref.forward(px, b);
    ASSERT_EQ(got.dim(1), static_cast<int64_t>(want.size()));
    Tensor<float> w({got.dim(1), got.dim(2)});
    for (int64_t t = 0; t < got.dim(1); ++t)
      for (int64_t e = 0; e < got.dim(2); ++e)
        w({t, e}) = static_cast<float>(want[static_cast<size_t>(t)][static_cast<size_t>(e)]);
    EXPECT_TRUE(all_close(got[b], w));
  }
}

void expect_matches_reference(const std::string& model, bool final_layernorm, int64_t height,
                              int64_t width) {
  EditedWeights w(model);
  expect_matches_reference(encoder_config(model), w.loader(), w.encoder_shapes(), final_layernorm,
                           height, width);
}

TEST(SwinGeometry, FixtureSizeMatchesReference) {
  expect_matches_reference("swin-gpt2", true, 32, 32);
  expect_matches_reference("donutswin-mbart", false, 32, 24);
}

// 36x44 -> 9x11 patches: padded to 12x12 windows of 4 with the shifted-window mask; merged (odd
// sizes padded) to 5x6, padded again to 8x8.
TEST(SwinGeometry, MapsThatAreNotAMultipleOfTheWindow) {
  expect_matches_reference("swin-gpt2", true, 36, 44);
  // DonutSwin, window 2: 20x28 -> 5x7 (pad 6x8, shift 1) -> 3x4 (pad 4x4).
  expect_matches_reference("donutswin-mbart", false, 20, 28);
}

// 28x72 -> 7x18 (pad 8x20, shifted), merged to 4x9: the second stage is exactly one window high,
// so transformers uses one unshifted window of 4 and pads the width to 12.
TEST(SwinGeometry, MapAsHighAsTheWindowIsUnshifted) {
  expect_matches_reference("swin-gpt2", true, 28, 72);
}

// An odd window (3, shift 1) puts the shift boundary off the window's middle: region 1 is
// [0, window - shift) of an edge window, region 2 the rest. 36x44 -> 9x11 (pad 9x12) -> 5x6.
TEST(SwinGeometry, OddWindowShiftMask) {
  EditedWeights w("swin-gpt2");
  std::mt19937 rng(13);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (int s = 0; s < 2; ++s)
    for (int k = 0; k < 2; ++k) {
      const std::string p = "encoder.encoder.layers." + std::to_string(s) + ".blocks." +
                            std::to_string(k) + ".attention.self.relative_position_";
      Tensor<float> table({25, s == 0 ? 2 : 4});
      for (float& v : table) v = n(rng);
      w.set(p + "bias_table", table);
      w.erase(p + "index");
    }
  PretrainedConfig c = encoder_config("swin-gpt2");
  c.raw["window_size"] = 3;
  expect_matches_reference(c, w.loader(), w.encoder_shapes(), true, 36, 44);
}

// An image that is not a multiple of the patch is zero-padded right/bottom first: the same as
// padding it by hand.
TEST(SwinGeometry, PatchPaddingEqualsZeroPaddedImage) {
  const auto enc = make_encoder(encoder_config("swin-gpt2"), encoder_weights("swin-gpt2"));
  const Tensor<float> px = random_pixels({2, 3, 30, 31}, 3);
  Tensor<float> padded({2, 3, 32, 32});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t ch = 0; ch < 3; ++ch)
      for (int64_t y = 0; y < 30; ++y)
        for (int64_t x = 0; x < 31; ++x) padded({b, ch, y, x}) = px({b, ch, y, x});
  const Tensor<float> a = enc->forward(px), b = enc->forward(padded);
  EXPECT_EQ(a.shape(), (Shape{2, 4 * 4, 32}));
  EXPECT_TRUE(all_close(a, b, 0, 0));
}

// Patch merging gathers, norms and reduces 2048 rows at a time: every row equals the whole
// [.., 4C] concatenation (zeros past the odd edges) normed and reduced in one piece, across the
// chunk boundaries (101x91 -> 51x46 = 2346 rows, batch 2). A channel count that disagrees with
// the merge's weights is an error, not a read past a row.
TEST(SwinPatchMerging, ChunksEqualTheWholeConcatenation) {
  const int64_t B = 2, H = 101, W = 91, C = 4, H2 = 51, W2 = 46;
  std::mt19937 rng(17);
  std::normal_distribution<float> n(0.0f, 1.0f);
  auto random = [&](Shape shape) {
    Tensor<float> t(std::move(shape));
    for (float& v : t) v = n(rng);
    return t;
  };
  const SwinPatchMerging merge{
      nn::LayerNorm{random({4 * C}), random({4 * C}), 1e-5f},
      nn::Linear(nn::WeightMatrix(random({2 * C, 4 * C})), Tensor<float>())};
  const Tensor<float> x = random({B, H * W, C});
  Tensor<float> cat({B, H2 * W2, 4 * C});
  const int64_t offsets[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t y2 = 0; y2 < H2; ++y2)
      for (int64_t x2 = 0; x2 < W2; ++x2)
        for (int k = 0; k < 4; ++k) {
          const int64_t y = 2 * y2 + offsets[k][0], xx = 2 * x2 + offsets[k][1];
          if (y < H && xx < W)
            for (int64_t c = 0; c < C; ++c)
              cat({b, y2 * W2 + x2, k * C + c}) = x({b, y * W + xx, c});
        }
  const Tensor<float> want = merge.reduction.forward(merge.norm.forward(cat));
  const Tensor<float> got = merge.forward(x, H, W);
  EXPECT_EQ(got.shape(), (Shape{B, H2 * W2, 2 * C}));
  EXPECT_TRUE(all_close(got, want, 0, 0));
  EXPECT_THROW(merge.forward(random({1, 4, 3}), 2, 2), InvalidArgument);
}

TEST(SwinWeights, RelativePositionIndexIsOptionalAndChecked) {
  const Tensor<float> px = random_pixels({1, 3, 32, 32}, 5);
  const auto want =
      make_encoder(encoder_config("swin-gpt2"), encoder_weights("swin-gpt2"))->forward(px);
  const std::string idx =
      "encoder.encoder.layers.0.blocks.1.attention.self.relative_position_index";
  {
    EditedWeights w("swin-gpt2");
    for (int s = 0; s < 2; ++s)
      for (int k = 0; k < 2; ++k)
        w.erase("encoder.encoder.layers." + std::to_string(s) + ".blocks." + std::to_string(k) +
                ".attention.self.relative_position_index");
    EXPECT_TRUE(
        all_close(make_encoder(encoder_config("swin-gpt2"), w.loader())->forward(px), want, 0, 0));
  }
  {
    EditedWeights w("swin-gpt2");
    std::swap(w.index(idx).data()[1], w.index(idx).data()[2]);
    expect_error<WeightError>([&] { make_encoder(encoder_config("swin-gpt2"), w.loader()); },
                              {"relative_position_index", "layers.0.blocks.1"});
  }
}

// ---------------------------------------------------------------- BEiT

const std::string kBeitLayerTable =
    "encoder.encoder.layer.%.attention.attention.relative_position_bias.relative_position_bias_"
    "table";
std::string beit_table(int layer) {
  std::string s = kBeitLayerTable;
  return s.replace(s.find('%'), 1, std::to_string(layer));
}

TEST(Beit, RelativePositionIndex) {
  // 2x2 grid: 3x3 offsets + 3 rows for CLS.
  const auto idx = BeitRelativePositionBias::relative_position_index(2, 2);
  // Row 0 (CLS query) 9, column 0 (CLS key) 10, CLS-CLS 11; patches (dy + 1) * 3 + (dx + 1).
  const std::vector<int64_t> expected = {11, 9, 9, 9, 9,  //
                                         10, 4, 3, 1, 0,  //
                                         10, 5, 4, 2, 1,  //
                                         10, 7, 6, 4, 3,  //
                                         10, 8, 7, 5, 4};
  EXPECT_EQ(idx, expected);
}

// One shared table is the same as every layer holding that table.
TEST(Beit, SharedBiasEqualsTheSameTablePerLayer) {
  const Tensor<float> px = random_pixels({2, 3, 32, 32}, 11);
  PretrainedConfig per_layer = encoder_config("beit-roberta");
  EditedWeights a("beit-roberta");
  a.set(beit_table(1), a[beit_table(0)].clone());
  const Tensor<float> want = make_encoder(per_layer, a.loader())->forward(px);

  PretrainedConfig shared = per_layer;
  shared.raw["use_relative_position_bias"] = false;
  shared.raw["use_shared_relative_position_bias"] = true;
  EditedWeights b("beit-roberta");
  b.set("encoder.encoder.relative_position_bias.relative_position_bias_table",
        b[beit_table(0)].clone());
  b.erase(beit_table(0));
  b.erase(beit_table(1));
  EXPECT_TRUE(all_close(make_encoder(shared, b.loader())->forward(px), want, 0, 0));

  // Both at once: each layer adds its own table, then the shared one.
  PretrainedConfig both = per_layer;
  both.raw["use_shared_relative_position_bias"] = true;
  EditedWeights c("beit-roberta");
  Tensor<float> s = c[beit_table(1)].clone();
  c.set("encoder.encoder.relative_position_bias.relative_position_bias_table", s);
  EditedWeights d("beit-roberta");  // per layer, tables summed beforehand
  for (int l = 0; l < 2; ++l) {
    Tensor<float> t = d[beit_table(l)].clone();
    t.matrix() += s.matrix();
    d.set(beit_table(l), t);
  }
  EXPECT_TRUE(all_close(make_encoder(both, c.loader())->forward(px),
                        make_encoder(per_layer, d.loader())->forward(px), 1e-5, 1e-5));
  // Missing the shared table is a WeightError naming it.
  expect_error<WeightError>(
      [&] { make_encoder(both, encoder_weights("beit-roberta")); },
      {"encoder.encoder.relative_position_bias.relative_position_bias_table"});
}

TEST(Beit, NoLayerScaleAndFinalLayerNormAreHonoured) {
  // layer_scale_init_value 0: lambda_1/lambda_2 are not read (removing them is fine) and the
  // branches are unscaled, i.e. the same as lambdas of 1.
  const Tensor<float> px = random_pixels({1, 3, 32, 32}, 2);
  PretrainedConfig no_scale = encoder_config("beit-roberta");
  no_scale.raw["layer_scale_init_value"] = 0.0;
  EditedWeights a("beit-roberta");
  for (int l = 0; l < 2; ++l)
    for (const char* n : {".lambda_1", ".lambda_2"})
      a.erase("encoder.encoder.layer." + std::to_string(l) + n);
  EditedWeights b("beit-roberta");
  for (int l = 0; l < 2; ++l)
    for (const char* n : {".lambda_1", ".lambda_2"})
      b["encoder.encoder.layer." + std::to_string(l) + n].matrix().setOnes();
  EXPECT_TRUE(all_close(make_encoder(no_scale, a.loader())->forward(px),
                        make_encoder(encoder_config("beit-roberta"), b.loader())->forward(px), 0,
                        0));
  // use_mean_pooling false: encoder.layernorm is required.
  PretrainedConfig ln = encoder_config("beit-roberta");
  ln.raw["use_mean_pooling"] = false;
  expect_error<WeightError>([&] { make_encoder(ln, encoder_weights("beit-roberta")); },
                            {"encoder.layernorm.weight"});
}

// BEiT without relative bias or layer scale, with absolute positions and a final LayerNorm, is
// ViT with a bias-free key: built from vit-gpt2's weights (same tensor names), the two agree, at
// the configured size and at another one (BEiT resizes its position grid on its own, ViT with
// interpolate_pos_encoding).
TEST(Beit, AbsolutePositionsMatchViT) {
  EditedWeights w("vit-gpt2");
  for (int l = 0; l < 2; ++l)
    w["encoder.encoder.layer." + std::to_string(l) + ".attention.attention.key.bias"]
        .matrix()
        .setZero();
  PretrainedConfig beit = encoder_config("vit-gpt2");
  beit.model_type = "beit";
  beit.raw["model_type"] = "beit";
  beit.raw["use_absolute_position_embeddings"] = true;
  beit.raw["use_relative_position_bias"] = false;
  beit.raw["layer_scale_init_value"] = 0.0;
  beit.raw["use_mean_pooling"] = false;
  const WeightLoader weights = w.loader();
  const auto b = make_encoder(beit, weights);
  auto v = make_encoder(encoder_config("vit-gpt2"), weights);
  const Tensor<float> px = random_pixels({2, 3, 32, 32}, 4);
  EXPECT_TRUE(all_close(b->forward(px), v->forward(px), 0, 0));

  dynamic_cast<ViTModel&>(*v).set_interpolate_pos_encoding(true);
  const Tensor<float> big = random_pixels({1, 3, 48, 40}, 5);
  const Tensor<float> out = b->forward(big);
  EXPECT_EQ(out.shape(), (Shape{1, 1 + 6 * 5, 32}));
  EXPECT_TRUE(all_close(out, v->forward(big), 0, 0));
}

// At another size BEiT resizes its relative position table; a square grid at the configured
// size is left alone, and the result stays finite and shaped [B, 1 + patches, hidden].
TEST(Beit, OtherInputSizesResizeTheRelativeBias) {
  const auto enc = make_encoder(encoder_config("beit-roberta"), encoder_weights("beit-roberta"));
  const Tensor<float> out = enc->forward(random_pixels({1, 3, 48, 40}, 8));
  EXPECT_EQ(out.shape(), (Shape{1, 1 + 6 * 5, 32}));
  for (float x : out) ASSERT_TRUE(std::isfinite(x));
  // The bias at the configured 4x4 grid is the table looked up through the index, unresized.
  EditedWeights w("beit-roberta");
  const Tensor<float> table = w[beit_table(0)];
  BeitRelativePositionBias rpb{table, 4, 4};
  const Tensor<float> bias = rpb.forward(4, 4);
  const auto idx = BeitRelativePositionBias::relative_position_index(4, 4);
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t p = 0; p < 17 * 17; ++p)
      ASSERT_EQ(bias.data()[h * 17 * 17 + p], table.data()[idx[static_cast<size_t>(p)] * 4 + h]);
  // 6x5: the 7x7 offset grid resized bilinearly to 11x9 (corners are kept exactly).
  const Tensor<float> big = rpb.forward(6, 5);
  EXPECT_EQ(big.shape(), (Shape{4, 31, 31}));
  const auto big_idx = BeitRelativePositionBias::relative_position_index(6, 5);
  // Query (0,0) vs key (5,4): offset (-5, -4) -> corner row 0 of the resized grid = table row 0.
  const int64_t q = 1 + 0, k = 1 + 5 * 5 + 4;
  EXPECT_EQ(big_idx[static_cast<size_t>(q * 31 + k)], 0);
  EXPECT_EQ(big.data()[q * 31 + k], table.data()[0]);
  EXPECT_EQ(big.data()[0], table.data()[(49 + 2) * 4]);  // CLS->CLS row is not resized
}

// ---------------------------------------------------------------- interpolation

TEST(Interpolate, BilinearMatchesTorch) {
  // F.interpolate([[1, 2], [3, 4]], size=(3, 3), mode="bilinear", align_corners=False)
  const Tensor<float> g = Tensor<float>::from_vector({2, 2, 1}, {1, 2, 3, 4});
  const Tensor<float> out = nn::interpolate_bilinear(g, 3, 3);
  const std::vector<float> want = {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4};
  EXPECT_EQ(std::vector<float>(out.begin(), out.end()), want);
}

TEST(Interpolate, BicubicMatchesTorch) {
  // F.interpolate([[1, 2], [3, 4]], size=(4, 4), mode="bicubic", align_corners=False): the input
  // is 1 + x + 2y, so the output is 1 + X[x] + 2 X[y] with X the 1-D resize of [0, 1], whose
  // border taps are clamped: [-0.10546875, 0.2265625, 0.7734375, 1.10546875].
  const Tensor<float> g = Tensor<float>::from_vector({2, 2, 1}, {1, 2, 3, 4});
  const Tensor<float> out = nn::interpolate_bicubic(g, 4, 4);
  const double X[4] = {-0.10546875, 0.2265625, 0.7734375, 1.10546875};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_NEAR(out({y, x, 0}), 1 + X[x] + 2 * X[y], 1e-6);
}

// Keys' cubic convolution (a = -0.75) with half-pixel centres and clamped borders, in double.
double keys(double t) {
  const double a = -0.75, x = std::fabs(t);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

Tensor<float> reference_bicubic(const Tensor<float>& g, int64_t oh, int64_t ow) {
  const int64_t H = g.dim(0), W = g.dim(1), C = g.dim(2);
  Tensor<float> out({oh, ow, C});
  for (int64_t y = 0; y < oh; ++y)
    for (int64_t x = 0; x < ow; ++x)
      for (int64_t c = 0; c < C; ++c) {
        const double sy = (y + 0.5) * H / oh - 0.5, sx = (x + 0.5) * W / ow - 0.5;
        const int64_t fy = static_cast<int64_t>(std::floor(sy)),
                      fx = static_cast<int64_t>(std::floor(sx));
        double acc = 0;
        for (int64_t i = fy - 1; i <= fy + 2; ++i)
          for (int64_t j = fx - 1; j <= fx + 2; ++j)
            acc += keys(sy - i) * keys(sx - j) *
                   g({std::clamp<int64_t>(i, 0, H - 1), std::clamp<int64_t>(j, 0, W - 1), c});
        out({y, x, c}) = static_cast<float>(acc);
      }
  return out;
}

TEST(Interpolate, BicubicMatchesKeysKernel) {
  const Tensor<float> g = random_pixels({3, 4, 5}, 9);
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{5, 7}, {2, 3}, {7, 4}, {3, 4}}) {
    SCOPED_TRACE(std::to_string(oh) + "x" + std::to_string(ow));
    EXPECT_TRUE(
        all_close(nn::interpolate_bicubic(g, oh, ow), reference_bicubic(g, oh, ow), 1e-5, 1e-5));
  }
}

// The strided Conv2d as a GEMM, against the convolution sum, for a non-square patch and an image
// that is not a multiple of it: Conv2d drops the remainder, Swin's padding keeps it.
TEST(PatchConv2d, MatchesConvolution) {
  const Tensor<float> weight = random_pixels({5, 3, 2, 3}, 21), bias = random_pixels({5}, 22);
  const Tensor<float> px = random_pixels({2, 3, 7, 8}, 23);
  EditedWeights unused("vit-gpt2");  // a container for the two tensors below
  unused.set("encoder.conv.weight", weight);
  unused.set("encoder.conv.bias", bias);
  const auto conv = nn::PatchConv2d::load(unused.loader().sub("conv"), 3, 2, 3, 5);
  for (bool pad : {false, true}) {
    SCOPED_TRACE(pad ? "padded" : "floor");
    const auto out = conv.forward(px, pad);
    const int64_t gh = pad ? 4 : 3, gw = pad ? 3 : 2;
    ASSERT_EQ(out.grid_h, gh);
    ASSERT_EQ(out.grid_w, gw);
    Tensor<float> want({2, gh * gw, 5});
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < gh; ++i)
        for (int64_t j = 0; j < gw; ++j)
          for (int64_t o = 0; o < 5; ++o) {
            double acc = bias.data()[o];
            for (int64_t c = 0; c < 3; ++c)
              for (int64_t y = 0; y < 2; ++y)
                for (int64_t x = 0; x < 3; ++x) {
                  const int64_t py = i * 2 + y, pxx = j * 3 + x;
                  if (py < 7 && pxx < 8) acc += weight({o, c, y, x}) * px({b, c, py, pxx});
                }
            want({b, i * gw + j, o}) = static_cast<float>(acc);
          }
    EXPECT_TRUE(all_close(out.tokens, want, 1e-5, 1e-5));
  }
}

// patch_size and image_size as [height, width] pairs.
TEST(ViTConfigTest, NonSquarePatch) {
  EditedWeights w("vit-gpt2");
  w.set("encoder.embeddings.patch_embeddings.projection.weight", random_pixels({32, 3, 8, 16}, 3));
  w.set("encoder.embeddings.position_embeddings", random_pixels({1, 1 + 4 * 2, 32}, 4));
  PretrainedConfig c = encoder_config("vit-gpt2");
  c.raw["patch_size"] = {8, 16};
  const auto enc = make_encoder(c, w.loader());
  EXPECT_EQ(enc->forward(random_pixels({2, 3, 32, 32}, 5)).shape(), (Shape{2, 9, 32}));
}

// ---------------------------------------------------------------- ViT / DeiT interpolation

// interpolate_pos_encoding at 48x40 is the model configured for 48x40 whose position table is
// the bicubic resize of the 4x4 one.
void expect_interpolation_matches(const std::string& model, int64_t prefix) {
  SCOPED_TRACE(model);
  const PretrainedConfig pc = encoder_config(model);
  auto enc = make_encoder(pc, encoder_weights(model));
  const Tensor<float> px = random_pixels({2, 3, 48, 40}, 6);
  expect_error<InvalidArgument>([&] { enc->forward(px); }, {"image_size"});
  auto& vit = dynamic_cast<ViTModel&>(*enc);
  const Tensor<float> native = random_pixels({1, 3, 32, 32}, 6);
  const Tensor<float> before = enc->forward(native);
  vit.set_interpolate_pos_encoding(true);
  EXPECT_TRUE(vit.interpolate_pos_encoding());
  EXPECT_TRUE(all_close(enc->forward(native), before, 0, 0));  // square, same grid: untouched
  const Tensor<float> got = enc->forward(px);

  EditedWeights w(model);
  Tensor<float>& pos = w["encoder.embeddings.position_embeddings"];
  const int64_t D = pos.dim(2);
  Tensor<float> grid({4, 4, D});
  std::copy(pos.data() + prefix * D, pos.data() + pos.numel(), grid.data());
  const Tensor<float> resized = reference_bicubic(grid, 6, 5);
  Tensor<float> table({1, prefix + 30, D});
  std::copy(pos.data(), pos.data() + prefix * D, table.data());
  std::copy(resized.begin(), resized.end(), table.data() + prefix * D);
  w.set("encoder.embeddings.position_embeddings", table);
  PretrainedConfig big = pc;
  big.raw["image_size"] = {48, 40};
  const Tensor<float> want = make_encoder(big, w.loader())->forward(px);
  EXPECT_EQ(got.shape(), (Shape{2, prefix + 30, D}));
  EXPECT_TRUE(all_close(got, want));
}

TEST(ViTInterpolation, MatchesAModelConfiguredForThatSize) {
  expect_interpolation_matches("vit-gpt2", 1);
  expect_interpolation_matches("deit-trocr", 2);
}

TEST(ViTConfigTest, NonSquareImageSize) {
  // image_size [48, 40] with a [1 + 6*5] table: a non-square model runs at its own size.
  EditedWeights w("vit-gpt2");
  const Tensor<float> pos = w["encoder.embeddings.position_embeddings"];
  Tensor<float> table({1, 31, 32});
  for (int64_t r = 0; r < 31; ++r)
    std::copy(pos.data() + (r % 17) * 32, pos.data() + (r % 17 + 1) * 32, table.data() + r * 32);
  w.set("encoder.embeddings.position_embeddings", table);
  PretrainedConfig c = encoder_config("vit-gpt2");
  c.raw["image_size"] = {48, 40};
  const auto enc = make_encoder(c, w.loader());
  EXPECT_EQ(enc->forward(random_pixels({1, 3, 48, 40}, 1)).shape(), (Shape{1, 31, 32}));
  expect_error<InvalidArgument>(
      [&] {
        enc->forward(random_pixels({1, 3, 40, 48}, 1));
      },
      {"[batch, 3, 48, 40]"});
  // A stored table of the wrong length is a WeightError.
  c.raw["image_size"] = {48, 48};
  expect_error<WeightError>([&] { make_encoder(c, w.loader()); },
                            {"encoder.embeddings.position_embeddings", "[1, 37, 32]"});
}

// ---------------------------------------------------------------- Donut's real geometry

TEST(DonutSwinRealConfig, StagesOfDonutBase) {
  // naver-clova-ix/donut-base's encoder (shared/configs/donut-base/config.json).
  PretrainedConfig c;
  c.model_type = "donut-swin";
  c.source = "donut-base";
  c.raw = {{"model_type", "donut-swin"},  {"image_size", {2560, 1920}}, {"patch_size", 4},
           {"window_size", 10},           {"embed_dim", 128},           {"depths", {2, 2, 14, 2}},
           {"num_heads", {4, 8, 16, 32}}, {"mlp_ratio", 4.0},           {"hidden_size", 1024},
           {"layer_norm_eps", 1e-5}};
  const SwinConfig s = SwinConfig::from(c);
  EXPECT_EQ(s.hidden_size(), 1024);
  EXPECT_EQ(s.mlp_dim(128), 512);
  const auto res = s.stage_resolutions(2560, 1920);
  ASSERT_EQ(res.size(), 4u);
  EXPECT_EQ(res[0], (detail::SizeHW{640, 480}));
  EXPECT_EQ(res[3], (detail::SizeHW{80, 60}));
  EXPECT_EQ(s.stage_smaller_than_window(2560, 1920), -1);
}

}  // namespace
}  // namespace ved
