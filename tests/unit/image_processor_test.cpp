// Image preprocessing parity with transformers (fixtures/images) and PIL resampling properties.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../test_util.hpp"
#include "ved/detail/json.hpp"
#include "ved/error.hpp"
#include "ved/io/image.hpp"
#include "ved/io/safetensors.hpp"
#include "ved/processing/image_processor.hpp"
#include "ved/processing/resize.hpp"

namespace {

using ved::Image;
using ved::ImageProcessor;
using ved::Resample;
using json = ved::detail::json;

const std::string kImages = std::string(VED_TEST_DATA) + "/fixtures/images";

// JPEG cases: PIL decodes with libjpeg-turbo. ved's decoder reproduces libjpeg-turbo's IDCT,
// upsampling and colour conversion, so these match exactly too; the difference is still measured
// and printed, since the README allows a few levels for other decoders.
constexpr double kJpegMaxLevels = 0.0;

struct Comparison {
  double max_abs = 0;     // in normalized units
  double max_levels = 0;  // in uint8 levels: |a - b| * std * 255
  size_t mismatches = 0;
};

Comparison compare(const ved::Tensor<float>& got, const ved::Tensor<float>& want,
                   const ImageProcessor& p) {
  Comparison c;
  const int64_t plane = got.dim(2) * got.dim(3);
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double d = std::abs(double(got.data()[i]) - double(want.data()[i]));
    const int ch = static_cast<int>((i / plane) % 3);
    c.max_abs = std::max(c.max_abs, d);
    c.max_levels = std::max(c.max_levels, d * p.image_std()[ch] * 255.0);
    if (d != 0) ++c.mismatches;
  }
  return c;
}

bool is_jpeg(const std::string& name) {
  return name.size() > 4 &&
         (name.substr(name.size() - 4) == ".jpg" || name.substr(name.size() - 5) == ".jpeg");
}

Image filled(int w, int h, uint8_t v) {
  Image img(w, h);
  std::fill(img.rgb.begin(), img.rgb.end(), v);
  return img;
}

void set_pixel(Image& img, int x, int y, uint8_t r, uint8_t g, uint8_t b) {
  uint8_t* p = img.row(y) + x * 3;
  p[0] = r, p[1] = g, p[2] = b;
}

// Runs every case of one fixture processor directory; returns the number of cases checked.
int check_processor_dir(const std::string& dir_name, const std::string& expected_class,
                        double* worst_jpeg_levels) {
  const std::string dir = kImages + "/" + dir_name;
  ImageProcessor p = ImageProcessor::from_pretrained(dir);
  EXPECT_EQ(p.type_name(), expected_class);
  const json meta = ved::detail::read_json_file(dir + "/expected.json");
  // manga-ocr's convert('L').convert('RGB') before the processor.
  p.set_grayscale(meta.value("pre_convert", "") == "L");
  const auto expected = ved::SafetensorsFile::open(dir + "/expected.safetensors");
  int n = 0;
  for (const auto& c : meta.at("cases")) {
    const std::string name = c.at("image").get<std::string>();
    SCOPED_TRACE(dir_name + " / " + name);
    const Image img = ved::load_image(kImages + "/inputs/" + name);
    const ved::Tensor<float> got = p.preprocess(img);
    const ved::Tensor<float> want = expected->tensor<float>(c.at("key").get<std::string>());
    EXPECT_EQ(ved::shape_str(got.shape()), ved::shape_str(want.shape()));
    if (got.shape() != want.shape()) continue;
    const Comparison cmp = compare(got, want, p);
    if (is_jpeg(name)) {
      std::printf(
          "[ jpeg     ] %s / %s: max diff %.3g (%.2f uint8 levels), %zu of %lld values differ\n",
          dir_name.c_str(), name.c_str(), cmp.max_abs, cmp.max_levels, cmp.mismatches,
          static_cast<long long>(got.numel()));
      EXPECT_LE(cmp.max_levels, kJpegMaxLevels);
      EXPECT_EQ(cmp.mismatches, 0u);
      *worst_jpeg_levels = std::max(*worst_jpeg_levels, cmp.max_levels);
    } else {
      EXPECT_EQ(cmp.mismatches, 0u)
          << "max diff " << cmp.max_abs << " (" << cmp.max_levels << " uint8 levels)";
    }
    ++n;
  }
  return n;
}

TEST(ImageProcessorParity, ViT32) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("vit-32", "ViTImageProcessor", &worst), 6);
}

