// FastTokenizer, the tokenizer.json engine, against the Rust `tokenizers` library:
//   * the four tokenizer.json fixtures (tests/data/fixtures/tokenizers/*-fast), every case and
//     decode case exactly, as the library (npm tokenizers 0.23.2) produced them;
//   * each pipeline component on the examples of the library's own unit tests;
//   * which folders AutoTokenizer runs on the engine;
//   * hostile tokenizer.json files: errors that name the file and component, never a crash;
//   * `ved tokenize` / `ved detokenize` on the Nougat folder.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../cli_runner.hpp"
#include "../test_util.hpp"
#include "../tokenizer_cases.hpp"
#include "ved/detail/json.hpp"
#include "ved/processing/auto_tokenizer.hpp"
#include "ved/processing/fast_tokenizer.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;
using detail::json;
using test::expect_throw_message;
using test::TempDir;

std::string fixture_dir(const std::string& name) {
  return test::fixture("tokenizers/" + name);
}

// ---- the fixtures ----

struct FixtureInfo {
  const char* dir;
  const char* tokenizer_class;
  std::size_t decode_cases;
};

class FastFixture : public ::testing::TestWithParam<FixtureInfo> {
 protected:
  std::string dir() const { return fixture_dir(GetParam().dir); }
  json expected() const { return detail::read_json_file(dir() + "/expected.json"); }
};

TEST_P(FastFixture, LoadsOnTheEngine) {
  const auto tok = Tokenizer::from_pretrained(dir());
  const auto* fast = dynamic_cast<const FastTokenizer*>(tok.get());
  ASSERT_NE(fast, nullptr);
  EXPECT_EQ(fast->tokenizer_class(), GetParam().tokenizer_class);
}

TEST_P(FastFixture, EveryCaseMatchesTheRustLibrary) {
  test::expect_tokenizer_matches_fixture(*Tokenizer::from_pretrained(dir()), expected(), 58);
}

TEST_P(FastFixture, EveryDecodeCaseMatchesTheRustLibrary) {
  test::expect_decode_cases_match_fixture(*Tokenizer::from_pretrained(dir()), expected(),
                                          GetParam().decode_cases);
}

