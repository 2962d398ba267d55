// Tokenizer::from_pretrained (AutoTokenizer): the class named by tokenizer_config.json, else the
// files present, else config.json's model type; and its errors. This file includes only
// auto_tokenizer.hpp, the other tokenizer tests include their own header first: together they
// check that every include order defines every tokenizer and from_pretrained.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../test_util.hpp"
#include "ved/processing/auto_tokenizer.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;
using detail::json;
using test::TempDir;

const std::string kTokenizers = test::fixture("tokenizers");

using test::expect_throw_message;

enum class Files { kBert, kGpt2, kSentencePiece };

void copy_files(Files files, const TempDir& dir) {
  auto copy = [&](const std::string& from, const char* name) {
    fs::copy_file(kTokenizers + "/" + from + "/" + name, dir.path() / name);
  };
  switch (files) {
    case Files::kBert:
      copy("bert-uncased", "vocab.txt");
      break;
    case Files::kGpt2:
      copy("gpt2", "vocab.json");
      copy("gpt2", "merges.txt");
      break;
    case Files::kSentencePiece:
      copy("xlm-roberta", "sentencepiece.bpe.model");
      break;
  }
}

template <typename T>
bool loads_as(const std::string& dir) {
  const std::unique_ptr<Tokenizer> tok = Tokenizer::from_pretrained(dir);
  const Tokenizer& t = *tok;
  return typeid(t) == typeid(T);
}

TEST(AutoTokenizer, ByTokenizerClass) {
  struct Case {
    const char* cls;
    Files files;
    bool (*check)(const std::string&);
  };
  const std::vector<Case> cases = {
      {"BertTokenizer", Files::kBert, loads_as<BertTokenizer>},
      {"BertTokenizerFast", Files::kBert, loads_as<BertTokenizer>},
      {"DistilBertTokenizer", Files::kBert, loads_as<BertTokenizer>},
      {"GPT2Tokenizer", Files::kGpt2, loads_as<GPT2Tokenizer>},
      {"GPT2TokenizerFast", Files::kGpt2, loads_as<GPT2Tokenizer>},
      {"RobertaTokenizer", Files::kGpt2, loads_as<RobertaTokenizer>},
      {"BartTokenizerFast", Files::kGpt2, loads_as<RobertaTokenizer>},
      {"XLMRobertaTokenizer", Files::kSentencePiece, loads_as<XLMRobertaTokenizer>},
      {"XLMRobertaTokenizerFast", Files::kSentencePiece, loads_as<XLMRobertaTokenizer>},
      {"MBartTokenizer", Files::kSentencePiece, loads_as<MBartTokenizer>},
      {"MBart50TokenizerFast", Files::kSentencePiece, loads_as<MBart50Tokenizer>},
      {"PreTrainedTokenizerFast", Files::kBert, loads_as<BertTokenizer>},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.cls);
    TempDir dir;
    copy_files(c.files, dir);
    test::write_file(dir.file("tokenizer_config.json"), json{{"tokenizer_class", c.cls}}.dump());
    EXPECT_TRUE(c.check(dir.str()));
  }
}

TEST(AutoTokenizer, ByFilesThenConfigJson) {
  {
    TempDir dir;
    copy_files(Files::kBert, dir);
    EXPECT_TRUE(loads_as<BertTokenizer>(dir.str()));
  }
  {
    TempDir dir;
    copy_files(Files::kSentencePiece, dir);
    EXPECT_TRUE(loads_as<XLMRobertaTokenizer>(dir.str()));
  }
  const std::vector<std::pair<json, bool>> configs = {
      {json::object(), false},
      {{{"model_type", "gpt2"}}, false},
      {{{"model_type", "roberta"}}, true},
      {{{"model_type", "vision-encoder-decoder"}, {"decoder", {{"model_type", "trocr"}}}}, true},
      {{{"model_type", "vision-encoder-decoder"}, {"decoder", {{"model_type", "bart"}}}}, true},
      {{{"model_type", "vision-encoder-decoder"}, {"decoder", {{"model_type", "gpt2"}}}}, false},
  };
  for (const auto& [config, roberta] : configs) {
    SCOPED_TRACE(config.dump());
    TempDir dir;
    copy_files(Files::kGpt2, dir);
    if (!config.empty()) test::write_file(dir.file("config.json"), config.dump());
    if (roberta) {
      EXPECT_TRUE(loads_as<RobertaTokenizer>(dir.str()));
    } else {
      EXPECT_TRUE(loads_as<GPT2Tokenizer>(dir.str()));
    }
  }
}