TEST(ImageProcessorParity, VitGpt2Jpeg) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("vit-gpt2", "ViTImageProcessor", &worst), 1);
}

TEST(ImageProcessorParity, TrocrBaseUpscale) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("trocr-base", "ViTImageProcessor", &worst), 1);
}

TEST(ImageProcessorParity, DeiT36Crop32) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("deit-36-crop-32", "DeiTImageProcessor", &worst), 6);
}

TEST(ImageProcessorParity, DeitBaseDistilled) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("deit-base-distilled", "DeiTImageProcessor", &worst), 1);
}

TEST(ImageProcessorParity, Beit32Bicubic) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("beit-32-bicubic", "BeitImageProcessor", &worst), 6);
}

TEST(ImageProcessorParity, BeitBase) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("beit-base", "BeitImageProcessor", &worst), 1);
}

TEST(ImageProcessorParity, DonutSmall) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("donut-small", "DonutImageProcessor", &worst), 6);
}

TEST(ImageProcessorParity, Nougat112x84) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("nougat-112x84", "NougatImageProcessor", &worst), 11);
}

TEST(ImageProcessorParity, NougatAlignBicubic) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("nougat-align-bicubic", "NougatImageProcessor", &worst), 6);
}

TEST(ImageProcessorParity, NougatNoCrop) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("nougat-no-crop", "NougatImageProcessor", &worst), 7);
}

// Configs saved by the deprecated FeatureExtractor classes name them under image_processor_type;
// transformers runs the FeatureExtractor subclass, whose results are the image processor's.
TEST(ImageProcessorParity, ViTFeatureExtractorName) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("vit-feature-extractor", "ViTImageProcessor", &worst), 7);
}

TEST(ImageProcessorParity, DonutFeatureExtractorName) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("donut-feature-extractor", "DonutImageProcessor", &worst), 7);
}

TEST(ImageProcessorParity, DistilvitVerbatimConfig) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("distilvit-verbatim", "ViTImageProcessor", &worst), 1);
}

// feature_extractor_type, an integer size, and the grey conversion manga-ocr applies first.
TEST(ImageProcessorParity, MangaOcrGray) {
  double worst = 0;
  EXPECT_EQ(check_processor_dir("manga-ocr-gray", "ViTImageProcessor", &worst), 7);
}

// Without the grey step the colour images come out differently: the fixture really tests it.
TEST(ImageProcessor, MangaOcrGrayDiffersWithoutTheGreyStep) {
  const std::string dir = kImages + "/manga-ocr-gray";
  const ImageProcessor p = ImageProcessor::from_pretrained(dir);
  const auto expected = ved::SafetensorsFile::open(dir + "/expected.safetensors");
  const ved::Tensor<float> want = expected->tensor<float>("coco_000000039769.png");
  const ved::Tensor<float> got =
      p.preprocess(ved::load_image(kImages + "/inputs/coco_000000039769.png"));
  EXPECT_GT(compare(got, want, p).mismatches, 0u);
}

// A 1-channel processor prepares the grey image: transformers' grey 3-channel output, one channel.
TEST(ImageProcessor, OneChannelIsTheGreyImage) {
  const std::string dir = kImages + "/manga-ocr-gray";
  ImageProcessor p = ImageProcessor::from_pretrained(dir);
  p.set_num_channels(1);
  EXPECT_EQ(p.num_channels(), 1);
  const json meta = ved::detail::read_json_file(dir + "/expected.json");
  const auto expected = ved::SafetensorsFile::open(dir + "/expected.safetensors");
  int n = 0;
  for (const auto& c : meta.at("cases")) {
    const std::string name = c.at("image").get<std::string>();
    SCOPED_TRACE(name);
    const ved::Tensor<float> want = expected->tensor<float>(c.at("key").get<std::string>());
    const ved::Tensor<float> got = p.preprocess(ved::load_image(kImages + "/inputs/" + name));
    ASSERT_EQ(got.shape(), (ved::Shape{1, 1, want.dim(2), want.dim(3)}));
    const int64_t plane = want.dim(2) * want.dim(3);
    for (int64_t i = 0; i < plane; ++i) ASSERT_EQ(got.data()[i], want.data()[i]) << "pixel " << i;
    ++n;
  }
  EXPECT_EQ(n, 7);
  EXPECT_THROW(p.set_num_channels(2), ved::InvalidArgument);
  EXPECT_THROW(p.set_num_channels(4), ved::InvalidArgument);
}

