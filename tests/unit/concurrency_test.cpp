// One loaded model shared by 8 threads, each generating a different image at once, must give
// byte-identical output to the same calls made one after the other; a generation stopped from
// the streaming callback (or by an exception thrown from it) must leave the model usable.

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "../test_util.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

constexpr int kThreads = 8;

const std::string kModel = test::fixture("models/vit-gpt2");

// Image `k` of 8 distinct images: one of the fixture's two images, shifted and scaled by k, so
// that every thread decodes something different.
Tensor<float> image(const Tensor<float>& batch, int k) {
  Shape s = batch.shape();
  s[0] = 1;
  Tensor<float> out(s);
  const int64_t per = batch.numel() / batch.dim(0);
  const float* src = batch.data() + (k % 2) * per;
  for (int64_t i = 0; i < per; ++i)
    out.data()[i] = src[i] * (1.0f - 0.08f * static_cast<float>(k / 2)) +
                    0.1f * static_cast<float>(k) * ((i % 7) == 0 ? 1.0f : 0.0f);
  return out;
}

// Different strategies on different threads: greedy, seeded sampling, beam search.
detail::json args(int k) {
  switch (k % 3) {
    case 0:
      return {{"max_new_tokens", 12}};
    case 1:
      return {{"max_new_tokens", 12}, {"do_sample", true}, {"seed", 1000 + k}, {"top_k", 20}};
    default:
      return {{"max_new_tokens", 8}, {"num_beams", 3}};
  }
}

bool same_bytes(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void expect_identical(const GenerateOutput& got, const GenerateOutput& want, int k) {
  EXPECT_EQ(got.sequences, want.sequences) << "image " << k;
  EXPECT_TRUE(same_bytes(got.sequences_scores, want.sequences_scores)) << "image " << k;
  ASSERT_EQ(got.token_logprobs.size(), want.token_logprobs.size()) << "image " << k;
  for (size_t r = 0; r < got.token_logprobs.size(); ++r)
    EXPECT_TRUE(same_bytes(got.token_logprobs[r], want.token_logprobs[r]))
        << "image " << k << " row " << r;
}

class Concurrency : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new VisionEncoderDecoderModel(VisionEncoderDecoderModel::from_pretrained(kModel));
    pixels_ = new Tensor<float>(
        SafetensorsFile::open(kModel + "/expected.safetensors")->tensor<float>("pixel_values"));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete pixels_;
  }
  static VisionEncoderDecoderModel* model_;
  static Tensor<float>* pixels_;
};
VisionEncoderDecoderModel* Concurrency::model_ = nullptr;
Tensor<float>* Concurrency::pixels_ = nullptr;

TEST_F(Concurrency, EightThreadsMatchSequentialRunsByteForByte) {
  const VisionEncoderDecoderModel& model = *model_;
  std::vector<GenerateOutput> sequential;
  for (int k = 0; k < kThreads; ++k)
    sequential.push_back(model.generate(image(*pixels_, k), args(k)));
  // The images really differ: not every thread computes the same thing.
  int distinct = 0;
  for (int k = 1; k < kThreads; ++k) distinct += sequential[k].sequences != sequential[0].sequences;
  EXPECT_GE(distinct, 4);

  // Every thread starts at once and runs its call three times.
  std::vector<std::vector<GenerateOutput>> got(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k)
    threads.emplace_back([&, k] {
      const Tensor<float> px = image(*pixels_, k);
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int rep = 0; rep < 3; ++rep) got[k].push_back(model.generate(px, args(k)));
    });
  for (auto& t : threads) t.join();
  for (int k = 0; k < kThreads; ++k)
    for (const GenerateOutput& out : got[k]) expect_identical(out, sequential[k], k);
}

TEST_F(Concurrency, CancelFromCallbackLeavesTheModelUsable) {
  const VisionEncoderDecoderModel& model = *model_;
  const Tensor<float> px = image(*pixels_, 0);
  GenerationConfig g = model.generation_config();
  g.update({{"max_new_tokens", 12}, {"eos_token_id", nullptr}, {"min_new_tokens", 12}});
  const GenerateOutput full = model.generate(px, g);
  ASSERT_EQ(full.sequences[0].size(), 13u);  // start token + 12

  int calls = 0;
  const GenerateOutput stopped =
      model.generate(px, g, {}, [&](int64_t, const std::vector<int64_t>&) {
        return ++calls < 3;  // stop after the third token
      });
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(stopped.sequences[0].size(), 4u);
  // The tokens produced before the stop are the full run's.
  EXPECT_TRUE(std::equal(stopped.sequences[0].begin(), stopped.sequences[0].end(),
                         full.sequences[0].begin()));

  // An exception thrown by the callback propagates; it is the caller's, not a ved::Error.
  EXPECT_THROW(model.generate(px, g, {},
                              [](int64_t step, const std::vector<int64_t>&) -> bool {
                                if (step == 2) throw std::runtime_error("client went away");
                                return true;
                              }),
               std::runtime_error);

  // The model is unchanged: the same call gives the same bytes again.
  expect_identical(model.generate(px, g), full, 0);
}

TEST_F(Concurrency, CancellingThreadsDoNotDisturbOthers) {
  const VisionEncoderDecoderModel& model = *model_;
  std::vector<GenerateOutput> want;
  for (int k = 0; k < kThreads; ++k)
    want.push_back(model.generate(image(*pixels_, k), {{"max_new_tokens", 12}}));
  std::vector<GenerateOutput> got(kThreads);
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k)
    threads.emplace_back([&, k] {
      const Tensor<float> px = image(*pixels_, k);
      GenerationConfig g = model.generation_config();
      g.update({{"max_new_tokens", 12}});
      if (k % 2) {
        // Odd threads stop at once, then run again in full.
        (void)model.generate(px, g, {}, [](int64_t, const std::vector<int64_t>&) { return false; });
      }
      got[k] = model.generate(px, g);
    });
  for (auto& t : threads) t.join();
  for (int k = 0; k < kThreads; ++k) EXPECT_EQ(got[k].sequences, want[k].sequences) << k;
}

}  // namespace
}  // namespace ved
