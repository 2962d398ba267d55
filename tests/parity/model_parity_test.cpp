// Parity with transformers on the fixture checkpoints: encoder states, logits and every greedy
// generate() case of tests/data/fixtures/models/<model>/expected.json.

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "../test_util.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

using test::all_close;
using test::fixture;

struct Fixture {
  std::string dir;
  std::shared_ptr<const SafetensorsFile> expected;
  detail::json meta;
  explicit Fixture(const std::string& name)
      : dir(fixture(name)),
        expected(SafetensorsFile::open(dir + "/expected.safetensors")),
        meta(detail::read_json_file(dir + "/expected.json")) {}
};

Tensor<float> rows(const Tensor<float>& batch, const std::vector<int64_t>& idx) {
  Shape s = batch.shape();
  s[0] = static_cast<int64_t>(idx.size());
  Tensor<float> out(s);
  const int64_t per = batch.numel() / batch.dim(0);
  for (size_t i = 0; i < idx.size(); ++i)
    std::copy(batch.data() + idx[i] * per, batch.data() + (idx[i] + 1) * per,
              out.data() + static_cast<int64_t>(i) * per);
  return out;
}

// Whether a case is a beam search: its arguments over the checkpoint's defaults (manga-ocr's
// config.json makes num_beams 4 the default, so its cases without num_beams are beam searches).
bool is_beam_case(const VisionEncoderDecoderModel& model, const detail::json& c) {
  GenerationConfig g = model.generation_config();
  g.update(c["args"]);
  return g.num_beams > 1;
}

// How many cases of each kind a fixture has at least, so that a misclassification cannot make a
// test pass by running nothing.
int min_cases(const std::string& fixture, bool beam) {
  if (fixture == "models/mangaocr-vit-bert") return beam ? 9 : 4;
  return beam ? 7 : 8;
}

class ModelParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelParity, EncoderAndLogits) {
  const Fixture f(GetParam());
  const auto model = VisionEncoderDecoderModel::from_pretrained(f.dir);
  const Tensor<float> pixels = f.expected->tensor<float>("pixel_values");
  const auto out = model.forward(pixels, f.expected->tensor<int64_t>("decoder_input_ids"));
  EXPECT_TRUE(all_close(out.encoder_last_hidden_state,
                        f.expected->tensor<float>("encoder_last_hidden_state")));
  if (f.expected->contains("encoder_hidden_states_projected")) {
    EXPECT_TRUE(all_close(model.project(out.encoder_last_hidden_state),
                          f.expected->tensor<float>("encoder_hidden_states_projected")));
  }
  EXPECT_TRUE(all_close(out.logits, f.expected->tensor<float>("logits")));
}

TEST_P(ModelParity, GreedyCases) {
  const Fixture f(GetParam());
  const auto model = VisionEncoderDecoderModel::from_pretrained(f.dir);
  const Tensor<float> pixels = f.expected->tensor<float>("pixel_values");
  int greedy_cases = 0;
  for (const auto& c : f.meta["generate"]) {
    if (is_beam_case(model, c)) continue;  // see the beam tests
    SCOPED_TRACE(c["name"].get<std::string>());
    ++greedy_cases;
    GenerationConfig g = model.generation_config();
    g.update(c["args"]);
    g.output_scores = true;
    const auto out = model.generate(rows(pixels, c["batch"].get<std::vector<int64_t>>()), g);
    EXPECT_EQ(out.sequences, c["sequences"].get<std::vector<std::vector<int64_t>>>());
    if (!c.contains("scores_key") || c["scores_key"].is_null())
      continue;  // variants record no scores
    // Processed scores of the first row, up to its eos step when it finished early.
    const Tensor<float> expected = f.expected->tensor<float>(c["scores_key"].get<std::string>());
    const int64_t steps = c["scores_first_row_eos_step"].is_null()
                              ? expected.dim(0)
                              : c["scores_first_row_eos_step"].get<int64_t>() + 1;
    ASSERT_GE(static_cast<int64_t>(out.scores.size()), steps);
    for (int64_t s = 0; s < steps; ++s)
      EXPECT_TRUE(all_close(out.scores[static_cast<size_t>(s)][0].data(), expected[s].data(),
                            expected.dim(1)))
          << "step " << s;
  }
  EXPECT_GE(greedy_cases, min_cases(GetParam(), false));
}

