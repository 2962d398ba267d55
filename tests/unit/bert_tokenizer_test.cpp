// BertTokenizer against transformers' slow BertTokenizer (tests/data/fixtures/tokenizers/
// bert-uncased), the BasicTokenizer options the fixture does not exercise, a tokenizer.json-only
// folder built from the fixture's vocabulary, loading errors, and the Unicode normalization and
// case mapping BERT relies on (expected values from Python 3.13's unicodedata / str.lower).

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "../tokenizer_cases.hpp"
#include "ved/detail/json.hpp"
#include "ved/detail/unicode.hpp"
#include "ved/processing/bert_tokenizer.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;
using detail::json;
using test::TempDir;

const std::string kBertDir = test::fixture("tokenizers/bert-uncased");

json expected_cases() {
  return detail::read_json_file(kBertDir + "/expected.json");
}

const BertTokenizer& bert() {
  static const BertTokenizer tok(kBertDir);
  return tok;
}

using test::expect_throw_message;

std::vector<std::string> lines_of(const std::string& path) {
  return detail::read_vocab_txt(path);
}

// ---- the fixture ----

TEST(BertTokenizer, MatchesTransformersOnEveryFixtureCase) {
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(kBertDir);
  ASSERT_NE(dynamic_cast<BertTokenizer*>(tok.get()), nullptr);
  test::expect_tokenizer_matches_fixture(*tok, expected_cases());
}

TEST(BertTokenizer, FixtureMetadata) {
  const json expected = expected_cases();
  const BertTokenizer& tok = bert();
  EXPECT_EQ(tok.vocab_size(), expected["vocab_size"].get<int64_t>());
  EXPECT_EQ(tok.total_vocab_size(), expected["len_with_added_tokens"].get<int64_t>());
  EXPECT_EQ(tok.clean_up_tokenization_spaces(),
            expected["clean_up_tokenization_spaces_default"].get<bool>());
  for (const auto& [token, id] : expected["special_token_ids"].items())
    EXPECT_EQ(tok.token_to_id(token), id.get<int64_t>()) << token;
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kCls), 101);
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kSep), 102);
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kBos), std::nullopt);
  EXPECT_TRUE(tok.do_lower_case());
  EXPECT_TRUE(tok.do_basic_tokenize());
  EXPECT_EQ(tok.basic_tokenizer().strip_accents, std::nullopt);
  EXPECT_TRUE(tok.basic_tokenizer().tokenize_chinese_chars);
  EXPECT_EQ(tok.wordpiece_tokenizer().max_input_chars_per_word, 100);
  EXPECT_EQ(tok.token_to_id("the"), 1996);
  EXPECT_EQ(tok.token_to_id("##s"), 2015);
  EXPECT_EQ(tok.id_to_token(1996), "the");
  EXPECT_EQ(tok.token_to_id("no-such-token"), std::nullopt);
}

TEST(BertTokenizer, UnknownIdsAreErrorsNamingTheId) {
  for (int64_t id : {int64_t{30522}, int64_t{-1}, int64_t{1} << 40}) {
    const std::string msg = expect_throw_message<InvalidArgument>([&] {
      bert().decode({101, id, 102});
    });
    EXPECT_NE(msg.find(std::to_string(id)), std::string::npos) << msg;
  }
}

TEST(BertTokenizer, ConcurrentUseGivesTheSameIds) {
  const json expected = expected_cases();
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round)
        for (const json& c : expected["cases"]) {
          const auto ids = bert().encode(c["text"].get<std::string>(), true);
          if (ids != c["ids_with_special"].get<std::vector<int64_t>>()) ++failures[t];
          if (bert().decode(ids, true) != c["decode_skip_special"].get<std::string>())
            ++failures[t];
        }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

// ---- options, on a small vocabulary ----

class BertOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_file(dir_.file("vocab.txt"),
                     "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ncafé\ncafe\nCafé\n##s\nhello\n"
                     ",\n!\nistanbul\n日\n本\n日本\n[foo]\nun\n##aff\n##able\nxyz\nhello,\n"
                     "[\n]\n");
  }
  std::unique_ptr<Tokenizer> load(const json& config) {
    test::write_file(dir_.file("tokenizer_config.json"), config.dump());
    return Tokenizer::from_pretrained(dir_.str());
  }
  TempDir dir_;
};

