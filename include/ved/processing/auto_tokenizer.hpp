// AutoTokenizer: Tokenizer::from_pretrained picks the tokenizer class a checkpoint folder needs.
//
// The class is, in this order of precedence:
//   1. tokenizer_config.json's `tokenizer_class` (with or without "Fast"): BertTokenizer,
//      DistilBertTokenizer, BertJapaneseTokenizer, RobertaTokenizer, BartTokenizer (RoBERTa's
//      algorithm), GPT2Tokenizer, XLMRobertaTokenizer, MBartTokenizer, MBart50Tokenizer;
//   2. the files present: vocab.txt -> BERT, sentencepiece.bpe.model -> XLM-R,
//      vocab.json + merges.txt -> GPT-2, tokenizer.json -> by its model (WordPiece -> BERT,
//      Unigram -> XLM-R, BPE -> GPT-2, or RoBERTa when its post-processor is RobertaProcessing);
//   3. config.json's model_type (the decoder's, for a vision-encoder-decoder checkpoint) to
//      tell RoBERTa-style BPE (roberta, bart, trocr, mbart) from GPT-2's.
//
// Like AutoTokenizer, a folder with tokenizer.json runs it as the class's Fast variant
// (FastTokenizer, the tokenizer.json engine): a transformers-saved folder naming GPT2, Roberta,
// Bart, Bert or DistilBert, NougatTokenizer(Fast), or PreTrainedTokenizerFast / no class. Some
// folders keep the behaviour ved had before (see fast_tokenizer_takes): a tokenizer.json whose
// pipeline is not the one the named class writes goes to that slow class (which reads its own
// files, or refuses the pipeline with a ConfigError naming the component), and a bare
// tokenizer.json (no tokenizer_config.json, no slow files) whose pipeline a slow class
// reproduces exactly stays with that class. XLM-R and MBart (SentencePiece's Precompiled
// normalizer, which the engine does not implement) stay slow.
//
// Including any tokenizer header gives every tokenizer and from_pretrained. Because
// tokenizer.hpp includes this file and every tokenizer header includes tokenizer.hpp, the
// definition below must wait until all of them are complete, whichever was included first:
// each tokenizer header defines its VED_*_TOKENIZER_COMPLETE macro and includes this file again
// at its end, and the definition appears on the pass that finds all three macros. (This file
// therefore has no #pragma once.)

#include "ved/processing/bert_tokenizer.hpp"
#include "ved/processing/fast_tokenizer.hpp"
#include "ved/processing/gpt2_tokenizer.hpp"
#include "ved/processing/sentencepiece_tokenizer.hpp"
#include "ved/processing/tokenizer.hpp"

#if defined(VED_GPT2_TOKENIZER_COMPLETE) && defined(VED_BERT_TOKENIZER_COMPLETE) &&          \
    defined(VED_SENTENCEPIECE_TOKENIZER_COMPLETE) && defined(VED_FAST_TOKENIZER_COMPLETE) && \
    !defined(VED_AUTO_TOKENIZER_DEFINED)
#define VED_AUTO_TOKENIZER_DEFINED

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

