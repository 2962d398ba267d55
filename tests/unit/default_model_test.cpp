// The embedded default model: where it is found (ved/default_model.hpp, the C API), the CLI
// reading the shipped samples without --model, --model and VED_DEFAULT_MODEL taking precedence,
// and every subcommand's --help.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "../cli_runner.hpp"
#include "../test_util.hpp"
#include "ved/default_model.hpp"
#include "ved/error.hpp"
#include "ved/ved.h"

namespace ved {
namespace {

namespace fs = std::filesystem;

const std::string kExamples = std::string(VED_TEST_DATA) + "/../../examples/models";
const std::string kTinyOcr = kExamples + "/tiny-ocr";
const std::string kDemo = kExamples + "/demo-vit-gpt2";

// Runs the CLI with VED_DEFAULT_MODEL set to `env` ("" unsets it), whatever the caller's
// environment holds.
test::CliResult ved_cli_env(const std::string& env, const std::vector<std::string>& args) {
  std::string cmd = env.empty() ? "env -u VED_DEFAULT_MODEL "
                                : "env VED_DEFAULT_MODEL=" + test::shell_quote(env) + " ";
  cmd += test::shell_quote(VED_CLI_PATH);
  for (const auto& a : args) cmd += " " + test::shell_quote(a);
  return test::run_shell(cmd);
}

// Clears this process's settings around each test.
class DefaultModel : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("VED_DEFAULT_MODEL");
    set_default_model_dir("");
  }
  void TearDown() override { SetUp(); }
};

TEST_F(DefaultModel, SearchesTheSettingThenTheEnvironmentThenBesideTheExecutable) {
  set_default_model_dir(kDemo);
  ::setenv("VED_DEFAULT_MODEL", kTinyOcr.c_str(), 1);
  const std::vector<DefaultModelCandidate> search = default_model_search();
  ASSERT_GE(search.size(), 4u);
  EXPECT_EQ(search[0].origin, "set_default_model_dir");
  EXPECT_EQ(search[0].dir, kDemo);
  EXPECT_TRUE(search[0].found);
  EXPECT_EQ(search[1].origin, "VED_DEFAULT_MODEL");
  EXPECT_EQ(search[2].origin, "build tree");
  EXPECT_EQ(search[3].origin, "install prefix");
  EXPECT_EQ(fs::path(search[2].dir).filename(), "tiny-ocr");
  EXPECT_EQ(default_model_dir(), kDemo);

  set_default_model_dir("");
  EXPECT_EQ(default_model_dir(), kTinyOcr);
  EXPECT_STREQ(default_model_name(), "tiny-ocr");
}

TEST_F(DefaultModel, AWrongSettingIsAnErrorNotAFallback) {
  set_default_model_dir("/nonexistent/model");
  std::string m = test::expect_throw_message<IoError>([] { default_model_dir(); });
  EXPECT_NE(m.find("set_default_model_dir"), std::string::npos) << m;
  EXPECT_NE(m.find("/nonexistent/model"), std::string::npos) << m;

  set_default_model_dir("");
  ::setenv("VED_DEFAULT_MODEL", kExamples.c_str(), 1);  // a folder, but no config.json
  m = test::expect_throw_message<IoError>([] { default_model_dir(); });
  EXPECT_NE(m.find("VED_DEFAULT_MODEL"), std::string::npos) << m;
  EXPECT_NE(m.find("config.json"), std::string::npos) << m;
}

TEST_F(DefaultModel, CApiLoadsAndReportsIt) {
  ASSERT_EQ(ved_set_default_model_dir(kTinyOcr.c_str()), VED_OK);
  ASSERT_NE(ved_default_model_dir(), nullptr) << ved_last_error_message();
  EXPECT_EQ(std::string(ved_default_model_dir()), kTinyOcr);
  ved_model* model = nullptr;
  ASSERT_EQ(ved_model_load_default(&model), VED_OK) << ved_last_error_message();
  ved_result* r = nullptr;
  ASSERT_EQ(ved_caption_file(model, (kTinyOcr + "/samples/04.png").c_str(), nullptr, &r), VED_OK)
      << ved_last_error_message();
  EXPECT_STREQ(r->text, "Invoice #4711");  // samples/expected.json
  ved_result_free(r);
  ved_model_free(model);

  ASSERT_EQ(ved_set_default_model_dir("/nonexistent/model"), VED_OK);
  EXPECT_EQ(ved_default_model_dir(), nullptr);
  EXPECT_NE(std::string(ved_last_error_message()).find("/nonexistent/model"), std::string::npos);
  model = reinterpret_cast<ved_model*>(&model);
  EXPECT_EQ(ved_model_load_default(&model), VED_ERR_IO);
  EXPECT_EQ(model, nullptr);
  EXPECT_EQ(ved_model_load_default(nullptr), VED_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ved_set_default_model_dir(nullptr), VED_OK);  // forgets it
}

