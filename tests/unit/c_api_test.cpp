// The C API (ved/ved.h): results agree with the C++ API, and every error path returns its
// category, a message naming the culprit and NULL outputs, without throwing.

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "../model_folders.hpp"
#include "../test_util.hpp"
#include "ved/pipeline.hpp"
#include "ved/ved.h"
#include "ved/version.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(VED_TEST_DATA) + "/../../examples/models/demo-trocr";
const std::string kImage = test::fixture("images/inputs/rgba_33x27.png");

class CApi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(ved_model_load(kModel.c_str(), &model_), VED_OK) << ved_last_error_message();
    ASSERT_NE(model_, nullptr);
  }
  void TearDown() override { ved_model_free(model_); }

  // The same generation through the C++ API.
  static TextResult expected(const Image& image, const detail::json& kwargs) {
    static const auto pipeline = ImageToText::from_pretrained(kModel);
    return pipeline.run(image, kwargs);
  }

  static void expect_result(const ved_result* r, const TextResult& e) {
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(std::string(r->text), e.text);
    EXPECT_EQ(std::vector<int64_t>(r->tokens, r->tokens + r->num_tokens), e.tokens);
    EXPECT_EQ(std::vector<float>(r->token_logprobs, r->token_logprobs + r->num_token_logprobs),
              e.token_logprobs);
    EXPECT_DOUBLE_EQ(r->confidence, e.confidence);
    EXPECT_DOUBLE_EQ(r->score, e.score);
    EXPECT_GT(r->confidence, 0.0);
    EXPECT_LE(r->confidence, 1.0);
  }

  ved_model* model_ = nullptr;
};

TEST_F(CApi, CaptionFileMatchesTheCppApi) {
  ved_options options = {};
  options.max_new_tokens = 9;
  options.num_beams = 3;
  ved_result* r = nullptr;
  ASSERT_EQ(ved_caption_file(model_, kImage.c_str(), &options, &r), VED_OK)
      << ved_last_error_message();
  expect_result(r, expected(load_image(kImage), {{"max_new_tokens", 9}, {"num_beams", 3}}));
  ved_result_free(r);
}

TEST_F(CApi, DefaultsAndExtraArguments) {
  ved_result* r = nullptr;
  ASSERT_EQ(ved_caption_file(model_, kImage.c_str(), nullptr, &r), VED_OK);
  expect_result(r, expected(load_image(kImage), detail::json::object()));
  ved_result_free(r);
  ved_options options = {};
  options.generate_args_json = R"({"max_new_tokens": 5, "repetition_penalty": 1.5})";
  ASSERT_EQ(ved_caption_file(model_, kImage.c_str(), &options, &r), VED_OK);
  expect_result(r,
                expected(load_image(kImage), {{"max_new_tokens", 5}, {"repetition_penalty", 1.5}}));
  ved_result_free(r);
}

TEST_F(CApi, RgbBufferWithStrideMatchesTheFile) {
  const Image image = load_image(kImage);
  const size_t stride = static_cast<size_t>(image.width) * 3 + 7;  // padded rows
  std::vector<uint8_t> buffer(stride * static_cast<size_t>(image.height), 0xEE);
  for (int y = 0; y < image.height; ++y)
    std::copy(image.row(y), image.row(y) + image.width * 3, buffer.data() + y * stride);
  ved_options options = {};
  options.max_new_tokens = 8;
  ved_result* r = nullptr;
  ASSERT_EQ(ved_caption_rgb(model_, buffer.data(), image.width, image.height, stride, &options, &r),
            VED_OK)
      << ved_last_error_message();
  expect_result(r, expected(image, {{"max_new_tokens", 8}}));
  ved_result_free(r);
}

TEST_F(CApi, OneModelManyThreads) {
  ved_options options = {};
  options.max_new_tokens = 8;
  ved_result* reference = nullptr;
  ASSERT_EQ(ved_caption_file(model_, kImage.c_str(), &options, &reference), VED_OK);
  std::vector<std::string> texts(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < texts.size(); ++t)
    threads.emplace_back([&, t] {
      ved_result* r = nullptr;
      if (ved_caption_file(model_, kImage.c_str(), &options, &r) == VED_OK) texts[t] = r->text;
      ved_result_free(r);
    });
  for (auto& t : threads) t.join();
  for (const auto& text : texts) EXPECT_EQ(text, reference->text);
  ved_result_free(reference);
}

