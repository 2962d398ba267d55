// The `ved` command line, end to end on the fixture models.

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <filesystem>

#include "../cli_runner.hpp"
#include "../model_folders.hpp"
#include "../test_util.hpp"
#include "ved/ved.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;

using Result = test::CliResult;
using test::ved_cli;

std::string temp_file(const std::string& name) {
  return (fs::temp_directory_path() / ("ved_cli_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

class CliGenerate : public ::testing::TestWithParam<std::string> {};

// Every generate() case of the fixture, through `ved generate --json`.
TEST_P(CliGenerate, ReproducesEveryCase) {
  const std::string dir = test::fixture("models/" + GetParam());
  const detail::json meta = detail::read_json_file(dir + "/expected.json");
  int cases = 0;
  for (const auto& c : meta["generate"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const Result r = ved_cli(
        {"generate", "--model", dir, "--pixel-values", dir + "/expected.safetensors", "--batch",
         join(c["batch"].get<std::vector<int64_t>>()), "--args", c["args"].dump(), "--json"});
    ASSERT_EQ(r.status, 0) << r.out;
    const detail::json got = detail::json::parse(r.out);
    EXPECT_EQ(got["sequences"], c["sequences"]);
    if (c.contains("sequences_scores")) {
      const auto a = got["sequences_scores"].get<std::vector<float>>(),
                 e = c["sequences_scores"].get<std::vector<float>>();
      ASSERT_EQ(a.size(), e.size());
      EXPECT_TRUE(test::all_close(a.data(), e.data(), static_cast<int64_t>(e.size())));
    } else {
      EXPECT_FALSE(got.contains("sequences_scores"));
    }
    ++cases;
  }
  EXPECT_EQ(cases, 15);
}

TEST_P(CliGenerate, ForwardMatchesLogits) {
  const std::string dir = test::fixture("models/" + GetParam());
  const std::string out = temp_file(GetParam() + "_forward.safetensors");
  const Result r =
      ved_cli({"forward", "--model", dir, "--pixel-values", dir + "/expected.safetensors",
               "--decoder-input-ids", dir + "/expected.safetensors", "--out", out});
  ASSERT_EQ(r.status, 0) << r.out;
  const auto got = SafetensorsFile::open(out);
  const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
  EXPECT_TRUE(test::all_close(got->tensor<float>("logits"), expected->tensor<float>("logits")));
  EXPECT_TRUE(test::all_close(got->tensor<float>("encoder_last_hidden_state"),
                              expected->tensor<float>("encoder_last_hidden_state")));
  fs::remove(out);
}

// texteller-vit-trocr: 1-channel pixel_values through generate and forward.
INSTANTIATE_TEST_SUITE_P(Fixtures, CliGenerate,
                         ::testing::Values("vit-gpt2", "vit-gpt2-proj", "texteller-vit-trocr"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

const std::string kDemo = std::string(VED_TEST_DATA) + "/../../examples/models/demo-vit-gpt2";
const std::string kImage = test::fixture("images/inputs/coco_000000039769.png");

TEST(Cli, GenerateTakesAPrompt) {
  const std::string dir = test::fixture("models/vit-gpt2");
  const detail::json meta = detail::read_json_file(dir + "/expected.json");
  const Result r = ved_cli({"generate", "--model", dir, "--pixel-values",
                            dir + "/expected.safetensors", "--batch", "0", "--args",
                            R"({"max_new_tokens": 11, "decoder_input_ids": [[190]]})", "--json"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(detail::json::parse(r.out)["sequences"],
            meta["generate"][0]["sequences"]);  // greedy_img0
}

TEST(Cli, PreprocessMatchesTransformers) {
  // The demo checkpoint's preprocessor_config.json is the vit-32 fixture processor.
  const std::string out = temp_file("pixels.safetensors");
  const Result r = ved_cli({"preprocess", "--model", kDemo, "--out", out, kImage});
  ASSERT_EQ(r.status, 0) << r.out;
  const auto expected = SafetensorsFile::open(test::fixture("images/vit-32/expected.safetensors"));
  EXPECT_TRUE(test::all_close(SafetensorsFile::open(out)->tensor<float>("pixel_values"),
                              expected->tensor<float>("coco_000000039769.png"), 1e-6, 0));
  fs::remove(out);
}

TEST(Cli, PreprocessNougatFolder) {
  // A Nougat processor folder: crop_margin, resize, thumbnail and pad, exact with transformers.
  const std::string dir = test::fixture("images/nougat-112x84");
  const std::string out = temp_file("nougat_pixels.safetensors");
  const Result r = ved_cli({"preprocess", "--model", dir, "--out", out,
                            test::fixture("images/inputs/page_offwhite_300x400.png")});
  ASSERT_EQ(r.status, 0) << r.out;
  const Tensor<float> got = SafetensorsFile::open(out)->tensor<float>("pixel_values");
  EXPECT_EQ(got.shape(), (Shape{1, 3, 112, 84}));
  EXPECT_TRUE(test::all_close(got,
                              SafetensorsFile::open(dir + "/expected.safetensors")
                                  ->tensor<float>("page_offwhite_300x400.png"),
                              1e-6, 0));
  fs::remove(out);
}

// --grayscale is manga-ocr's convert('L').convert('RGB') before the processor.
TEST(Cli, PreprocessGrayscaleMatchesMangaOcr) {
  const std::string dir = test::fixture("images/manga-ocr-gray");
  const std::string out = temp_file("gray_pixels.safetensors");
  const Tensor<float> want =
      SafetensorsFile::open(dir + "/expected.safetensors")->tensor<float>("coco_000000039769.png");
  Result r = ved_cli({"preprocess", "--model", dir, "--out", out, "--grayscale", kImage});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(
      test::all_close(SafetensorsFile::open(out)->tensor<float>("pixel_values"), want, 0, 0));
  r = ved_cli({"preprocess", "--model", dir, "--out", out, kImage});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_FALSE(
      test::all_close(SafetensorsFile::open(out)->tensor<float>("pixel_values"), want, 0, 0));
  fs::remove(out);
}

// A model folder whose encoder reads 1 channel gets 1-channel pixel_values, the grey image.
TEST(Cli, PreprocessOneChannelModel) {
  test::TempDir dir;
  test::make_texteller_folder(dir, /*with_processor=*/true);
  const std::string out = temp_file("texteller_pixels.safetensors");
  const Result r = ved_cli({"preprocess", "--model", dir.str(), "--out", out, kImage});
  ASSERT_EQ(r.status, 0) << r.out;
  const Tensor<float> got = SafetensorsFile::open(out)->tensor<float>("pixel_values");
  const Tensor<float> grey3 =
      SafetensorsFile::open(test::fixture("images/manga-ocr-gray/expected.safetensors"))
          ->tensor<float>("coco_000000039769.png");
  ASSERT_EQ(got.shape(), (Shape{1, 1, 48, 48}));
  EXPECT_TRUE(test::all_close(got.data(), grey3.data(), got.numel(), 0, 0));
  fs::remove(out);
}

TEST(Cli, CaptionPresetMangaOcr) {
  test::TempDir dir;
  test::make_manga_ocr_folder(dir);
  const Result r = ved_cli({"caption", "--model", dir.str(), "--preset", "manga-ocr", "--json",
                            "--args", R"({"max_new_tokens": 10})", kImage});
  ASSERT_EQ(r.status, 0) << r.out;
  ImageToText pipeline = ImageToText::from_pretrained(dir.str());
  pipeline.set_preset("manga-ocr");
  const TextResult want = pipeline.run(load_image(kImage), {{"max_new_tokens", 10}});
  const detail::json got = detail::json::parse(r.out);
  EXPECT_EQ(got[0]["text"], want.text);
  EXPECT_EQ(got[0]["sequence"], detail::json(want.tokens));
  EXPECT_EQ(want.text.find(' '), std::string::npos);
  const Result bad = ved_cli({"caption", "--model", dir.str(), "--preset", "nope", kImage});
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("unknown preset 'nope'"), std::string::npos) << bad.out;
}

// Weights the model never reads: a warning on stderr, an error with --strict.
TEST(Cli, UnusedWeightsWarnAndStrictRefuses) {
  test::TempDir dir;
  test::copy_files("models/vit-gpt2", {"config.json", "generation_config.json"}, dir);
  {
    const auto f = SafetensorsFile::open(test::fixture("models/vit-gpt2/model.safetensors"));
    std::vector<TensorToWrite> tensors;
    for (const auto& [name, rec] : f->records())
      tensors.push_back(to_write(name, f->tensor<float>(name).clone()));
    tensors.push_back(to_write("encoder.extra_head.weight", Tensor<float>({2, 2})));
    write_safetensors(dir.file("model.safetensors"), tensors);
  }
  const std::string pixels = test::fixture("models/vit-gpt2/expected.safetensors");
  Result r = ved_cli({"generate", "--model", dir.str(), "--pixel-values", pixels, "--batch", "0",
                      "--args", R"({"max_new_tokens": 2})"});
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("ved: warning:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("encoder.extra_head.weight"), std::string::npos) << r.out;
  r = ved_cli({"generate", "--model", dir.str(), "--pixel-values", pixels, "--strict"});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("ved: error:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("encoder.extra_head.weight"), std::string::npos) << r.out;
}

// VED_ISA lowers the kernel set (never raises it; avx512 leaves out AMX), an unknown value is an
// error naming it, and the default thread count follows the CPU affinity (taskset) of the process.
TEST(Cli, KernelSetAndThreadCountFromTheEnvironment) {
  Result r = test::run_shell("VED_ISA=generic " + test::shell_quote(VED_CLI_PATH) + " --version");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("kernels: generic"), std::string::npos) << r.out;
  // avx512 is the widest set without AMX (on a CPU without AVX-512, a lower one).
  r = test::run_shell("VED_ISA=avx512 " + test::shell_quote(VED_CLI_PATH) + " --version");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string kernels = r.out.substr(r.out.find("kernels: "));
  EXPECT_EQ(kernels.substr(0, kernels.find(" (VED_ISA")).find("amx"), std::string::npos) << r.out;
  r = test::run_shell("VED_ISA=sse9 " + test::shell_quote(VED_CLI_PATH) + " --version");
  EXPECT_NE(r.out.find("VED_ISA='sse9'"), std::string::npos) << r.out;
  const std::string pixels = test::fixture("models/vit-gpt2/expected.safetensors");
  r = test::run_shell("VED_ISA=sse9 " + test::shell_quote(VED_CLI_PATH) + " generate --model " +
                      test::shell_quote(test::fixture("models/vit-gpt2")) + " --pixel-values " +
                      test::shell_quote(pixels));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("VED_ISA='sse9'"), std::string::npos) << r.out;
  r = test::run_shell("env -u VED_NUM_THREADS -u OMP_NUM_THREADS taskset -c 0 " +
                      test::shell_quote(VED_CLI_PATH) + " --version");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(", 1 threads"), std::string::npos) << r.out;
  r = test::run_shell("VED_NUM_THREADS=3 " + test::shell_quote(VED_CLI_PATH) + " --version");
  EXPECT_NE(r.out.find(", 3 threads"), std::string::npos) << r.out;
}

TEST(Cli, CaptionRunsTheWholePipeline) {
  const Result r = ved_cli({"caption", "--model", kDemo, "--json", "--args",
                            R"({"max_new_tokens": 12})", kImage, kImage});
  ASSERT_EQ(r.status, 0) << r.out;
  const detail::json got = detail::json::parse(r.out);
  ASSERT_EQ(got.size(), 2u);
  // The same image twice gives the same text, and the library API agrees with the CLI.
  EXPECT_EQ(got[0]["text"], got[1]["text"]);
  const auto model = VisionEncoderDecoderModel::from_pretrained(kDemo);
  const auto pixels = ImageProcessor::from_pretrained(kDemo).preprocess(load_image(kImage));
  const auto out = model.generate(pixels, {{"max_new_tokens", 12}});
  EXPECT_EQ(got[0]["sequence"], detail::json(out.sequences[0]));
  EXPECT_EQ(got[0]["text"], Tokenizer::from_pretrained(kDemo)->decode(out.sequences[0]));
  EXPECT_EQ(got[0]["sequence"].size(), 13u);
}

TEST(CliBadInput, UsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"translate"},
           {"generate", "--model"},
           {"generate", "--model", kDemo, "--pixel-values", "x", "--beams", "4"},
           {"caption", "--model", kDemo},
           {"forward", "--model", kDemo, "--pixel-values", "x"}}) {
    const Result r = ved_cli(args);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("usage:"), std::string::npos) << r.out;
  }
}

TEST(CliBadInput, ErrorsNameTheCulprit) {
  const std::string dir = test::fixture("models/vit-gpt2");
  const std::string px = dir + "/expected.safetensors";
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  for (const auto& c : std::vector<Case>{
           {{"generate", "--model", "/nonexistent", "--pixel-values", px}, "/nonexistent"},
           {{"generate", "--model", dir, "--pixel-values", "/nonexistent.safetensors"},
            "/nonexistent.safetensors"},
           {{"generate", "--model", dir, "--pixel-values", dir + "/model.safetensors"},
            "pixel_values"},
           {{"generate", "--model", dir, "--pixel-values", px, "--args", R"({"num_beamz": 4})"},
            "num_beamz"},
           {{"generate", "--model", dir, "--pixel-values", px, "--args", "{max_new_tokens: 3}"},
            "--args"},
           {{"generate", "--model", dir, "--pixel-values", px, "--batch", "0,7"}, "7"},
           {{"caption", "--model", kDemo, "/nonexistent.png"}, "/nonexistent.png"},
       }) {
    const Result r = ved_cli(c.args);
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("ved: error:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace ved