TEST_F(BertOptionsTest, Defaults) {
  const auto tok = load({{"tokenizer_class", "BertTokenizer"}});
  ASSERT_NE(dynamic_cast<BertTokenizer*>(tok.get()), nullptr);
  // Lower-cased, accents stripped (also from decomposed input), punctuation split.
  EXPECT_EQ(tok->tokenize("Café, CAFE\u0301S!"),
            (std::vector<std::string>{"cafe", ",", "cafe", "##s", "!"}));
  EXPECT_EQ(tok->encode("unaffable"), (std::vector<int64_t>{2, 17, 18, 19, 3}));
  // 'İ' lower-cases to 'i' + U+0307, which accent stripping removes.
  EXPECT_EQ(tok->tokenize("\u0130STANBUL"), std::vector<std::string>{"istanbul"});
  EXPECT_EQ(tok->tokenize("日本"), (std::vector<std::string>{"日", "本"}));
  EXPECT_TRUE(tok->clean_up_tokenization_spaces());
  // Special tokens are neither lower-cased nor split.
  EXPECT_EQ(tok->tokenize("HELLO [MASK]!"), (std::vector<std::string>{"hello", "[MASK]", "!"}));
  // Control characters, NUL and U+FFFD vanish; invalid UTF-8 bytes too.
  EXPECT_EQ(tok->tokenize(std::string("he\x01l\0lo\xEF\xBF\xBD\xFF", 11)),
            std::vector<std::string>{"hello"});
  EXPECT_EQ(tok->decode({2, 9, 10, 9, 11, 3}, false), "[CLS] hello, hello! [SEP]");
  EXPECT_EQ(tok->decode({2, 9, 10, 9, 11, 3}, true, false), "hello , hello !");
  EXPECT_EQ(tok->decode({6, 8}, true), "cafes");
}

TEST_F(BertOptionsTest, CasedKeepsCaseAndComposesAccents) {
  const auto tok = load({{"do_lower_case", false}});
  // NFC turns "Cafe" + COMBINING ACUTE into "Café", which is in the vocabulary.
  EXPECT_EQ(tok->tokenize("Cafe\u0301 café"), (std::vector<std::string>{"Café", "café"}));
  EXPECT_EQ(tok->tokenize("HELLO"), std::vector<std::string>{"[UNK]"});
  const auto stripped = load({{"do_lower_case", false}, {"strip_accents", true}});
  EXPECT_EQ(stripped->tokenize("café Café"), (std::vector<std::string>{"cafe", "[UNK]"}));
}

TEST_F(BertOptionsTest, LowerCaseWithoutAccentStripping) {
  const auto tok = load({{"strip_accents", false}});
  EXPECT_EQ(tok->tokenize("CAFÉ Cafe\u0301"), (std::vector<std::string>{"café", "café"}));
}

TEST_F(BertOptionsTest, ChineseCharactersAndNeverSplit) {
  const auto tok = load({{"tokenize_chinese_chars", false}, {"never_split", {"[foo]"}}});
  EXPECT_EQ(tok->tokenize("日本"), std::vector<std::string>{"日本"});
  // never_split words are neither lower-cased by BasicTokenizer nor split on punctuation.
  EXPECT_EQ(tok->tokenize("[foo] [bar]"), (std::vector<std::string>{"[foo]", "[", "[UNK]", "]"}));
}

TEST_F(BertOptionsTest, WithoutBasicTokenization) {
  const auto tok = load({{"do_basic_tokenize", false}});
  // WordPiece alone: no lower-casing, no punctuation split.
  EXPECT_EQ(tok->tokenize("hello, Hello"), (std::vector<std::string>{"hello,", "[UNK]"}));
}

TEST_F(BertOptionsTest, LongWordsAreUnknown) {
  const auto tok = load(json::object());
  const std::string word(101, 'x');
  EXPECT_EQ(tok->tokenize(word + " hello"), (std::vector<std::string>{"[UNK]", "hello"}));
}

TEST_F(BertOptionsTest, SplitSpecialTokens) {
  const auto tok = load({{"split_special_tokens", true}});
  EXPECT_EQ(tok->tokenize("x [MASK]"), (std::vector<std::string>{"[UNK]", "[", "[UNK]", "]"}));
}

// Before the text is split on added tokens, transformers lower-cases everything but the special
// tokens and the *normalized* plain added tokens. So a plain added token with normalized=false
// and capitals can never match in a lower-casing tokenizer.
TEST_F(BertOptionsTest, AddedTokensAndLowerCasing) {
  auto token = [](const std::string& content, bool normalized) {
    return json{{"content", content},       {"lstrip", false},      {"rstrip", false},
                {"normalized", normalized}, {"single_word", false}, {"special", false}};
  };
  const auto tok = load(
      {{"added_tokens_decoder", {{"24", token("NewTok", true)}, {"25", token("XYZ", false)}}}});
  EXPECT_EQ(tok->tokenize("a NewTok b"), (std::vector<std::string>{"[UNK]", "NewTok", "[UNK]"}));
  EXPECT_EQ(tok->tokenize("XYZ"), std::vector<std::string>{"xyz"});
  EXPECT_EQ(tok->token_to_id("XYZ"), 25);
  EXPECT_EQ(tok->vocab_size(), 24);
  EXPECT_EQ(tok->total_vocab_size(), 26);
}

