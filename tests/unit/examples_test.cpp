// The example programs (examples/*), run as built, on the demo checkpoints. Each demo checkpoint
// carries the weights of a transformers fixture model (checked first), so the fixture's
// generate() outputs apply: the examples are fed the fixture's pixel_values and their text,
// scores and per-token probabilities are compared with what transformers produced.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "../cli_runner.hpp"
#include "../test_util.hpp"
#include "ved/pipeline.hpp"
#include "ved/processing/donut.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::run_program;

const std::string kSource = std::string(VED_TEST_DATA) + "/../..";
const std::string kImages = test::fixture("images/inputs");

std::string demo(const std::string& name) {
  return kSource + "/examples/models/" + name;
}

std::string example(const std::string& dir, const std::string& name) {
  const std::string path = test::build_dir() + "/examples/" + dir + "/" + name;
  EXPECT_TRUE(fs::exists(path)) << path << " is missing: build the examples (VED_BUILD_EXAMPLES)";
  return path;
}

// The demo checkpoint `name` holds exactly the fixture model's weights and config.
void expect_same_model(const std::string& name, const std::string& fixture_model) {
  for (const char* file : {"config.json", "generation_config.json", "model.safetensors"})
    ASSERT_EQ(test::read_file(demo(name) + "/" + file),
              test::read_file(test::fixture("models/" + fixture_model + "/" + file)))
        << name << "/" << file << " differs from fixture " << fixture_model;
}

detail::json fixture_case(const std::string& model, const std::string& name) {
  const detail::json meta =
      detail::read_json_file(test::fixture("models/" + model + "/expected.json"));
  for (const auto& c : meta["generate"])
    if (c["name"] == name) return c;
  ADD_FAILURE() << "no case " << name << " in " << model;
  return {};
}

// A fixture row cut after its first eos, as ved::TextResult::tokens is.
std::vector<int64_t> cut_after_eos(std::vector<int64_t> seq, int64_t eos) {
  auto it = std::find(seq.begin() + 1, seq.end(), eos);
  if (it != seq.end()) seq.erase(it + 1, seq.end());
  return seq;
}

double number_after(const std::string& text, const std::string& marker) {
  const size_t at = text.find(marker);
  EXPECT_NE(at, std::string::npos) << "'" << marker << "' not in: " << text;
  return at == std::string::npos ? NAN : std::strtod(text.c_str() + at + marker.size(), nullptr);
}

TEST(Examples, CaptionBeamSearchMatchesTransformers) {
  expect_same_model("demo-vit-gpt2", "vit-gpt2");
  const detail::json c = fixture_case("vit-gpt2", "beam4_model_eos");
  ASSERT_EQ(c["args"], detail::json({{"max_new_tokens", 8}, {"num_beams", 4}}));
  const std::string pixels = test::fixture("models/vit-gpt2/expected.safetensors");
  const CliResult r = run_program(
      example("caption", "caption"),
      {"--model", demo("demo-vit-gpt2"), "--beams", "4", "--max-new-tokens", "8", pixels});
  ASSERT_EQ(r.status, 0) << r.out;
  const auto tokenizer = Tokenizer::from_pretrained(demo("demo-vit-gpt2"));
  for (size_t b = 0; b < 2; ++b) {
    const std::string prefix = pixels + "#" + std::to_string(b) + ": " +
                               tokenizer->decode(c["sequences"][b].get<std::vector<int64_t>>()) +
                               "  [score ";
    EXPECT_NEAR(number_after(r.out, prefix), c["sequences_scores"][b].get<double>(), 1e-4);
  }
}

TEST(Examples, CaptionStreamsTheGreedyText) {
  const std::string pixels = test::fixture("models/vit-gpt2/expected.safetensors");
  const CliResult r =
      run_program(example("caption", "caption"),
                  {"--model", demo("demo-vit-gpt2"), "--stream", "--max-new-tokens", "12", pixels},
                  /*merge_stderr=*/false);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto tokenizer = Tokenizer::from_pretrained(demo("demo-vit-gpt2"));
  std::string expected;
  for (const char* name : {"greedy_img0", "greedy_img1"})
    expected += pixels + ": " +
                tokenizer->decode(
                    fixture_case("vit-gpt2", name)["sequences"][0].get<std::vector<int64_t>>()) +
                "\n";
  EXPECT_EQ(r.out, expected);
}

