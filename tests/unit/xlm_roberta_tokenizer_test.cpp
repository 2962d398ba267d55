// XLMRobertaTokenizer against transformers' slow XLMRobertaTokenizer (tests/data/fixtures/
// tokenizers/xlm-roberta: a 1000-piece SentencePiece unigram model in fairseq's id layout), a
// tokenizer.json-only folder rebuilt from that model, Donut-style task tokens, MBart /
// MBart-50 language codes, and loading errors.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "../tokenizer_cases.hpp"
#include "ved/detail/json.hpp"
#include "ved/processing/sentencepiece_tokenizer.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;
using detail::json;
using test::TempDir;

const std::string kXlmrDir = test::fixture("tokenizers/xlm-roberta");
const std::string kModel = kXlmrDir + "/sentencepiece.bpe.model";

json expected_cases() {
  return detail::read_json_file(kXlmrDir + "/expected.json");
}

const XLMRobertaTokenizer& xlmr() {
  static const XLMRobertaTokenizer tok(kXlmrDir);
  return tok;
}

using test::expect_throw_message;

std::vector<int64_t> ids(std::initializer_list<int64_t> l) {
  return l;
}

// ---- the fixture ----

TEST(XLMRobertaTokenizer, MatchesTransformersOnEveryFixtureCase) {
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(kXlmrDir);
  ASSERT_NE(dynamic_cast<XLMRobertaTokenizer*>(tok.get()), nullptr);
  test::expect_tokenizer_matches_fixture(*tok, expected_cases());
}

TEST(XLMRobertaTokenizer, FixtureMetadata) {
  const json expected = expected_cases();
  const XLMRobertaTokenizer& tok = xlmr();
  EXPECT_EQ(tok.vocab_size(), expected["vocab_size"].get<int64_t>());
  EXPECT_EQ(tok.total_vocab_size(), expected["len_with_added_tokens"].get<int64_t>());
  EXPECT_EQ(tok.clean_up_tokenization_spaces(),
            expected["clean_up_tokenization_spaces_default"].get<bool>());
  EXPECT_EQ(tok.sp_model_size(), 1000);
  EXPECT_EQ(tok.model_file(), kModel);
  for (const auto& [token, id] : expected["special_token_ids"].items())
    EXPECT_EQ(tok.token_to_id(token), id.get<int64_t>()) << token;
  EXPECT_EQ(tok.special_token_id(SpecialTokenRole::kMask), 1001);
  // Pieces are SentencePiece ids + 1; SentencePiece's own <unk> <s> </s> are fairseq's.
  EXPECT_EQ(tok.token_to_id(","), 4);
  EXPECT_EQ(tok.id_to_token(4), ",");
  EXPECT_EQ(tok.token_to_id("\xE2\x96\x81world"), tok.encode("world", false).at(0));
  EXPECT_EQ(tok.token_to_id("not-a-piece"), std::nullopt);
  EXPECT_EQ(tok.encode("é", false), ids({tok.token_to_id("\xE2\x96\x81").value(), 3}));
}

TEST(XLMRobertaTokenizer, MaskSwallowsTheSpaceBeforeIt) {
  const XLMRobertaTokenizer& tok = xlmr();
  EXPECT_EQ(tok.tokenize("Hello <mask>!"), tok.tokenize("Hello<mask>!"));
  EXPECT_EQ(tok.encode("Hello <mask>", false).back(), 1001);
}

TEST(XLMRobertaTokenizer, UnknownIdsAreErrorsNamingTheId) {
  for (int64_t id : {int64_t{1002}, int64_t{-1}, int64_t{123456789}}) {
    const std::string msg = expect_throw_message<InvalidArgument>([&] {
      xlmr().decode({0, 5, id, 2});
    });
    EXPECT_NE(msg.find(std::to_string(id)), std::string::npos) << msg;
  }
}

TEST(XLMRobertaTokenizer, ConcurrentUseGivesTheSameIds) {
  const json expected = expected_cases();
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round)
        for (const json& c : expected["cases"]) {
          const auto got = xlmr().encode(c["text"].get<std::string>(), true);
          if (got != c["ids_with_special"].get<std::vector<int64_t>>()) ++failures[t];
          if (xlmr().decode(got, false) != c["decode_keep_special"].get<std::string>())
            ++failures[t];
        }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

// ---- Donut: XLMRobertaTokenizer with task tokens ----