// A config for a 1-channel model may give one mean and std.
TEST(ImageProcessor, OneEntryMeanAndStd) {
  ImageProcessor p = ImageProcessor::from_json(json{{"image_processor_type", "ViTImageProcessor"},
                                                    {"size", 4},
                                                    {"image_mean", {0.9545467}},
                                                    {"image_std", {0.15394445}}},
                                               "texteller.json");
  EXPECT_EQ(p.image_mean()[2], 0.9545467);
  EXPECT_EQ(p.image_std()[1], 0.15394445);
  p.set_num_channels(1);
  const ved::Tensor<float> t = p.preprocess(filled(4, 4, 255));
  ASSERT_EQ(t.shape(), (ved::Shape{1, 1, 4, 4}));
  // numpy: (float32(255 / 255) - float32(mean)) / float32(std), in float32.
  const float want = (1.0f - 0.9545467f) / 0.15394445f;
  for (float v : t) EXPECT_EQ(v, want);
  EXPECT_THROW(ImageProcessor::from_json(
                   json{{"image_processor_type", "ViTImageProcessor"}, {"image_mean", {0.5, 0.5}}},
                   "two.json"),
               ved::ConfigError);
}

TEST(ImageProcessor, BatchEqualsSingles) {
  const ImageProcessor p = ImageProcessor::from_pretrained(kImages + "/vit-32");
  const Image a = ved::load_image(kImages + "/inputs/gradient_37x23.png");
  const Image b = ved::load_image(kImages + "/inputs/tall_20x90.png");
  const ved::Tensor<float> batch = p.preprocess(std::vector<Image>{a, b});
  ASSERT_EQ(batch.shape(), (ved::Shape{2, 3, 32, 32}));
  const ved::Tensor<float> sa = p.preprocess(a), sb = p.preprocess(b);
  EXPECT_TRUE(std::equal(sa.begin(), sa.end(), batch[0].begin()));
  EXPECT_TRUE(std::equal(sb.begin(), sb.end(), batch[1].begin()));
  EXPECT_EQ(p.output_size(), (ved::ImageSize{32, 32}));
}

TEST(ImageProcessor, MismatchedSizesWithoutResizeCannotBatch) {
  const ImageProcessor p = ImageProcessor::from_json(
      json{{"image_processor_type", "ViTImageProcessor"}, {"do_resize", false}}, "cfg");
  EXPECT_THROW(p.preprocess(std::vector<Image>{Image(4, 4), Image(5, 4)}), ved::InvalidArgument);
  EXPECT_THROW(p.preprocess(std::vector<Image>{}), ved::InvalidArgument);
  const ved::Tensor<float> t = p.preprocess(Image(5, 4));
  EXPECT_EQ(t.shape(), (ved::Shape{1, 3, 4, 5}));
  EXPECT_FLOAT_EQ(t.data()[0], -1.0f);  // (0/255 - 0.5) / 0.5
}

TEST(ImageProcessor, RescaleAndNormalizeAreNumpyExact) {
  const ImageProcessor p =
      ImageProcessor::from_json(json{{"image_processor_type", "ViTImageProcessor"},
                                     {"do_resize", false},
                                     {"image_mean", {0.485, 0.456, 0.406}},
                                     {"image_std", {0.229, 0.224, 0.225}}},
                                "cfg");
  Image img(256, 1);
  for (int x = 0; x < 256; ++x)
    for (int c = 0; c < 3; ++c) img.rgb[x * 3 + c] = static_cast<uint8_t>(x);
  const ved::Tensor<float> t = p.preprocess(img);
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 256; ++x) {
      const float r = static_cast<float>(x * (1.0 / 255.0));  // float64 multiply, then float32
      ASSERT_EQ(t({0, c, 0, x}), (r - mean[c]) / stdv[c]);
    }
}