TEST_P(FastFixture, Metadata) {
  const json e = expected();
  const auto tok = Tokenizer::from_pretrained(dir());
  const auto& fast = dynamic_cast<const FastTokenizer&>(*tok);
  EXPECT_EQ(tok->vocab_size(), e["vocab_size"].get<int64_t>());
  EXPECT_EQ(tok->total_vocab_size(), e["len_with_added_tokens"].get<int64_t>());
  EXPECT_EQ(tok->clean_up_tokenization_spaces(),
            e["clean_up_tokenization_spaces_default"].get<bool>());
  for (const auto& [token, id] : e["special_token_ids"].items())
    EXPECT_EQ(tok->token_to_id(token), id.get<int64_t>()) << token;
  for (const auto& [token, id] : e["added_tokens"].items()) {
    EXPECT_EQ(tok->token_to_id(token), id.get<int64_t>()) << token;
    EXPECT_EQ(tok->id_to_token(id.get<int64_t>()), token);
  }
  std::vector<std::string> special;
  for (const auto& [id, token] : fast.added_tokens_decoder())
    if (fast.is_special_token(token.content)) special.push_back(token.content);
  EXPECT_EQ(special, e["added_tokens_special_flag"].get<std::vector<std::string>>());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FastFixture,
                         ::testing::Values(FixtureInfo{"nougat-fast", "NougatTokenizer", 21},
                                           FixtureInfo{"gpt2-fast", "GPT2Tokenizer", 21},
                                           FixtureInfo{"roberta-fast", "RobertaTokenizer", 21},
                                           FixtureInfo{"bert-uncased-fast", "BertTokenizer", 7}),
                         [](const auto& info) {
                           std::string name = info.param.dir;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

// The README's notes on Nougat, one by one.
TEST(FastTokenizerNougat, WhatTheFixtureNotes) {
  const auto tok = Tokenizer::from_pretrained(fixture_dir("nougat-fast"));
  // The file's padding (4096) and truncation are not applied.
  EXPECT_EQ(tok->encode("Hello world", true), (std::vector<int64_t>{0, 62, 13716, 3523, 2}));
  // All 23 added tokens are special.
  EXPECT_EQ(tok->decode({62, 13716, 4, 3523, 5}, true), "Hello world");
  EXPECT_EQ(tok->decode({62, 13716, 4, 3523, 5}, false), "Hello[START_REF] world[END_REF]");
  // Added tokens are matched in the raw text, anywhere in a word.
  EXPECT_EQ(tok->tokenize("x[IMAGE]y"), (std::vector<std::string>{"x", "[IMAGE]", "y"}));
  // NFKC, and digits are single tokens.
  EXPECT_EQ(tok->tokenize("\xEF\xAC\x81 12"),
            (std::vector<std::string>{"fi", "\xC4\xA0", "1", "2"}));
  // Cutting a UTF-8 character gives U+FFFD.
  EXPECT_EQ(tok->decode({195, 120, 268}, true), "\xEF\xBF\xBD");
}

// ---- components, on the Rust library's own test examples ----

using detail::fast::Where;

std::vector<std::string> pre_tokenize(const json& pre, const std::string& text) {
  const auto p = detail::fast::parse_pre_tokenizer(pre, Where{"test.json", "pre_tokenizer"});
  std::vector<detail::fast::Split> splits(1);
  splits[0].text = text;
  splits[0].at_origin = true;
  p->pre_tokenize(splits);
  std::vector<std::string> out;
  for (const auto& s : splits) out.push_back(s.text);
  return out;
}

std::string normalize(const json& n, std::string text) {
  detail::fast::parse_normalizer(n, Where{"test.json", "normalizer"})->normalize(text);
  return text;
}

std::vector<std::string> decode_chain(const json& d, std::vector<std::string> tokens) {
  detail::fast::parse_decoder(d, Where{"test.json", "decoder"})->decode_chain(tokens);
  return tokens;
}

using Strings = std::vector<std::string>;

TEST(FastTokenizerPreTokenizers, SplitBehaviors) {
  auto split = [](const char* behavior) {
    return json{{"type", "Split"},
                {"pattern", {{"Regex", "\\w+|[^\\w\\s]+"}}},
                {"behavior", behavior},
                {"invert", true}};
  };
  const std::string text = "How are you doing?";
  EXPECT_EQ(pre_tokenize(split("Removed"), text), (Strings{"How", "are", "you", "doing", "?"}));
  EXPECT_EQ(pre_tokenize(split("Isolated"), text),
            (Strings{"How", " ", "are", " ", "you", " ", "doing", "?"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithPrevious"), text),
            (Strings{"How ", "are ", "you ", "doing", "?"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithNext"), text),
            (Strings{"How", " are", " you", " doing", "?"}));
  EXPECT_EQ(pre_tokenize(split("Contiguous"), text),
            (Strings{"How", " ", "are", " ", "you", " ", "doing?"}));
  // A String pattern is a literal, also when it looks like a regex; invert keeps the matches.
  const json literal = {{"type", "Split"},
                        {"pattern", {{"String", "."}}},
                        {"behavior", "Removed"},
                        {"invert", false}};
  EXPECT_EQ(pre_tokenize(literal, "a.b.c"), (Strings{"a", "b", "c"}));
  EXPECT_EQ(pre_tokenize(literal, "abc"), (Strings{"abc"}));
  const json hello = {{"type", "Split"},
                      {"pattern", {{"String", "Hello"}}},
                      {"behavior", "Removed"},
                      {"invert", true}};
  EXPECT_EQ(pre_tokenize(hello, "Hello Hello Hello"), (Strings{"Hello", "Hello", "Hello"}));
}

TEST(FastTokenizerPreTokenizers, Whitespace) {
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "Hey man!"), (Strings{"Hey", "man", "!"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "How are you doing?"),
            (Strings{"How", "are", "you", "doing", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "\n"), Strings{});
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, "Hey man!"), (Strings{"Hey", "man!"}));
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, "Hey, man, Good?"),
            (Strings{"Hey,", "man,", "Good?"}));
}

TEST(FastTokenizerPreTokenizers, PunctuationDigitsBertAndDelimiter) {
  const std::string text = "Hey friend!     How are you?!?";
  EXPECT_EQ(pre_tokenize({{"type", "Punctuation"}}, text),
            (Strings{"Hey friend", "!", "     How are you", "?", "!", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "BertPreTokenizer"}}, text),
            (Strings{"Hey", "friend", "!", "How", "are", "you", "?", "!", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "Hey 123 friend!"),
            (Strings{"Hey ", "123", " friend!"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "Hey 123 friend!"),
            (Strings{"Hey ", "1", "2", "3", " friend!"}));
  EXPECT_EQ(pre_tokenize({{"type", "CharDelimiterSplit"}, {"delimiter", "x"}}, "axbxxc"),
            (Strings{"a", "b", "c"}));
}

TEST(FastTokenizerPreTokenizers, Metaspace) {
  const json always = {{"type", "Metaspace"},
                       {"replacement", "\xE2\x96\x81"},
                       {"prepend_scheme", "always"},
                       {"split", true}};
  EXPECT_EQ(pre_tokenize(always, "Hey friend!"), (Strings{"\xE2\x96\x81Hey",
                                                          "\xE2\x96\x81"
                                                          "friend!"}));
  EXPECT_EQ(pre_tokenize(always, "Hey   friend!"),
            (Strings{"\xE2\x96\x81Hey", "\xE2\x96\x81", "\xE2\x96\x81",
                     "\xE2\x96\x81"
                     "friend!"}));
  json never = always;
  never["prepend_scheme"] = "never";
  never["split"] = false;
  EXPECT_EQ(pre_tokenize(never, "Hey friend!"), (Strings{"Hey\xE2\x96\x81"
                                                         "friend!"}));
  // The older add_prefix_space spelling.
  const json legacy = {{"type", "Metaspace"}, {"replacement", "_"}, {"add_prefix_space", true}};
  EXPECT_EQ(pre_tokenize(legacy, "a b"), (Strings{"_a", "_b"}));
  json conflicting = legacy;
  conflicting["add_prefix_space"] = false;
  conflicting["prepend_scheme"] = "always";
  EXPECT_THROW(pre_tokenize(conflicting, "a"), ConfigError);
}

TEST(FastTokenizerPreTokenizers, ByteLevel) {
  const json prefix = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  const Strings expected = {"\xC4\xA0Hello",
                            "\xC4\xA0my",
                            "\xC4\xA0"
                            "friend",
                            ",",
                            "\xC4\xA0how",
                            "\xC4\xA0is",
                            "\xC4\xA0your",
                            "\xC4\xA0"
                            "day",
                            "\xC4\xA0going",
                            "?"};
  EXPECT_EQ(pre_tokenize(prefix, "Hello my friend, how is your day going?"), expected);
  EXPECT_EQ(pre_tokenize(prefix, " Hello my friend, how is your day going?"), expected);
  const json plain = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
  EXPECT_EQ(pre_tokenize(plain, "Hello there\nHello there"),
            (Strings{"Hello", "\xC4\xA0there", "\xC4\x8A", "Hello", "\xC4\xA0there"}));
  EXPECT_EQ(pre_tokenize(plain, "Hello there       dear"),
            (Strings{"Hello", "\xC4\xA0there", "\xC4\xA0\xC4\xA0\xC4\xA0\xC4\xA0\xC4\xA0\xC4\xA0",
                     "\xC4\xA0"
                     "dear"}));
  const json no_regex = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  EXPECT_EQ(pre_tokenize(no_regex, "a b"), (Strings{"a\xC4\xA0"
                                                    "b"}));
}

TEST(FastTokenizerNormalizers, Each) {
  EXPECT_EQ(normalize({{"type", "NFD"}}, "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(normalize({{"type", "NFC"}}, "e\xCC\x81"), "\xC3\xA9");
  // ﬁ ½ ｱ -> fi 1⁄2 ア; NFKD keeps é decomposed, NFKC composes it.
  EXPECT_EQ(normalize({{"type", "NFKC"}},
                      "\xEF\xAC\x81\xC2\xBD\xEF\xBD\xB1"
                      "e\xCC\x81"),
            "fi1\xE2\x81\x84"
            "2\xE3\x82\xA2\xC3\xA9");
  EXPECT_EQ(normalize({{"type", "NFKD"}}, "\xEF\xAC\x81\xC3\xA9"), "fie\xCC\x81");
  // Each character's full lower case, İ included; no final-sigma rule.
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "HeLLo \xC4\xB0\xCE\xA3"),
            "hello i\xCC\x87\xCF\x83");
  EXPECT_EQ(
      normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, " \t hi \n"),
      "hi");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, "  hi  "),
            "hi  ");
  EXPECT_EQ(normalize({{"type", "Sequence"},
                       {"normalizers", {{{"type", "NFD"}}, {{"type", "StripAccents"}}}}},
                      "caf\xC3\xA9"),
            "cafe");
  EXPECT_EQ(
      normalize({{"type", "Replace"}, {"pattern", {{"String", "''"}}}, {"content", "\""}}, "''a''"),
      "\"a\"");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}},
                      "a    b  c d"),
            "a b c d");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}}, "hey"),
            "\xE2\x96\x81hey");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}}, ""), "");
  // BertNormalizer: control characters go, whitespace becomes ' ', spaces around CJK, accents
  // stripped (strip_accents null follows lowercase), lower-cased.
  const json bert = {{"type", "BertNormalizer"},
                     {"clean_text", true},
                     {"handle_chinese_chars", true},
                     {"strip_accents", nullptr},
                     {"lowercase", true}};
  EXPECT_EQ(normalize(bert, "H\xC3\xA9\tllo\x01\xE4\xB8\xAD!"), "he llo \xE4\xB8\xAD !");
  json keep_accents = bert;
  keep_accents["strip_accents"] = false;
  EXPECT_EQ(normalize(keep_accents, "H\xC3\xA9"), "h\xC3\xA9");
}