TEST(XLMRobertaTokenizer, DonutTaskTokensFromAddedTokensJson) {
  TempDir dir;
  fs::copy_file(kModel, dir.path() / "sentencepiece.bpe.model");
  fs::copy_file(kXlmrDir + "/special_tokens_map.json", dir.path() / "special_tokens_map.json");
  test::write_file(dir.file("tokenizer_config.json"),
                   R"({"tokenizer_class": "XLMRobertaTokenizer"})");
  test::write_file(dir.file("added_tokens.json"),
                   R"({"<s_cord-v2>": 1002, "<s_menu>": 1003, "</s_menu>": 1004})");
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(dir.str());
  ASSERT_NE(dynamic_cast<XLMRobertaTokenizer*>(tok.get()), nullptr);
  EXPECT_EQ(tok->vocab_size(), 1002);
  EXPECT_EQ(tok->total_vocab_size(), 1005);
  const std::vector<int64_t> world = tok->encode("world", false);
  std::vector<int64_t> want = {0, 1002, 1003};
  want.insert(want.end(), world.begin(), world.end());
  want.insert(want.end(), {1004, 2});
  EXPECT_EQ(tok->encode("<s_cord-v2><s_menu>world</s_menu>"), want);
  // Plain added tokens are kept by decode(skip_special_tokens=true), with spaces between them
  // and the text around them.
  EXPECT_EQ(tok->decode(want, true), "<s_cord-v2> <s_menu> world </s_menu>");
  EXPECT_EQ(tok->decode(want, false), "<s> <s_cord-v2> <s_menu> world </s_menu> </s>");

  // Listed as additional special tokens, they are skipped.
  test::write_file(dir.file("tokenizer_config.json"),
                   R"({"tokenizer_class": "XLMRobertaTokenizerFast",
                       "additional_special_tokens": ["<s_cord-v2>", "<s_menu>", "</s_menu>"]})");
  const std::unique_ptr<Tokenizer> special = Tokenizer::from_pretrained(dir.str());
  EXPECT_EQ(special->encode("<s_cord-v2><s_menu>world</s_menu>"), want);
  EXPECT_EQ(special->decode(want, true), "world");
}

// ---- MBart and MBart-50 ----

class MBartTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(kModel, dir_.path() / "sentencepiece.bpe.model"); }
  std::unique_ptr<Tokenizer> load(const json& config) {
    test::write_file(dir_.file("tokenizer_config.json"), config.dump());
    return Tokenizer::from_pretrained(dir_.str());
  }
  TempDir dir_;
};

TEST_F(MBartTest, LanguageCodesFollowThePieces) {
  const auto tok = load({{"tokenizer_class", "MBartTokenizer"}});
  auto* mbart = dynamic_cast<MBartTokenizer*>(tok.get());
  ASSERT_NE(mbart, nullptr);
  EXPECT_EQ(mbart->src_lang(), "en_XX");
  EXPECT_EQ(tok->vocab_size(), 1000 + 25 + 2);
  EXPECT_EQ(tok->total_vocab_size(), 1027);
  EXPECT_EQ(tok->token_to_id("ar_AR"), 1001);
  EXPECT_EQ(tok->token_to_id("en_XX"), 1004);
  EXPECT_EQ(tok->token_to_id("zh_CN"), 1025);
  EXPECT_EQ(tok->token_to_id("<mask>"), 1026);
  const std::vector<int64_t> text = tok->encode("Hello world", false);
  EXPECT_EQ(text, xlmr().encode("Hello world", false));
  std::vector<int64_t> want = text;
  want.insert(want.end(), {2, 1004});
  EXPECT_EQ(tok->encode("Hello world"), want);
  EXPECT_EQ(tok->decode(want, true), "Hello world");
  // Language codes are special tokens inside the vocabulary, so not set apart by spaces.
  EXPECT_EQ(tok->decode(want, false), "Hello world</s>en_XX");
  EXPECT_EQ(tok->tokenize("ro_RO Hello"),
            (std::vector<std::string>{"ro_RO", "\xE2\x96\x81He", "ll", "o"}));

  const auto ro = load({{"tokenizer_class", "MBartTokenizerFast"}, {"src_lang", "ro_RO"}});
  EXPECT_EQ(ro->encode("Hello world").back(), 1020);
  const std::string msg = expect_throw_message<ConfigError>([&] {
    load({{"tokenizer_class", "MBartTokenizer"}, {"src_lang", "xx_XX"}});
  });
  EXPECT_NE(msg.find("xx_XX"), std::string::npos) << msg;
}

