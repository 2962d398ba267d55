// generate() beyond the fixture cases: prompts, token log-probabilities, streaming callbacks,
// sampling statistics and beam sampling, checked against transformers' recorded values where
// they exist.

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "../test_util.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

const std::string kDir = test::fixture("models/vit-gpt2");

struct VitGpt2 {
  VisionEncoderDecoderModel model = VisionEncoderDecoderModel::from_pretrained(kDir);
  std::shared_ptr<const SafetensorsFile> expected =
      SafetensorsFile::open(kDir + "/expected.safetensors");
  detail::json meta = detail::read_json_file(kDir + "/expected.json");

  Tensor<float> image(int64_t i) const {
    return expected->tensor<float>("pixel_values").slice(i, i + 1).clone();
  }
  const detail::json& generate_case(const std::string& name) const {
    for (const auto& c : meta["generate"])
      if (c["name"] == name) return c;
    throw Error("no case " + name);
  }
};

const VitGpt2& fixture() {
  static const VitGpt2 f;
  return f;
}

TEST(GeneratePrompt, ContinuesFromDecoderInputIds) {
  const auto& f = fixture();
  const auto expected = f.generate_case("greedy_img0")["sequences"][0].get<std::vector<int64_t>>();
  // Greedy from its own first two tokens continues exactly as greedy did; the prompt counts toward
  // max_length and max_new_tokens counts after it.
  GenerationConfig g = f.model.generation_config();
  g.max_new_tokens = 11;
  const auto with_start = f.model.generate(f.image(0), g, {{expected[0], expected[1]}});
  EXPECT_EQ(with_start.sequences[0], expected);
  // Without the start token it is prepended, as transformers does.
  g.max_new_tokens = 11;
  const auto without = f.model.generate(f.image(0), g, {{expected[1]}});
  EXPECT_EQ(without.sequences[0], expected);
  g.max_new_tokens.reset();
  g.max_length = 13;
  EXPECT_EQ(f.model.generate(f.image(0), g, {{expected[0], expected[1]}}).sequences[0], expected);
  // The same through the keyword-argument interface.
  const auto kw = f.model.generate(
      f.image(0), {{"max_new_tokens", 11}, {"decoder_input_ids", {{expected[1]}}}});
  EXPECT_EQ(kw.sequences[0], expected);
}

TEST(GeneratePrompt, BadPromptsAreErrors) {
  const auto& f = fixture();
  const Tensor<float> two = f.expected->tensor<float>("pixel_values");
  const GenerationConfig& g = f.model.generation_config();
  EXPECT_THROW(f.model.generate(two, g, {{198}, {198}, {198}}),
               InvalidArgument);                                               // 3 rows, 2 images
  EXPECT_THROW(f.model.generate(two, g, {{198, 1}, {198}}), InvalidArgument);  // ragged
  EXPECT_THROW(f.model.generate(two, g, {{198, 500}}), InvalidArgument);       // outside vocab
  EXPECT_THROW(f.model.generate(two, {{"decoder_input_ids", {1, 2}}}), InvalidArgument);
}

TEST(GenerateLogprobs, GreedyMatchTransformersTransitionScores) {
  const auto& f = fixture();
  GenerationConfig g = f.model.generation_config();
  g.max_new_tokens = 12;
  const auto out = f.model.generate(f.image(0), g);
  // transformers' processed scores for this case; log_softmax at the chosen token.
  const Tensor<float> scores = f.expected->tensor<float>("greedy_scores_greedy_img0");
  ASSERT_EQ(out.token_logprobs[0].size(), 12u);
  for (int64_t t = 0; t < 12; ++t) {
    const float* row = scores[t].data();
    const int64_t tok = out.sequences[0][static_cast<size_t>(t + 1)];
    const float expected = row[tok] - log_sum_exp(row, scores.dim(1));
    EXPECT_NEAR(out.token_logprobs[0][static_cast<size_t>(t)], expected, 1e-4) << "step " << t;
    EXPECT_LE(out.token_logprobs[0][static_cast<size_t>(t)], 0.0f);
  }
}

TEST(GenerateLogprobs, BeamLogprobsSumToTransformersSequenceScores) {
  const auto& f = fixture();
  const Tensor<float> pixels = f.expected->tensor<float>("pixel_values");
  for (const char* name : {"beam4", "beam4_num_return_2", "beam4_model_eos"}) {
    SCOPED_TRACE(name);
    const auto& c = f.generate_case(name);
    const auto out = f.model.generate(pixels, c["args"]);
    ASSERT_EQ(out.sequences, c["sequences"].get<std::vector<std::vector<int64_t>>>());
    const int64_t eos = c["args"].value("eos_token_id", int64_t{198});
    for (size_t r = 0; r < out.sequences.size(); ++r) {
      const auto& seq = out.sequences[r];
      // generated length: up to and including the first eos, else the whole row after the start
      int64_t generated = static_cast<int64_t>(seq.size()) - 1;
      for (size_t i = 1; i < seq.size(); ++i)
        if (seq[i] == eos) {
          generated = static_cast<int64_t>(i);
          break;
        }
      double sum = 0.0;
      for (float lp : out.token_logprobs[r]) sum += lp;
      EXPECT_NEAR(sum / static_cast<double>(generated), c["sequences_scores"][r].get<double>(),
                  1e-4)
          << "row " << r;
    }
  }
}