TEST(ImageProcessor, ConfigVariants) {
  // Legacy feature-extractor configs (TrOCR, vit-gpt2 on the Hub): int size, no processor type.
  const ImageProcessor trocr = ImageProcessor::from_json(
      json{{"feature_extractor_type", "ViTFeatureExtractor"}, {"size", 384}}, "trocr.json");
  EXPECT_EQ(trocr.kind(), ImageProcessor::Kind::ViT);
  EXPECT_EQ(trocr.size(), (ved::ImageSize{384, 384}));
  EXPECT_EQ(trocr.resample(), Resample::Bilinear);
  // Donut's legacy [width, height] list.
  const ImageProcessor donut = ImageProcessor::from_json(
      json{{"feature_extractor_type", "DonutFeatureExtractor"}, {"size", {1920, 2560}}},
      "donut.json");
  EXPECT_EQ(donut.kind(), ImageProcessor::Kind::Donut);
  EXPECT_EQ(donut.size(), (ved::ImageSize{2560, 1920}));
  EXPECT_TRUE(donut.do_pad());
  // The fast variant behaves as the slow processor (AutoImageProcessor's default in 4.47).
  const ImageProcessor fast = ImageProcessor::from_json(
      json{{"image_processor_type", "ViTImageProcessorFast"}}, "fast.json");
  EXPECT_EQ(fast.kind(), ImageProcessor::Kind::ViT);
  EXPECT_EQ(fast.size(), (ved::ImageSize{224, 224}));
  // DeiT / BEiT defaults.
  const ImageProcessor deit =
      ImageProcessor::from_json(json{{"image_processor_type", "DeiTImageProcessor"}}, "deit.json");
  EXPECT_EQ(deit.size(), (ved::ImageSize{256, 256}));
  EXPECT_EQ(deit.crop_size(), (ved::ImageSize{224, 224}));
  EXPECT_TRUE(deit.do_center_crop());
  EXPECT_EQ(deit.resample(), Resample::Bicubic);
  EXPECT_EQ(deit.output_size(), (ved::ImageSize{224, 224}));
  // A scalar mean applies to every channel.
  const ImageProcessor scalar =
      ImageProcessor::from_json(json{{"image_processor_type", "ViTImageProcessor"},
                                     {"image_mean", 0.25},
                                     {"size", {{"height", 8}, {"width", 16}}}},
                                "scalar.json");
  EXPECT_EQ(scalar.image_mean()[2], 0.25);
  EXPECT_EQ(scalar.size(), (ved::ImageSize{8, 16}));
}

template <typename E>
void expect_config_error(const json& j, const std::vector<std::string>& needles) {
  try {
    ImageProcessor::from_json(j, "bad/preprocessor_config.json");
    ADD_FAILURE() << "accepted " << j.dump();
  } catch (const E& e) {
    for (const auto& s : needles)
      EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type for " << j.dump() << ": " << e.what();
  }
}

TEST(ImageProcessorErrors, BadConfigs) {
  const std::string file = "bad/preprocessor_config.json";
  const json vit = {{"image_processor_type", "ViTImageProcessor"}};
  auto with = [&](const char* key, const json& v) {
    json j = vit;
    j[key] = v;
    return j;
  };
  expect_config_error<ved::ConfigError>(json::array(), {file});
  expect_config_error<ved::ConfigError>(json::object(), {file, "image_processor_type"});
  expect_config_error<ved::ConfigError>(json{{"image_processor_type", "CLIPImageProcessor"}},
                                        {file, "CLIPImageProcessor"});
  expect_config_error<ved::ConfigError>(json{{"image_processor_type", 3}},
                                        {file, "image_processor_type"});
  expect_config_error<ved::ConfigError>(with("do_resize", "yes"), {file, "do_resize"});
  expect_config_error<ved::ConfigError>(with("do_normalize", 1), {file, "do_normalize"});
  expect_config_error<ved::ConfigError>(with("size", "224"), {file, "size"});
  expect_config_error<ved::ConfigError>(with("size", -5), {file, "size"});
  expect_config_error<ved::ConfigError>(with("size", 1e9), {file, "size"});
  expect_config_error<ved::ConfigError>(with("size", {1, 2, 3}), {file, "size"});
  expect_config_error<ved::ConfigError>(with("size", {{"shortest_edge", 224}}), {file, "size"});
  expect_config_error<ved::ConfigError>(with("size", {{"height", 224}, {"width", "224"}}),
                                        {file, "size"});
  expect_config_error<ved::ConfigError>(with("resample", 7), {file, "resample"});
  expect_config_error<ved::ConfigError>(with("resample", "bilinear"), {file, "resample"});
  expect_config_error<ved::ConfigError>(with("rescale_factor", "1/255"), {file, "rescale_factor"});
  expect_config_error<ved::ConfigError>(with("image_mean", {0.5, 0.5}), {file, "image_mean"});
  expect_config_error<ved::ConfigError>(with("image_std", {0.5, "x", 0.5}), {file, "image_std"});
  expect_config_error<ved::ConfigError>(with("image_std", {0.5, 0.0, 0.5}), {file, "image_std"});
  json deit = {{"image_processor_type", "DeiTImageProcessor"}, {"crop_size", {{"width", 3}}}};
  expect_config_error<ved::ConfigError>(deit, {file, "crop_size"});
}

