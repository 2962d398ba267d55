// GPT2Tokenizer against transformers' slow GPT2Tokenizer (tests/data/fixtures/tokenizers/gpt2),
// plus loading errors, invalid input and the shared added-token machinery.

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "../tokenizer_cases.hpp"
#include "ved/detail/json.hpp"
#include "ved/processing/gpt2_tokenizer.hpp"
#include "ved/processing/tokenizer.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;
using detail::json;
using test::read_file;
using test::TempDir;

void write_file(const fs::path& path, const std::string& text) {
  test::write_file(path.string(), text);
}

const std::string kGpt2Dir = std::string(VED_TEST_DATA) + "/fixtures/tokenizers/gpt2";

const GPT2Tokenizer& gpt2() {
  static const GPT2Tokenizer tok(kGpt2Dir);
  return tok;
}

json expected_cases(const std::string& dir) {
  return detail::read_json_file(dir + "/expected.json");
}

std::vector<int64_t> ids_of(const json& j) {
  return j.get<std::vector<int64_t>>();
}

using test::expect_throw_message;

// ---- the fixture ----

TEST(Gpt2Tokenizer, MatchesTransformersOnEveryFixtureCase) {
  test::expect_tokenizer_matches_fixture(gpt2(), expected_cases(kGpt2Dir));
}

TEST(Gpt2Tokenizer, FixtureMetadata) {
  const json expected = expected_cases(kGpt2Dir);
  const GPT2Tokenizer& tok = gpt2();
  EXPECT_EQ(tok.vocab_size(), expected["vocab_size"].get<int64_t>());
  EXPECT_EQ(tok.total_vocab_size(), expected["len_with_added_tokens"].get<int64_t>());
  EXPECT_EQ(tok.clean_up_tokenization_spaces(),
            expected["clean_up_tokenization_spaces_default"].get<bool>());
  EXPECT_FALSE(tok.add_prefix_space());
  EXPECT_FALSE(tok.add_bos_token());
  EXPECT_EQ(tok.all_special_tokens(), std::vector<std::string>{"<|endoftext|>"});
  EXPECT_EQ(tok.all_special_ids(), std::vector<int64_t>{50256});
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kEos), 50256);
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kBos), 50256);
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kUnk), 50256);
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kPad), std::nullopt);
  EXPECT_EQ(tok.token_to_id("Ġworld"), 995);
  EXPECT_EQ(tok.token_to_id("<|endoftext|>"), 50256);
  EXPECT_EQ(tok.token_to_id("definitely not a token"), std::nullopt);
  EXPECT_EQ(tok.id_to_token(995), "Ġworld");
  EXPECT_EQ(tok.id_to_token(50257), std::nullopt);
}

TEST(Gpt2Tokenizer, AutoTokenizerLoadsGpt2) {
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(kGpt2Dir);
  ASSERT_NE(dynamic_cast<GPT2Tokenizer*>(tok.get()), nullptr);
  EXPECT_EQ(tok->encode("Hello world"), (std::vector<int64_t>{15496, 995}));
  // The two-argument decode skips special tokens by default.
  EXPECT_EQ(tok->decode({15496, 50256, 995}), "Hello world");
  EXPECT_EQ(tok->decode({15496, 50256, 995}, false), "Hello<|endoftext|> world");
}