TEST_F(MBartTest, MBart50PutsTheLanguageCodeFirst) {
  const auto tok = load({{"tokenizer_class", "MBart50Tokenizer"}, {"src_lang", "fr_XX"}});
  ASSERT_NE(dynamic_cast<MBart50Tokenizer*>(tok.get()), nullptr);
  EXPECT_EQ(tok->vocab_size(), 1000 + 52 + 2);
  EXPECT_EQ(tok->token_to_id("sl_SI"), 1052);
  EXPECT_EQ(tok->token_to_id("<mask>"), 1053);
  std::vector<int64_t> want = {1008};
  const std::vector<int64_t> text = tok->encode("Hello", false);
  want.insert(want.end(), text.begin(), text.end());
  want.push_back(2);
  EXPECT_EQ(tok->encode("Hello"), want);
  EXPECT_EQ(tok->decode(want, true), "Hello");
  // MBart-50 has no bos token unless the files name one.
  EXPECT_EQ(dynamic_cast<MBart50Tokenizer*>(tok.get())->special_token(SpecialTokenRole::kBos),
            std::nullopt);
}

// ---- tokenizer.json only ----

// What transformers' XLMRobertaConverter writes for the fixture's model.
json xlmr_tokenizer_json() {
  const auto proto = detail::SentencePieceModelProto::parse(detail::read_file(kModel), kModel);
  json vocab = json::array({json::array({"<s>", 0.0}), json::array({"<pad>", 0.0}),
                            json::array({"</s>", 0.0}), json::array({"<unk>", 0.0})});
  for (std::size_t i = 3; i < proto.pieces.size(); ++i)
    vocab.push_back(json::array({proto.pieces[i].piece, proto.pieces[i].score}));
  vocab.push_back(json::array({"<mask>", 0.0}));
  json added = json::array();
  int id = 0;
  for (const char* content : {"<s>", "<pad>", "</s>", "<unk>"})
    added.push_back({{"id", id++},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  added.push_back({{"id", 1001},
                   {"content", "<mask>"},
                   {"single_word", false},
                   {"lstrip", true},
                   {"rstrip", false},
                   {"normalized", false},
                   {"special", true}});
  return {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Precompiled"},
           {"precompiled_charsmap", detail::base64_encode(proto.precompiled_charsmap)}},
          {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}}}}},
      {"pre_tokenizer",
       {{"type", "Metaspace"},
        {"replacement", "\xE2\x96\x81"},
        {"add_prefix_space", true},
        {"prepend_scheme", "always"}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
        {"special_tokens",
         {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}},
          {"</s>", {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}}}}}}},
      {"decoder",
       {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"add_prefix_space", true}}},
      {"model", {{"type", "Unigram"}, {"unk_id", 3}, {"vocab", vocab}, {"byte_fallback", false}}}};
}

TEST(XLMRobertaTokenizerJson, TokenizerJsonOnlyFolderMatchesTheFixture) {
  TempDir dir;
  test::write_file(dir.file("tokenizer.json"), xlmr_tokenizer_json().dump());
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(dir.str());
  auto* x = dynamic_cast<XLMRobertaTokenizer*>(tok.get());
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->model_file(), dir.file("tokenizer.json"));
  EXPECT_EQ(tok->vocab_size(), 1002);
  EXPECT_EQ(tok->total_vocab_size(), 1002);
  EXPECT_EQ(tok->token_to_id("<mask>"), 1001);
  test::expect_tokenizer_matches_fixture(*tok, expected_cases());
}

TEST(XLMRobertaTokenizerJson, WithTheFixtureConfigAndRobertaProcessing) {
  TempDir dir;
  json j = xlmr_tokenizer_json();
  j["post_processor"] = {{"type", "RobertaProcessing"},
                         {"sep", {"</s>", 2}},
                         {"cls", {"<s>", 0}},
                         {"trim_offsets", true},
                         {"add_prefix_space", true}};
  test::write_file(dir.file("tokenizer.json"), j.dump());
  fs::copy_file(kXlmrDir + "/tokenizer_config.json", dir.path() / "tokenizer_config.json");
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(dir.str());
  test::expect_tokenizer_matches_fixture(*tok, expected_cases());
}

TEST(XLMRobertaTokenizerJson, UnsupportedComponentsAreConfigErrors) {
  struct Case {
    const char* pointer;
    json value;
    const char* named;
  };
  const std::vector<Case> cases = {
      {"/normalizer", {{"type", "NFKC"}}, "NFKC"},
      {"/normalizer",
       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "_"}},
       "Replace"},
      {"/pre_tokenizer", {{"type", "ByteLevel"}}, "ByteLevel"},
      {"/decoder", {{"type", "WordPiece"}}, "WordPiece"},
      {"/post_processor", {{"type", "Fancy"}}, "Fancy"},
      {"/model/unk_id", nullptr, "unk_id"},
      {"/model/type", "WordPiece", "WordPiece"},
  };
  const json base = xlmr_tokenizer_json();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.named);
    TempDir dir;
    json j = base;
    j[json::json_pointer(c.pointer)] = c.value;
    test::write_file(dir.file("tokenizer.json"), j.dump());
    test::write_file(dir.file("tokenizer_config.json"),
                     R"({"tokenizer_class": "XLMRobertaTokenizer"})");
    const std::string msg =
        expect_throw_message<ConfigError>([&] { Tokenizer::from_pretrained(dir.str()); });
    EXPECT_NE(msg.find(dir.file("tokenizer.json")), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.named), std::string::npos) << msg;
  }
}

