// manga-ocr- and TexTeller-shaped checkpoints from an image, end to end through ImageToText.
//
// What transformers fixes here: the processor output for each image (images/manga-ocr-gray,
// where manga-ocr's grey step ran before the ViT processor) and the model's tokens for given
// pixel_values (models/*, checked case by case in model_parity_test). These tests check that the
// pipeline joins them: the image gives transformers' pixel_values, those give the model's tokens,
// and the text is their decode (post-processed as manga_ocr does).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../model_folders.hpp"
#include "../test_util.hpp"
#include "ved/pipeline.hpp"

namespace ved {
namespace {

const std::string kGray = "images/manga-ocr-gray";

Tensor<float> transformers_pixels(const std::string& image) {
  return SafetensorsFile::open(test::fixture(kGray + "/expected.safetensors"))
      ->tensor<float>(image);
}

Image input_image(const std::string& name) {
  return load_image(test::fixture("images/inputs/" + name));
}

// The decoder sequence cut after its first eos, as TextResult::tokens holds it.
std::vector<int64_t> cut_after_eos(std::vector<int64_t> seq, int64_t eos) {
  for (size_t t = 1; t < seq.size(); ++t)
    if (seq[t] == eos) {
      seq.resize(t + 1);
      break;
    }
  return seq;
}

TEST(MangaOcr, PresetReadsAColourImageAsManga_ocrDoes) {
  test::TempDir dir;
  test::make_manga_ocr_folder(dir);
  ImageToText pipeline = ImageToText::from_pretrained(dir.str());
  const Image image = input_image("coco_000000039769.png");
  const Tensor<float> want = transformers_pixels("coco_000000039769.png");

  // Its files do not announce manga-ocr: by default neither the grey step nor its text rules.
  EXPECT_EQ(pipeline.postprocessor(), "none");
  EXPECT_FALSE(test::all_close(pipeline.processor().preprocess(image), want, 0, 0));

  pipeline.set_preset("manga-ocr");
  EXPECT_EQ(pipeline.postprocessor(), "manga-ocr");
  EXPECT_TRUE(pipeline.processor().grayscale());
  const Tensor<float> pixels = pipeline.processor().preprocess(image);
  ASSERT_EQ(pixels.shape(), want.shape());
  EXPECT_TRUE(test::all_close(pixels, want, 0, 0));

  // config.json's legacy keys make this a 4-beam search with the 3-gram rule.
  const detail::json args = {{"max_new_tokens", 10}};
  const TextResult r = pipeline.run(image, args);
  const GenerateOutput ref = pipeline.model().generate(want, args);
  const int64_t eos = pipeline.model().generation_config().eos_token_id.at(0);
  EXPECT_EQ(r.tokens, cut_after_eos(ref.sequences.at(0), eos));
  const std::string decoded = pipeline.tokenizer().decode(ref.sequences[0], true);
  EXPECT_NE(decoded.find(' '), std::string::npos);  // BERT's join puts spaces between characters
  EXPECT_EQ(r.text, postprocess("manga-ocr", decoded));
  EXPECT_EQ(r.text.find(' '), std::string::npos) << r.text;
  EXPECT_FALSE(r.text.empty());
}

// The text of transformers' own decode (decoded_skip_special of the fixture), post-processed by
// manga_ocr's rules as they apply to it: its kana are full-width already, so the spaces go and
// ASCII letters and digits become full-width (U+0021..U+007E -> U+FF01..U+FF5E).
TEST(MangaOcr, PresetTextOfTheFixtureCases) {
  test::TempDir dir;
  test::make_manga_ocr_folder(dir);
  ImageToText pipeline = ImageToText::from_pretrained(dir.str());
  pipeline.set_preset("manga-ocr");
  const std::string model = test::fixture("models/mangaocr-vit-bert");
  const detail::json meta = detail::read_json_file(model + "/expected.json");
  const Tensor<float> pixels =
      SafetensorsFile::open(model + "/expected.safetensors")->tensor<float>("pixel_values");
  int checked = 0;
  for (const auto& c : meta["generate"]) {
    if (c["batch"] != detail::json::array({0, 1}) || c["args"].contains("num_return_sequences"))
      continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto results = pipeline.run(pixels, c["args"]);
    ASSERT_EQ(results.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      std::string want;
      for (char ch : c["decoded_skip_special"][i].get<std::string>()) {
        if (ch == ' ') continue;
        if (ch > ' ' && ch <= '~') {  // UTF-8 of U+FF01 + (ch - '!')
          const unsigned cp = 0xFF01u + static_cast<unsigned>(ch - '!');
          want += static_cast<char>(0xE0 | (cp >> 12));
          want += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          want += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          want += ch;
        }
      }
      EXPECT_EQ(results[i].text, want);
    }
    ++checked;
  }
  EXPECT_GE(checked, 9);
}

TEST(MangaOcr, UnknownPresetIsRefused) {
  test::TempDir dir;
  test::make_manga_ocr_folder(dir);
  ImageToText pipeline = ImageToText::from_pretrained(dir.str());
  const std::string m =
      test::expect_throw_message<InvalidArgument>([&] { pipeline.set_preset("manga"); });
  EXPECT_NE(m.find("'manga'"), std::string::npos) << m;
  EXPECT_NE(m.find("manga-ocr"), std::string::npos) << m;
}

TEST(TexTeller, GreyImageEndToEnd) {
  test::TempDir dir;
  test::make_texteller_folder(dir, /*with_processor=*/true);
  const ImageToText pipeline = ImageToText::from_pretrained(dir.str());
  EXPECT_EQ(pipeline.processor().num_channels(), 1);
  const Image image = input_image("gray_45x30.png");
  // transformers' grey 3-channel pixel_values of this image, one channel of them.
  const Tensor<float> grey3 = transformers_pixels("gray_45x30.png");
  Tensor<float> want({1, 1, grey3.dim(2), grey3.dim(3)});
  std::copy(grey3.data(), grey3.data() + want.numel(), want.data());
  const Tensor<float> pixels = pipeline.processor().preprocess(image);
  ASSERT_EQ(pixels.shape(), want.shape());
  EXPECT_TRUE(test::all_close(pixels, want, 0, 0));

  const detail::json args = {{"max_new_tokens", 12}};
  const TextResult r = pipeline.run(image, args);
  const GenerateOutput ref = pipeline.model().generate(want, args);
  const int64_t eos = pipeline.model().generation_config().eos_token_id.at(0);
  EXPECT_EQ(r.tokens, cut_after_eos(ref.sequences.at(0), eos));
  EXPECT_GT(r.tokens.size(), 1u);
  EXPECT_EQ(r.text, pipeline.tokenizer().decode(r.tokens, true));
  // A colour image is read as its grey version.
  const Image colour = input_image("coco_000000039769.png");
  Image grey = colour;
  for (size_t i = 0; i < grey.rgb.size(); i += 3)
    grey.rgb[i] = grey.rgb[i + 1] = grey.rgb[i + 2] = static_cast<uint8_t>(
        (colour.rgb[i] * 19595 + colour.rgb[i + 1] * 38470 + colour.rgb[i + 2] * 7471 + 0x8000) >>
        16);
  EXPECT_TRUE(test::all_close(pipeline.processor().preprocess(colour),
                              pipeline.processor().preprocess(grey), 0, 0));
}

// TexTeller ships no preprocessor_config.json: the error says so and what its images need.
TEST(TexTeller, MissingProcessorFileSaysWhatToWrite) {
  test::TempDir dir;
  test::make_texteller_folder(dir, /*with_processor=*/false);
  const std::string m = test::expect_throw_message<ConfigError>(
      [&] { (void)ImageToText::from_pretrained(dir.str()); });
  for (const char* needle : {"no preprocessor_config.json", "1-channel", "TexTeller", "0.9545467",
                             "0.15394445", "448", "README"})
    EXPECT_NE(m.find(needle), std::string::npos) << "'" << needle << "' not in: " << m;
  // A 3-channel model without the file gets the general advice only.
  test::TempDir other;
  test::copy_files("models/vit-gpt2", {"config.json", "model.safetensors"}, other);
  const std::string m3 = test::expect_throw_message<ConfigError>(
      [&] { (void)ImageToText::from_pretrained(other.str()); });
  EXPECT_NE(m3.find("no preprocessor_config.json"), std::string::npos) << m3;
  EXPECT_EQ(m3.find("TexTeller"), std::string::npos) << m3;
}

}  // namespace
}  // namespace ved