// F16 variants hold rounded weights; their expected values were computed from those same weights.
TEST_P(ModelParity, BeamCases) {
  const Fixture f(GetParam());
  const auto model = VisionEncoderDecoderModel::from_pretrained(f.dir);
  const Tensor<float> pixels = f.expected->tensor<float>("pixel_values");
  int beam_cases = 0;
  for (const auto& c : f.meta["generate"]) {
    if (!is_beam_case(model, c)) continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    ++beam_cases;
    const auto out =
        model.generate(rows(pixels, c["batch"].get<std::vector<int64_t>>()), c["args"]);
    EXPECT_EQ(out.sequences, c["sequences"].get<std::vector<std::vector<int64_t>>>());
    const auto expected = c["sequences_scores"].get<std::vector<float>>();
    ASSERT_EQ(out.sequences_scores.size(), expected.size());
    EXPECT_TRUE(all_close(out.sequences_scores.data(), expected.data(),
                          static_cast<int64_t>(expected.size())));
  }
  EXPECT_GE(beam_cases, min_cases(GetParam(), true));
}

// One loaded model shared by several threads, each generating at once: the model is immutable
// and every call keeps its own state, so each thread must reproduce transformers exactly.
TEST_P(ModelParity, ConcurrentGenerateSharesOneModel) {
  const Fixture f(GetParam());
  const auto model = VisionEncoderDecoderModel::from_pretrained(f.dir);
  const Tensor<float> pixels = f.expected->tensor<float>("pixel_values");
  const auto& cases = f.meta["generate"];
  std::vector<std::vector<std::vector<int64_t>>> got(cases.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cases.size(); ++i)
    threads.emplace_back([&, i] {
      got[i] = model
                   .generate(rows(pixels, cases[i]["batch"].get<std::vector<int64_t>>()),
                             cases[i]["args"])
                   .sequences;
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(got[i], cases[i]["sequences"].get<std::vector<std::vector<int64_t>>>())
        << cases[i]["name"];
}

// facebook/nougat-shaped: config.json has no special ids at its top level and none names a
// decoder_start_token_id, so the defaults come from generation_config.json and generation starts
// with bos; its forced_eos_token_id ends every case that reaches its length limit.
TEST(NougatShapedModel, SpecialTokensComeFromGenerationConfig) {
  const Fixture f("models/nougat-donutswin-mbart");
  const auto model = VisionEncoderDecoderModel::from_pretrained(f.dir);
  const GenerationConfig& g = model.generation_config();
  const auto& want = f.meta["special_tokens"];
  EXPECT_FALSE(g.decoder_start_token_id.has_value());
  ASSERT_TRUE(g.bos_token_id.has_value());
  EXPECT_EQ(*g.bos_token_id, want["bos_token_id"].get<int64_t>());
  ASSERT_TRUE(g.pad_token_id.has_value());
  EXPECT_EQ(*g.pad_token_id, want["pad_token_id"].get<int64_t>());
  EXPECT_EQ(g.eos_token_id, (std::vector<int64_t>{want["eos_token_id"].get<int64_t>()}));
  EXPECT_EQ(
      g.forced_eos_token_ids,
      (std::vector<int64_t>{f.meta["generation_defaults"]["forced_eos_token_id"].get<int64_t>()}));
  const ResolvedTokens t = resolve_special_tokens(g, f.meta["vocab_size"].get<int64_t>());
  EXPECT_EQ(t.decoder_start, want["decoder_start_token_id"].get<int64_t>());
  // Every case starts with that token.
  for (const auto& c : f.meta["generate"])
    for (const auto& row : c["sequences"]) EXPECT_EQ(row[0], t.decoder_start) << c["name"];
}

// kha-white/manga-ocr-base-shaped: no generation_config.json; config.json's legacy top-level
// keys are generate()'s defaults (beam search with the 3-gram rule), start [CLS], eos [SEP].
TEST(MangaOcrShapedModel, LegacyConfigKeysAreTheGenerationDefaults) {
  const Fixture f("models/mangaocr-vit-bert");
  ASSERT_FALSE(std::filesystem::exists(f.dir + "/generation_config.json"));
  const auto model = VisionEncoderDecoderModel::from_pretrained(f.dir);
  const GenerationConfig& g = model.generation_config();
  const auto& want = f.meta["generation_defaults"];
  EXPECT_EQ(g.num_beams, want["num_beams"].get<int64_t>());
  EXPECT_EQ(g.no_repeat_ngram_size, want["no_repeat_ngram_size"].get<int64_t>());
  EXPECT_EQ(g.length_penalty, want["length_penalty"].get<double>());
  EXPECT_EQ(g.max_length, want["max_length"].get<int64_t>());
  EXPECT_EQ(g.early_stopping, want["early_stopping"].get<bool>() ? "true" : "false");
  const ResolvedTokens t = resolve_special_tokens(g, f.meta["vocab_size"].get<int64_t>());
  EXPECT_EQ(t.decoder_start, want["decoder_start_token_id"].get<int64_t>());
  EXPECT_EQ(g.eos_token_id, (std::vector<int64_t>{want["eos_token_id"].get<int64_t>()}));
  ASSERT_TRUE(g.pad_token_id.has_value());
  EXPECT_EQ(*g.pad_token_id, want["pad_token_id"].get<int64_t>());
  // The encoder's pooler is stored but not needed: no unused-weight report.
  EXPECT_TRUE(model.unused_weights().empty());
}

// OleehyO/TexTeller-shaped: 1-channel pixel_values, and special ids only in the decoder
// sub-config. Without generation_config.json they still come from there (transformers'
// GenerationConfig.from_model_config falls back to the decoder's), and the cases still match.
TEST(TexTellerShapedModel, SpecialIdsFromTheDecoderSubConfig) {
  const Fixture f("models/texteller-vit-trocr");
  test::TempDir copy;
  for (const char* name : {"config.json", "model.safetensors"})
    std::filesystem::copy_file(f.dir + "/" + name, copy.path() / name);
  const auto model = VisionEncoderDecoderModel::from_pretrained(copy.str());
  const GenerationConfig& g = model.generation_config();
  const auto& want = f.meta["special_tokens"];
  const ResolvedTokens t = resolve_special_tokens(g, f.meta["vocab_size"].get<int64_t>());
  EXPECT_EQ(t.decoder_start, want["decoder_start_token_id"].get<int64_t>());
  EXPECT_EQ(g.eos_token_id, (std::vector<int64_t>{want["eos_token_id"].get<int64_t>()}));
  ASSERT_TRUE(g.pad_token_id.has_value());
  EXPECT_EQ(*g.pad_token_id, want["pad_token_id"].get<int64_t>());
  ASSERT_TRUE(g.bos_token_id.has_value());
  EXPECT_EQ(*g.bos_token_id, want["bos_token_id"].get<int64_t>());
  const Tensor<float> pixels = f.expected->tensor<float>("pixel_values");
  ASSERT_EQ(pixels.dim(1), 1);
  for (const auto& c : f.meta["generate"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    EXPECT_EQ(
        model.generate(rows(pixels, c["batch"].get<std::vector<int64_t>>()), c["args"]).sequences,
        c["sequences"].get<std::vector<std::vector<int64_t>>>());
  }
  // Three-channel input is refused with the shape it expects.
  const std::string message = test::expect_throw_message<InvalidArgument>([&] {
    (void)model.encode(Tensor<float>({1, 3, 48, 48}));
  });
  EXPECT_NE(message.find("[batch, 1, "), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, ModelParity,
    ::testing::Values("models/vit-gpt2", "models/vit-gpt2-proj", "models/swin-gpt2",
                      "variants/models/vit-gpt2-f16", "models/vit-bert", "models/vit-trocr",
                      "variants/models/vit-trocr-bf16", "models/deit-trocr", "models/beit-roberta",
                      "models/donutswin-mbart", "models/nougat-donutswin-mbart",
                      "models/mangaocr-vit-bert", "models/texteller-vit-trocr",
                      "variants/models/vit-gpt2-bin", "variants/models/vit-bert-bin-sharded",
                      "variants/models/deit-trocr-bin"),
    [](const auto& info) {
      std::string n = info.param.substr(info.param.rfind('/') + 1);
      for (auto& ch : n)
        if (ch == '-') ch = '_';
      return n;
    });

}  // namespace
}  // namespace ved