TEST(Examples, OcrPerTokenConfidenceMatchesTransformers) {
  expect_same_model("demo-trocr", "vit-trocr");
  const detail::json c = fixture_case("vit-trocr", "greedy_batch");
  ASSERT_EQ(c["args"], detail::json({{"max_new_tokens", 12}}));
  const std::string dir = test::fixture("models/vit-trocr");
  const CliResult r = run_program(
      example("ocr", "ocr"),
      {"--model", demo("demo-trocr"), "--max-new-tokens", "12", dir + "/expected.safetensors"},
      /*merge_stderr=*/false);
  ASSERT_EQ(r.status, 0) << r.out;
  // Row 0: transformers' processed scores of every step give each chosen token's probability.
  const auto scores =
      SafetensorsFile::open(dir + "/expected.safetensors")->tensor<float>(c["scores_key"]);
  const std::vector<int64_t> seq = cut_after_eos(c["sequences"][0].get<std::vector<int64_t>>(), 2);
  std::istringstream lines(r.out);
  std::string header;
  std::getline(lines, header);
  const auto tokenizer = Tokenizer::from_pretrained(demo("demo-trocr"));
  EXPECT_EQ(header.substr(0, header.find("  (confidence")),
            dir + "/expected.safetensors#0: " + tokenizer->decode(seq));
  double sum_logprob = 0;
  for (size_t t = 0; t + 1 < seq.size(); ++t) {
    const float* s = scores.data() + static_cast<int64_t>(t) * scores.dim(1);
    double z = 0;
    for (int64_t v = 0; v < scores.dim(1); ++v) z += std::exp(static_cast<double>(s[v]));
    const double logprob = s[seq[t + 1]] - std::log(z);
    sum_logprob += logprob;
    std::string line;
    ASSERT_TRUE(std::getline(lines, line)) << r.out;
    long long step = -1, id = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "%lld %lld", &step, &id), 2) << line;
    EXPECT_EQ(step, static_cast<long long>(t));
    EXPECT_EQ(id, seq[t + 1]);
    EXPECT_NEAR(std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr), std::exp(logprob), 2e-4)
        << line;
  }
  EXPECT_NEAR(number_after(header, "(confidence "),
              std::exp(sum_logprob / static_cast<double>(seq.size() - 1)), 2e-4);
}

TEST(Examples, DonutJsonOfTransformersSequence) {
  expect_same_model("demo-donut", "donutswin-mbart");
  const detail::json c = fixture_case("donutswin-mbart", "greedy_batch");
  ASSERT_EQ(c["args"], detail::json({{"max_new_tokens", 12}}));
  const std::string pixels = test::fixture("models/donutswin-mbart/expected.safetensors");
  // "</s>" is the decoder start token (2), so the prompt reproduces the fixture's plain start;
  // the example's bad_words_ids=[[<unk>]] cannot change a sequence that never picks <unk> (3).
  const CliResult r = run_program(
      example("donut", "donut"),
      {"--model", demo("demo-donut"), "--prompt", "</s>", "--max-new-tokens", "12", pixels},
      /*merge_stderr=*/false);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto tokenizer = Tokenizer::from_pretrained(demo("demo-donut"));
  std::string expected;
  for (size_t b = 0; b < 2; ++b) {
    const auto seq = c["sequences"][b].get<std::vector<int64_t>>();
    ASSERT_EQ(std::count(seq.begin(), seq.end(), 3), 0);
    expected += pixels + "#" + std::to_string(b) + ": " +
                donut_sequence_to_json(*tokenizer, cut_after_eos(seq, 2), "</s>", "<pad>").dump() +
                "\n";
  }
  EXPECT_EQ(r.out, expected);
}

TEST(Examples, DonutTaskPromptGivesJson) {
  const CliResult r = run_program(example("donut", "donut"),
                                  {"--model", demo("demo-donut"), "--prompt", "<s_demo>",
                                   "--max-new-tokens", "20", kImages + "/coco_000000039769.png"},
                                  /*merge_stderr=*/false);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string prefix = kImages + "/coco_000000039769.png: ";
  ASSERT_EQ(r.out.rfind(prefix, 0), 0u) << r.out;
  const detail::json j = detail::json::parse(r.out.substr(prefix.size()));
  EXPECT_TRUE(j.is_object() || j.is_array()) << r.out;
}

