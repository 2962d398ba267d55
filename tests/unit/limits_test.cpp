// ved::Limits: documented defaults, and every cap refusing input just above it -- before
// allocating -- with an error that names the limit, the value and the file.

#include <gtest/gtest.h>

#include <string>

#include "../test_util.hpp"
#include "ved/config.hpp"
#include "ved/generation/generation_config.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/io/image.hpp"
#include "ved/limits.hpp"
#include "ved/processing/image_processor.hpp"

namespace ved {
namespace {

using test::expect_throw_message;
using test::TempDir;

void expect_contains(const std::string& msg, const std::string& part) {
  EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
}

TEST(Limits, DefaultsAreTheDocumentedOnes) {
  const Limits l;
  EXPECT_EQ(l.max_image_pixels, 268435456);  // 2^28 = 16384 x 16384
  EXPECT_EQ(l.max_image_side, 65535);
  EXPECT_EQ(l.max_header_bytes, 104857600u);      // 100 MiB
  EXPECT_EQ(l.max_text_file_bytes, 1073741824u);  // 1 GiB
  EXPECT_EQ(l.max_json_depth, 256);
  EXPECT_EQ(l.max_sequence_length, 16384);
  EXPECT_EQ(l.max_num_beams, 256);
  EXPECT_EQ(l.max_num_return_sequences, 8192);
  EXPECT_EQ(l.max_total_weight_bytes, 68719476736u);  // 64 GiB
}

TEST(Limits, ScopedLimitsRestoresThePreviousOnes) {
  const int64_t before = limits().max_sequence_length;
  {
    Limits l;
    l.max_sequence_length = 7;
    ScopedLimits scoped(l);
    EXPECT_EQ(limits().max_sequence_length, 7);
  }
  EXPECT_EQ(limits().max_sequence_length, before);
}

TEST(Limits, ImagePixelsAndSide) {
  const std::string path = test::fixture("images/inputs/gradient_37x23.png");
  EXPECT_EQ(load_image(path).width, 37);
  {
    Limits l;
    l.max_image_pixels = 37 * 23;  // exactly at the cap: accepted
    ScopedLimits scoped(l);
    EXPECT_EQ(load_image(path).height, 23);
  }
  {
    Limits l;
    l.max_image_pixels = 37 * 23 - 1;
    ScopedLimits scoped(l);
    const std::string msg = expect_throw_message<FormatError>([&] { load_image(path); });
    expect_contains(msg, path);
    expect_contains(msg, "max_image_pixels");
    expect_contains(msg, "851");  // 37 * 23
  }
  {
    Limits l;
    l.max_image_side = 36;
    ScopedLimits scoped(l);
    const std::string msg = expect_throw_message<FormatError>([&] { load_image(path); });
    expect_contains(msg, "max_image_side");
    expect_contains(msg, "37x23");
  }
}

TEST(Limits, ProcessorOutputSize) {
  const detail::json j = {{"image_processor_type", "ViTImageProcessor"},
                          {"size", {{"height", 100}, {"width", 50}}}};
  EXPECT_EQ(ImageProcessor::from_json(j, "pp.json").size().height, 100);
  Limits l;
  l.max_image_pixels = 4999;
  ScopedLimits scoped(l);
  const std::string msg =
      expect_throw_message<ConfigError>([&] { ImageProcessor::from_json(j, "pp.json"); });
  expect_contains(msg, "pp.json");
  expect_contains(msg, "max_image_pixels");
  expect_contains(msg, "5000");
}

TEST(Limits, SafetensorsHeaderBytes) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_safetensors(path, {to_write("w", Tensor<float>({2, 3}))});
  EXPECT_TRUE(SafetensorsFile::open(path)->contains("w"));
  Limits l;
  l.max_header_bytes = 16;
  ScopedLimits scoped(l);
  const std::string msg = expect_throw_message<FormatError>([&] { SafetensorsFile::open(path); });
  expect_contains(msg, path);
  expect_contains(msg, "max_header_bytes = 16");
}

TEST(Limits, TextFileBytes) {
  TempDir dir;
  const std::string path = dir.write("generation_config.json", R"({"max_length": 12})");
  EXPECT_EQ(GenerationConfig::from_file(path).max_length, 12);
  Limits l;
  l.max_text_file_bytes = 10;
  ScopedLimits scoped(l);
  const std::string msg = expect_throw_message<IoError>([&] { GenerationConfig::from_file(path); });
  expect_contains(msg, path);
  expect_contains(msg, "max_text_file_bytes = 10");
}

TEST(Limits, JsonDepthBoundary) {
  Limits l;
  l.max_json_depth = 3;
  ScopedLimits scoped(l);
  EXPECT_NO_THROW(detail::parse_json(R"({"a": [{"b": 1}]})", "three.json"));
  // Brackets inside strings are text, not nesting.
  EXPECT_NO_THROW(detail::parse_json(R"({"a": "[[[[[[\"{{{{"})", "string.json"));
  const std::string msg = expect_throw_message<FormatError>(
      [&] { detail::parse_json(R"({"a": [{"b": [1]}]})", "four.json"); });
  expect_contains(msg, "four.json");
  expect_contains(msg, "max_json_depth = 3");
}

TEST(Limits, TotalWeightBytes) {
  const std::string dir = test::fixture("models/vit-gpt2");
  EXPECT_FALSE(WeightSource::from_dir(dir)->names().empty());
  Limits l;
  l.max_total_weight_bytes = 1000;
  ScopedLimits scoped(l);
  const std::string msg = expect_throw_message<WeightError>([&] { WeightSource::from_dir(dir); });
  expect_contains(msg, dir + "/model.safetensors");
  expect_contains(msg, "max_total_weight_bytes = 1000");
}

// Shards count together: each fits, all of them do not.
TEST(Limits, TotalWeightBytesAcrossShards) {
  const std::string dir = test::fixture("variants/models/vit-bert-bin-sharded");
  EXPECT_FALSE(WeightSource::from_dir(dir)->names().empty());
  Limits l;
  l.max_total_weight_bytes = 100000;  // every shard is under 46 KB, all seven about 270 KB
  ScopedLimits scoped(l);
  const std::string msg = expect_throw_message<WeightError>([&] { WeightSource::from_dir(dir); });
  expect_contains(msg, "max_total_weight_bytes = 100000");
  expect_contains(msg, ".bin");
}

TEST(Limits, SequenceLengthAndBeams) {
  Limits l;
  l.max_sequence_length = 64;
  l.max_num_beams = 4;
  ScopedLimits scoped(l);
  GenerationConfig g;
  g.max_length = 64;
  g.num_beams = 4;
  EXPECT_NO_THROW(g.validate());
  g.max_length = 65;
  expect_contains(expect_throw_message<InvalidArgument>([&] { g.validate(); }),
                  "max_sequence_length = 64");
  g.max_length = 20;
  g.num_beams = 5;
  expect_contains(expect_throw_message<InvalidArgument>([&] { g.validate(); }),
                  "max_num_beams = 4");
  // Sampled sequences are rows of their own, not beams: they have a cap of their own.
  g.num_beams = 1;
  g.do_sample = true;
  g.num_return_sequences = 5;
  EXPECT_NO_THROW(g.validate());
  l.max_num_return_sequences = 4;
  ScopedLimits tighter(l);
  expect_contains(expect_throw_message<InvalidArgument>([&] { g.validate(); }),
                  "max_num_return_sequences = 4");

  // From generate()'s keyword arguments and from a file: the error names the source.
  GenerationConfig h;
  std::string msg = expect_throw_message<ConfigError>([&] {
    h.update({{"max_new_tokens", 1000}});
  });
  expect_contains(msg, "generate() arguments");
  expect_contains(msg, "max_new_tokens");
  TempDir dir;
  const std::string path = dir.write("generation_config.json", R"({"max_length": 100})");
  msg = expect_throw_message<ConfigError>([&] { GenerationConfig::from_file(path); });
  expect_contains(msg, path);
  expect_contains(msg, "max_sequence_length = 64");
}

TEST(Limits, NonFiniteNumbersFromCode) {
  // JSON text cannot hold infinity, but a json value built in code can.
  GenerationConfig g;
  const std::string msg = expect_throw_message<ConfigError>([&] {
    g.update({{"temperature", std::numeric_limits<double>::infinity()}});
  });
  expect_contains(msg, "temperature");
}

}  // namespace
}  // namespace ved