TEST(ImageProcessorErrors, FromPretrainedFiles) {
  struct ConfigDir : ved::test::TempDir {
    std::string write_config(const std::string& text) const {
      write("preprocessor_config.json", text);
      return str();
    }
  };
  EXPECT_THROW(ImageProcessor::from_pretrained("/nonexistent/model"), ved::IoError);
  ConfigDir dir;
  const std::string d = dir.write_config("{\"image_processor_type\": \"ViTImageProcessor\", ");
  try {
    ImageProcessor::from_pretrained(d);
    ADD_FAILURE() << "malformed JSON accepted";
  } catch (const ved::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("preprocessor_config.json"), std::string::npos)
        << e.what();
  }
  dir.write_config("{\"image_processor_type\": \"ViTImageProcessor\", \"do_rescale\": \"no\"}");
  try {
    ImageProcessor::from_pretrained(d);
    ADD_FAILURE() << "bad field type accepted";
  } catch (const ved::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("preprocessor_config.json"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("do_rescale"), std::string::npos) << e.what();
  }
  dir.write_config("{\"image_processor_type\": \"ViTImageProcessor\", \"size\": 16}");
  EXPECT_EQ(ImageProcessor::from_pretrained(d).size(), (ved::ImageSize{16, 16}));
  // A path to the file itself works too.
  EXPECT_EQ(ImageProcessor::from_pretrained(d + "/preprocessor_config.json").size(),
            (ved::ImageSize{16, 16}));
}

TEST(ImageProcessor, DonutPadsSmallImagesAndRejectsLargeOnesWithoutThumbnail) {
  const ImageProcessor p =
      ImageProcessor::from_json(json{{"image_processor_type", "DonutImageProcessor"},
                                     {"size", {{"height", 8}, {"width", 6}}},
                                     {"do_resize", false},
                                     {"do_thumbnail", false}},
                                "donut.json");
  Image small(3, 2);
  std::fill(small.rgb.begin(), small.rgb.end(), 255);
  const Image out = p.prepare(small);
  ASSERT_EQ(out.width, 6);
  ASSERT_EQ(out.height, 8);
  // top = (8 - 2) // 2 = 3, left = (6 - 3) // 2 = 1
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 6; ++x)
      EXPECT_EQ(out.row(y)[x * 3], (y >= 3 && y < 5 && x >= 1 && x < 4) ? 255 : 0) << y << "," << x;
  EXPECT_THROW(p.prepare(Image(7, 2)), ved::InvalidArgument);
}

TEST(ImageProcessor, NougatDefaultsAndNames) {
  // NougatImageProcessor.__init__'s defaults.
  const ImageProcessor p = ImageProcessor::from_json(
      json{{"image_processor_type", "NougatImageProcessor"}}, "nougat.json");
  EXPECT_EQ(p.kind(), ImageProcessor::Kind::Nougat);
  EXPECT_EQ(p.size(), (ved::ImageSize{896, 672}));
  EXPECT_EQ(p.resample(), Resample::Bilinear);
  EXPECT_TRUE(p.do_crop_margin());
  EXPECT_TRUE(p.do_thumbnail());
  EXPECT_FALSE(p.do_align_long_axis());
  EXPECT_TRUE(p.do_pad());
  EXPECT_EQ(p.image_mean(), (std::array<double, 3>{0.485, 0.456, 0.406}));
  EXPECT_EQ(p.image_std(), (std::array<double, 3>{0.229, 0.224, 0.225}));
  EXPECT_EQ(p.output_size(), (ved::ImageSize{896, 672}));
  // A legacy feature_extractor_type is renamed as AutoImageProcessor does; a [h, w] list is
  // (height, width) for Nougat, unlike Donut's [w, h].
  const ImageProcessor legacy = ImageProcessor::from_json(
      json{{"feature_extractor_type", "NougatFeatureExtractor"}, {"size", {80, 60}}},
      "legacy.json");
  EXPECT_EQ(legacy.type_name(), "NougatImageProcessor");
  EXPECT_EQ(legacy.size(), (ved::ImageSize{80, 60}));
  const ImageProcessor fast = ImageProcessor::from_json(
      json{{"image_processor_type", "NougatImageProcessorFast"}, {"size", 64}}, "fast.json");
  EXPECT_EQ(fast.kind(), ImageProcessor::Kind::Nougat);
  EXPECT_EQ(fast.size(), (ved::ImageSize{64, 64}));
  // Other processors never crop margins.
  EXPECT_FALSE(
      ImageProcessor::from_json(json{{"image_processor_type", "DonutImageProcessor"}}, "donut.json")
          .do_crop_margin());
}