TEST(Gpt2Tokenizer, RoundTripsArbitraryText) {
  const GPT2Tokenizer& tok = gpt2();
  for (const std::string text :
       {"", " ", "\t\n\r\v\f", "a  b   c", "x\xc2\xa0y", "\xe2\x80\x83  z", "'S 'll've", "''s",
        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 123",
        "\xe2\x85\xa0\xe2\x85\xa1 \xc2\xbd \xd9\xa3"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(tok.decode(tok.encode(text), false, false), text);
  }
}

TEST(Gpt2Tokenizer, ContractionsAreCaseSensitiveLikeTheRegex) {
  const GPT2Tokenizer& tok = gpt2();
  EXPECT_EQ(tok.tokenize("it's"), (std::vector<std::string>{"it", "'s"}));
  // No IGNORECASE: "'S" is punctuation followed by a letter.
  EXPECT_EQ(tok.tokenize("IT'S"), (std::vector<std::string>{"IT", "'", "S"}));
  EXPECT_EQ(tok.tokenize("a\n\nb"), (std::vector<std::string>{"a", "Ċ", "Ċ", "b"}));
}

// ---- invalid input ----

TEST(Gpt2Tokenizer, InvalidUtf8InputIsEncodedByteForByte) {
  const GPT2Tokenizer& tok = gpt2();
  const std::string bad = "abc\xff\xfe def\xe6\x97 \xc0\xaf!\xed\xa0\x80";
  const std::vector<int64_t> ids = tok.encode(bad);
  EXPECT_EQ(tok.encode(bad), ids);  // deterministic
  EXPECT_FALSE(ids.empty());
  // Every byte is kept, so decoding gives what Python's bytes.decode(errors="replace") gives.
  EXPECT_EQ(tok.decode(ids, false, false),
            "abc\xef\xbf\xbd\xef\xbf\xbd def\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd!"
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  // Lone bytes everywhere, including right after a space and at the end.
  for (int b = 0x80; b < 0x100; ++b) {
    const std::string text = std::string("x ") + static_cast<char>(b) + "y " + static_cast<char>(b);
    EXPECT_NO_THROW(tok.encode(text));
    EXPECT_EQ(tok.tokenize(text).size(), tok.encode(text).size());
  }
}

TEST(Gpt2Tokenizer, DecodeReplacesInvalidUtf8LikePython) {
  const GPT2Tokenizer& tok = gpt2();
  // "😀" is 4 bytes: ðŁĺ + Ģ. Dropping the last byte leaves one maximal subpart: one U+FFFD.
  EXPECT_EQ(tok.decode({30325}, false, false), " \xef\xbf\xbd");
  EXPECT_EQ(tok.decode({30325, 222}, false, false), " \xf0\x9f\x98\x80");
  // A lone continuation byte.
  EXPECT_EQ(tok.decode({222, 222}, false, false), "\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(Gpt2Tokenizer, DecodeRejectsUnknownIds) {
  const GPT2Tokenizer& tok = gpt2();
  for (int64_t bad : {int64_t{50257}, int64_t{-1}, int64_t{1} << 40}) {
    const std::string msg = expect_throw_message<InvalidArgument>([&] {
      tok.decode({15496, bad, 995});
    });
    EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
    expect_throw_message<InvalidArgument>([&] { tok.decode({bad}, false); });
  }
}

// ---- loading errors ----

TEST(Gpt2TokenizerLoading, MissingFolder) {
  const std::string dir = "/nonexistent/ved/tokenizer/folder";
  std::string msg = expect_throw_message<IoError>([&] { Tokenizer::from_pretrained(dir); });
  EXPECT_NE(msg.find(dir), std::string::npos) << msg;
  msg = expect_throw_message<IoError>([&] { GPT2Tokenizer tok(dir); });
  EXPECT_NE(msg.find(dir), std::string::npos) << msg;
}

TEST(Gpt2TokenizerLoading, FolderWithoutTokenizerFiles) {
  TempDir dir;
  write_file(dir.path() / "config.json", "{}");
  std::string msg = expect_throw_message<IoError>([&] { Tokenizer::from_pretrained(dir.str()); });
  EXPECT_NE(msg.find(dir.str()), std::string::npos) << msg;
  EXPECT_NE(msg.find("vocab.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
  msg = expect_throw_message<IoError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("merges.txt"), std::string::npos) << msg;

  // Only half of the slow files.
  fs::copy_file(kGpt2Dir + "/vocab.json", dir.path() / "vocab.json");
  msg = expect_throw_message<IoError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("merges.txt"), std::string::npos) << msg;
}

TEST(Gpt2TokenizerLoading, UnsupportedTokenizerClass) {
  TempDir dir;
  write_file(dir.path() / "tokenizer_config.json", R"({"tokenizer_class": "FancyTokenizer"})");
  fs::copy_file(kGpt2Dir + "/vocab.json", dir.path() / "vocab.json");
  const std::string msg =
      expect_throw_message<ConfigError>([&] { Tokenizer::from_pretrained(dir.str()); });
  EXPECT_NE(msg.find("FancyTokenizer"), std::string::npos) << msg;
}

TEST(Gpt2TokenizerLoading, MalformedVocabJson) {
  TempDir dir;
  fs::copy_file(kGpt2Dir + "/merges.txt", dir.path() / "merges.txt");
  const std::string vocab = (dir.path() / "vocab.json").string();
  for (const char* text : {R"({"a": 1, "b": )", R"({"a": 1, "b": "two"})", R"(["a", "b"])",
                           R"({"a": 1.5})", R"({"a": {"b": 1}})", ""}) {
    SCOPED_TRACE(text);
    write_file(vocab, text);
    const std::string msg =
        expect_throw_message<FormatError>([&] { GPT2Tokenizer tok(dir.str()); });
    EXPECT_NE(msg.find(vocab), std::string::npos) << msg;
  }
  write_file(vocab, R"({"a": 1, "b": "two"})");
  const std::string msg = expect_throw_message<FormatError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("'b'"), std::string::npos) << msg;
}

TEST(Gpt2TokenizerLoading, MalformedMergesLine) {
  TempDir dir;
  fs::copy_file(kGpt2Dir + "/vocab.json", dir.path() / "vocab.json");
  const std::string merges = (dir.path() / "merges.txt").string();
  write_file(merges, "#version: 0.2\nĠ t\nĠ a\nh e l\nx y\n");
  std::string msg = expect_throw_message<FormatError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find(merges + ":4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("h e l"), std::string::npos) << msg;

  write_file(merges, "#version: 0.2\nĠ t\nlonely\n");
  msg = expect_throw_message<FormatError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find(merges + ":3"), std::string::npos) << msg;

  write_file(merges, "#version: 0.2\nĠ t\n\xff\xfe b\n");
  msg = expect_throw_message<FormatError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("UTF-8"), std::string::npos) << msg;
}

TEST(Gpt2TokenizerLoading, MergesFollowTransformersLineHandling) {
  // transformers drops the first line and the text after the last newline; blank lines merge
  // nothing. With only "h e" (and "l l" unterminated, so dropped) "hell" is h|e merged only.
  TempDir dir;
  write_file(dir.path() / "vocab.json", R"({"h": 0, "e": 1, "l": 2, "he": 3, "ll": 4})");
  write_file(dir.path() / "merges.txt", "#version: 0.2\n\nh e\nl l");
  GPT2Tokenizer tok(dir.str());
  EXPECT_EQ(tok.tokenize("hell"), (std::vector<std::string>{"he", "l", "l"}));
  EXPECT_EQ(tok.encode("hell"), (std::vector<int64_t>{3, 2, 2}));
  // A piece missing from the vocabulary falls back to the unk token, <|endoftext|> by default,
  // which this vocabulary does not have: a clear error, not garbage.
  const std::string msg = expect_throw_message<InvalidArgument>([&] { tok.encode("x"); });
  EXPECT_NE(msg.find("'x'"), std::string::npos) << msg;
}

TEST(Gpt2TokenizerLoading, BadConfigValues) {
  TempDir dir;
  fs::copy_file(kGpt2Dir + "/vocab.json", dir.path() / "vocab.json");
  fs::copy_file(kGpt2Dir + "/merges.txt", dir.path() / "merges.txt");
  const std::string config = (dir.path() / "tokenizer_config.json").string();
  write_file(config, R"({"errors": "shout"})");
  std::string msg = expect_throw_message<ConfigError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("shout"), std::string::npos) << msg;
  write_file(config, R"({"add_prefix_space": "yes"})");
  msg = expect_throw_message<ConfigError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("add_prefix_space"), std::string::npos) << msg;
  write_file(config, R"({"added_tokens_decoder": {"abc": {"content": "<x>"}}})");
  msg = expect_throw_message<ConfigError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("abc"), std::string::npos) << msg;
  write_file(config, R"({"bos_token": 7})");
  msg = expect_throw_message<ConfigError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("bos_token"), std::string::npos) << msg;
  write_file(config, "{");
  msg = expect_throw_message<FormatError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find(config), std::string::npos) << msg;
}

