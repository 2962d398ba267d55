// A model whose logits hold NaN (a corrupt checkpoint, NaN pixels) must stop generation with a
// ved::Error that says so, in every search strategy, instead of emitting an arbitrary token id.

#include <gtest/gtest.h>

#include <limits>

#include "../test_util.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

const std::string kFixture = "models/vit-gpt2";
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The vit-gpt2 fixture with `edit` applied to one of its stored tensors.
class EditedCheckpoint {
 public:
  EditedCheckpoint(const std::string& tensor, const std::function<void(Tensor<float>&)>& edit) {
    for (const auto& e : test::fs::directory_iterator(test::fixture(kFixture)))
      test::fs::copy(e.path(), dir_.path() / e.path().filename());
    std::vector<TensorToWrite> tensors;
    {
      auto f = SafetensorsFile::open(dir_.file("model.safetensors"));
      for (const auto& [name, rec] : f->records()) {
        Tensor<float> t = f->tensor<float>(name).clone();
        if (name == tensor) edit(t);
        tensors.push_back(to_write(name, t));
      }
    }
    write_safetensors(dir_.file("model.safetensors"), tensors);
  }
  std::string dir() const { return dir_.str(); }

 private:
  test::TempDir dir_;
};

Tensor<float> image(int64_t batch) {
  const auto expected = SafetensorsFile::open(test::fixture(kFixture) + "/expected.safetensors");
  return expected->tensor<float>("pixel_values").slice(0, batch).clone();
}

void expect_non_finite_error(const VisionEncoderDecoderModel& model, const Tensor<float>& pixels,
                             const detail::json& args) {
  SCOPED_TRACE(args.dump());
  const std::string message =
      test::expect_throw_message<Error>([&] { model.generate(pixels, args); });
  EXPECT_NE(message.find("non-finite logit"), std::string::npos) << message;
  EXPECT_NE(message.find("position 1"), std::string::npos) << message;  // the first new token
}

const detail::json kStrategies[] = {
    {{"max_new_tokens", 4}},
    {{"max_new_tokens", 4}, {"num_beams", 3}},
    {{"max_new_tokens", 4}, {"do_sample", true}, {"seed", 1}},
    {{"max_new_tokens", 4}, {"do_sample", true}, {"num_beams", 2}, {"seed", 1}},
};

TEST(NumericalGuard, NaNWeightIsAnErrorInEverySearch) {
  // ln_f scales every hidden unit of every position: all logits become NaN.
  const EditedCheckpoint ckpt("decoder.transformer.ln_f.weight",
                              [](Tensor<float>& t) { t.data()[0] = kNaN; });
  const auto model = VisionEncoderDecoderModel::from_pretrained(ckpt.dir());
  for (const auto& args : kStrategies) expect_non_finite_error(model, image(2), args);
}

TEST(NumericalGuard, ASingleNaNLogitIsAnError) {
  // The output matrix is tied to wte: a NaN in row 7 makes only token 7's logit NaN, which an
  // argmax would silently step over (every comparison with NaN is false).
  const EditedCheckpoint ckpt("decoder.transformer.wte.weight",
                              [](Tensor<float>& t) { t.data()[7 * t.dim(1)] = kNaN; });
  const auto model = VisionEncoderDecoderModel::from_pretrained(ckpt.dir());
  const std::string message = test::expect_throw_message<Error>([&] {
    model.generate(image(1), {{"max_new_tokens", 4}});
  });
  EXPECT_NE(message.find("token 7"), std::string::npos) << message;
}

TEST(NumericalGuard, NaNPixelsAreAnError) {
  const auto model = VisionEncoderDecoderModel::from_pretrained(test::fixture(kFixture));
  Tensor<float> pixels = image(1);
  pixels.data()[0] = kNaN;
  for (const auto& args : kStrategies) expect_non_finite_error(model, pixels, args);
}

TEST(NumericalGuard, FiniteModelStillGenerates) {
  // The guard itself must not reject a healthy model: the fixture's greedy case still holds.
  const auto model = VisionEncoderDecoderModel::from_pretrained(test::fixture(kFixture));
  const auto meta = detail::read_json_file(test::fixture(kFixture) + "/expected.json");
  for (const auto& c : meta["generate"]) {
    if (c["name"] != "greedy_img0") continue;
    EXPECT_EQ(model.generate(image(1), c["args"]).sequences,
              c["sequences"].get<std::vector<std::vector<int64_t>>>());
    return;
  }
  FAIL() << "no greedy_img0 case in expected.json";
}

}  // namespace
}  // namespace ved
