// Text decoders on their own: logits against transformers for every fixture's decoder (fed the
// recorded encoder_last_hidden_state, so no encoder is involved), KV-cached decoding against
// full-sequence decoding, DecoderState::reorder against recomputing the reordered rows, BART
// (which has no fixture of its own) through an exact re-encoding of vit-trocr's decoder, and
// TrOCR's sinusoidal positions.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "../test_util.hpp"
#include "ved/models/all.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;
using test::all_close;

template <typename T>
Tensor<T> rows(const Tensor<T>& batch, const std::vector<int64_t>& idx) {
  Shape s = batch.shape();
  s[0] = static_cast<int64_t>(idx.size());
  Tensor<T> out(s);
  const int64_t per = batch.numel() / batch.dim(0);
  for (size_t i = 0; i < idx.size(); ++i)
    std::copy(batch.data() + idx[i] * per, batch.data() + (idx[i] + 1) * per,
              out.data() + static_cast<int64_t>(i) * per);
  return out;
}

// Columns [t0, t1) of [B, T, ...].
template <typename T>
Tensor<T> columns(const Tensor<T>& x, int64_t t0, int64_t t1) {
  Shape s = x.shape();
  const int64_t B = s[0], Tn = s[1], inner = x.numel() / (B * Tn);
  s[1] = t1 - t0;
  Tensor<T> out(s);
  for (int64_t b = 0; b < B; ++b)
    std::copy(x.data() + (b * Tn + t0) * inner, x.data() + (b * Tn + t1) * inner,
              out.data() + b * (t1 - t0) * inner);
  return out;
}

double max_abs_diff(const Tensor<float>& a, const Tensor<float>& b) {
  double m = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::fabs(static_cast<double>(a.data()[i]) - b.data()[i]));
  return m;
}

// A fixture's decoder alone, with what transformers fed it.
struct DecoderFixture {
  std::string dir;
  VisionEncoderDecoderConfig config;
  std::shared_ptr<const SafetensorsFile> expected;
  std::unique_ptr<TextDecoder> decoder;
  Tensor<float> encoder_states;  // what the cross-attention receives
  Tensor<int64_t> input_ids;

  explicit DecoderFixture(const std::string& name, const std::string& root = "")
      : dir(root.empty() ? test::fixture(name) : root),
        config(VisionEncoderDecoderConfig::from_file(dir + "/config.json")),
        expected(SafetensorsFile::open(test::fixture(name) + "/expected.safetensors")),
        decoder(
            make_decoder(config.decoder, WeightLoader(WeightSource::from_dir(dir)).sub("decoder"))),
        encoder_states(expected->tensor<float>(expected->contains("encoder_hidden_states_projected")
                                                   ? "encoder_hidden_states_projected"
                                                   : "encoder_last_hidden_state")),
        input_ids(expected->tensor<int64_t>("decoder_input_ids")) {}
};

// Incremental decoding (one token at a time, and a chunk after a prefix) gives the logits of one
// full-sequence pass.
void expect_cache_consistent(const TextDecoder& dec, const Tensor<float>& enc,
                             const Tensor<int64_t>& ids) {
  const int64_t T = ids.dim(1);
  DecoderState full_state = dec.start(enc);
  const Tensor<float> full = dec.forward(full_state, ids, /*last_only=*/false);
  EXPECT_EQ(full_state.length(), T);

  DecoderState step_state = dec.start(enc);
  for (int64_t t = 0; t < T; ++t) {
    const Tensor<float> step = dec.forward(step_state, columns(ids, t, t + 1), /*last_only=*/true);
    EXPECT_TRUE(all_close(step, columns(full, t, t + 1))) << "step " << t;
  }

  DecoderState chunk_state = dec.start(enc);
  const int64_t split = T / 2;
  const Tensor<float> head = dec.forward(chunk_state, columns(ids, 0, split), false);
  const Tensor<float> tail = dec.forward(chunk_state, columns(ids, split, T), false);
  EXPECT_TRUE(all_close(head, columns(full, 0, split)));
  EXPECT_TRUE(all_close(tail, columns(full, split, T)));
  // last_only of a chunk is its last position.
  DecoderState last_state = dec.start(enc);
  EXPECT_TRUE(all_close(dec.forward(last_state, ids, /*last_only=*/true), columns(full, T - 1, T)));
}