TEST(AutoTokenizer, TokenizerJsonOnlyByModelType) {
  const json bpe = {
      {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}}};
  {
    TempDir dir;
    test::write_file(dir.file("tokenizer.json"), bpe.dump());
    EXPECT_TRUE(loads_as<GPT2Tokenizer>(dir.str()));
  }
  {
    TempDir dir;
    json j = bpe;
    j["post_processor"] = {
        {"type", "RobertaProcessing"}, {"sep", {"</s>", 2}}, {"cls", {"<s>", 0}}};
    test::write_file(dir.file("tokenizer.json"), j.dump());
    EXPECT_TRUE(loads_as<RobertaTokenizer>(dir.str()));
  }
  {
    TempDir dir;
    test::write_file(dir.file("tokenizer.json"),
                     json{{"model", {{"type", "WordPiece"}, {"vocab", {{"[UNK]", 0}, {"a", 1}}}}},
                          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}}}
                         .dump());
    EXPECT_TRUE(loads_as<BertTokenizer>(dir.str()));
    const auto tok = Tokenizer::from_pretrained(dir.str());
    // No normalizer: no lower-casing; no post-processor: nothing added.
    EXPECT_EQ(tok->encode("a A", true), (std::vector<int64_t>{1, 0}));
  }
  {
    TempDir dir;
    // (Explicit arrays: a list of [string, value] pairs would become a JSON object.)
    const json vocab = json::array({json::array({"<unk>", 0.0}), json::array({"a", -1.0})});
    test::write_file(
        dir.file("tokenizer.json"),
        json{{"model", {{"type", "Unigram"}, {"unk_id", 0}, {"vocab", vocab}}}}.dump());
    EXPECT_TRUE(loads_as<XLMRobertaTokenizer>(dir.str()));
    const auto tok = Tokenizer::from_pretrained(dir.str());
    // No Metaspace pre-tokenizer: no dummy prefix, and a space is an ordinary (here unknown)
    // character; SentencePiece merges a run of unknown characters into one <unk>.
    EXPECT_EQ(tok->encode("aa b", false), (std::vector<int64_t>{1, 1, 0}));
  }
  {
    TempDir dir;
    const std::string path = dir.file("tokenizer.json");
    test::write_file(path, R"({"model": {"type": "WordLevel", "vocab": {}}})");
    const std::string msg =
        expect_throw_message<ConfigError>([&] { Tokenizer::from_pretrained(dir.str()); });
    EXPECT_NE(msg.find("WordLevel"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
}

TEST(AutoTokenizer, Errors) {
  {
    const std::string msg = expect_throw_message<IoError>(
        [&] { Tokenizer::from_pretrained("/nonexistent/ved/tokenizer"); });
    EXPECT_NE(msg.find("/nonexistent/ved/tokenizer"), std::string::npos) << msg;
  }
  {
    TempDir dir;
    test::write_file(dir.file("config.json"), R"({"model_type": "bert"})");
    const std::string msg =
        expect_throw_message<IoError>([&] { Tokenizer::from_pretrained(dir.str()); });
    for (const char* name :
         {"vocab.txt", "sentencepiece.bpe.model", "vocab.json", "tokenizer.json"})
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
  {
    // The class decides; its files are missing.
    TempDir dir;
    copy_files(Files::kSentencePiece, dir);
    test::write_file(dir.file("tokenizer_config.json"), R"({"tokenizer_class": "BertTokenizer"})");
    const std::string msg =
        expect_throw_message<IoError>([&] { Tokenizer::from_pretrained(dir.str()); });
    EXPECT_NE(msg.find("vocab.txt"), std::string::npos) << msg;
  }
  {
    TempDir dir;
    copy_files(Files::kBert, dir);
    test::write_file(dir.file("tokenizer_config.json"), R"({"tokenizer_class": "T5Tokenizer"})");
    const std::string msg =
        expect_throw_message<ConfigError>([&] { Tokenizer::from_pretrained(dir.str()); });
    EXPECT_NE(msg.find("T5Tokenizer"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tokenizer_config.json"), std::string::npos) << msg;
  }
  {
    TempDir dir;
    copy_files(Files::kBert, dir);
    test::write_file(dir.file("tokenizer_config.json"), R"({"tokenizer_class": 7})");
    expect_throw_message<ConfigError>([&] { Tokenizer::from_pretrained(dir.str()); });
  }
}

}  // namespace
}  // namespace ved
