// The pytorch_model.bin fixtures (written by transformers' save_pretrained with torch 1.13) read
// natively: every tensor equals its safetensors twin bit for bit, and `ved convert` turns a .bin
// folder into a safetensors one that gives bitwise the same logits.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "../cli_runner.hpp"
#include "../test_util.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/io/torch_checkpoint.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;

using test::fixture;

struct Variant {
  std::string bin;   // folder under fixtures/variants/models
  std::string twin;  // folder under fixtures/models
  size_t files;      // .bin files in the folder
};

const Variant kVariants[] = {
    {"vit-gpt2-bin", "vit-gpt2", 1},
    {"vit-bert-bin-sharded", "vit-bert", 7},
    {"deit-trocr-bin", "deit-trocr", 1},
};

template <typename T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(T)) == 0;
}

class BinFixture : public ::testing::TestWithParam<Variant> {};

TEST_P(BinFixture, EveryTensorEqualsTheSafetensorsTwin) {
  const Variant& v = GetParam();
  const auto bin = WeightSource::from_dir(fixture("variants/models/" + v.bin));
  const auto twin = SafetensorsFile::open(fixture("models/" + v.twin + "/model.safetensors"));
  EXPECT_NE(bin->describe().find(".bin"), std::string::npos) << bin->describe();
  ASSERT_FALSE(twin->records().empty());
  for (const auto& [name, rec] : twin->records()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(bin->contains(name));
    EXPECT_NE(bin->path_of(name).find(".bin"), std::string::npos);
    if (rec.dtype == DType::I64) {
      EXPECT_TRUE(same_bits(bin->tensor<int64_t>(name, rec.shape), twin->tensor<int64_t>(name)));
    } else {
      EXPECT_TRUE(same_bits(bin->tensor<float>(name, rec.shape), twin->tensor<float>(name)));
    }
    const TensorToWrite stored = bin->stored(name);
    EXPECT_EQ(stored.dtype, rec.dtype);
    EXPECT_EQ(stored.shape, rec.shape);
    ASSERT_EQ(stored.bytes.size(), rec.nbytes);
    EXPECT_EQ(std::memcmp(stored.bytes.data(), rec.bytes, rec.nbytes), 0);
  }
  // The .bin files also hold the encoder's unused pooler, which the safetensors twin drops.
  EXPECT_GE(bin->names().size(), twin->records().size());
}

