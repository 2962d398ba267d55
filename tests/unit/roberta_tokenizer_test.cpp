// RobertaTokenizer against transformers' slow RobertaTokenizer on GPT-2's files
// (tests/data/fixtures/tokenizers/roberta): <s> ... </s>, added special tokens beyond the
// vocabulary, and <mask> swallowing the space before it.

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../test_util.hpp"
#include "../tokenizer_cases.hpp"
#include "ved/detail/json.hpp"
#include "ved/processing/gpt2_tokenizer.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;
using detail::json;

const std::string kRobertaDir = std::string(VED_TEST_DATA) + "/fixtures/tokenizers/roberta";

using test::TempDir;

void write_file(const fs::path& path, const std::string& text) {
  test::write_file(path.string(), text);
}

TEST(RobertaTokenizer, MatchesTransformersOnEveryFixtureCase) {
  const json expected = detail::read_json_file(kRobertaDir + "/expected.json");
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(kRobertaDir);
  ASSERT_NE(dynamic_cast<RobertaTokenizer*>(tok.get()), nullptr);
  test::expect_tokenizer_matches_fixture(*tok, expected);
}

TEST(RobertaTokenizer, FixtureMetadata) {
  const json expected = detail::read_json_file(kRobertaDir + "/expected.json");
  const RobertaTokenizer tok(kRobertaDir);
  EXPECT_EQ(tok.vocab_size(), expected["vocab_size"].get<int64_t>());
  EXPECT_EQ(tok.total_vocab_size(), expected["len_with_added_tokens"].get<int64_t>());
  EXPECT_EQ(tok.clean_up_tokenization_spaces(),
            expected["clean_up_tokenization_spaces_default"].get<bool>());
  for (const auto& [token, id] : expected["special_token_ids"].items())
    EXPECT_EQ(tok.token_to_id(token), id.get<int64_t>()) << token;
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kCls), 50257);
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kSep), 50258);
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kMask), 50261);
  EXPECT_TRUE(tok.added_tokens_decoder().at(50261).lstrip);
  EXPECT_EQ(tok.all_special_tokens(),
            (std::vector<std::string>{"<s>", "</s>", "<unk>", "<pad>", "<mask>"}));
}

// The same tokenizer from the pre-4.34 file layout: no added_tokens_decoder, so the special
// tokens come from special_tokens_map.json and their ids from added_tokens.json; <mask> keeps
// its lstrip from special_tokens_map.json.
TEST(RobertaTokenizer, LegacyFilesGiveTheSameResults) {
  TempDir dir;
  for (const char* name :
       {"vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json"})
    fs::copy_file(kRobertaDir + "/" + name, dir.path() / name);
  write_file(dir.path() / "tokenizer_config.json",
             R"({"tokenizer_class": "RobertaTokenizer", "errors": "replace"})");
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(dir.str());
  test::expect_tokenizer_matches_fixture(*tok,
                                         detail::read_json_file(kRobertaDir + "/expected.json"));
}

// Without any special-token files RobertaTokenizer's defaults apply: the five tokens get ids
// after the vocabulary in SPECIAL_TOKENS_ATTRIBUTES order (bos, eos, unk, sep, pad, cls, mask),
// and <mask> gets lstrip from the class itself.
TEST(RobertaTokenizer, ClassDefaultsWithoutConfig) {
  TempDir dir;
  for (const char* name : {"vocab.json", "merges.txt"})
    fs::copy_file(kRobertaDir + "/" + name, dir.path() / name);
  const RobertaTokenizer tok(dir.str());
  EXPECT_EQ(tok.token_to_id("<s>"), 50257);
  EXPECT_EQ(tok.token_to_id("</s>"), 50258);
  EXPECT_EQ(tok.token_to_id("<unk>"), 50259);
  EXPECT_EQ(tok.token_to_id("<pad>"), 50260);
  EXPECT_EQ(tok.token_to_id("<mask>"), 50261);
  EXPECT_EQ(tok.tokenize("a <mask> b"), (std::vector<std::string>{"a", "<mask>", "Ġb"}));
  EXPECT_EQ(tok.encode("hi"), (std::vector<int64_t>{50257, 5303, 50258}));
}

TEST(RobertaTokenizer, AddPrefixSpaceOnlyBeforeNonSpace) {
  TempDir dir;
  for (const char* name : {"vocab.json", "merges.txt"})
    fs::copy_file(kRobertaDir + "/" + name, dir.path() / name);
  write_file(dir.path() / "tokenizer_config.json", R"({"add_prefix_space": true})");
  const RobertaTokenizer tok(dir.str());
  EXPECT_EQ(tok.tokenize("Hello"), (std::vector<std::string>{"ĠHello"}));
  EXPECT_EQ(tok.tokenize(" Hello"), (std::vector<std::string>{"ĠHello"}));
  EXPECT_EQ(tok.tokenize(""), std::vector<std::string>{});
}

}  // namespace
}  // namespace ved