TEST(ImageProcessorErrors, NougatBadConfigs) {
  const std::string file = "bad/preprocessor_config.json";
  auto with = [](const char* key, const json& v) {
    json j = {{"image_processor_type", "NougatImageProcessor"}};
    j[key] = v;
    return j;
  };
  expect_config_error<ved::ConfigError>(with("size", 0), {file, "size"});
  expect_config_error<ved::ConfigError>(with("size", -3), {file, "size"});
  expect_config_error<ved::ConfigError>(with("size", {{"height", 0}, {"width", 84}}),
                                        {file, "size", "height", "got 0"});
  expect_config_error<ved::ConfigError>(with("size", {{"height", 112}, {"width", -84}}),
                                        {file, "size", "width", "-84"});
  expect_config_error<ved::ConfigError>(with("size", {{"shortest_edge", 112}}), {file, "size"});
  expect_config_error<ved::ConfigError>(with("size", {{"height", 65535}, {"width", 65535}}),
                                        {file, "size"});
  expect_config_error<ved::ConfigError>(with("resample", 9), {file, "resample", "9"});
  expect_config_error<ved::ConfigError>(with("resample", -1), {file, "resample"});
  expect_config_error<ved::ConfigError>(with("resample", "bicubic"), {file, "resample"});
  expect_config_error<ved::ConfigError>(with("do_crop_margin", "true"), {file, "do_crop_margin"});
  expect_config_error<ved::ConfigError>(with("do_align_long_axis", 1),
                                        {file, "do_align_long_axis"});
  expect_config_error<ved::ConfigError>(with("image_std", {0.229, 0.0, 0.225}),
                                        {file, "image_std"});
}

TEST(ImageProcessor, NougatCropMarginUsesTheStretchedGreyImage) {
  // Two black pixels on white: the box spans them inclusively.
  Image dots = filled(48, 36, 255);
  set_pixel(dots, 5, 4, 0, 0, 0);
  set_pixel(dots, 30, 21, 0, 0, 0);
  const Image box = ved::detail::crop_margin_rgb(dots);
  EXPECT_EQ(box.width, 26);
  EXPECT_EQ(box.height, 18);
  EXPECT_EQ(box.row(0)[0], 0);
  EXPECT_EQ(box.row(17)[25 * 3], 0);
  // The same on an off-white page with grey ink and a light mark: 205 is above 200 but below it
  // after the stretch (205 - 100) / (240 - 100) * 255 = 191.25, so it widens the box.
  Image page = filled(40, 30, 240);
  set_pixel(page, 10, 10, 100, 100, 100);
  set_pixel(page, 35, 2, 205, 205, 205);
  const Image crop = ved::detail::crop_margin_rgb(page);
  EXPECT_EQ(crop.width, 26);
  EXPECT_EQ(crop.height, 9);
  // A mark at 215 stretches to 209.5: not ink.
  set_pixel(page, 35, 2, 215, 215, 215);
  const Image one = ved::detail::crop_margin_rgb(page);
  EXPECT_EQ(one.width, 1);
  EXPECT_EQ(one.height, 1);
  EXPECT_EQ(one.rgb, (std::vector<uint8_t>{100, 100, 100}));
  // Luma is PIL's: pure green (38470 * 255 + 0x8000) >> 16 = 150 is ink next to white, and a
  // colour pair with equal luma is a one-colour page.
  EXPECT_EQ(ved::detail::pil_luma(std::vector<uint8_t>{0, 255, 0}.data()), 150);
  EXPECT_EQ(ved::detail::pil_luma(std::vector<uint8_t>{255, 255, 255}.data()), 255);
  EXPECT_EQ(ved::detail::pil_luma(std::vector<uint8_t>{1, 0, 0}.data()), 0);
}

