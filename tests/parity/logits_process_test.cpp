// Logits processors and warpers against transformers' outputs (tests/data/fixtures/processors).

#include <gtest/gtest.h>

#include "../test_util.hpp"
#include "ved/generation/logits_process.hpp"

namespace ved {
namespace {

std::unique_ptr<LogitsProcessor> make(const detail::json& spec) {
  const std::string cls = spec["class"];
  const detail::json& a = spec["args"];
  auto eos = [&] { return token_id_list(a, "eos_token_id", cls); };
  if (cls == "TemperatureLogitsWarper")
    return std::make_unique<TemperatureLogitsWarper>(a["temperature"].get<float>());
  if (cls == "TopKLogitsWarper")
    return std::make_unique<TopKLogitsWarper>(a["top_k"].get<int64_t>());
  if (cls == "TopPLogitsWarper") return std::make_unique<TopPLogitsWarper>(a["top_p"].get<float>());
  if (cls == "RepetitionPenaltyLogitsProcessor")
    return std::make_unique<RepetitionPenaltyLogitsProcessor>(a["penalty"].get<float>());
  if (cls == "NoRepeatNGramLogitsProcessor")
    return std::make_unique<NoRepeatNGramLogitsProcessor>(a["ngram_size"].get<int64_t>());
  if (cls == "MinLengthLogitsProcessor")
    return std::make_unique<MinLengthLogitsProcessor>(a["min_length"].get<int64_t>(), eos());
  if (cls == "MinNewTokensLengthLogitsProcessor")
    return std::make_unique<MinNewTokensLengthLogitsProcessor>(
        a["prompt_length_to_skip"].get<int64_t>(), a["min_new_tokens"].get<int64_t>(), eos());
  if (cls == "ForcedBOSTokenLogitsProcessor")
    return ForcedBOSTokenLogitsProcessor(a["bos_token_id"].get<int64_t>());
  if (cls == "ForcedEOSTokenLogitsProcessor")
    return ForcedEOSTokenLogitsProcessor(a["max_length"].get<int64_t>(), eos());
  if (cls == "SuppressTokensLogitsProcessor")
    return std::make_unique<SuppressTokensLogitsProcessor>(
        a["suppress_tokens"].get<std::vector<int64_t>>());
  ADD_FAILURE() << "no such processor in ved: " << cls;
  return nullptr;
}

TEST(LogitsProcessors, MatchTransformers) {
  const std::string dir = test::fixture("processors");
  const detail::json meta = detail::read_json_file(dir + "/expected.json");
  const auto tensors = SafetensorsFile::open(dir + "/expected.safetensors");
  int cases = 0;
  for (const auto& c : meta["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    LogitsProcessorList list;
    for (const auto& p : c["processors"]) list.push_back(make(p));
    Tensor<float> scores = tensors->tensor<float>(c["scores"].get<std::string>()).clone();
    const Tensor<int64_t> ids = tensors->tensor<int64_t>(c["input_ids"].get<std::string>());
    const int64_t V = scores.dim(1);
    for (int64_t r = 0; r < scores.dim(0); ++r) {
      const Tensor<int64_t> row = ids[r];
      apply_processors(list, std::vector<int64_t>(row.begin(), row.end()), scores[r].data(), V);
    }
    const Tensor<float> expected = tensors->tensor<float>(c["output"].get<std::string>());
    EXPECT_TRUE(test::all_close(scores, expected, 1e-6, 1e-6));
    EXPECT_EQ(std::count(scores.begin(), scores.end(), kNegInf), c["num_neg_inf"].get<int64_t>());
    ++cases;
  }
  EXPECT_EQ(cases, 19);
}

TEST(LogitsProcessors, OrderFollowsTransformers) {
  GenerationConfig g;
  g.eos_token_id = {2};
  g.repetition_penalty = 1.3;
  g.no_repeat_ngram_size = 2;
  g.min_new_tokens = 3;
  g.do_sample = true;
  g.temperature = 0.7;
  g.top_k = 5;
  g.top_p = 0.9;
  const auto list = make_logits_processors(g, 1, 20);
  ASSERT_EQ(list.size(), 6u);
  EXPECT_NE(dynamic_cast<const RepetitionPenaltyLogitsProcessor*>(list[0].get()), nullptr);
  EXPECT_NE(dynamic_cast<const NoRepeatNGramLogitsProcessor*>(list[1].get()), nullptr);
  EXPECT_NE(dynamic_cast<const MinNewTokensLengthLogitsProcessor*>(list[2].get()), nullptr);
  EXPECT_NE(dynamic_cast<const TemperatureLogitsWarper*>(list[3].get()), nullptr);
  EXPECT_NE(dynamic_cast<const TopKLogitsWarper*>(list[4].get()), nullptr);
  EXPECT_NE(dynamic_cast<const TopPLogitsWarper*>(list[5].get()), nullptr);
}

}  // namespace
}  // namespace ved