TEST(XLMRobertaTokenizerJson, MalformedFilesAreFormatErrors) {
  const json base = xlmr_tokenizer_json();
  std::vector<json> bad;
  bad.push_back(base);
  bad.back()["model"]["vocab"][5] = "not a pair";
  bad.push_back(base);
  bad.back()["model"]["unk_id"] = 5000;
  bad.push_back(base);
  bad.back()["normalizer"]["normalizers"][0]["precompiled_charsmap"] = "not base64!";
  bad.push_back(base);
  bad.back()["model"]["vocab"][7] = bad.back()["model"]["vocab"][8];  // a duplicate piece
  bad.push_back(base);
  bad.back()["post_processor"]["special_tokens"].erase("</s>");
  for (const json& j : bad) {
    TempDir dir;
    test::write_file(dir.file("tokenizer.json"), j.dump());
    const std::string msg =
        expect_throw_message<FormatError>([&] { XLMRobertaTokenizer tok(dir.str()); });
    EXPECT_NE(msg.find(dir.file("tokenizer.json")), std::string::npos) << msg;
  }
}

// ---- loading errors ----

TEST(XLMRobertaTokenizerLoading, MalformedSentencePieceModel) {
  const std::string model = detail::read_file(kModel);
  for (const std::string& bytes :
       {std::string("this is not a protobuf"), model.substr(0, model.size() / 2), std::string()}) {
    TempDir dir;
    const std::string path = dir.file("sentencepiece.bpe.model");
    test::write_file(path, bytes);
    const std::string msg =
        expect_throw_message<FormatError>([&] { XLMRobertaTokenizer tok(dir.str()); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
}

TEST(XLMRobertaTokenizerLoading, MissingFiles) {
  TempDir dir;
  std::string msg = expect_throw_message<IoError>([&] { XLMRobertaTokenizer tok(dir.str()); });
  EXPECT_NE(msg.find("sentencepiece.bpe.model"), std::string::npos) << msg;
  msg = expect_throw_message<IoError>([&] { MBartTokenizer tok(dir.file("nope")); });
  EXPECT_NE(msg.find("nope"), std::string::npos) << msg;
}

TEST(SentencePieceModelProto, RoundTripsThroughLibsentencepiece) {
  const auto proto = detail::SentencePieceModelProto::parse(detail::read_file(kModel), kModel);
  ASSERT_EQ(proto.pieces.size(), 1000u);
  EXPECT_EQ(proto.pieces[0].piece, "<unk>");
  EXPECT_EQ(proto.pieces[0].type, detail::SentencePieceModelProto::kUnknown);
  EXPECT_EQ(proto.pieces[1].type, detail::SentencePieceModelProto::kControl);
  EXPECT_EQ(proto.normalizer_name, "nmt_nfkc");
  EXPECT_TRUE(proto.add_dummy_prefix);
  const detail::SentencePieceModel original(detail::read_file(kModel), kModel);
  const detail::SentencePieceModel rebuilt(proto.serialize(), "rebuilt");
  EXPECT_EQ(rebuilt.size(), 1000);
  EXPECT_EQ(rebuilt.unk_id(), 0);
  const json expected = expected_cases();
  for (const json& c : expected["cases"]) {
    std::vector<std::string> a, b;
    original.encode(c["text"].get<std::string>(), a);
    rebuilt.encode(c["text"].get<std::string>(), b);
    EXPECT_EQ(a, b);
  }
  const std::string msg = expect_throw_message<InvalidArgument>([&] { rebuilt.id_to_piece(1000); });
  EXPECT_NE(msg.find("1000"), std::string::npos) << msg;
}

TEST(SentencePieceModelProto, Base64) {
  for (const std::string& s : {std::string(""), std::string("f"), std::string("fo"),
                               std::string("foo"), std::string("foob\xFF\x00", 6)}) {
    const std::string enc = detail::base64_encode(s);
    EXPECT_EQ(detail::base64_decode(enc), s) << enc;
  }
  EXPECT_EQ(detail::base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(detail::base64_decode("Zm9vYg"), "foob");
  EXPECT_EQ(detail::base64_decode("Zm9v!"), std::nullopt);
}

}  // namespace
}  // namespace ved