TEST(ImageProcessor, NougatDegenerateImagesDoNotCrash) {
  const ImageProcessor p = ImageProcessor::from_pretrained(kImages + "/nougat-112x84");
  const ImageProcessor aligned = ImageProcessor::from_pretrained(kImages + "/nougat-align-bicubic");
  Image ink_row = filled(9, 1, 255);
  set_pixel(ink_row, 4, 0, 0, 0, 0);
  Image ink_col = filled(1, 7, 255);
  set_pixel(ink_col, 0, 6, 10, 10, 10);
  Image one_dot = filled(30, 20, 255);
  set_pixel(one_dot, 29, 19, 0, 0, 0);
  const std::vector<Image> images = {filled(1, 1, 0),
                                     filled(1, 1, 255),
                                     filled(17, 1, 128),
                                     filled(1, 17, 3),
                                     filled(64, 48, 77),
                                     ink_row,
                                     ink_col,
                                     one_dot};
  for (const ImageProcessor* proc : {&p, &aligned}) {
    for (const Image& img : images) {
      SCOPED_TRACE(std::to_string(img.width) + "x" + std::to_string(img.height));
      const ved::Tensor<float> t = proc->preprocess(img);
      ASSERT_EQ(t.dim(2), proc->size().height);
      ASSERT_EQ(t.dim(3), proc->size().width);
      for (float v : t) ASSERT_TRUE(std::isfinite(v));
    }
  }
  // A one-colour image is kept whole; its one-pixel version is upscaled and padded centrally.
  const Image flat = p.prepare(filled(1, 1, 200));
  ASSERT_EQ(flat.width, 84);
  ASSERT_EQ(flat.height, 112);
  EXPECT_EQ(flat.row(0)[0], 0);     // padding
  EXPECT_EQ(flat.row(56)[0], 200);  // the 84x84 square sits at top (112 - 84) // 2 = 14
  // A very long single ink row needs a resize beyond the image limits: an error, not a crash.
  Image strip = filled(4000, 3, 255);
  for (int x = 0; x < 4000; ++x) set_pixel(strip, x, 1, 0, 0, 0);
  EXPECT_THROW(p.preprocess(strip), ved::InvalidArgument);
}

TEST(ImageProcessor, CenterCropPadsWithCeilOffset) {
  Image img(3, 5);
  std::fill(img.rgb.begin(), img.rgb.end(), 9);
  // Crop 4 high x 6 wide: rows (5 - 4) // 2 = 0.., columns padded with ceil((6 - 3) / 2) = 2.
  const Image out = ved::detail::center_crop_rgb(img, 4, 6);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x) EXPECT_EQ(out.row(y)[x * 3], (x >= 2 && x < 5) ? 9 : 0);
}

// ---- resampling properties (beyond the fixture parity above) ----

Image random_image(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  Image img(w, h);
  for (auto& v : img.rgb) v = static_cast<uint8_t>(rng());
  return img;
}

TEST(Resize, SameSizeIsIdentityAndConstantsStayConstant) {
  const Image img = random_image(17, 9, 1);
  for (Resample r : {Resample::Nearest, Resample::Bilinear, Resample::Bicubic, Resample::Lanczos,
                     Resample::Box, Resample::Hamming}) {
    EXPECT_TRUE(ved::resize_image(img, 17, 9, r).rgb == img.rgb) << ved::resample_name(r);
    Image flat(23, 11);
    std::fill(flat.rgb.begin(), flat.rgb.end(), 77);
    for (auto [w, h] : {std::pair<int, int>{5, 3}, {40, 40}, {23, 4}, {3, 11}, {1, 1}}) {
      const Image out = ved::resize_image(flat, w, h, r);
      ASSERT_EQ(out.width, w);
      ASSERT_EQ(out.height, h);
      for (uint8_t v : out.rgb) ASSERT_EQ(v, 77) << ved::resample_name(r) << " " << w << "x" << h;
    }
  }
}

TEST(Resize, IntegerBoxDownscaleRoundsPerPass) {
  // BOX with an integer factor: weights 1/4 exactly. PIL rounds after the horizontal pass and
  // again after the vertical one; reduce() rounds the block mean once.
  const Image img = random_image(12, 8, 2);
  const Image out = ved::resize_image(img, 3, 2, Resample::Box);
  const Image red = ved::reduce_image(img, 4, 4);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0, two_pass = 0;
        for (int dy = 0; dy < 4; ++dy) {
          int row = 0;
          for (int dx = 0; dx < 4; ++dx) row += img.row(y * 4 + dy)[(x * 4 + dx) * 3 + c];
          sum += row;
          two_pass += (row + 2) / 4;
        }
        EXPECT_EQ(out.row(y)[x * 3 + c], (two_pass + 2) / 4);
        EXPECT_EQ(red.row(y)[x * 3 + c], (sum + 8) / 16);
      }
}