// ---- tokenizer.json ----

// Writes a fast-tokenizer tokenizer.json holding the fixture's vocabulary and merges.
void write_tokenizer_json(const fs::path& dir, bool merges_as_pairs) {
  const json vocab = json::parse(read_file(kGpt2Dir + "/vocab.json"));
  json merges = json::array();
  std::istringstream lines(read_file(kGpt2Dir + "/merges.txt"));
  std::string line;
  std::getline(lines, line);  // #version header
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const auto sp = line.find(' ');
    if (merges_as_pairs) {
      merges.push_back(json::array({line.substr(0, sp), line.substr(sp + 1)}));
    } else {
      merges.push_back(line);
    }
  }
  json j = {
      {"version", "1.0"},
      {"added_tokens", json::array({{{"id", 50256},
                                     {"content", "<|endoftext|>"},
                                     {"single_word", false},
                                     {"lstrip", false},
                                     {"rstrip", false},
                                     {"normalized", true},
                                     {"special", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"vocab", vocab}, {"merges", merges}}},
  };
  write_file(dir / "tokenizer.json", j.dump());
}

TEST(Gpt2TokenizerLoading, TokenizerJsonOnlyFolderMatchesSlowFiles) {
  for (bool pairs : {false, true}) {
    SCOPED_TRACE(pairs ? "merges as pairs" : "merges as strings");
    TempDir dir;
    write_tokenizer_json(dir.path(), pairs);
    const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(dir.str());
    ASSERT_NE(dynamic_cast<GPT2Tokenizer*>(tok.get()), nullptr);
    EXPECT_EQ(tok->vocab_size(), 50257);
    test::expect_tokenizer_matches_fixture(*tok, expected_cases(kGpt2Dir));
  }
}

TEST(Gpt2TokenizerLoading, TokenizerJsonErrors) {
  TempDir dir;
  const std::string path = (dir.path() / "tokenizer.json").string();
  write_file(path, R"({"model": {"type": "WordPiece", "vocab": {}}})");
  std::string msg = expect_throw_message<ConfigError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  write_file(path, R"({"pre_tokenizer": {"type": "ByteLevel"},
                       "model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}})");
  msg = expect_throw_message<FormatError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("a b c"), std::string::npos) << msg;
  write_file(path, R"({"pre_tokenizer": {"type": "Whitespace"},
                       "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  msg = expect_throw_message<ConfigError>([&] { GPT2Tokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("ByteLevel"), std::string::npos) << msg;
}

// ---- added tokens ----

// The fixture files plus a tokenizer_config.json that adds tokens with various flags.
class AddedTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy_file(kGpt2Dir + "/vocab.json", dir_.path() / "vocab.json");
    fs::copy_file(kGpt2Dir + "/merges.txt", dir_.path() / "merges.txt");
  }
  void write_config(const json& config) {
    write_file(dir_.path() / "tokenizer_config.json", config.dump());
  }
  static json token(const std::string& content, bool special, bool lstrip = false,
                    bool rstrip = false, bool single_word = false) {
    return {{"content", content},     {"lstrip", lstrip},           {"rstrip", rstrip},
            {"normalized", !special}, {"single_word", single_word}, {"special", special}};
  }
  TempDir dir_;
};

