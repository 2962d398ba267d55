// Parity with transformers for the vision encoders alone: every fixture's encoder is built from
// its config.json and the `encoder.*` weights, fed expected.safetensors' pixel_values, and its
// last_hidden_state compared with encoder_last_hidden_state at the fixture tolerance
// (atol = rtol = 1e-4).

#include <gtest/gtest.h>

#include <iostream>

#include "../test_util.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

class EncoderParity : public ::testing::TestWithParam<std::string> {};

TEST_P(EncoderParity, LastHiddenState) {
  const std::string dir = test::fixture(GetParam());
  const auto config = VisionEncoderDecoderConfig::from_file(dir + "/config.json");
  const auto encoder =
      make_encoder(config.encoder, WeightLoader(WeightSource::from_dir(dir)).sub("encoder"));
  const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
  const Tensor<float> want = expected->tensor<float>("encoder_last_hidden_state");
  const Tensor<float> got = encoder->forward(expected->tensor<float>("pixel_values"));
  EXPECT_EQ(encoder->hidden_size(), want.dim(2));
  const auto result = test::all_close(got, want);
  EXPECT_TRUE(result);
  std::cout << "[ encoder  ] " << GetParam() << " (" << config.encoder.model_type
            << "): " << result.message() << "\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EncoderParity,
                         ::testing::Values("models/vit-bert", "models/vit-gpt2",
                                           "models/vit-gpt2-proj", "models/vit-trocr",
                                           "models/deit-trocr", "models/beit-roberta",
                                           "models/swin-gpt2", "models/donutswin-mbart"),
                         [](const auto& info) {
                           std::string n = info.param.substr(info.param.rfind('/') + 1);
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace ved