TEST(BertTokenizerVocab, LinesFollowPythonUniversalNewlines) {
  TempDir dir;
  test::write_file(dir.file("vocab.txt"), "[PAD]\r\n[UNK]\rhello\n\nworld");
  EXPECT_EQ(lines_of(dir.file("vocab.txt")),
            (std::vector<std::string>{"[PAD]", "[UNK]", "hello", "", "world"}));
  const BertTokenizer tok(dir.str());
  EXPECT_EQ(tok.vocab_size(), 5);
  EXPECT_EQ(tok.token_to_id("world"), 4);
  // A repeated token keeps its last id; the earlier id decodes to nothing.
  test::write_file(dir.file("vocab.txt"), "[UNK]\na\nb\na\n");
  const BertTokenizer dup(dir.str());
  EXPECT_EQ(dup.vocab_size(), 3);
  EXPECT_EQ(dup.token_to_id("a"), 3);
  EXPECT_EQ(dup.id_to_token(1), std::nullopt);
}

// ---- loading errors ----

TEST(BertTokenizerLoading, MalformedVocabTxt) {
  TempDir dir;
  const std::string path = dir.file("vocab.txt");
  test::write_file(path, std::string("[PAD]\n[UNK]\nbad\xC3(\n"));
  std::string msg = expect_throw_message<FormatError>([&] { BertTokenizer tok(dir.str()); });
  EXPECT_NE(msg.find(path + ":3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("UTF-8"), std::string::npos) << msg;
  test::write_file(path, "");
  msg = expect_throw_message<FormatError>([&] { BertTokenizer tok(dir.str()); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST(BertTokenizerLoading, MissingFilesAndBadConfig) {
  TempDir dir;
  std::string msg = expect_throw_message<IoError>([&] { BertTokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("vocab.txt"), std::string::npos) << msg;
  msg = expect_throw_message<IoError>([&] { BertTokenizer tok(dir.file("nope")); });
  EXPECT_NE(msg.find("nope"), std::string::npos) << msg;
  fs::copy_file(kBertDir + "/vocab.txt", dir.path() / "vocab.txt");
  for (const char* config :
       {R"({"do_lower_case": "yes"})", R"({"never_split": "[foo]"})", R"({"strip_accents": 1})"}) {
    test::write_file(dir.file("tokenizer_config.json"), std::string(config));
    msg = expect_throw_message<ConfigError>([&] { BertTokenizer tok(dir.str()); });
    EXPECT_NE(msg.find("tokenizer_config.json"), std::string::npos) << msg;
  }
}

// ---- tokenizer.json only ----

// What transformers' BertConverter writes for the fixture's tokenizer.
json bert_tokenizer_json(const std::string& post_processor) {
  json vocab = json::object();
  const std::vector<std::string> tokens = lines_of(kBertDir + "/vocab.txt");
  for (std::size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  json added = json::array();
  for (const auto& [content, id] : std::vector<std::pair<std::string, int>>{
           {"[PAD]", 0}, {"[UNK]", 100}, {"[CLS]", 101}, {"[SEP]", 102}, {"[MASK]", 103}})
    added.push_back({{"id", id},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  json post;
  if (post_processor == "TemplateProcessing") {
    post = {{"type", "TemplateProcessing"},
            {"single",
             {{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}},
              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
              {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}}},
            {"pair", json::array()},
            {"special_tokens",
             {{"[CLS]", {{"id", "[CLS]"}, {"ids", {101}}, {"tokens", {"[CLS]"}}}},
              {"[SEP]", {{"id", "[SEP]"}, {"ids", {102}}, {"tokens", {"[SEP]"}}}}}}};
  } else {
    post = {{"type", "BertProcessing"}, {"sep", {"[SEP]", 102}}, {"cls", {"[CLS]", 101}}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer",
           {{"type", "BertNormalizer"},
            {"clean_text", true},
            {"handle_chinese_chars", true},
            {"strip_accents", nullptr},
            {"lowercase", true}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"post_processor", post},
          {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
          {"model",
           {{"type", "WordPiece"},
            {"unk_token", "[UNK]"},
            {"continuing_subword_prefix", "##"},
            {"max_input_chars_per_word", 100},
            {"vocab", vocab}}}};
}

TEST(BertTokenizerJson, TokenizerJsonOnlyFolderMatchesTheFixture) {
  for (const char* post : {"TemplateProcessing", "BertProcessing"}) {
    SCOPED_TRACE(post);
    TempDir dir;
    test::write_file(dir.file("tokenizer.json"), bert_tokenizer_json(post).dump());
    const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(dir.str());
    ASSERT_NE(dynamic_cast<BertTokenizer*>(tok.get()), nullptr);
    EXPECT_EQ(tok->vocab_size(), 30522);
    test::expect_tokenizer_matches_fixture(*tok, expected_cases());
  }
}

TEST(BertTokenizerJson, WithTheFixtureConfig) {
  TempDir dir;
  test::write_file(dir.file("tokenizer.json"), bert_tokenizer_json("BertProcessing").dump());
  fs::copy_file(kBertDir + "/tokenizer_config.json", dir.path() / "tokenizer_config.json");
  fs::copy_file(kBertDir + "/special_tokens_map.json", dir.path() / "special_tokens_map.json");
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(dir.str());
  test::expect_tokenizer_matches_fixture(*tok, expected_cases());
}

TEST(BertTokenizerJson, NormalizerSettingsAreRead) {
  TempDir dir;
  json j = bert_tokenizer_json("BertProcessing");
  j["normalizer"]["lowercase"] = false;
  j["normalizer"]["handle_chinese_chars"] = false;
  j["model"]["max_input_chars_per_word"] = 3;
  test::write_file(dir.file("tokenizer.json"), j.dump());
  const BertTokenizer tok(dir.str());
  EXPECT_FALSE(tok.do_lower_case());
  EXPECT_FALSE(tok.basic_tokenizer().tokenize_chinese_chars);
  EXPECT_EQ(tok.tokenize("the Thee"), (std::vector<std::string>{"the", "[UNK]"}));
  // tokenizer_config.json wins over tokenizer.json.
  test::write_file(dir.file("tokenizer_config.json"), R"({"do_lower_case": true})");
  EXPECT_TRUE(BertTokenizer(dir.str()).do_lower_case());
}

TEST(BertTokenizerJson, UnsupportedComponentsAreConfigErrors) {
  struct Case {
    const char* pointer;
    json value;
    const char* named;
  };
  const std::vector<Case> cases = {
      {"/normalizer", {{"type", "NFKC"}}, "NFKC"},
      {"/normalizer",
       {{"type", "Sequence"}, {"normalizers", {{{"type", "Lowercase"}}}}},
       "Lowercase"},
      {"/pre_tokenizer", {{"type", "Whitespace"}}, "Whitespace"},
      {"/pre_tokenizer", nullptr, "null"},
      {"/decoder", {{"type", "ByteLevel"}}, "ByteLevel"},
      {"/post_processor", {{"type", "FancyProcessing"}}, "FancyProcessing"},
      {"/model/type", "BPE", "BPE"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.named);
    TempDir dir;
    json j = bert_tokenizer_json("BertProcessing");
    j[json::json_pointer(c.pointer)] = c.value;
    test::write_file(dir.file("tokenizer.json"), j.dump());
    test::write_file(dir.file("tokenizer_config.json"), R"({"tokenizer_class": "BertTokenizer"})");
    const std::string got =
        expect_throw_message<ConfigError>([&] { Tokenizer::from_pretrained(dir.str()); });
    EXPECT_NE(got.find(dir.file("tokenizer.json")), std::string::npos) << got;
    EXPECT_NE(got.find(c.named), std::string::npos) << got;
  }
}

TEST(BertTokenizerJson, MalformedFilesAreFormatErrors) {
  TempDir dir;
  const std::string path = dir.file("tokenizer.json");
  for (const std::string& text :
       {std::string(R"({"model": {"type": "WordPiece", "vocab": )"),
        std::string(R"({"model": {"type": "WordPiece", "vocab": {"a": "one"}}})"),
        std::string(R"({"model": {"type": "WordPiece", "vocab": []}})"), std::string("[]")}) {
    SCOPED_TRACE(text);
    test::write_file(path, text);
    const std::string msg =
        expect_throw_message<FormatError>([&] { BertTokenizer tok(dir.str()); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
}

// ---- Unicode ----

TEST(UnicodeNormalization, MatchesPythonUnicodedata) {
  struct Case {
    std::u32string in, nfc, nfd;
  };
  // unicodedata.normalize("NFC"/"NFD", in) in Python 3.13 (Unicode 15.1).
  const std::vector<Case> cases = {
      {U"e\u0301", U"\u00E9", U"e\u0301"},
      {U"\u00E9", U"\u00E9", U"e\u0301"},
      {U"a\u0301\u0323", U"\u1EA1\u0301", U"a\u0323\u0301"},
      {U"a\u0323\u0301", U"\u1EA1\u0301", U"a\u0323\u0301"},
      {U"\u1E9B\u0323", U"\u1E9B\u0323", U"\u017F\u0323\u0307"},
      {U"\uD55C\uAD6D\uC5B4", U"\uD55C\uAD6D\uC5B4",
       U"\u1112\u1161\u11AB\u1100\u116E\u11A8\u110B\u1165"},
      {U"\u1112\u1161\u11AB", U"\uD55C", U"\u1112\u1161\u11AB"},
      {U"\u1100\u1161", U"\uAC00", U"\u1100\u1161"},
      {U"\u0344", U"\u0308\u0301", U"\u0308\u0301"},
      {U"\u2126", U"\u03A9", U"\u03A9"},
      {U"\u212B", U"\u00C5", U"A\u030A"},
      {U"\u0F73", U"\u0F71\u0F72", U"\u0F71\u0F72"},
      {U"\u0301abc", U"\u0301abc", U"\u0301abc"},
      {U"\uFB01", U"\uFB01", U"\uFB01"},
      {U"\u00C5\u030A", U"\u00C5\u030A", U"A\u030A\u030A"},
      {U"\u0B47\u0B3E", U"\u0B4B", U"\u0B47\u0B3E"},
      {U"\u3071", U"\u3071", U"\u306F\u309A"},
      {U"\u306F\u309A", U"\u3071", U"\u306F\u309A"},
      {U"\U0001D15E", U"\U0001D157\U0001D165", U"\U0001D157\U0001D165"},
      {U"\u01C4", U"\u01C4", U"\u01C4"},
      {U"\uF900", U"\u8C48", U"\u8C48"},
      {U"A\u030A\u0301", U"\u01FA", U"A\u030A\u0301"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(detail::to_utf8(c.in));
    EXPECT_EQ(detail::nfc(c.in), c.nfc);
    EXPECT_EQ(detail::nfd(c.in), c.nfd);
  }
}

TEST(UnicodeNormalization, LowerCaseMatchesPython) {
  // "".join(c.lower() for c in s) in Python 3.13.
  const std::vector<std::pair<std::u32string, std::u32string>> cases = {
      {U"HELLO World", U"hello world"},
      {U"\u0130stanbul", U"i\u0307stanbul"},
      {U"\u03A3\u039F\u03A6\u039F\u03A3", U"\u03C3\u03BF\u03C6\u03BF\u03C3"},
      {U"A\u0308\u00D6", U"a\u0308\u00F6"},
      {U"\u1E9E\u00DF", U"\u00DF\u00DF"},
      {U"\u01C5\u01C4\u01C6", U"\u01C6\u01C6\u01C6"},
      {U"\u2160\u24B6", U"\u2170\u24D0"},
      {U"\U00010400\U0001E900", U"\U00010428\U0001E922"},
      {U"\u0130Ii\u0131", U"i\u0307ii\u0131"},
      {U"\u1F88\u1FBC", U"\u1F80\u1FB3"},
      {U"\uFF21\uFF5A", U"\uFF41\uFF5A"},
  };
  for (const auto& [in, lower] : cases) EXPECT_EQ(detail::python_lower(in), lower);
}

TEST(UnicodeNormalization, BertCharacterClasses) {
  EXPECT_TRUE(detail::bert_is_punctuation(U'$'));
  EXPECT_TRUE(detail::bert_is_punctuation(U'`'));
  EXPECT_TRUE(detail::bert_is_punctuation(U'\u3002'));
  EXPECT_FALSE(detail::bert_is_punctuation(U'a'));
  EXPECT_TRUE(detail::bert_is_control(U'\u200B'));
  EXPECT_TRUE(detail::bert_is_control(char32_t{0x0378}));  // unassigned
  EXPECT_FALSE(detail::bert_is_control(U'\t'));
  EXPECT_TRUE(detail::bert_is_whitespace(U'\u00A0'));
  EXPECT_FALSE(detail::bert_is_whitespace(U'\u2028'));
  EXPECT_TRUE(detail::bert_is_chinese_char(U'\u4E2D'));
  EXPECT_FALSE(detail::bert_is_chinese_char(U'\u30C6'));
}

}  // namespace
}  // namespace ved