TEST_F(AddedTokensTest, StripFlagsAndDecodeOfPlainAddedTokens) {
  write_config({{"added_tokens_decoder",
                 {{"50256", token("<|endoftext|>", true)},
                  {"50257", token("<L>", false, /*lstrip=*/true)},
                  {"50258", token("<R>", false, false, /*rstrip=*/true)},
                  {"50259", token("<SEP>", true)},
                  {"50260", token("<W>", false, false, false, /*single_word=*/true)}}},
                {"eos_token", "<|endoftext|>"},
                {"additional_special_tokens", json::array({"<SEP>"})}});
  GPT2Tokenizer tok(dir_.str());
  EXPECT_EQ(tok.total_vocab_size(), 50261);
  EXPECT_EQ(tok.tokenize("a  <L>  b"), (std::vector<std::string>{"a", "<L>", "Ġ", "Ġb"}));
  EXPECT_EQ(tok.tokenize("a  <R>  b"), (std::vector<std::string>{"a", "Ġ", "Ġ", "<R>", "b"}));
  EXPECT_EQ(tok.tokenize("a<SEP>b"), (std::vector<std::string>{"a", "<SEP>", "b"}));
  // single_word: glued to a word on its left, kept when free-standing.
  EXPECT_EQ(tok.tokenize("x<W> y"), (std::vector<std::string>{"x", "<", "W", ">", "Ġy"}));
  EXPECT_EQ(tok.tokenize("x <W> y"), (std::vector<std::string>{"x", "Ġ", "<W>", "Ġy"}));

  // Plain added tokens are emitted verbatim and joined with spaces (spaces_between_special_
  // tokens); special ones go through the byte decoder with their neighbours.
  const std::vector<int64_t> ids = tok.encode("a <L> b<SEP>c");
  EXPECT_EQ(ids, (std::vector<int64_t>{64, 50257, 275, 50259, 66}));
  // <SEP> is an additional special token beyond the vocabulary, so it is emitted verbatim too.
  EXPECT_EQ(tok.decode(ids, false), "a <L>  b <SEP> c");
  EXPECT_EQ(tok.decode(ids, true), "a <L>  bc");
  EXPECT_EQ(tok.decode(ids, false, false, /*spaces_between_special_tokens=*/false), "a<L> b<SEP>c");
  EXPECT_EQ(tok.all_special_tokens(), (std::vector<std::string>{"<|endoftext|>", "<SEP>"}));
}