// Each failing call returns `status`, leaves *out NULL and a message containing `needle`.
// `out` is taken by reference so that it is read after the call, not before.
template <typename T>
void expect_failure(ved_status got, ved_status status, T* const& out, const std::string& needle) {
  EXPECT_EQ(got, status) << ved_last_error_message();
  EXPECT_EQ(out, nullptr);
  EXPECT_NE(std::string(ved_last_error_message()).find(needle), std::string::npos)
      << ved_last_error_message();
}

TEST_F(CApi, ErrorPaths) {
  test::TempDir tmp;
  ved_result* r = reinterpret_cast<ved_result*>(&r);  // must be reset to NULL on failure
  const std::string corrupt = tmp.write("corrupt.png", std::string("\x89PNG\r\n\x1a\nbroken"));
  expect_failure(ved_caption_file(model_, corrupt.c_str(), nullptr, &r), VED_ERR_FORMAT, r,
                 corrupt);
  expect_failure(ved_caption_file(model_, "/nonexistent/x.png", nullptr, &r), VED_ERR_IO, r,
                 "/nonexistent/x.png");
  expect_failure(ved_caption_file(nullptr, kImage.c_str(), nullptr, &r), VED_ERR_INVALID_ARGUMENT,
                 r, "model is NULL");
  expect_failure(ved_caption_file(model_, nullptr, nullptr, &r), VED_ERR_INVALID_ARGUMENT, r,
                 "image_path is NULL");
  EXPECT_EQ(ved_caption_file(model_, kImage.c_str(), nullptr, nullptr), VED_ERR_INVALID_ARGUMENT);
  const uint8_t pixel[3] = {1, 2, 3};
  expect_failure(ved_caption_rgb(model_, nullptr, 1, 1, 0, nullptr, &r), VED_ERR_INVALID_ARGUMENT,
                 r, "rgb is NULL");
  expect_failure(ved_caption_rgb(model_, pixel, 0, 1, 0, nullptr, &r), VED_ERR_INVALID_ARGUMENT, r,
                 "0x1");
  expect_failure(ved_caption_rgb(model_, pixel, 1, 1, 2, nullptr, &r), VED_ERR_INVALID_ARGUMENT, r,
                 "stride 2");
  ved_options options = {};
  options.generate_args_json = "{not json";
  expect_failure(ved_caption_file(model_, kImage.c_str(), &options, &r), VED_ERR_INVALID_ARGUMENT,
                 r, "generate_args_json");
  options.generate_args_json = R"({"num_beamz": 2})";
  expect_failure(ved_caption_file(model_, kImage.c_str(), &options, &r), VED_ERR_INVALID_ARGUMENT,
                 r, "num_beamz");
  options.generate_args_json = nullptr;
  options.num_beams = -1;
  expect_failure(ved_caption_file(model_, kImage.c_str(), &options, &r), VED_ERR_INVALID_ARGUMENT,
                 r, "num_beams");
  EXPECT_EQ(ved_set_num_threads(-2), VED_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ved_set_num_threads(0), VED_OK);
}

// ved_model_set_preset is ImageToText::set_preset: manga-ocr's grey step and text rules.
TEST(CApiPreset, MangaOcrMatchesTheCppApi) {
  test::TempDir dir;
  test::make_manga_ocr_folder(dir);
  ved_model* model = nullptr;
  ASSERT_EQ(ved_model_load(dir.str().c_str(), &model), VED_OK) << ved_last_error_message();
  EXPECT_EQ(ved_model_set_preset(model, "manga-ocr"), VED_OK) << ved_last_error_message();
  const std::string image = test::fixture("images/inputs/coco_000000039769.png");
  ved_options options = {};
  options.max_new_tokens = 6;
  ved_result* r = nullptr;
  ASSERT_EQ(ved_caption_file(model, image.c_str(), &options, &r), VED_OK)
      << ved_last_error_message();
  ImageToText pipeline = ImageToText::from_pretrained(dir.str());
  pipeline.set_preset("manga-ocr");
  const TextResult want = pipeline.run(load_image(image), {{"max_new_tokens", 6}});
  EXPECT_EQ(std::string(r->text), want.text);
  EXPECT_EQ(std::vector<int64_t>(r->tokens, r->tokens + r->num_tokens), want.tokens);
  ved_result_free(r);
  EXPECT_EQ(ved_model_set_preset(model, "nope"), VED_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ved_last_error_message()).find("'nope'"), std::string::npos);
  EXPECT_EQ(ved_model_set_preset(model, nullptr), VED_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ved_model_set_preset(nullptr, "manga-ocr"), VED_ERR_INVALID_ARGUMENT);
  ved_model_free(model);
}