TEST(Examples, BatchReportsBadImagesAndMatchesSingleImages) {
  test::TempDir tmp;
  const std::string bad = tmp.write("broken.png", std::string("\x89PNG\r\n\x1a\nnot really"));
  const std::vector<std::string> good = {kImages + "/coco_000000039769.png",
                                         kImages + "/gradient_37x23.png",
                                         kImages + "/tall_20x90.png"};
  const CliResult r = run_program(
      example("batch", "batch"),
      {"--model", demo("demo-trocr"), "--batch-size", "2", good[0], good[1], bad, good[2]},
      /*merge_stderr=*/false);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto pipeline = ImageToText::from_pretrained(demo("demo-trocr"));
  std::istringstream lines(r.out);
  std::map<std::string, detail::json> by_image;
  for (std::string line; std::getline(lines, line);) {
    const detail::json j = detail::json::parse(line);
    by_image[j["image"]] = j;
  }
  ASSERT_EQ(by_image.size(), 4u) << r.out;
  EXPECT_NE(by_image[bad]["error"].get<std::string>().find(bad), std::string::npos);
  for (const auto& path : good) {
    // Batched with other images, each gets what it gets alone.
    const TextResult alone =
        pipeline.run(load_image(path), {{"max_new_tokens", 16}, {"num_beams", 1}});
    EXPECT_EQ(by_image[path]["tokens"], detail::json(alone.tokens)) << path;
    EXPECT_EQ(by_image[path]["text"], alone.text) << path;
  }
}

// The C example, and the Python one through ctypes, print what the C++ API gives.
TEST(Examples, CAndPythonPrintTheLibrarysCaption) {
  const std::string image = kImages + "/gray_45x30.png";
  const auto pipeline = ImageToText::from_pretrained(demo("demo-trocr"));
  const TextResult expected =
      pipeline.run(load_image(image), {{"max_new_tokens", 16}, {"num_beams", 4}});
  char confidence[32];
  std::snprintf(confidence, sizeof confidence, "%.4f", expected.confidence);
  const std::string line = image + ": " + expected.text + " (confidence " + confidence + ")\n";

  const CliResult c = run_program(example("c", "caption_c"), {demo("demo-trocr"), image});
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(c.out, line);
  const CliResult missing =
      run_program(example("c", "caption_c"), {demo("demo-trocr"), "/nonexistent.png"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("I/O error: /nonexistent.png"), std::string::npos) << missing.out;

  if (test::run_shell("command -v python3").status != 0)
    GTEST_SKIP() << "python3 is not installed: examples/python/caption.py not run";
  const CliResult py =
      run_program("python3", {kSource + "/examples/python/caption.py", "--lib",
                              test::build_dir() + "/libved_c.so", demo("demo-trocr"), image});
  ASSERT_EQ(py.status, 0) << py.out;
  EXPECT_EQ(py.out, line);
}

// Every command in the examples' README files runs as written (from the repository root, with
// the README's build/ standing for this build tree).
TEST(Examples, ReadmeCommandsRun) {
  int commands = 0;
  for (const char* dir : {"caption", "ocr", "donut", "batch", "c", "python"}) {
    const std::string readme = kSource + "/examples/" + dir + "/README.md";
    std::istringstream text(test::read_file(readme));
    bool in_block = false;
    for (std::string line; std::getline(text, line);) {
      if (line.rfind("```", 0) == 0) {
        in_block = line == "```sh";
        continue;
      }
      if (!in_block || line.empty() || line[0] == '#' || line.rfind("cmake", 0) == 0) continue;
      const std::string cmd =
          std::regex_replace(line, std::regex("(^| )build/"), "$1" + test::build_dir() + "/");
      const CliResult r = test::run_shell("cd " + test::shell_quote(kSource) + " && " + cmd);
      EXPECT_EQ(r.status, 0) << readme << ": " << line << "\n" << r.out;
      ++commands;
    }
  }
  EXPECT_GE(commands, 6);
}

}  // namespace
}  // namespace ved
