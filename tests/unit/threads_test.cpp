// Results never depend on the thread count or the weight type's kernels' partitioning: a model
// large enough for every kernel to run in parallel (unlike the tiny fixtures) generates the same
// bits with 1, 2 and 3 threads, in f32, bf16 and int8.

#include <gtest/gtest.h>

#include "../test_util.hpp"
#include "ved/ved.hpp"

namespace {

// The vit-gpt2 fixture's config widened so that GEMMs, skinny products and attention all split
// across threads: 37 image tokens of width 256, a 2-layer GPT-2 of width 256 over 1000 tokens.
ved::VisionEncoderDecoderConfig widened_config() {
  const std::string path = ved::test::fixture("models/vit-gpt2/config.json");
  ved::detail::json j = ved::detail::read_json_file(path);
  auto& e = j["encoder"];
  e["hidden_size"] = 256;
  e["intermediate_size"] = 512;
  e["image_size"] = 96;
  e["patch_size"] = 16;
  auto& d = j["decoder"];
  d["n_embd"] = 256;
  d["n_inner"] = nullptr;
  d["vocab_size"] = 1000;
  return ved::VisionEncoderDecoderConfig::from_json(j, path);
}

ved::Tensor<float> random_pixels(int64_t batch) {
  ved::Tensor<float> t({batch, 3, 96, 96});
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = float((i * 7919) % 255) / 127.5f - 1.0f;
  return t;
}

ved::GenerateOutput run(const ved::VisionEncoderDecoderModel& model, int threads, int beams) {
  ved::set_num_threads(threads);
  ved::GenerationConfig g = model.generation_config();
  g.max_new_tokens = 4;
  g.min_new_tokens = 4;
  g.num_beams = beams;
  ved::GenerateOutput out = model.generate(random_pixels(2), g);
  ved::set_num_threads(0);
  return out;
}

class ThreadCount : public ::testing::TestWithParam<ved::WeightType> {};

TEST_P(ThreadCount, GivesBitIdenticalResults) {
  const ved::VisionEncoderDecoderConfig config = widened_config();
  const ved::VisionEncoderDecoderModel model(
      config,
      ved::GenerationConfig::from_file(
          ved::test::fixture("models/vit-gpt2/generation_config.json")),
      ved::WeightSource::synthetic(7), ved::ModelOptions{GetParam()});
  for (int beams : {1, 3}) {
    const ved::GenerateOutput one = run(model, 1, beams);
    ASSERT_EQ(one.sequences.size(), 2u);
    ASSERT_EQ(one.sequences[0].size(), 5u);  // the start token and 4 new ones
    for (int threads : {2, 3}) {
      const ved::GenerateOutput many = run(model, threads, beams);
      EXPECT_EQ(many.sequences, one.sequences) << threads << " threads, " << beams << " beams";
      EXPECT_EQ(many.sequences_scores, one.sequences_scores);
      EXPECT_EQ(many.token_logprobs, one.token_logprobs);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WeightTypes, ThreadCount,
                         ::testing::Values(ved::WeightType::F32, ved::WeightType::BF16,
                                           ved::WeightType::Int8),
                         [](const auto& info) { return ved::weight_type_name(info.param); });

TEST(Threads, NegativeCountIsAnError) {
  EXPECT_THROW(ved::set_num_threads(-1), ved::InvalidArgument);
}

}  // namespace