namespace ved {

namespace detail {

// The decoder's model_type of a checkpoint's config.json ("" when there is none).
inline std::string checkpoint_text_model_type(const std::string& dir) {
  const std::string path = join_path(dir, "config.json");
  if (!is_regular_file(path)) return "";
  const json config = read_json_file(path);
  if (!config.is_object()) return "";
  std::string type = get_or<std::string>(config, "model_type", "", path);
  auto decoder = config.find("decoder");
  if (decoder != config.end() && decoder->is_object())
    type = get_or<std::string>(*decoder, "model_type", type, path + ": decoder");
  return type;
}

inline bool is_roberta_style_model_type(const std::string& type) {
  return type == "roberta" || type == "bart" || type == "trocr" || type == "mbart";
}

// Whether the folder has the files of a slow tokenizer besides tokenizer.json.
inline bool has_slow_tokenizer_files(const std::string& dir) {
  auto has = [&](const char* name) { return is_regular_file(join_path(dir, name)); };
  return has("vocab.txt") || has(kSentencePieceModelFile) ||
         (has("vocab.json") && has("merges.txt"));
}

// The tokenizer class for a folder whose tokenizer_config.json does not name one.
inline std::string detect_tokenizer_class(const std::string& dir) {
  auto has = [&](const char* name) { return is_regular_file(join_path(dir, name)); };
  if (has("vocab.txt")) return "BertTokenizer";
  if (has(kSentencePieceModelFile)) return "XLMRobertaTokenizer";
  if (has("vocab.json") || has("merges.txt"))
    return is_roberta_style_model_type(checkpoint_text_model_type(dir)) ? "RobertaTokenizer"
                                                                        : "GPT2Tokenizer";
  if (has(kTokenizerJsonFile)) {
    const TokenizerJson t = TokenizerJson::load(join_path(dir, kTokenizerJsonFile));
    if (t.model_type == "WordPiece") return "BertTokenizer";
    if (t.model_type == "Unigram") return "XLMRobertaTokenizer";
    if (t.model_type == "BPE") {
      const json& post = t.component("post_processor");
      if (fast::has_type(post, "RobertaProcessing")) return "RobertaTokenizer";
      return is_roberta_style_model_type(checkpoint_text_model_type(dir)) ? "RobertaTokenizer"
                                                                          : "GPT2Tokenizer";
    }
    throw ConfigError(t.path + ": model type '" + t.model_type +
                      "' is not supported (ved reads BPE, WordPiece and Unigram models)");
  }
  throw IoError(dir +
                ": no tokenizer files (looked for vocab.txt, sentencepiece.bpe.model, "
                "vocab.json + merges.txt, and tokenizer.json)");
}

}  // namespace detail

inline std::unique_ptr<Tokenizer> Tokenizer::from_pretrained(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw IoError(dir +
                  ": not a directory (expected a checkpoint folder with tokenizer files: "
                  "tokenizer_config.json with vocab.txt, sentencepiece.bpe.model, "
                  "vocab.json + merges.txt or tokenizer.json)");
  const std::string config_path = detail::join_path(dir, detail::kTokenizerConfigFile);
  std::string cls;
  if (detail::is_regular_file(config_path)) {
    const detail::json config = detail::read_json_file(config_path);
    if (!config.is_object()) throw ConfigError(config_path + ": expected a JSON object");
    cls = detail::get_or<std::string>(config, "tokenizer_class", "", config_path);
  }
  const std::string fast_suffix = "Fast";
  if (cls.size() > fast_suffix.size() &&
      cls.compare(cls.size() - fast_suffix.size(), fast_suffix.size(), fast_suffix) == 0)
    cls.resize(cls.size() - fast_suffix.size());
  const std::string json_path = detail::join_path(dir, detail::kTokenizerJsonFile);
  const bool has_json = detail::is_regular_file(json_path);
  if (cls.empty() || cls == "PreTrainedTokenizer") {
    // PreTrainedTokenizer(Fast) itself names no algorithm: the files do.
    if (!has_json) {
      cls = detail::detect_tokenizer_class(dir);
    } else {
      detail::TokenizerJson t = detail::TokenizerJson::load(json_path);
      const bool slow_files = detail::has_slow_tokenizer_files(dir);
      // A SentencePiece pipeline needs the slow reader (the engine has no Precompiled).
      const bool sentencepiece = detail::json_fits_slow_class(t, "XLMRobertaTokenizer");
      if (!sentencepiece && (slow_files || detail::is_regular_file(config_path)))
        return std::make_unique<FastTokenizer>(dir, std::move(t), "");
      if (slow_files) {
        cls = detail::detect_tokenizer_class(dir);
      } else {
        cls = detail::slow_class_for_bare_json(
            t, detail::is_roberta_style_model_type(detail::checkpoint_text_model_type(dir)));
        if (cls.empty()) return std::make_unique<FastTokenizer>(dir, std::move(t), "");
      }
    }
  } else if (cls == "NougatTokenizer") {
    // transformers has only NougatTokenizerFast.
    if (!has_json)
      throw IoError(dir + ": NougatTokenizer reads tokenizer.json, which the folder lacks");
    return std::make_unique<FastTokenizer>(dir, cls);
  } else if (has_json && detail::fast_tokenizer_runs_class(cls)) {
    detail::TokenizerJson t = detail::TokenizerJson::load(json_path);
    if (detail::fast_tokenizer_takes(t, cls))
      return std::make_unique<FastTokenizer>(dir, std::move(t), cls);
  }

  if (cls == "GPT2Tokenizer") return std::make_unique<GPT2Tokenizer>(dir);
  if (cls == "RobertaTokenizer" || cls == "BartTokenizer")
    return std::make_unique<RobertaTokenizer>(dir);
  if (cls == "BertTokenizer" || cls == "DistilBertTokenizer")
    return std::make_unique<BertTokenizer>(dir);
  if (cls == "BertJapaneseTokenizer") return std::make_unique<BertJapaneseTokenizer>(dir);
  if (cls == "XLMRobertaTokenizer") return std::make_unique<XLMRobertaTokenizer>(dir);
  if (cls == "MBartTokenizer") return std::make_unique<MBartTokenizer>(dir);
  if (cls == "MBart50Tokenizer") return std::make_unique<MBart50Tokenizer>(dir);
  throw ConfigError(
      config_path + ": tokenizer_class '" + cls +
      "' is not supported (supported: BertTokenizer, DistilBertTokenizer, "
      "BertJapaneseTokenizer, GPT2Tokenizer, RobertaTokenizer, BartTokenizer, XLMRobertaTokenizer, "
      "MBartTokenizer, MBart50Tokenizer, each also as ...Fast, NougatTokenizerFast "
      "and PreTrainedTokenizerFast)");
}

}  // namespace ved

#endif