TEST(DefaultModelCli, CaptionWithoutModelReadsEverySample) {
  const detail::json expected =
      detail::parse_json(test::read_file(kTinyOcr + "/samples/expected.json"), "expected.json");
  std::vector<std::string> args = {"caption"};
  std::string want;
  for (const auto& s : expected["samples"]) {
    args.push_back(kTinyOcr + "/samples/" + s["file"].get<std::string>());
    want += s["text"].get<std::string>() + "\n";
  }
  const test::CliResult r = ved_cli_env("", args);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, want);
}

TEST(DefaultModelCli, ModelOptionAndEnvironmentWin) {
  const std::string image = kTinyOcr + "/samples/00.png";
  // demo-vit-gpt2's random weights do not read "INV-2024-0042"; the sequence it gives is its own.
  const test::CliResult demo = ved_cli_env("", {"caption", "--model", kDemo, "--json", image});
  ASSERT_EQ(demo.status, 0) << demo.out;
  const detail::json got = detail::json::parse(demo.out);
  EXPECT_NE(got[0]["text"], "INV-2024-0042");
  EXPECT_EQ(ved_cli_env(kDemo, {"caption", "--json", image}).out, demo.out);
  EXPECT_EQ(ved_cli_env(kDemo, {"caption", "--model", kTinyOcr, image}).out, "INV-2024-0042\n");

  const test::CliResult bad = ved_cli_env("/nonexistent/model", {"caption", image});
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("VED_DEFAULT_MODEL"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("/nonexistent/model"), std::string::npos) << bad.out;
}

TEST(DefaultModelCli, VersionAndModelsSayWhichIsUsed) {
  const test::CliResult v = ved_cli_env("", {"--version"});
  ASSERT_EQ(v.status, 0) << v.out;
  EXPECT_NE(v.out.find("default model: tiny-ocr"), std::string::npos) << v.out;

  const test::CliResult m = ved_cli_env("", {"models", "--json"});
  ASSERT_EQ(m.status, 0) << m.out;
  const detail::json j = detail::json::parse(m.out);
  const fs::path in_use = j["default"].get<std::string>();
  EXPECT_EQ(fs::canonical(in_use),
            fs::canonical(fs::path(test::build_dir()) / "share/ved/models/tiny-ocr"));
  EXPECT_EQ(j["searched"][0]["origin"], "build tree");
  EXPECT_TRUE(j["searched"][0]["found"].get<bool>());

  const test::CliResult e = ved_cli_env(kDemo, {"models"});
  ASSERT_EQ(e.status, 0) << e.out;
  EXPECT_NE(e.out.find("default model: " + kDemo), std::string::npos) << e.out;
}

TEST(DefaultModelCli, EverySubcommandAnswersHelp) {
  for (const std::string cmd : {"caption", "generate", "forward", "preprocess", "convert",
                                "tokenize", "detokenize", "models", "bench"}) {
    for (const std::string flag : {"--help", "-h"}) {
      const test::CliResult r = ved_cli_env("", {cmd, flag});
      EXPECT_EQ(r.status, 0) << cmd << " " << flag << ": " << r.out;
      EXPECT_EQ(r.out.rfind("usage: ved " + cmd, 0), 0u) << cmd << " " << flag << ": " << r.out;
    }
  }
  // After `--`, "--help" is the text to tokenize.
  const test::CliResult t = ved_cli_env("", {"tokenize", "--", "--help"});
  ASSERT_EQ(t.status, 0) << t.out;
  EXPECT_EQ(t.out, "12 12 71 68 75 79\n");  // one byte a token: '-' is 12, 'h' 71 (vocab.json)
  const test::CliResult all = ved_cli_env("", {"--help"});
  EXPECT_EQ(all.status, 0);
  for (const std::string cmd : {"caption", "tokenize", "bench", "models"})
    EXPECT_NE(all.out.find("\n  " + cmd + " "), std::string::npos) << cmd;
}

}  // namespace
}  // namespace ved