TEST(FastTokenizerDecoders, Each) {
  EXPECT_EQ(decode_chain({{"type", "ByteLevel"}}, {"Hello", "\xC4\xA0there",
                                                   "\xC4\xA0"
                                                   "dear",
                                                   "\xC4\xA0"
                                                   "friend!",
                                                   "\xC4\xA0", "[PA D]"}),
            (Strings{"Hello there dear friend! [PA D]"}));
  EXPECT_EQ(decode_chain({{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", false}},
                         {"##uelo", "Ara", "##\xC3\xBAj", "##o", "No", "##guera"}),
            (Strings{"##uelo", " Ara", "\xC3\xBAj", "o", " No", "guera"}));
  EXPECT_EQ(decode_chain({{"type", "WordPiece"}}, {"i", "do", "n't", "."}),
            (Strings{"i", " do", "n't", "."}));
  const std::string bar = "\xE2\x96\x81";
  EXPECT_EQ(
      decode_chain({{"type", "Metaspace"}, {"replacement", bar}, {"prepend_scheme", "always"}},
                   {bar + "Hey", bar + "friend!"}),
      (Strings{"Hey", " friend!"}));
  EXPECT_EQ(decode_chain({{"type", "Metaspace"}, {"replacement", bar}, {"prepend_scheme", "never"}},
                         {bar + "Hey", bar + "friend!"}),
            (Strings{" Hey", " friend!"}));
  // Every replacement character of the first token goes, not only the leading one.
  EXPECT_EQ(decode_chain({{"type", "Metaspace"}, {"replacement", bar}}, {bar + "a" + bar + "b"}),
            (Strings{"ab"}));
  EXPECT_EQ(decode_chain({{"type", "BPEDecoder"}, {"suffix", "</w>"}},
                         {"My</w>", "na", "me</w>", "is</w>", "Jo", "hn</w>"}),
            (Strings{"My ", "na", "me ", "is ", "Jo", "hn"}));
  EXPECT_EQ(decode_chain({{"type", "Strip"}, {"content", "H"}, {"start", 1}, {"stop", 0}},
                         {"Hey", " friend!", "HHH"}),
            (Strings{"ey", " friend!", "HH"}));
  EXPECT_EQ(decode_chain({{"type", "Strip"}, {"content", "y"}, {"start", 0}, {"stop", 1}},
                         {"Hey", " friend!"}),
            (Strings{"He", " friend!"}));
  EXPECT_EQ(decode_chain({{"type", "Fuse"}}, {"Hey", " friend!"}), (Strings{"Hey friend!"}));
  const json fallback = {{"type", "ByteFallback"}};
  EXPECT_EQ(decode_chain(fallback, {"Hey", "friend!"}), (Strings{"Hey", "friend!"}));
  EXPECT_EQ(decode_chain(fallback, {"<0x61>"}), (Strings{"a"}));
  EXPECT_EQ(decode_chain(fallback, {"<0xE5>", "<0x8f>", "<0xab>"}), (Strings{"\xE5\x8F\xAB"}));
  EXPECT_EQ(decode_chain(fallback, {"<0xE5>", "<0x8f>", "<0xab>", "a"}),
            (Strings{"\xE5\x8F\xAB", "a"}));
  EXPECT_EQ(decode_chain(fallback, {"<0xE5>", "<0x8f>", "a"}),
            (Strings{"\xEF\xBF\xBD", "\xEF\xBF\xBD", "a"}));
  // Llama's decoder: ▁ -> ' ', byte tokens, one string, the leading space off.
  const json llama = {{"type", "Sequence"},
                      {"decoders",
                       {{{"type", "Replace"}, {"pattern", {{"String", bar}}}, {"content", " "}},
                        {{"type", "ByteFallback"}},
                        {{"type", "Fuse"}},
                        {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  EXPECT_EQ(decode_chain(llama, {bar + "Hey", bar, "<0xE5>", "<0x8f>", "<0xab>"}),
            (Strings{"Hey \xE5\x8F\xAB"}));
}

// ---- whole tokenizers built from small tokenizer.json files ----

// A FastTokenizer from a tokenizer.json (and optionally a tokenizer_config.json).
std::unique_ptr<FastTokenizer> make(const json& tokenizer_json, const json& config = nullptr) {
  TempDir dir;
  dir.write("tokenizer.json", tokenizer_json.dump());
  if (!config.is_null()) dir.write("tokenizer_config.json", config.dump());
  return std::make_unique<FastTokenizer>(dir.str());
}

json with_model(const json& model) {
  return {{"model", model}};
}

json vocab_of(const Strings& tokens) {
  json v = json::object();
  for (std::size_t i = 0; i < tokens.size(); ++i) v[tokens[i]] = i;
  return v;
}

TEST(FastTokenizerModels, BpeUnknownTokens) {
  json model = {{"type", "BPE"},
                {"vocab", vocab_of({"<unk>", "a", "b"})},
                {"merges", json::array()},
                {"unk_token", "<unk>"}};
  auto tok = make(with_model(model));
  EXPECT_EQ(tok->encode("c", false), (std::vector<int64_t>{0}));
  EXPECT_EQ(tok->encode("cc", false), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(tok->encode("accb", false), (std::vector<int64_t>{1, 0, 0, 2}));
  model["fuse_unk"] = true;
  tok = make(with_model(model));
  EXPECT_EQ(tok->encode("cc", false), (std::vector<int64_t>{0}));
  EXPECT_EQ(tok->encode("accb", false), (std::vector<int64_t>{1, 0, 2}));
  // Without an unknown token, characters the vocabulary lacks are dropped.
  model.erase("unk_token");
  tok = make(with_model(model));
  EXPECT_EQ(tok->tokenize("acb"), (Strings{"a", "b"}));
}

TEST(FastTokenizerModels, BpeMerges) {
  const json model = {
      {"type", "BPE"},
      {"vocab", vocab_of({"u", "n", "r", "e", "l", "a", "t", "d", "re", "at", "ed", "un", "ated",
                          "rel", "related", "unrelated"})},
      {"merges", {"r e", "a t", "e d", "u n", "at ed", "re l", "rel ated", "un related"}}};
  EXPECT_EQ(make(with_model(model))->tokenize("unrelated"), (Strings{"unrelated"}));
  // Merges as pairs, a continuing-subword prefix and an end-of-word suffix.
  const json prefixed = {
      {"type", "BPE"},
      {"vocab", vocab_of({"a", "##b", "##c", "ab", "abc"})},
      {"merges", json::array({json::array({"a", "##b"}), json::array({"ab", "##c"})})},
      {"unk_token", "[UNK]"},
      {"continuing_subword_prefix", "##"}};
  EXPECT_EQ(make(with_model(prefixed))->tokenize("ab"), (Strings{"ab"}));
  EXPECT_EQ(make(with_model(prefixed))->tokenize("abc"), (Strings{"abc"}));
  const json suffixed = {{"type", "BPE"},
                         {"vocab", vocab_of({"a", "b</w>", "ab</w>", "b"})},
                         {"merges", {"a b</w>"}},
                         {"end_of_word_suffix", "</w>"}};
  EXPECT_EQ(make(with_model(suffixed))->tokenize("ab"), (Strings{"ab</w>"}));
  EXPECT_EQ(make(with_model(suffixed))->tokenize("bab"), (Strings{"b", "ab</w>"}));
}

TEST(FastTokenizerModels, BpeByteFallbackAndIgnoreMerges) {
  const json fallback = {{"type", "BPE"},
                         {"vocab", vocab_of({"<unk>", "<0x61>", "<0x0A>"})},
                         {"merges", json::array()},
                         {"unk_token", "<unk>"},
                         {"byte_fallback", true}};
  auto tok = make(with_model(fallback));
  EXPECT_EQ(tok->tokenize("c"), (Strings{"<unk>"}));
  EXPECT_EQ(tok->tokenize("a"), (Strings{"<0x61>"}));
  EXPECT_EQ(tok->tokenize("\n"), (Strings{"<0x0A>"}));

  json model = {{"type", "BPE"},
                {"vocab", vocab_of({".:.:",
                                    "\xC4\xA0"
                                    "belirtilen",
                                    ".",
                                    ":",
                                    "bel",
                                    "irtilen",
                                    "\xC4\xA0",
                                    ".:",
                                    "belirtilen",
                                    ".:.",
                                    "be",
                                    "l",
                                    "ir",
                                    "ti",
                                    "en",
                                    "irtil",
                                    "irti",
                                    "i",
                                    "r",
                                    "t",
                                    "b",
                                    "e",
                                    "n"})},
                {"merges", {". :", "b e", "be l", "i r", "t i", "ir ti", "e n", "irti l"}},
                {"ignore_merges", true}};
  tok = make(with_model(model));
  EXPECT_EQ(tok->tokenize(".:.:"), (Strings{".:.:"}));
  EXPECT_EQ(tok->tokenize("\xC4\xA0"
                          "belirtilen"),
            (Strings{"\xC4\xA0"
                     "belirtilen"}));
  model["ignore_merges"] = false;
  tok = make(with_model(model));
  EXPECT_EQ(tok->tokenize(".:.:"), (Strings{".:", ".:"}));
  EXPECT_EQ(tok->tokenize("\xC4\xA0"
                          "belirtilen"),
            (Strings{"\xC4\xA0", "bel", "irtil", "en"}));
}

TEST(FastTokenizerModels, WordPiece) {
  const json model = {{"type", "WordPiece"},
                      {"vocab", vocab_of({"[UNK]", "un", "##aff", "##able", "a", "##b"})},
                      {"unk_token", "[UNK]"},
                      {"continuing_subword_prefix", "##"},
                      {"max_input_chars_per_word", 9}};
  json j = with_model(model);
  j["pre_tokenizer"] = {{"type", "WhitespaceSplit"}};
  const auto tok = make(j);
  EXPECT_EQ(tok->tokenize("unaffable ab unx aaaaaaaaaa"),
            (Strings{"un", "##aff", "##able", "a", "##b", "[UNK]", "[UNK]"}));
}

TEST(FastTokenizerModels, Unigram) {
  const json pieces = json::array(
      {json::array({"<unk>", 0.0}), json::array({"ab", 0.0}), json::array({"cd", -0.1}),
       json::array({"abc", -0.2}), json::array({"a", -0.3}), json::array({"b", -0.4}),
       json::array({"c", -0.5}), json::array({"ABC", -0.5}), json::array({"abcdabcd", 20.0}),
       json::array({"q", 20.5}), json::array({"r", 20.5}), json::array({"qr", -0.5})});
  const auto tok = make(with_model({{"type", "Unigram"}, {"unk_id", 0}, {"vocab", pieces}}));
  EXPECT_EQ(tok->tokenize("abc"), (Strings{"abc"}));
  EXPECT_EQ(tok->tokenize("AB"), (Strings{"AB"}));  // unknown characters fused
  EXPECT_EQ(tok->encode("AB", false), (std::vector<int64_t>{0}));
  EXPECT_EQ(tok->tokenize("abcd"), (Strings{"ab", "cd"}));
  EXPECT_EQ(tok->tokenize("abcc"), (Strings{"abc", "c"}));
  EXPECT_EQ(tok->tokenize("xabcabaabcdd"), (Strings{"x", "abc", "ab", "a", "ab", "cd", "d"}));
  EXPECT_EQ(tok->tokenize("xyz\xE6\x9D\xB1\xE4\xBA\xAC"), (Strings{"xyz\xE6\x9D\xB1\xE4\xBA\xAC"}));
  EXPECT_EQ(tok->tokenize("ABC"), (Strings{"ABC"}));
  EXPECT_EQ(tok->tokenize("abABCcd"), (Strings{"ab", "ABC", "cd"}));
  EXPECT_EQ(tok->tokenize("ababcdabcdcd"), (Strings{"ab", "abcdabcd", "cd"}));
  EXPECT_EQ(tok->tokenize("abqrcd"), (Strings{"ab", "q", "r", "cd"}));

  const json bytes = json::array({json::array({"<unk>", 0.0}), json::array({"<0xC3>", -0.01}),
                                  json::array({"<0xA9>", -0.03})});
  const auto fallback = make(
      with_model({{"type", "Unigram"}, {"unk_id", 0}, {"vocab", bytes}, {"byte_fallback", true}}));
  EXPECT_EQ(fallback->encode("\xC3\xA9", false), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(fallback->encode("?\xC3\xA9", false)[0], 0);
}

TEST(FastTokenizerPostProcessors, TemplatesAndWrappers) {
  json j = with_model({{"type", "WordPiece"}, {"vocab", vocab_of({"[UNK]", "a", "b"})}});
  j["pre_tokenizer"] = {{"type", "WhitespaceSplit"}};
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", "[CLS] $A [SEP]"},
                         {"special_tokens",
                          {{"[CLS]", {{"id", "[CLS]"}, {"ids", {7, 8}}, {"tokens", {"[C", "LS]"}}}},
                           {"[SEP]", {{"id", "[SEP]"}, {"ids", {9}}, {"tokens", {"[SEP]"}}}}}}};
  EXPECT_EQ(make(j)->encode("a b", true), (std::vector<int64_t>{7, 8, 1, 2, 9}));
  EXPECT_EQ(make(j)->encode("a b", false), (std::vector<int64_t>{1, 2}));
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"}, {"trim_offsets", true}},
        {{"type", "RobertaProcessing"}, {"sep", {"</s>", 5}}, {"cls", {"<s>", 4}}},
        {{"type", "BertProcessing"}, {"sep", {"x", 3}}, {"cls", {"y", 6}}}}}};
  EXPECT_EQ(make(j)->encode("a", true), (std::vector<int64_t>{6, 4, 1, 5, 3}));
}

// The added-token layer: the Rust library's own examples.
std::vector<std::pair<std::string, bool>> extract(const std::vector<AddedToken>& tokens,
                                                  const std::string& text, bool lowercase = true) {
  const detail::fast::BpeModel empty(json{{"vocab", json::object()}, {"merges", json::array()}},
                                     Where{"test.json", "model"});
  detail::fast::LowercaseNormalizer lower;
  const detail::fast::Normalizer* normalizer = lowercase ? &lower : nullptr;
  detail::fast::AddedVocabulary added;
  added.add_tokens(tokens, empty, normalizer);
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& s : added.extract_and_normalize(normalizer, text))
    out.emplace_back(s.text, s.has_tokens);
  return out;
}

AddedToken added_token(const std::string& content, bool special) {
  return AddedToken{content, false, false, false, !special, special};
}

TEST(FastTokenizerAddedTokens, Flags) {
  using Pieces = std::vector<std::pair<std::string, bool>>;
  AddedToken my = added_token("my", false);
  my.lstrip = my.rstrip = true;
  AddedToken ony = added_token("ony", false);
  ony.single_word = true;
  EXPECT_EQ(extract({my, added_token("name", false), ony, added_token("[CLS]", true),
                     added_token("[SEP]", true)},
                    "[CLS] My name is Anthony [SEP]"),
            (Pieces{{"[CLS]", true},
                    {" my ", true},
                    {"name", true},
                    {" is anthony ", false},
                    {"[SEP]", true}}));
  AddedToken mask = added_token("<mask>", false);
  mask.single_word = true;
  EXPECT_EQ(extract({mask}, "<mask> My name <mask> A<mask> <mask>ony <mask>"),
            (Pieces{{"<mask>", true},
                    {" my name ", false},
                    {"<mask>", true},
                    {" a<mask> <mask>ony ", false},
                    {"<mask>", true}}));
  mask.lstrip = mask.rstrip = true;
  EXPECT_EQ(extract({mask}, "Hi <mask> there\t<mask>\t<mask>\xE2\x80\x80"),
            (Pieces{{"hi", false},
                    {" <mask> ", true},
                    {"there", false},
                    {"\t<mask>\t", true},
                    {"<mask>\xE2\x80\x80", true}}));
  // Multi-byte neighbours: U+3000 is whitespace to lstrip, 'é' is a word character.
  AddedToken lstrip = added_token("<mask>", false);
  lstrip.lstrip = true;
  EXPECT_EQ(extract({lstrip}, "x\xE3\x80\x80 <mask>", false),
            (Pieces{{"x", false}, {"\xE3\x80\x80 <mask>", true}}));
  AddedToken word = added_token("<mask>", false);
  word.single_word = true;
  EXPECT_EQ(extract({word}, "\xC3\xA9<mask> \xE2\x80\x94<mask>", false),
            (Pieces{{"\xC3\xA9<mask> \xE2\x80\x94", false}, {"<mask>", true}}));
}

TEST(FastTokenizerAddedTokens, IdsSpecialFlagsAndConfigTokens) {
  json j =
      with_model({{"type", "BPE"}, {"vocab", vocab_of({"a", "b"})}, {"merges", json::array()}});
  j["added_tokens"] = {{{"id", 2}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
                       {{"id", 3}, {"content", "<x>"}, {"special", false}, {"normalized", true}},
                       {{"id", 0}, {"content", "a"}, {"special", true}, {"normalized", false}}};
  j["decoder"] = {{"type", "Fuse"}};
  // tokenizer_config.json names an eos token the file lacks: it is added, special.
  const auto tok = make(j, {{"eos_token", "</s>"}, {"clean_up_tokenization_spaces", false}});
  EXPECT_EQ(tok->token_to_id("<s>"), 2);
  EXPECT_EQ(tok->token_to_id("<x>"), 3);
  EXPECT_EQ(tok->token_to_id("a"), 0);  // already in the vocabulary: keeps its id
  EXPECT_EQ(tok->token_to_id("</s>"), 4);
  EXPECT_EQ(tok->vocab_size(), 2);
  EXPECT_EQ(tok->total_vocab_size(), 5);
  EXPECT_EQ(tok->encode("b<s>ab<x></s>", false), (std::vector<int64_t>{1, 2, 0, 1, 3, 4}));
  EXPECT_EQ(tok->decode({1, 2, 0, 1, 3, 4}, true), "bb<x>");
  EXPECT_EQ(tok->decode({1, 2, 0, 1, 3, 4}, false), "b<s>ab<x></s>");
  // split_special_tokens: special tokens are ordinary text.
  const auto split = make(j, {{"split_special_tokens", true}});
  EXPECT_EQ(split->encode("b<s>", false), (std::vector<int64_t>{1}));  // '<', 's', '>' unknown
}

TEST(FastTokenizerAddedTokens, MetaspaceFirstSchemeAfterAnAddedToken) {
  // prepend_scheme "first" adds the ▁ only to the piece at the start of the input.
  const std::string bar = "\xE2\x96\x81";
  json j = with_model(
      {{"type", "Unigram"},
       {"unk_id", 0},
       {"vocab", json::array({json::array({"<unk>", 0.0}), json::array({bar + "a", -1.0}),
                              json::array({"a", -1.0}), json::array({"<s>", 0.0})})}});
  j["added_tokens"] = {{{"id", 3}, {"content", "<s>"}, {"special", true}, {"normalized", false}}};
  j["pre_tokenizer"] = {
      {"type", "Metaspace"}, {"replacement", bar}, {"prepend_scheme", "first"}, {"split", false}};
  const auto tok = make(j);
  EXPECT_EQ(tok->tokenize("a<s>a"), (Strings{bar + "a", "<s>", "a"}));
  EXPECT_EQ(tok->tokenize("<s>a"), (Strings{"<s>", "a"}));
}

// The settings a Fast class's __init__ writes into the pipeline.
TEST(FastTokenizerClasses, ConfigSettingsReachThePipeline) {
  {
    TempDir dir;
    fs::copy_file(fixture_dir("gpt2-fast") + "/tokenizer.json", dir.path() / "tokenizer.json");
    dir.write("tokenizer_config.json",
              R"({"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": true})");
    const auto tok = Tokenizer::from_pretrained(dir.str());
    ASSERT_NE(dynamic_cast<FastTokenizer*>(tok.get()), nullptr);
    EXPECT_EQ(tok->tokenize("Hello"), (Strings{"\xC4\xA0Hello"}));
  }
  {
    TempDir dir;
    fs::copy_file(fixture_dir("bert-uncased-fast") + "/tokenizer.json",
                  dir.path() / "tokenizer.json");
    dir.write("tokenizer_config.json",
              R"({"tokenizer_class": "BertTokenizer", "do_lower_case": false})");
    const auto tok = Tokenizer::from_pretrained(dir.str());
    ASSERT_NE(dynamic_cast<FastTokenizer*>(tok.get()), nullptr);
    EXPECT_NE(tok->tokenize("Hello")[0], "hello");
    EXPECT_EQ(tok->tokenize("hello"), (Strings{"hello"}));
  }
}

// ---- which folders AutoTokenizer runs on the engine ----

TEST(FastTokenizerAuto, Choice) {
  auto loaded = [](const std::string& dir) { return Tokenizer::from_pretrained(dir); };
  const json split_pipeline = {
      {"model", {{"type", "BPE"}, {"vocab", vocab_of({"a", "b"})}, {"merges", json::array()}}},
      {"pre_tokenizer",
       {{"type", "Split"},
        {"pattern", {{"String", "b"}}},
        {"behavior", "Isolated"},
        {"invert", false}}}};
  {
    // A bare tokenizer.json no slow tokenizer reproduces.
    TempDir dir;
    dir.write("tokenizer.json", split_pipeline.dump());
    const auto tok = loaded(dir.str());
    ASSERT_NE(dynamic_cast<FastTokenizer*>(tok.get()), nullptr);
    EXPECT_EQ(tok->encode("aba", false), (std::vector<int64_t>{0, 1, 0}));
  }
  {
    // PreTrainedTokenizerFast, or a transformers folder that names no class.
    for (const char* config : {R"({"tokenizer_class": "PreTrainedTokenizerFast"})", "{}"}) {
      TempDir dir;
      fs::copy_file(fixture_dir("gpt2-fast") + "/tokenizer.json", dir.path() / "tokenizer.json");
      dir.write("tokenizer_config.json", std::string(config));
      const auto tok = loaded(dir.str());
      const auto* fast = dynamic_cast<FastTokenizer*>(tok.get());
      ASSERT_NE(fast, nullptr) << config;
      EXPECT_EQ(fast->tokenizer_class(), "");
      EXPECT_EQ(tok->encode("Hello world"), (std::vector<int64_t>{15496, 995}));
    }
  }
  {
    // tokenizer.json next to the slow files: the fast tokenizer, as AutoTokenizer prefers it.
    TempDir dir;
    for (const char* f : {"vocab.json", "merges.txt", "tokenizer_config.json"})
      fs::copy_file(fixture_dir("roberta") + "/" + f, dir.path() / f);
    fs::copy_file(fixture_dir("roberta-fast") + "/tokenizer.json", dir.path() / "tokenizer.json");
    const auto tok = loaded(dir.str());
    ASSERT_NE(dynamic_cast<FastTokenizer*>(tok.get()), nullptr);
    EXPECT_EQ(tok->tokenize("a <mask>"), (Strings{"a", " <mask>"}));
  }
  {
    // NougatTokenizer needs tokenizer.json.
    TempDir dir;
    dir.write("tokenizer_config.json", R"({"tokenizer_class": "NougatTokenizer"})");
    const std::string msg = expect_throw_message<IoError>([&] { loaded(dir.str()); });
    EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
  }
  {
    // A class without a Fast counterpart in ved is still refused.
    TempDir dir;
    dir.write("tokenizer.json", split_pipeline.dump());
    dir.write("tokenizer_config.json", R"({"tokenizer_class": "LlamaTokenizerFast"})");
    const std::string msg = expect_throw_message<ConfigError>([&] { loaded(dir.str()); });
    EXPECT_NE(msg.find("LlamaTokenizer"), std::string::npos) << msg;
  }
}

// ---- hostile files ----

json valid_bpe() {
  return {
      {"version", "1.0"},
      {"normalizer", {{"type", "NFKC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", "[0-9]"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {3}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"vocab", vocab_of({"a", "b", "ab", "<s>", "1"})}, {"merges", {"a b"}}}}};
}

TEST(FastTokenizerHostile, ValidBaseWorks) {
  const auto tok = make(valid_bpe());
  EXPECT_EQ(tok->encode("ab1", true), (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(tok->decode({3, 2, 4}, false), "<s>ab1");
}

TEST(FastTokenizerHostile, BadComponentsAreConfigErrorsNamingThem) {
  struct Case {
    const char* pointer;
    json value;
    std::vector<std::string> named;  // what the message must contain besides the file
  };
  const std::vector<Case> cases = {
      {"/normalizer", {{"type", "Precompiled"}}, {"normalizer", "Precompiled"}},
      {"/normalizer", {{"type", "Sequence"}, {"normalizers", 5}}, {"normalizers"}},
      {"/normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Nmt"}}}}}, {"Nmt"}},
      {"/normalizer", {{"type", "Replace"}, {"pattern", {{"String", "a"}}}}, {"content"}},
      {"/normalizer",
       {{"type", "Replace"}, {"pattern", {{"Glob", "a"}}}, {"content", ""}},
       {"pattern"}},
      {"/normalizer", {{"type", 5}}, {"type"}},
      {"/normalizer", "NFKC", {"normalizer"}},
      {"/pre_tokenizer", {{"type", "UnicodeScripts"}}, {"pre_tokenizer", "UnicodeScripts"}},
      {"/pre_tokenizer/pretokenizers/0/behavior", "Sideways", {"Sideways"}},
      {"/pre_tokenizer/pretokenizers/0/behavior", 3, {"behavior"}},
      {"/pre_tokenizer/pretokenizers/0/invert", "yes", {"invert"}},
      {"/pre_tokenizer/pretokenizers/0/pattern", {{"Regex", 5}}, {"Regex"}},
      {"/pre_tokenizer/pretokenizers/0/pattern", {{"Regex", "(unclosed"}}, {"(unclosed"}},
      {"/pre_tokenizer/pretokenizers/0/pattern", {{"Regex", "[z-a]"}}, {"[z-a]"}},
      {"/pre_tokenizer/pretokenizers/1/type", "Metaspace", {"replacement"}},
      {"/pre_tokenizer/pretokenizers/1",
       {{"type", "Metaspace"}, {"replacement", "ab"}},
       {"replacement"}},
      {"/pre_tokenizer/pretokenizers", {{"not", "a list"}}, {"pretokenizers"}},
      {"/post_processor", {{"type", "FancyProcessing"}}, {"post_processor", "FancyProcessing"}},
      {"/post_processor/single/1/Sequence/id", "B", {"single"}},
      {"/post_processor/special_tokens", json::object(), {"<s>"}},
      {"/post_processor/special_tokens/<s>/ids", {3, 4}, {"ids"}},
      {"/post_processor/special_tokens/<s>/ids", {-3}, {"-3"}},
      {"/post_processor", {{"type", "BertProcessing"}, {"sep", {"x"}}, {"cls", {"y", 1}}}, {"sep"}},
      {"/decoder", {{"type", "CTC"}}, {"decoder", "CTC"}},
      {"/decoder", {{"type", "Strip"}, {"content", " "}, {"start", 1}}, {"stop"}},
      {"/decoder", {{"type", "Strip"}, {"content", " "}, {"start", -1}, {"stop", 0}}, {"start"}},
      {"/model/type", "WordLevel", {"model", "WordLevel"}},
      {"/model/merges", {"a z"}, {"\"z\""}},
      {"/model/merges", {"a b c"}, {"a b c"}},
      {"/model/merges", {{"a"}}, {"merges"}},
      {"/model/merges", "a b", {"merges"}},
      {"/model/vocab", {{"a", 5000000000ll}}, {"5000000000"}},
      {"/model/vocab", {{"a", -1}}, {"-1"}},
      {"/model/vocab", {{"a", "one"}}, {"one"}},
      {"/model/vocab", json::array(), {"vocab"}},
      {"/model/dropout", 0.5, {"dropout"}},
      {"/model/dropout", "x", {"dropout"}},
      {"/model/fuse_unk", "x", {"fuse_unk"}},
      {"/added_tokens", {{"content", "x"}}, {"added_tokens"}},
      {"/added_tokens", {{{"id", 9}}}, {"added_tokens"}},
      {"/added_tokens", {{{"id", 9}, {"content", "x"}, {"special", "yes"}}}, {"special"}},
  };
  for (const Case& c : cases) {
    json j = valid_bpe();
    j[json::json_pointer(c.pointer)] = c.value;
    SCOPED_TRACE(std::string(c.pointer) + " = " + c.value.dump());
    TempDir dir;
    const std::string path = dir.write("tokenizer.json", j.dump());
    const std::string msg =
        expect_throw_message<ConfigError>([&] { FastTokenizer tok(dir.str()); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const std::string& n : c.named) EXPECT_NE(msg.find(n), std::string::npos) << msg;
    // The same through AutoTokenizer (no slow tokenizer reads these pipelines).
    EXPECT_THROW(Tokenizer::from_pretrained(dir.str()), ConfigError);
  }
}

TEST(FastTokenizerHostile, OtherModelsBadAndEmpty) {
  // Unigram: empty, unk_id outside the vocabulary, bad entries.
  for (const json& model :
       {json{{"type", "Unigram"}, {"vocab", json::array()}},
        json{{"type", "Unigram"}, {"unk_id", 2}, {"vocab", json::array({json::array({"a", 0.0})})}},
        json{{"type", "Unigram"}, {"vocab", json::array({json::array({"a", "x"})})}},
        json{{"type", "Unigram"}, {"vocab", json::array({"a"})}},
        json{{"type", "WordPiece"}, {"vocab", json::array()}},
        json{{"type", "WordPiece"}, {"vocab", {{"a", 0}}}, {"max_input_chars_per_word", -5}}}) {
    SCOPED_TRACE(model.dump());
    EXPECT_THROW(make(with_model(model)), ConfigError);
  }
  // An empty BPE vocabulary loads and encodes nothing; an empty WordPiece one has no [UNK].
  EXPECT_EQ(
      make(with_model({{"type", "BPE"}, {"vocab", json::object()}, {"merges", json::array()}}))
          ->encode("abc"),
      std::vector<int64_t>{});
  const auto wp = make(with_model({{"type", "WordPiece"}, {"vocab", json::object()}}));
  const std::string msg = expect_throw_message<ConfigError>([&] { wp->encode("abc"); });
  EXPECT_NE(msg.find("[UNK]"), std::string::npos) << msg;
  // A Unigram model without unk_id meeting text it has no piece for.
  const auto uni =
      make(with_model({{"type", "Unigram"}, {"vocab", json::array({json::array({"a", -1.0})})}}));
  EXPECT_EQ(uni->encode("aa", false), (std::vector<int64_t>{0, 0}));
  EXPECT_THROW(uni->encode("b", false), ConfigError);
  // The largest ids the format allows are fine.
  const auto big = make(with_model(
      {{"type", "BPE"}, {"vocab", {{"a", 4294967295ll}, {"b", 7}}}, {"merges", json::array()}}));
  EXPECT_EQ(big->encode("ab", false), (std::vector<int64_t>{4294967295ll, 7}));
  EXPECT_EQ(big->decode({4294967295ll, 7}, false), "a b");  // no decoder: joined with spaces
  EXPECT_EQ(big->total_vocab_size(), 2);
  // Files that are not a tokenizer.json at all.
  for (const char* text : {"[]", "{}", R"({"model": 5})", R"({"model": {"type": 7}})", "{"}) {
    TempDir dir;
    dir.write("tokenizer.json", std::string(text));
    EXPECT_THROW(FastTokenizer tok(dir.str()), FormatError) << text;
  }
}

TEST(FastTokenizerHostile, OddInputsNeverCrash) {
  const auto tok = Tokenizer::from_pretrained(fixture_dir("nougat-fast"));
  // Not UTF-8: byte-level BPE keeps the bytes; decoding gives U+FFFD.
  const std::vector<int64_t> ids = tok->encode("a\xFF\xC3(b", false);
  EXPECT_EQ(tok->decode(ids, true), "a\xEF\xBF\xBD\xEF\xBF\xBD(b");
  EXPECT_EQ(tok->encode("", true), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(tok->encode(std::string(20000, '('), false).size(), 20000u);
  const std::string msg = expect_throw_message<InvalidArgument>([&] { tok->decode({50000}); });
  EXPECT_NE(msg.find("50000"), std::string::npos) << msg;
  EXPECT_THROW(tok->decode({-1}), InvalidArgument);
  EXPECT_EQ(tok->id_to_token(-1), std::nullopt);
  EXPECT_EQ(tok->token_to_id("no such token"), std::nullopt);
}

TEST(FastTokenizerThreads, ConcurrentEncodeAgrees) {
  const auto tok = Tokenizer::from_pretrained(fixture_dir("roberta-fast"));
  const json cases =
      detail::read_json_file(fixture_dir("roberta-fast") + "/expected.json")["cases"];
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 3; ++round)
        for (const json& c : cases)
          if (tok->encode(c["text"].get<std::string>(), false) !=
              c["ids"].get<std::vector<int64_t>>())
            ++mismatches;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ---- the command line ----

#ifdef VED_CLI_PATH
TEST(FastTokenizerCli, NougatTokenizeAndDetokenize) {
  const std::string dir = fixture_dir("nougat-fast");
  const json cases = detail::read_json_file(dir + "/expected.json")["cases"];
  for (std::size_t i = 0; i < cases.size(); i += 4) {
    const json& c = cases[i];
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE("text: " + text);
    const bool special = i % 8 == 0;
    std::vector<std::string> args = {"tokenize", "--model", dir, "--json"};
    if (special) args.push_back("--add-special-tokens");
    args.insert(args.end(), {"--", text});
    test::CliResult r = test::ved_cli(args);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(json::parse(r.out), c[special ? "ids_with_special" : "ids"]);

    args = {"detokenize", "--model", dir, "--json"};
    if (special) args.push_back("--skip-special-tokens");
    args.push_back(c["ids_with_special"].dump());
    r = test::ved_cli(args);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(json::parse(r.out), c[special ? "decode_skip_special" : "decode_keep_special"]);
  }
}
#endif

}  // namespace
}  // namespace ved