TEST_P(BinFixture, ShardsAreReadThroughTheIndex) {
  const Variant& v = GetParam();
  size_t bins = 0;
  for (const auto& e : fs::directory_iterator(fixture("variants/models/" + v.bin)))
    bins += e.path().extension() == ".bin";
  EXPECT_EQ(bins, v.files);
  const auto src = WeightSource::from_dir(fixture("variants/models/" + v.bin));
  std::set<std::string> paths;
  for (const auto& n : src->names()) paths.insert(src->path_of(n));
  EXPECT_EQ(paths.size(), v.files);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BinFixture, ::testing::ValuesIn(kVariants),
                         [](const auto& info) {
                           std::string n = info.param.bin;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// The fixture's tensors are all under detail::kMinAliasedBytes, so they are copied out of the
// mapping (torch_checkpoint_test.cpp checks that a large one is read in place).
TEST(TorchCheckpoint, SmallContiguousF32TensorsAreCopiedFromTheMapping) {
  const auto ckpt =
      TorchCheckpoint::open(fixture("variants/models/vit-gpt2-bin/pytorch_model.bin"));
  const std::string name = "decoder.transformer.wte.weight";
  const TorchTensorRecord& r = ckpt->record(name);
  EXPECT_EQ(r.dtype, DType::F32);
  EXPECT_TRUE(r.contiguous());
  EXPECT_EQ(r.storage.rfind("pytorch_model/data/", 0), 0u) << r.storage;
  const Tensor<float> a = ckpt->tensor<float>(name), b = ckpt->tensor<float>(name);
  ASSERT_LT(a.numel() * 4, static_cast<int64_t>(detail::kMinAliasedBytes));
  EXPECT_NE(a.data(), b.data());
  EXPECT_EQ(std::memcmp(a.data(), r.storage_bytes + r.storage_offset * 4, a.numel() * 4), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r.storage_bytes) % 64, 0u);  // torch aligns storages
}

// ---- ved convert --------------------------------------------------------------------------------

using Result = test::CliResult;
using test::ved_cli;

void expect_same_logits(const std::string& a_dir, const std::string& b_dir) {
  const auto expected =
      SafetensorsFile::open(fixture("variants/models/vit-gpt2-bin") + "/expected.safetensors");
  const Tensor<float> pixels = expected->tensor<float>("pixel_values");
  const Tensor<int64_t> ids = expected->tensor<int64_t>("decoder_input_ids");
  const auto a = VisionEncoderDecoderModel::from_pretrained(a_dir).forward(pixels, ids);
  const auto b = VisionEncoderDecoderModel::from_pretrained(b_dir).forward(pixels, ids);
  EXPECT_TRUE(same_bits(a.logits, b.logits));
  EXPECT_TRUE(same_bits(a.encoder_last_hidden_state, b.encoder_last_hidden_state));
  EXPECT_TRUE(test::all_close(a.logits, expected->tensor<float>("logits")));
}

TEST(Convert, BinToSafetensorsKeepsLogitsBitwise) {
  test::TempDir out;
  const std::string src = fixture("variants/models/vit-gpt2-bin");
  const ConversionSummary s = convert_to_safetensors(src, out.str());
  EXPECT_EQ(s.weights, out.file("model.safetensors"));
  EXPECT_EQ(s.tensors, WeightSource::from_dir(src)->names().size());
  EXPECT_TRUE(fs::exists(out.file("config.json")));
  EXPECT_TRUE(fs::exists(out.file("generation_config.json")));
  EXPECT_FALSE(fs::exists(out.file("pytorch_model.bin")));
  EXPECT_FALSE(fs::exists(out.file("model.safetensors.partial")));
  const auto converted = SafetensorsFile::open(s.weights);
  EXPECT_EQ(converted->metadata().at("format"), "pt");
  const auto twin = SafetensorsFile::open(fixture("models/vit-gpt2/model.safetensors"));
  for (const auto& [name, rec] : twin->records()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(converted->contains(name));
    const TensorRecord& c = converted->record(name);
    EXPECT_EQ(c.dtype, rec.dtype);
    ASSERT_EQ(c.nbytes, rec.nbytes);
    EXPECT_EQ(std::memcmp(c.bytes, rec.bytes, rec.nbytes), 0);
  }
  expect_same_logits(src, out.str());
}

TEST(Convert, ShardedBinBecomesOneFile) {
  test::TempDir out;
  const std::string src = fixture("variants/models/vit-bert-bin-sharded");
  const ConversionSummary s = convert_to_safetensors(src, out.str());
  EXPECT_EQ(s.tensors, WeightSource::from_dir(src)->names().size());
  EXPECT_FALSE(fs::exists(out.file("pytorch_model.bin.index.json")));
  const auto twin = SafetensorsFile::open(fixture("models/vit-bert/model.safetensors"));
  const auto converted = SafetensorsFile::open(s.weights);
  for (const auto& [name, rec] : twin->records()) {
    ASSERT_TRUE(converted->contains(name)) << name;
    EXPECT_EQ(std::memcmp(converted->record(name).bytes, rec.bytes, rec.nbytes), 0) << name;
  }
}

TEST(Convert, CommandLineRoundTrip) {
  test::TempDir out;
  const std::string src = fixture("variants/models/vit-gpt2-bin");
  const std::string dst = out.file("converted");
  const Result r = ved_cli({"convert", "--model", src, "--out", dst});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("wrote " + std::to_string(WeightSource::from_dir(src)->names().size()) +
                       " tensors"),
            std::string::npos)
      << r.out;
  EXPECT_TRUE(fs::exists(dst + "/model.safetensors"));
  expect_same_logits(src, dst);

  // The converted folder converts again to the same bytes.
  const std::string again = out.file("again");
  ASSERT_EQ(ved_cli({"convert", "--model", dst, "--out", again}).status, 0);
  EXPECT_EQ(test::read_file(dst + "/model.safetensors"),
            test::read_file(again + "/model.safetensors"));

  const Result missing = ved_cli({"convert", "--model", src});
  EXPECT_EQ(missing.status, 2) << missing.out;
  const Result same = ved_cli({"convert", "--model", dst, "--out", dst});
  EXPECT_EQ(same.status, 1) << same.out;
  EXPECT_NE(same.out.find("model folder itself"), std::string::npos) << same.out;
}

}  // namespace
}  // namespace ved
