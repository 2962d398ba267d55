// BertJapaneseTokenizer against transformers' slow BertJapaneseTokenizer
// (tests/data/fixtures/tokenizers/bert-japanese-char: manga-ocr's tokenizer_config.json, every
// encode case and decode case), the manga-ocr-shaped model's decoded generations, the options
// the fixture does not exercise (expected values worked out by hand from transformers'
// tokenization_bert_japanese.py), and the configurations ved refuses.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../test_util.hpp"
#include "../tokenizer_cases.hpp"
#include "ved/detail/json.hpp"
#include "ved/processing/auto_tokenizer.hpp"

namespace ved {
namespace {

using detail::json;
using test::expect_throw_message;
using test::TempDir;

const std::string kCharDir = test::fixture("tokenizers/bert-japanese-char");
const std::string kMangaModelDir = test::fixture("models/mangaocr-vit-bert");

json expected() {
  return detail::read_json_file(kCharDir + "/expected.json");
}

std::unique_ptr<Tokenizer> load(const std::string& dir) {
  std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(dir);
  EXPECT_NE(dynamic_cast<BertJapaneseTokenizer*>(tok.get()), nullptr);
  return tok;
}

// ---- the fixture ----

TEST(BertJapaneseTokenizer, EveryCaseMatchesTransformers) {
  test::expect_tokenizer_matches_fixture(*load(kCharDir), expected(), 17);
}

TEST(BertJapaneseTokenizer, EveryDecodeCaseMatchesTransformers) {
  test::expect_decode_cases_match_fixture(*load(kCharDir), expected(), 9);
}

TEST(BertJapaneseTokenizer, FixtureMetadata) {
  const json e = expected();
  const auto tok = load(kCharDir);
  EXPECT_EQ(tok->vocab_size(), e["vocab_size"].get<int64_t>());
  EXPECT_EQ(tok->total_vocab_size(), e["len_with_added_tokens"].get<int64_t>());
  EXPECT_EQ(tok->clean_up_tokenization_spaces(),
            e["clean_up_tokenization_spaces_default"].get<bool>());
  for (const auto& [token, id] : e["added_tokens"].items()) {
    EXPECT_EQ(tok->token_to_id(token), id.get<int64_t>()) << token;
    EXPECT_EQ(tok->id_to_token(id.get<int64_t>()), token);
  }
  const auto& jp = dynamic_cast<const BertJapaneseTokenizer&>(*tok);
  EXPECT_FALSE(jp.do_lower_case());
  EXPECT_TRUE(jp.do_word_tokenize());
  EXPECT_EQ(jp.subword_tokenizer(), BertJapaneseTokenizer::Subword::kCharacter);
  EXPECT_EQ(jp.special_token_id(SpecialTokenRole::kUnk), 1);
  EXPECT_EQ(jp.special_token_id(SpecialTokenRole::kBos), std::nullopt);
}

// tokenizer.batch_decode(sequences, skip_special_tokens=True) of every generate() case of the
// manga-ocr-shaped model, with the tokenizer loaded from the model's own folder.
TEST(BertJapaneseTokenizer, MangaOcrModelDecodesLikeTransformers) {
  const json e = detail::read_json_file(kMangaModelDir + "/expected.json");
  const auto tok = load(kMangaModelDir);
  ASSERT_EQ(e["generate"].size(), 13u);
  for (const json& c : e["generate"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const json& sequences = c["sequences"];
    ASSERT_EQ(sequences.size(), c["decoded_skip_special"].size());
    for (std::size_t row = 0; row < sequences.size(); ++row)
      EXPECT_EQ(tok->decode(sequences[row].get<std::vector<int64_t>>(), true),
                c["decoded_skip_special"][row].get<std::string>())
          << "row " << row;
  }
}

TEST(BertJapaneseTokenizer, UnknownIdsAndInvalidUtf8) {
  const auto tok = load(kCharDir);
  // ved's rule for every tokenizer (transformers would print [UNK]).
  const std::string msg = expect_throw_message<InvalidArgument>([&] { tok->decode({2, 225, 3}); });
  EXPECT_NE(msg.find("225"), std::string::npos) << msg;
  // Ill-formed bytes are dropped like control characters by the basic word tokenizer.
  EXPECT_EQ(tok->tokenize("な\xff\xc3ん"), (std::vector<std::string>{"な", "ん"}));
}

// ---- options the fixture does not exercise ----

const char* const kSmallVocab =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nA\nB\n東京\n##大学\n##で\n。\n";

// A folder with kSmallVocab and a tokenizer_config.json of BertJapaneseTokenizer plus `config`.
std::string small_folder(const TempDir& dir, json config) {
  config["tokenizer_class"] = "BertJapaneseTokenizer";
  dir.write("tokenizer_config.json", config.dump());
  dir.write("vocab.txt", std::string(kSmallVocab));
  return dir.str();
}

TEST(BertJapaneseTokenizer, BasicWordsThenWordpiece) {
  // BasicTokenizer puts no spaces around CJK characters here and splits "。" off as
  // punctuation; WordPiece then matches 東京 ##大学 ##で.
  const TempDir dir;
  const auto tok = load(small_folder(
      dir, {{"word_tokenizer_type", "basic"}, {"subword_tokenizer_type", "wordpiece"}}));
  EXPECT_EQ(tok->tokenize("東京大学で。"),
            (std::vector<std::string>{"東京", "##大学", "##で", "。"}));
  EXPECT_EQ(tok->encode("東京大学で。"), (std::vector<int64_t>{2, 9, 10, 11, 12, 3}));
  EXPECT_EQ(tok->decode({2, 9, 10, 11, 12, 3}, true), "東京大学で 。");
  EXPECT_EQ(tok->tokenize("東京大学へ"), (std::vector<std::string>{"[UNK]"}));
}

TEST(BertJapaneseTokenizer, NoWordTokenizerKeepsSpacesForTheCharacters) {
  // tokens = [text]: the space reaches the character tokenizer, which has no entry for it.
  const TempDir dir;
  const auto tok = load(
      small_folder(dir, {{"do_word_tokenize", false}, {"subword_tokenizer_type", "character"}}));
  EXPECT_EQ(tok->tokenize("a b"), (std::vector<std::string>{"a", "[UNK]", "b"}));
  // Special tokens are still split off first.
  EXPECT_EQ(tok->tokenize("a[SEP]b"), (std::vector<std::string>{"a", "[SEP]", "b"}));
}

TEST(BertJapaneseTokenizer, LowerCasing) {
  // do_lower_case: PreTrainedTokenizer.tokenize lower-cases "ÀB" to "àb" (special tokens
  // kept); BasicTokenizer then strips the accent. MeCabTokenizer only lower-cases, so the
  // "mecab" configuration keeps à, which the vocabulary lacks.
  const TempDir basic_dir, mecab_dir;
  const auto basic = load(small_folder(basic_dir, {{"do_lower_case", true},
                                                   {"word_tokenizer_type", "basic"},
                                                   {"subword_tokenizer_type", "character"}}));
  EXPECT_EQ(basic->tokenize("ÀB [CLS]"), (std::vector<std::string>{"a", "b", "[CLS]"}));
  const auto mecab = load(small_folder(mecab_dir, {{"do_lower_case", true},
                                                   {"word_tokenizer_type", "mecab"},
                                                   {"subword_tokenizer_type", "character"}}));
  EXPECT_EQ(mecab->tokenize("ÀB [CLS]"), (std::vector<std::string>{"[UNK]", "b", "[CLS]"}));
}

// ---- refused configurations and broken folders ----

// The ConfigError message of loading `config` (through from_pretrained, as the CLI does).
std::string refusal(const json& config) {
  const TempDir dir;
  const std::string folder = small_folder(dir, config);
  return expect_throw_message<ConfigError>([&] { Tokenizer::from_pretrained(folder); });
}

void expect_mentions(const std::string& msg, const std::vector<std::string>& parts) {
  for (const std::string& part : parts)
    EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
}

TEST(BertJapaneseTokenizer, RefusesMorphologicalAnalyserBeforeWordpiece) {
  for (const char* analyser : {"mecab", "sudachi", "jumanpp"}) {
    const std::string msg =
        refusal({{"word_tokenizer_type", analyser}, {"subword_tokenizer_type", "wordpiece"}});
    expect_mentions(msg, {"tokenizer_config.json", "word_tokenizer_type", analyser, "wordpiece",
                          "morphological analyser"});
  }
  // The default subword tokenizer is WordPiece.
  expect_mentions(refusal({{"word_tokenizer_type", "mecab"}}), {"mecab", "wordpiece"});
  expect_mentions(refusal({{"word_tokenizer_type", "mecab"}, {"do_subword_tokenize", false}}),
                  {"mecab", "do_subword_tokenize"});
}

TEST(BertJapaneseTokenizer, RefusesOtherAnalysersBeforeCharacters) {
  for (const char* analyser : {"sudachi", "jumanpp"})
    expect_mentions(
        refusal({{"word_tokenizer_type", analyser}, {"subword_tokenizer_type", "character"}}),
        {"tokenizer_config.json", "word_tokenizer_type", analyser, "whitespace"});
}

TEST(BertJapaneseTokenizer, RefusesUnknownTokenizerTypes) {
  expect_mentions(refusal({{"subword_tokenizer_type", "bpe"}}),
                  {"tokenizer_config.json", "subword_tokenizer_type", "'bpe'", "character"});
  expect_mentions(refusal({{"subword_tokenizer_type", "sentencepiece"}}),
                  {"subword_tokenizer_type", "sentencepiece", "spiece.model"});
  expect_mentions(refusal({{"word_tokenizer_type", "kuromoji"}}),
                  {"tokenizer_config.json", "word_tokenizer_type", "'kuromoji'"});
  expect_mentions(refusal({{"word_tokenizer_type", 3}}), {"word_tokenizer_type", "string"});
  expect_mentions(refusal({{"never_split", "[CLS]"}}), {"never_split"});
}

TEST(BertJapaneseTokenizer, MissingVocabularyIsAnIoErrorNamingIt) {
  const TempDir dir;
  dir.write("tokenizer_config.json", std::string(R"({"tokenizer_class": "BertJapaneseTokenizer",
      "word_tokenizer_type": "mecab", "subword_tokenizer_type": "character"})"));
  const std::string msg =
      expect_throw_message<IoError>([&] { Tokenizer::from_pretrained(dir.str()); });
  expect_mentions(msg, {dir.file("vocab.txt"), "BertJapaneseTokenizer"});
  const std::string missing = dir.file("no-such-folder");
  expect_mentions(expect_throw_message<IoError>([&] { BertJapaneseTokenizer tok(missing); }),
                  {missing});
}

}  // namespace
}  // namespace ved