TEST_F(AddedTokensTest, SpecialTokensOutsideTheVocabularyGetNewIds) {
  write_config({{"pad_token", "<pad>"}, {"sep_token", "<sep>"}, {"add_bos_token", true}});
  GPT2Tokenizer tok(dir_.str());
  // bos/eos/unk default to <|endoftext|> (in the vocabulary); pad and sep are appended in
  // SPECIAL_TOKENS_ATTRIBUTES order (sep before pad).
  EXPECT_EQ(tok.token_to_id("<sep>"), 50257);
  EXPECT_EQ(tok.token_to_id("<pad>"), 50258);
  EXPECT_EQ(tok.total_vocab_size(), 50259);
  EXPECT_EQ(tok.encode("hi<pad>"), (std::vector<int64_t>{50256, 5303, 50258}));
  EXPECT_EQ(tok.decode({50256, 5303, 50258}, true), "hi");
}

TEST_F(AddedTokensTest, AddPrefixSpaceAndSplitSpecialTokens) {
  write_config({{"add_prefix_space", true}, {"split_special_tokens", true}});
  GPT2Tokenizer tok(dir_.str());
  EXPECT_EQ(tok.tokenize("Hello"), (std::vector<std::string>{"ĠHello"}));
  // GPT-2 adds the space even before whitespace (RoBERTa does not).
  EXPECT_EQ(tok.tokenize(" Hello"), (std::vector<std::string>{"Ġ", "ĠHello"}));
  // split_special_tokens: <|endoftext|> is ordinary text (after the prefix space).
  const std::vector<std::string> tokens = tok.tokenize("<|endoftext|>");
  EXPECT_GT(tokens.size(), 1u);
  EXPECT_EQ(tokens.front().rfind("\xc4\xa0", 0), 0u) << tokens.front();
  EXPECT_EQ(std::count(tokens.begin(), tokens.end(), "<|endoftext|>"), 0);
}

// ---- the added-token trie, on transformers' own Trie test cases ----

std::vector<std::string> trie_split(const std::vector<std::string>& words,
                                    const std::string& text) {
  detail::AddedTokenTrie trie;
  for (const auto& w : words) trie.add(w);
  return trie.split(text);
}

TEST(AddedTokenTrie, MatchesTransformersTrie) {
  using V = std::vector<std::string>;
  EXPECT_EQ(trie_split({}, "[CLS] This is a extra_id_100"), V{"[CLS] This is a extra_id_100"});
  EXPECT_EQ(trie_split({"[CLS]", "extra_id_1", "extra_id_100"}, "[CLS] This is a extra_id_100"),
            (V{"[CLS]", " This is a ", "extra_id_100"}));
  EXPECT_EQ(trie_split({"A"}, "ABC"), (V{"A", "BC"}));
  EXPECT_EQ(trie_split({"A"}, "BCA"), (V{"BC", "A"}));
  EXPECT_EQ(trie_split({"TOKEN]", "[SPECIAL_TOKEN]"}, "This is something [SPECIAL_TOKEN]"),
            (V{"This is something ", "[SPECIAL_TOKEN]"}));
  EXPECT_EQ(trie_split({"A", "P", "[SPECIAL_TOKEN]"}, "This is something [SPECIAL_TOKEN]"),
            (V{"This is something ", "[SPECIAL_TOKEN]"}));
  EXPECT_EQ(trie_split({"AB", "B", "C"}, "ABC"), (V{"AB", "C"}));
  EXPECT_EQ(trie_split({"ABC", "B", "CD"}, "ABCD"), (V{"ABC", "D"}));
  EXPECT_EQ(trie_split({"友達", "Hello 友達"}, "Say Hello 友達!"), (V{"Say ", "Hello 友達", "!"}));
  EXPECT_EQ(trie_split({"<s>"}, ""), V{});
  EXPECT_EQ(trie_split({"<s>"}, "<s><s>"), (V{"<s>", "<s>"}));
  EXPECT_EQ(trie_split({"<s>"}, "a\xff<s>\xfe"), (V{"a\xff", "<s>", "\xfe"}));
}