TEST(Resize, ReduceHandlesPartialBlocks) {
  const Image img = random_image(7, 5, 3);
  const Image out = ved::reduce_image(img, 3, 2);
  ASSERT_EQ(out.width, 3);
  ASSERT_EQ(out.height, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0, n = 0;
        for (int yy = y * 2; yy < std::min(5, y * 2 + 2); ++yy)
          for (int xx = x * 3; xx < std::min(7, x * 3 + 3); ++xx)
            sum += img.row(yy)[xx * 3 + c], ++n;
        const int want = static_cast<int>(std::floor((sum + n / 2) / double(n)));
        EXPECT_NEAR(out.row(y)[x * 3 + c], want, 1);  // PIL's reciprocal may truncate by one
      }
}

TEST(Resize, NearestPicksPilSamplePositions) {
  Image img(5, 1);
  for (int x = 0; x < 5; ++x)
    img.rgb[x * 3] = img.rgb[x * 3 + 1] = img.rgb[x * 3 + 2] = static_cast<uint8_t>(x);
  // scale 5/2: centres at 1.25 and 3.75 -> pixels 1 and 3
  const Image down = ved::resize_image(img, 2, 1, Resample::Nearest);
  EXPECT_EQ(down.rgb[0], 1);
  EXPECT_EQ(down.rgb[3], 3);
  const Image up = ved::resize_image(img, 10, 1, Resample::Nearest);
  for (int x = 0; x < 10; ++x) EXPECT_EQ(up.rgb[x * 3], x / 2);
}

TEST(Resize, BilinearUpscaleByTwoKnownValues) {
  // 2x upscale of [0, 100]: PIL centres at 0.25 and 0.75 give weights (1, 0), (.75, .25), ...
  Image img(2, 1);
  img.rgb = {0, 0, 0, 100, 100, 100};
  const Image out = ved::resize_image(img, 4, 1, Resample::Bilinear);
  EXPECT_EQ(out.rgb[0], 0);
  EXPECT_EQ(out.rgb[3], 25);
  EXPECT_EQ(out.rgb[6], 75);
  EXPECT_EQ(out.rgb[9], 100);
}

TEST(Resize, ReducingGapMatchesPlainResizeClosely) {
  // reducing_gap trades exactness for speed; results stay within a couple of levels.
  const Image img = random_image(200, 120, 4);
  const Image a = ved::resize_image(img, 20, 12, Resample::Bicubic);
  const Image b = ved::resize_image(img, 20, 12, Resample::Bicubic, 2.0);
  ASSERT_EQ(a.rgb.size(), b.rgb.size());
  EXPECT_FALSE(a.rgb == b.rgb);  // the reduce step really ran
  const Image c = ved::resize_image(img, 150, 100, Resample::Bicubic, 2.0);
  EXPECT_TRUE(c.rgb == ved::resize_image(img, 150, 100, Resample::Bicubic).rgb);  // factor 1: same
}

TEST(Resize, BadArguments) {
  const Image img = random_image(4, 4, 5);
  EXPECT_THROW(ved::resize_image(img, 0, 4, Resample::Bilinear), ved::InvalidArgument);
  EXPECT_THROW(ved::resize_image(img, 4, -1, Resample::Bilinear), ved::InvalidArgument);
  EXPECT_THROW(ved::resize_image(img, 100000, 100000, Resample::Bilinear), ved::InvalidArgument);
  EXPECT_THROW(ved::resize_image(img, 2, 2, Resample::Bilinear, 0.5), ved::InvalidArgument);
  EXPECT_THROW(ved::resize_image(Image(), 2, 2, Resample::Bilinear), ved::InvalidArgument);
  const Image broken{4, 4, std::vector<uint8_t>(10)};
  EXPECT_THROW(ved::resize_image(broken, 2, 2, Resample::Bilinear), ved::InvalidArgument);
  EXPECT_THROW(ved::reduce_image(img, 0, 2), ved::InvalidArgument);
}

}  // namespace