TEST(CApiLoad, ErrorCategories) {
  test::TempDir tmp;
  ved_model* m = reinterpret_cast<ved_model*>(&m);
  expect_failure(ved_model_load("/nonexistent/model", &m), VED_ERR_IO, m, "/nonexistent/model");
  expect_failure(ved_model_load(nullptr, &m), VED_ERR_INVALID_ARGUMENT, m, "dir is NULL");
  EXPECT_EQ(ved_model_load(kModel.c_str(), nullptr), VED_ERR_INVALID_ARGUMENT);

  // config.json naming an encoder ved does not know.
  detail::json config = detail::read_json_file(kModel + "/config.json");
  config["encoder"]["model_type"] = "no-such-encoder";
  fs::create_directories(tmp.path() / "config");
  tmp.write("config/config.json", config.dump());
  fs::copy_file(kModel + "/model.safetensors", tmp.file("config/model.safetensors"));
  expect_failure(ved_model_load(tmp.file("config").c_str(), &m), VED_ERR_CONFIG, m,
                 "no-such-encoder");

  // A valid but empty safetensors file: every weight is missing.
  fs::create_directories(tmp.path() / "weights");
  fs::copy_file(kModel + "/config.json", tmp.file("weights/config.json"));
  tmp.write("weights/model.safetensors", std::string("\x02\0\0\0\0\0\0\0{}", 10));
  expect_failure(ved_model_load(tmp.file("weights").c_str(), &m), VED_ERR_WEIGHT, m,
                 "model.safetensors");

  // A truncated safetensors header.
  fs::create_directories(tmp.path() / "format");
  fs::copy_file(kModel + "/config.json", tmp.file("format/config.json"));
  tmp.write("format/model.safetensors", std::string("\xff\0\0\0\0\0\0\0{", 9));
  expect_failure(ved_model_load(tmp.file("format").c_str(), &m), VED_ERR_FORMAT, m,
                 "model.safetensors");
}

TEST(CApiLoad, VersionAndStatusNames) {
  EXPECT_STREQ(ved_version(), VED_VERSION_STRING);
  EXPECT_EQ(std::string(ved_version()), std::to_string(VED_VERSION_MAJOR) + "." +
                                            std::to_string(VED_VERSION_MINOR) + "." +
                                            std::to_string(VED_VERSION_PATCH));
  EXPECT_TRUE(VED_VERSION_AT_LEAST(0, 1, 0));
  EXPECT_FALSE(VED_VERSION_AT_LEAST(VED_VERSION_MAJOR + 1, 0, 0));
  std::set<std::string> names;
  for (ved_status s : {VED_OK, VED_ERR_INVALID_ARGUMENT, VED_ERR_IO, VED_ERR_FORMAT, VED_ERR_CONFIG,
                       VED_ERR_WEIGHT, VED_ERR_OUT_OF_MEMORY, VED_ERR_INTERNAL})
    names.insert(ved_status_string(s));
  EXPECT_EQ(names.size(), 8u);  // all distinct
}

TEST(CApiLoad, LastErrorIsPerThread) {
  ved_model* m = nullptr;
  ASSERT_EQ(ved_model_load("/nonexistent/a", &m), VED_ERR_IO);
  std::thread([] {
    ved_model* other = nullptr;
    EXPECT_EQ(ved_model_load("/nonexistent/b", &other), VED_ERR_IO);
  }).join();
  EXPECT_NE(std::string(ved_last_error_message()).find("/nonexistent/a"), std::string::npos);
}

}  // namespace
}  // namespace ved