// ---- helpers ----

TEST(CleanUpTokenization, ReplacesLikeTransformers) {
  EXPECT_EQ(detail::clean_up_tokenization("a . b , c ! d ? e ' f n't g 'm h 's i 've j 're"),
            "a. b, c! d? e'fn't g'm h's i've j're");
  // Python's str.replace: non-overlapping, left to right, one pattern after the other.
  EXPECT_EQ(detail::clean_up_tokenization(" .  . "), ". . ");
  EXPECT_EQ(detail::clean_up_tokenization("a ' ' b"), "a'' b");
}

TEST(Unicode, Utf8DecodingMatchesPython) {
  std::string out;
  ASSERT_TRUE(detail::decode_utf8_bytes("\xf0\x9f\x98", detail::Utf8Errors::kReplace, out));
  EXPECT_EQ(out, "\xef\xbf\xbd");
  ASSERT_TRUE(detail::decode_utf8_bytes("\xe0\x80\xed\xa0\x80", detail::Utf8Errors::kReplace, out));
  std::string five;
  for (int i = 0; i < 5; ++i) five += "\xef\xbf\xbd";
  EXPECT_EQ(out, five);  // E0 | 80 | ED | A0 | 80: each a maximal subpart of its own
  ASSERT_TRUE(
      detail::decode_utf8_bytes("a\xff"
                                "b",
                                detail::Utf8Errors::kIgnore, out));
  EXPECT_EQ(out, "ab");
  EXPECT_FALSE(detail::decode_utf8_bytes("a\xff", detail::Utf8Errors::kStrict, out));
  ASSERT_TRUE(detail::decode_utf8_bytes("\xf4\x8f\xbf\xbf", detail::Utf8Errors::kStrict, out));
  EXPECT_EQ(out, "\xf4\x8f\xbf\xbf");
}

TEST(Unicode, Properties) {
  EXPECT_TRUE(detail::is_unicode_letter(U'é'));
  EXPECT_TRUE(detail::is_unicode_letter(U'日'));
  EXPECT_FALSE(detail::is_unicode_letter(U'1'));
  EXPECT_TRUE(detail::is_unicode_number(U'½'));
  EXPECT_TRUE(detail::is_unicode_number(0x2160));  // Roman numeral one (Nl)
  EXPECT_FALSE(detail::is_unicode_number(U'a'));
  EXPECT_TRUE(detail::is_unicode_white_space(0xA0));
  EXPECT_FALSE(detail::is_unicode_white_space(0x200B));
  EXPECT_FALSE(detail::is_unicode_white_space(0x1C));
  EXPECT_TRUE(detail::is_python_space(0x1C));
  EXPECT_EQ(detail::unicode_category(0x10FFFF), detail::UnicodeCategory::kCn);
  EXPECT_EQ(detail::unicode_category(0x110000), detail::UnicodeCategory::kCn);
  EXPECT_EQ(detail::unicode_category(0), detail::UnicodeCategory::kCc);
  EXPECT_EQ(detail::python_lstrip(" \t\xc2\xa0x "), "x ");
  EXPECT_EQ(detail::python_rstrip(" x\xe3\x80\x80\n"), " x");
  EXPECT_EQ(detail::python_rstrip("x\xff "), "x\xff");
}

// ---- concurrency ----

TEST(Gpt2Tokenizer, ConcurrentUseGivesTheSameIds) {
  const GPT2Tokenizer& tok = gpt2();
  const json expected = expected_cases(kGpt2Dir);
  std::vector<std::string> texts;
  std::vector<std::vector<int64_t>> want;
  for (const json& c : expected["cases"]) {
    texts.push_back(c["text"].get<std::string>());
    want.push_back(ids_of(c["ids"]));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (std::size_t i = 0; i < texts.size(); ++i) {
          const std::size_t k = (i + static_cast<std::size_t>(t) * 7) % texts.size();
          if (tok.encode(texts[k], false) != want[k]) ++failures;
          if (tok.decode(want[k], false, false) != texts[k]) ++failures;
        }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace ved