TEST(GenerateCallback, StopsGenerationAfterNTokens) {
  const auto& f = fixture();
  const auto greedy =
      f.generate_case("greedy_batch")["sequences"].get<std::vector<std::vector<int64_t>>>();
  GenerationConfig g = f.model.generation_config();
  g.max_new_tokens = 12;
  std::vector<std::vector<int64_t>> streamed(2);
  const auto out = f.model.generate(f.expected->tensor<float>("pixel_values"), g, {},
                                    [&](int64_t step, const std::vector<int64_t>& tokens) {
                                      EXPECT_EQ(static_cast<int64_t>(streamed[0].size()), step);
                                      for (size_t r = 0; r < tokens.size(); ++r)
                                        streamed[r].push_back(tokens[r]);
                                      return step < 3;  // stop after the 4th token
                                    });
  ASSERT_EQ(out.sequences.size(), 2u);
  for (size_t r = 0; r < 2; ++r) {
    EXPECT_EQ(out.sequences[r], std::vector<int64_t>(greedy[r].begin(), greedy[r].begin() + 5));
    EXPECT_EQ(streamed[r], std::vector<int64_t>(greedy[r].begin() + 1, greedy[r].begin() + 5));
  }
  GenerationConfig beams = g;
  beams.num_beams = 2;
  EXPECT_THROW(f.model.generate(f.image(0), beams, {},
                                [](int64_t, const std::vector<int64_t>&) { return true; }),
               InvalidArgument);
}

// The first sampled token of many seeded draws follows softmax(top_k(logits / T)), where the
// logits are transformers' own (expected.safetensors, image 0, first position). Pearson's
// chi-square over the kept tokens must stay under the 99.9% quantile for their degrees of freedom.
TEST(GenerateSampling, FirstTokenFrequenciesMatchTheWarpedDistribution) {
  const auto& f = fixture();
  const int64_t draws = 4000, top_k = 5;
  const double temperature = 0.7;
  GenerationConfig g = f.model.generation_config();
  g.do_sample = true;
  g.temperature = temperature;
  g.top_k = top_k;
  g.max_new_tokens = 1;
  g.num_return_sequences = draws;
  g.seed = 1234;
  const auto out = f.model.generate(f.image(0), g);
  ASSERT_EQ(static_cast<int64_t>(out.sequences.size()), draws);

  const Tensor<float> logits = f.expected->tensor<float>("logits");
  const int64_t V = logits.dim(2);
  std::vector<float> warped(logits.data(), logits.data() + V);  // row 0, position 0
  const TemperatureLogitsWarper temperature_warper(static_cast<float>(temperature));
  const TopKLogitsWarper top_k_warper(top_k);
  temperature_warper({198}, warped.data(), V);
  top_k_warper({198}, warped.data(), V);
  const float lse = log_sum_exp(warped.data(), V);
  std::map<int64_t, int64_t> counts;
  for (const auto& s : out.sequences) ++counts[s[1]];
  double chi2 = 0.0;
  int kept = 0;
  for (int64_t v = 0; v < V; ++v) {
    const double p = std::exp(static_cast<double>(warped[static_cast<size_t>(v)] - lse));
    if (p == 0.0) {
      EXPECT_EQ(counts.count(v), 0u) << "token " << v << " is outside top-k but was drawn";
      continue;
    }
    ++kept;
    const double e = p * static_cast<double>(draws), o = static_cast<double>(counts[v]);
    chi2 += (o - e) * (o - e) / e;
  }
  ASSERT_EQ(kept, top_k);
  EXPECT_LT(chi2, 18.47) << "chi-square with 4 degrees of freedom";  // 99.9% quantile of chi2(4)
}

TEST(GenerateSampling, SeededRunsRepeatAndBeamSamplingWorks) {
  const auto& f = fixture();
  const Tensor<float> pixels = f.expected->tensor<float>("pixel_values");
  const detail::json args = {{"do_sample", true},   {"num_beams", 3},
                             {"seed", 11},          {"max_new_tokens", 8},
                             {"eos_token_id", 165}, {"num_return_sequences", 2},
                             {"temperature", 1.5}};
  const auto a = f.model.generate(pixels, args), b = f.model.generate(pixels, args);
  EXPECT_EQ(a.sequences, b.sequences);
  EXPECT_EQ(a.sequences_scores, b.sequences_scores);
  ASSERT_EQ(a.sequences.size(), 4u);
  for (size_t r = 0; r < 4; ++r) {
    EXPECT_TRUE(std::isfinite(a.sequences_scores[r]));
    EXPECT_LE(a.sequences_scores[r], 0.0f);
    EXPECT_EQ(a.sequences[r][0], 198);
  }
  // Best first within each image.
  EXPECT_GE(a.sequences_scores[0], a.sequences_scores[1]);
  EXPECT_GE(a.sequences_scores[2], a.sequences_scores[3]);
}

}  // namespace
}  // namespace ved