// Reordering rows mid-sequence (as beam search does, duplicating one) continues each new row as
// a copy of its source row.
void expect_reorder_consistent(const TextDecoder& dec, const Tensor<float>& enc,
                               const Tensor<int64_t>& ids) {
  const int64_t T = ids.dim(1), split = 3;
  ASSERT_EQ(ids.dim(0), 2);
  const std::vector<int64_t> order = {1, 0, 1};
  DecoderState state = dec.start(enc);
  dec.forward(state, columns(ids, 0, split), true);
  state.reorder(order);
  const Tensor<int64_t> reordered_ids = rows(ids, order);
  const Tensor<float> continued = dec.forward(state, columns(reordered_ids, split, T), false);

  DecoderState fresh = dec.start(rows(enc, order));
  const Tensor<float> recomputed = dec.forward(fresh, reordered_ids, false);
  EXPECT_TRUE(all_close(continued, columns(recomputed, split, T)));
}

class DecoderParity : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderParity, LogitsMatchTransformers) {
  const DecoderFixture f(GetParam());
  DecoderState state = f.decoder->start(f.encoder_states);
  const Tensor<float> logits = f.decoder->forward(state, f.input_ids, /*last_only=*/false);
  const Tensor<float> expected = f.expected->tensor<float>("logits");
  EXPECT_TRUE(all_close(logits, expected));
  if (logits.shape() == expected.shape()) {
    const double d = max_abs_diff(logits, expected);
    RecordProperty("max_abs_diff", std::to_string(d));
    std::printf("[ decoder ] %s: max abs logits diff %.3g\n", GetParam().c_str(), d);
  }
}

TEST_P(DecoderParity, KvCacheMatchesFullSequence) {
  const DecoderFixture f(GetParam());
  expect_cache_consistent(*f.decoder, f.encoder_states, f.input_ids);
}

TEST_P(DecoderParity, ReorderMatchesRecomputation) {
  const DecoderFixture f(GetParam());
  expect_reorder_consistent(*f.decoder, f.encoder_states, f.input_ids);
}

// The decoders of this suite's families (GPT-2 is left out: it does not check for empty input).
class DecoderInput : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderInput, RejectsBadInput) {
  const DecoderFixture f(GetParam());
  DecoderState state = f.decoder->start(f.encoder_states);
  Tensor<int64_t> bad = f.input_ids.clone();
  bad.data()[1] = f.decoder->vocab_size();
  EXPECT_THROW(f.decoder->forward(state, bad, true), InvalidArgument);
  EXPECT_THROW(f.decoder->forward(state, Tensor<int64_t>({2, 0}), true), InvalidArgument);
  // Past the position table.
  DecoderState full = f.decoder->start(f.encoder_states);
  const int64_t limit = f.decoder->max_positions();
  ASSERT_GT(limit, 0);
  Tensor<int64_t> too_long({2, limit + 1});
  std::fill(too_long.begin(), too_long.end(), f.input_ids.data()[0]);
  EXPECT_THROW(f.decoder->forward(full, too_long, true), InvalidArgument);
  DecoderState exact = f.decoder->start(f.encoder_states);
  EXPECT_NO_THROW(f.decoder->forward(exact, columns(too_long, 0, limit), true));
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param.substr(info.param.rfind('/') + 1);
  for (auto& ch : n)
    if (ch == '-') ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DecoderParity,
                         ::testing::Values("models/vit-bert", "models/beit-roberta",
                                           "models/vit-trocr", "models/deit-trocr",
                                           "models/donutswin-mbart",
                                           "variants/models/vit-trocr-bf16", "models/vit-gpt2"),
                         param_name);
