// `ved tokenize` and `ved detokenize` end to end on the tokenizer fixtures (folders with only
// tokenizer files: no config.json, no weights).

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "../cli_runner.hpp"
#include "../test_util.hpp"
#include "ved/detail/json.hpp"
#include "ved/processing/auto_tokenizer.hpp"

namespace ved {
namespace {

using detail::json;

using Result = test::CliResult;
using test::ved_cli;

class CliTokenize : public ::testing::TestWithParam<std::string> {
 protected:
  std::string dir() const { return test::fixture("tokenizers/" + GetParam()); }
  // Every case for the fast-loading tokenizers; every fifth for GPT-2's 50k-token BPE files,
  // which take a quarter of a second to load per run.
  json cases() const {
    const json all = detail::read_json_file(dir() + "/expected.json")["cases"];
    const std::size_t step = GetParam() == "gpt2" || GetParam() == "roberta" ? 5 : 1;
    json some = json::array();
    for (std::size_t i = 0; i < all.size(); i += step) some.push_back(all[i]);
    return some;
  }
};

// The fixture texts, with and without special tokens on alternate cases.
TEST_P(CliTokenize, TokenizeMatchesTransformers) {
  int i = 0;
  for (const json& c : cases()) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE("text: " + text);
    const bool special = i++ % 2 == 0;
    std::vector<std::string> args = {"tokenize", "--model", dir(), "--json"};
    if (special) args.push_back("--add-special-tokens");
    args.insert(args.end(), {"--", text});
    const Result r = ved_cli(args);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(json::parse(r.out), c[special ? "ids_with_special" : "ids"]);
  }
}

TEST_P(CliTokenize, DetokenizeMatchesTransformers) {
  int i = 0;
  for (const json& c : cases()) {
    SCOPED_TRACE("text: " + c["text"].get<std::string>());
    const bool skip = i++ % 2 == 0;
    std::vector<std::string> args = {"detokenize", "--model", dir(), "--json"};
    if (skip) args.push_back("--skip-special-tokens");
    args.push_back(c["ids_with_special"].dump());
    const Result r = ved_cli(args);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(json::parse(r.out), c[skip ? "decode_skip_special" : "decode_keep_special"]);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CliTokenize,
                         ::testing::Values("bert-uncased", "xlm-roberta", "gpt2", "roberta",
                                           "bert-japanese-char"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

const std::string kBert = test::fixture("tokenizers/bert-uncased");

TEST(CliTokenizeText, PlainOutput) {
  const json hello = detail::read_json_file(kBert + "/expected.json")["cases"][0];
  ASSERT_EQ(hello["text"], "Hello world");
  std::string ids;
  for (const json& id : hello["ids_with_special"]) ids += (ids.empty() ? "" : " ") + id.dump();
  Result r = ved_cli({"tokenize", "--model", kBert, "--add-special-tokens", "--", "Hello world"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, ids + "\n");
  r = ved_cli({"detokenize", "--model", kBert, "[101, 7592, 2088, 102]"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "[CLS] hello world [SEP]\n");
  r = ved_cli({"detokenize", "--model", kBert, "--skip-special-tokens", "[]"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "\n");
  // Text that looks like an option, after "--".
  r = ved_cli({"tokenize", "--model", kBert, "--json", "--", "--json"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out), json(Tokenizer::from_pretrained(kBert)->encode("--json", false)));
}

TEST(CliTokenizeText, Errors) {
  // An id outside the vocabulary is an error naming it.
  Result r = ved_cli({"detokenize", "--model", kBert, "[101, 30522]"});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("30522"), std::string::npos) << r.out;
  // Usage errors.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"detokenize", "--model", kBert, "[1, \"two\"]"},
           {"detokenize", "--model", kBert, "{\"ids\": [1]}"},
           {"detokenize", "--model", kBert, "[1, 2"},
           {"detokenize", "--model", kBert, "[1.5]"},
           {"detokenize", "--model", kBert},
           {"tokenize", "--model", kBert},
           {"tokenize", "--model", kBert, "--", "a", "b"},
           {"tokenize", "--model", kBert, "--skip-special-tokens", "--", "text"},
           {"detokenize", "--model", kBert, "--add-special-tokens", "[1]"}}) {
    r = ved_cli(args);
    EXPECT_EQ(r.status, 2) << args.back() << ": " << r.out;
  }
  // A folder without tokenizer files.
  r = ved_cli({"tokenize", "--model", test::fixture("images/vit-32"), "--", "text"});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("vocab.txt"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ved