INSTANTIATE_TEST_SUITE_P(Fixtures, DecoderInput,
                         ::testing::Values("models/vit-bert", "models/beit-roberta",
                                           "models/vit-trocr", "models/deit-trocr",
                                           "models/donutswin-mbart"),
                         param_name);

// ---- BART ----------------------------------------------------------------------------------
//
// No fixture holds a BART decoder, but vit-trocr's decoder is BART's architecture exactly
// (transformers' TrOCRDecoderLayer/TrOCRAttention are "Copied from" BART's; both are post-LN with
// layernorm_embedding, learned positions at i + 2, no final layer_norm, a bias-free tied head,
// and scale_embedding=false here). The one difference is that TrOCR's cross-attention k/v read
// the 32-wide encoder states directly, while BART's read d_model (48) wide states through
// VisionEncoderDecoderModel's enc_to_dec_proj. Choosing enc_to_dec_proj = [I; 0] and BART's
// k/v weights = [W_trocr | 0] gives the same products, so a BART model built that way must
// reproduce every vit-trocr output transformers recorded.

class VitBartCheckpoint {
 public:
  VitBartCheckpoint() {
    static int n = 0;
    dir_ = fs::temp_directory_path() /
           ("ved_vit_bart_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(dir_);
    const std::string src = test::fixture("models/vit-trocr");
    for (const char* name : {"generation_config.json", "expected.json", "expected.safetensors"})
      fs::copy(fs::path(src) / name, dir_ / name);
    detail::json config = detail::read_json_file(src + "/config.json");
    detail::json& d = config["decoder"];
    d["model_type"] = "bart";
    d["cross_attention_hidden_size"] = nullptr;
    for (const char* k : {"use_learned_position_embeddings", "layernorm_embedding"}) d.erase(k);
    d_model_ = d["d_model"].get<int64_t>();
    enc_width_ = config["encoder"]["hidden_size"].get<int64_t>();
    std::ofstream(file("config.json")) << config.dump(2);

    auto f = SafetensorsFile::open(src + "/model.safetensors");
    std::vector<TensorToWrite> tensors;
    for (const auto& [name, rec] : f->records()) {
      Tensor<float> t = f->tensor<float>(name).clone();
      if (name.find("encoder_attn.k_proj.weight") != std::string::npos ||
          name.find("encoder_attn.v_proj.weight") != std::string::npos)
        t = pad_columns(t, d_model_);
      tensors.push_back(to_write(name, t));
    }
    Tensor<float> proj({d_model_, enc_width_});
    for (int64_t i = 0; i < enc_width_; ++i) proj.data()[i * enc_width_ + i] = 1.0f;
    tensors.push_back(to_write("enc_to_dec_proj.weight", proj));
    tensors.push_back(to_write("enc_to_dec_proj.bias", Tensor<float>({d_model_})));
    write_safetensors(file("model.safetensors"), tensors);
  }
  ~VitBartCheckpoint() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string dir() const { return dir_.string(); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  int64_t d_model() const { return d_model_; }

  // [rows, c] -> [rows, width], zero columns on the right.
  static Tensor<float> pad_columns(const Tensor<float>& t, int64_t width) {
    Tensor<float> out({t.dim(0), width});
    for (int64_t r = 0; r < t.dim(0); ++r)
      std::copy(t.data() + r * t.dim(1), t.data() + (r + 1) * t.dim(1), out.data() + r * width);
    return out;
  }

 private:
  fs::path dir_;
  int64_t d_model_ = 0, enc_width_ = 0;
};

TEST(Bart, DecoderReproducesTrOCRFixtureLogits) {
  const VitBartCheckpoint c;
  const DecoderFixture f("models/vit-trocr", c.dir());
  EXPECT_NE(dynamic_cast<const BartForCausalLM*>(f.decoder.get()), nullptr);
  EXPECT_EQ(f.decoder->encoder_hidden_size(), c.d_model());
  const Tensor<float> enc =
      VitBartCheckpoint::pad_columns(f.encoder_states.reshape({-1, f.encoder_states.dim(2)}),
                                     c.d_model())
          .reshape({f.encoder_states.dim(0), f.encoder_states.dim(1), c.d_model()});
  DecoderState state = f.decoder->start(enc);
  const Tensor<float> logits = f.decoder->forward(state, f.input_ids, false);
  const Tensor<float> expected = f.expected->tensor<float>("logits");
  EXPECT_TRUE(all_close(logits, expected));
  std::printf("[ decoder ] bart (vit-trocr re-encoded): max abs logits diff %.3g\n",
              max_abs_diff(logits, expected));
  expect_cache_consistent(*f.decoder, enc, f.input_ids);
  expect_reorder_consistent(*f.decoder, enc, f.input_ids);
}

// The whole VisionEncoderDecoderModel (ViT + enc_to_dec_proj + BART): logits and every generate()
// case of vit-trocr, greedy with processed scores and beam search with sequence scores.
TEST(Bart, VisionEncoderDecoderReproducesTrOCRFixtureGenerate) {
  const VitBartCheckpoint c;
  const auto model = VisionEncoderDecoderModel::from_pretrained(c.dir());
  auto expected = SafetensorsFile::open(c.file("expected.safetensors"));
  const detail::json meta = detail::read_json_file(c.file("expected.json"));
  const Tensor<float> pixels = expected->tensor<float>("pixel_values");
  const auto out = model.forward(pixels, expected->tensor<int64_t>("decoder_input_ids"));
  EXPECT_TRUE(all_close(out.logits, expected->tensor<float>("logits")));
  int greedy = 0, beam = 0;
  for (const auto& cs : meta["generate"]) {
    SCOPED_TRACE(cs["name"].get<std::string>());
    const Tensor<float> images = rows(pixels, cs["batch"].get<std::vector<int64_t>>());
    const auto want = cs["sequences"].get<std::vector<std::vector<int64_t>>>();
    if (cs["args"].value("num_beams", 1) > 1) {
      ++beam;
      const auto got = model.generate(images, cs["args"]);
      EXPECT_EQ(got.sequences, want);
      const auto scores = cs["sequences_scores"].get<std::vector<float>>();
      ASSERT_EQ(got.sequences_scores.size(), scores.size());
      EXPECT_TRUE(all_close(got.sequences_scores.data(), scores.data(),
                            static_cast<int64_t>(scores.size())));
      continue;
    }
    ++greedy;
    GenerationConfig g = model.generation_config();
    g.update(cs["args"]);
    g.output_scores = true;
    const auto got = model.generate(images, g);
    EXPECT_EQ(got.sequences, want);
    const Tensor<float> scores = expected->tensor<float>(cs["scores_key"].get<std::string>());
    const int64_t steps = cs["scores_first_row_eos_step"].is_null()
                              ? scores.dim(0)
                              : cs["scores_first_row_eos_step"].get<int64_t>() + 1;
    ASSERT_GE(static_cast<int64_t>(got.scores.size()), steps);
    for (int64_t s = 0; s < steps; ++s)
      EXPECT_TRUE(
          all_close(got.scores[static_cast<size_t>(s)][0].data(), scores[s].data(), scores.dim(1)))
          << "step " << s;
  }
  EXPECT_GE(greedy, 8);
  EXPECT_GE(beam, 7);
}

// ---- TrOCR sinusoidal positions ------------------------------------------------------------

TEST(TrOCRSinusoidal, TableMatchesFormula) {
  for (int64_t dim : {4, 32, 33}) {
    const int64_t num = 70, pad = 1, half = dim / 2;
    const Tensor<float> t = TrOCRSinusoidalPositionalEmbedding::get_embedding(num, dim, pad);
    ASSERT_EQ(t.shape(), (Shape{num, dim}));
    for (int64_t p = 0; p < num; ++p)
      for (int64_t j = 0; j < dim; ++j) {
        const float got = t.data()[p * dim + j];
        if (p == pad || j >= 2 * half) {
          EXPECT_EQ(got, 0.0f) << p << "," << j;  // padding row, odd-dim zero column
          continue;
        }
        const int64_t k = j % half;
        const double angle = p * std::exp(-k * std::log(10000.0) / (half - 1));
        const double want = j < half ? std::sin(angle) : std::cos(angle);
        // float32 angles of up to ~70 rad carry ~4e-6 absolute error.
        EXPECT_NEAR(got, want, 2e-5) << p << "," << j;
      }
  }
}

// A TrOCR checkpoint from deit-trocr with sinusoidal positions instead of learned ones.
struct SinusoidalTrOCR {
  fs::path dir;
  explicit SinusoidalTrOCR(bool sinusoidal) {
    static int n = 0;
    dir = fs::temp_directory_path() /
          ("ved_trocr_sin_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(dir);
    const std::string src = test::fixture("models/deit-trocr");
    detail::json config = detail::read_json_file(src + "/config.json");
    detail::json& d = config["decoder"];
    d["layernorm_embedding"] = false;  // fairseq's sinusoidal TrOCR style
    if (sinusoidal) d["use_learned_position_embeddings"] = false;
    std::ofstream((dir / "config.json").string()) << config.dump(2);
    const int64_t D = d["d_model"].get<int64_t>(),
                  max = d["max_position_embeddings"].get<int64_t>();
    const int64_t pad = d["pad_token_id"].get<int64_t>();
    auto f = SafetensorsFile::open(src + "/model.safetensors");
    std::vector<TensorToWrite> tensors;
    for (const auto& [name, rec] : f->records()) {
      if (name.find("layernorm_embedding") != std::string::npos) continue;
      if (name == "decoder.model.decoder.embed_positions.weight") {
        if (!sinusoidal)  // the learned table set to what the sinusoidal model computes
          tensors.push_back(to_write(
              name, TrOCRSinusoidalPositionalEmbedding::get_embedding(max + pad + 1, D, pad)));
        continue;
      }
      tensors.push_back(to_write(name, f->tensor<float>(name).clone()));
    }
    if (sinusoidal)  // the meaningless buffer transformers stores
      tensors.push_back(
          to_write("decoder.model.decoder.embed_positions._float_tensor", Tensor<float>({1})));
    write_safetensors((dir / "model.safetensors").string(), tensors);
  }
  ~SinusoidalTrOCR() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// With pad_token_id 1 and no pads in the input, sinusoidal position ids are 2 + i, the rows a
// learned table is read at, so a learned table holding the sinusoidal rows must give the same
// logits; the positions are not read from the file.
TEST(TrOCRSinusoidal, MatchesLearnedTableOfTheSameRows) {
  const SinusoidalTrOCR sin(true), learned(false);
  const DecoderFixture a("models/deit-trocr", sin.dir.string());
  const DecoderFixture b("models/deit-trocr", learned.dir.string());
  DecoderState sa = a.decoder->start(a.encoder_states), sb = b.decoder->start(b.encoder_states);
  const Tensor<float> la = a.decoder->forward(sa, a.input_ids, false);
  const Tensor<float> lb = b.decoder->forward(sb, b.input_ids, false);
  EXPECT_TRUE(all_close(la, lb, 1e-6, 1e-6));
  expect_cache_consistent(*a.decoder, a.encoder_states, a.input_ids);
  expect_reorder_consistent(*a.decoder, a.encoder_states, a.input_ids);
}

}  // namespace
}  // namespace ved
