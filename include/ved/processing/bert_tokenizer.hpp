#pragma once

// BERT's WordPiece tokenizer, matching transformers' slow BertTokenizer token for token:
// BasicTokenizer (text clean-up, spaces around CJK characters, NFC, lower-casing with accent
// stripping, punctuation splitting) followed by WordpieceTokenizer (greedy longest-match-first
// sub-words with a "##" prefix), [CLS] ... [SEP] around a sequence, and decoding that glues
// "##" pieces back and cleans up the spaces before punctuation.
//
// The vocabulary comes from vocab.txt or, when that is absent, from the WordPiece model of a
// fast tokenizer's tokenizer.json (see tokenizer_json.hpp for what is read from it).
//
// BertJapaneseTokenizer (at the end) reuses these parts: BasicTokenizer or nothing for words,
// then characters or WordPiece for subwords.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/detail/unicode.hpp"
#include "ved/error.hpp"
#include "ved/processing/tokenizer.hpp"
#include "ved/processing/tokenizer_json.hpp"

namespace ved {

namespace detail {

// transformers.tokenization_utils' character classes, which BERT's tokenizers use. They differ
// from Python's str methods: whitespace is only " \t\n\r" and Zs, control characters are every
// C* category except \t\n\r (so unassigned code points count), and punctuation includes the
// ASCII symbols ($, +, <, ^, `, |, ~ ...) that Unicode does not call punctuation.
inline bool bert_is_whitespace(char32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  return unicode_category(c) == UnicodeCategory::kZs;
}

inline bool bert_is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (unicode_category(c)) {
    case UnicodeCategory::kCn:  // also invalid-byte markers: they are dropped like U+FFFD
    case UnicodeCategory::kCc:
    case UnicodeCategory::kCf:
    case UnicodeCategory::kCs:
    case UnicodeCategory::kCo:
      return true;
    default:
      return false;
  }
}

inline bool bert_is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  const UnicodeCategory cat = unicode_category(c);
  return cat >= UnicodeCategory::kPc && cat <= UnicodeCategory::kPo;
}

// The CJK Unified Ideographs blocks BERT puts spaces around (not Hangul, kana or other CJK
// scripts, which are written with spaces between words).
inline bool bert_is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Python's str.split() with no argument, on code points.
inline std::vector<std::u32string> split_on_python_space(std::u32string_view s) {
  std::vector<std::u32string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_python_space(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_python_space(s[i])) ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

// BasicTokenizer._run_strip_accents: NFD, then drop every nonspacing mark (Mn).
inline std::u32string strip_accents(std::u32string_view s) {
  std::u32string out;
  for (char32_t c : nfd(s))
    if (unicode_category(c) != UnicodeCategory::kMn) out += c;
  return out;
}

// transformers' BasicTokenizer.
struct BasicTokenizer {
  bool do_lower_case = true;
  std::unordered_set<std::string> never_split;
  bool tokenize_chinese_chars = true;
  std::optional<bool> strip_accents;  // nullopt: follow do_lower_case
  bool do_split_on_punc = true;
  // Always true in transformers; a fast tokenizer's BertNormalizer can turn it off.
  bool clean_text = true;

  // `extra_never_split` is added to never_split for this call (the special tokens).
  std::vector<std::string> tokenize(
      const std::string& text, const std::unordered_set<std::string>* extra_never_split) const {
    auto is_never_split = [&](const std::string& s) {
      return never_split.count(s) > 0 || (extra_never_split && extra_never_split->count(s) > 0);
    };
    std::u32string cleaned;
    for (char32_t c : to_u32(text)) {
      if (clean_text) {
        if (c == 0 || c == kReplacementChar || bert_is_control(c)) continue;
        if (bert_is_whitespace(c)) {
          cleaned += U' ';
          continue;
        }
      }
      if (tokenize_chinese_chars && bert_is_chinese_char(c)) {
        cleaned += U' ';
        cleaned += c;
        cleaned += U' ';
      } else {
        cleaned += c;
      }
    }
    // Different code point sequences for the same character are the same word.
    const std::u32string normalized = nfc(cleaned);

    std::vector<std::string> out;
    for (std::u32string& token : split_on_python_space(normalized)) {
      std::string utf8 = to_utf8(token);
      if (!is_never_split(utf8)) {
        if (do_lower_case) {
          // Python's str.lower() on a word; its final-sigma rule cannot apply here because
          // PreTrainedTokenizer.tokenize has already lower-cased every character alone.
          token = python_lower(token);
          if (strip_accents.value_or(true)) token = detail::strip_accents(token);
        } else if (strip_accents.value_or(false)) {
          token = detail::strip_accents(token);
        }
        utf8 = to_utf8(token);
      }
      split_on_punctuation(token, utf8, is_never_split(utf8), out);
    }
    return out;
  }

 private:
  // _run_split_on_punc, plus the final whitespace_tokenize(" ".join(...)), which only drops
  // the empty words accent stripping can leave.
  void split_on_punctuation(const std::u32string& token, const std::string& utf8, bool keep,
                            std::vector<std::string>& out) const {
    if (token.empty()) return;
    if (!do_split_on_punc || keep) {
      out.push_back(utf8);
      return;
    }
    std::u32string word;
    for (char32_t c : token) {
      if (bert_is_punctuation(c)) {
        if (!word.empty()) out.push_back(to_utf8(word));
        word.clear();
        out.push_back(to_utf8(std::u32string(1, c)));
      } else {
        word += c;
      }
    }
    if (!word.empty()) out.push_back(to_utf8(word));
  }
};

// transformers' WordpieceTokenizer: greedy longest-match-first over the characters of each
// whitespace-separated word; a word with an unmatchable rest, or longer than
// max_input_chars_per_word characters, becomes the unknown token as a whole.
struct WordpieceTokenizer {
  const std::unordered_map<std::string, int64_t>* vocab = nullptr;
  std::string unk_token = "[UNK]";
  std::string prefix = "##";  // continuing_subword_prefix
  int64_t max_input_chars_per_word = 100;

  void tokenize(const std::string& text, std::vector<std::string>& out) const {
    std::string candidate;
    std::vector<std::string> pieces;
    for (const std::u32string& word : split_on_python_space(to_u32(text))) {
      if (static_cast<int64_t>(word.size()) > max_input_chars_per_word) {
        out.push_back(unk_token);
        continue;
      }
      // Byte offset of every character boundary, so candidates are substrings of the UTF-8.
      std::string utf8;
      std::vector<std::size_t> offsets{0};
      for (char32_t c : word) {
        append_utf8(utf8, c);
        offsets.push_back(utf8.size());
      }
      pieces.clear();
      bool bad = false;
      std::size_t start = 0;
      while (start < word.size()) {
        std::size_t end = word.size();
        bool found = false;
        while (start < end) {
          candidate.clear();
          if (start > 0) candidate += prefix;
          candidate.append(utf8, offsets[start], offsets[end] - offsets[start]);
          if (vocab->count(candidate)) {
            found = true;
            break;
          }
          --end;
        }
        if (!found) {
          bad = true;
          break;
        }
        pieces.push_back(candidate);
        start = end;
      }
      if (bad) {
        out.push_back(unk_token);
      } else {
        out.insert(out.end(), pieces.begin(), pieces.end());
      }
    }
  }
};

// vocab.txt as transformers' load_vocab reads it: UTF-8 text split into lines with Python's
// universal newlines (\n, \r\n and \r all end a line), one token per line, id = line number.
inline std::vector<std::string> read_vocab_txt(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<std::string> tokens;
  std::size_t pos = 0, line_start = 0;
  int64_t line = 1;
  auto end_line = [&](std::size_t end, std::size_t next) {
    tokens.emplace_back(text, line_start, end - line_start);
    line_start = next;
    ++line;
  };
  while (pos < text.size()) {
    char32_t cp = 0;
    std::size_t bad_len = 0;
    const std::size_t n = utf8_sequence_at(text, pos, cp, bad_len);
    if (n == 0)
      throw FormatError(path + ":" + std::to_string(line) + ": not valid UTF-8 (byte offset " +
                        std::to_string(pos) + ")");
    if (cp == '\n') {
      end_line(pos, pos + 1);
    } else if (cp == '\r') {
      const bool crlf = pos + 1 < text.size() && text[pos + 1] == '\n';
      end_line(pos, pos + (crlf ? 2 : 1));
      if (crlf) ++pos;
    }
    pos += n;
  }
  if (line_start < text.size()) end_line(text.size(), text.size());
  if (tokens.empty()) throw FormatError(path + ": the vocabulary is empty");
  return tokens;
}

// map.find(key)'s value, or nothing.
template <typename Map>
std::optional<typename Map::mapped_type> find_value(const Map& map,
                                                    const typename Map::key_type& key) {
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

// BERT's convert_tokens_to_string: " ".join(tokens).replace(" " + prefix, "").strip().
inline std::string join_wordpieces(const std::vector<std::string>& tokens,
                                   const std::string& prefix) {
  std::string text;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) text += ' ';
    text += tokens[i];
  }
  replace_all(text, " " + prefix, "");
  return python_rstrip(python_lstrip(text));
}

// tokenizer_config.json's `never_split`: a list of strings or null.
inline std::unordered_set<std::string> read_never_split(const json& config,
                                                        const std::string& where) {
  std::unordered_set<std::string> out;
  auto it = config.find("never_split");
  if (it == config.end() || it->is_null()) return out;
  const std::string bad = where + ": field 'never_split' must be a list of strings or null";
  if (!it->is_array()) throw ConfigError(bad);
  for (const auto& s : *it) {
    if (!s.is_string()) throw ConfigError(bad);
    out.insert(s.get<std::string>());
  }
  return out;
}

// PreTrainedTokenizer.tokenize's lower-casing for a tokenizer with do_lower_case: one character
// at a time, except where one of `kept` starts (the special tokens, then the normalized plain
// added tokens): the regex `(tok1|tok2|...)|(.+?)`, whose first alternative that matches wins.
inline std::string lower_case_except(const std::string& text,
                                     const std::vector<std::u32string>& kept) {
  const std::u32string t = to_u32(text);
  std::u32string out;
  out.reserve(t.size());
  for (std::size_t i = 0; i < t.size();) {
    bool matched = false;
    for (const std::u32string& p : kept) {
      if (t.compare(i, p.size(), p) == 0) {
        out += p;
        i += p.size();
        matched = true;
        break;
      }
    }
    if (!matched) append_python_lower(out, t[i++]);
  }
  return to_utf8(out);
}

// What lower_case_except keeps for `tok`, in the order the regex tries them.
inline std::vector<std::u32string> lower_case_kept(const PreTrainedTokenizer& tok) {
  std::vector<std::u32string> kept;
  for (const std::string& s : tok.all_special_tokens())
    if (!s.empty()) kept.push_back(to_u32(s));
  for (const auto& [id, token] : tok.added_tokens_decoder())
    if (!token.special && token.normalized && !token.content.empty())
      kept.push_back(to_u32(token.content));
  return kept;
}

}  // namespace detail

class BertTokenizer : public PreTrainedTokenizer {
 public:
  // Loads a checkpoint folder: vocab.txt (what transformers' slow tokenizer reads) or, when it
  // is absent, the WordPiece model of tokenizer.json; plus tokenizer_config.json /
  // special_tokens_map.json / added_tokens.json.
  explicit BertTokenizer(const std::string& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw IoError(dir +
                    ": not a directory (expected a tokenizer folder with vocab.txt or "
                    "tokenizer.json)");
    TokenizerInitArgs args = TokenizerInitArgs::load(dir);
    const std::string& where = args.config_path;
    const detail::json& config = args.config;

    // What tokenizer.json says, where transformers' own settings do not.
    struct {
      bool lowercase = true, chinese = true, clean_text = true, cleanup = true;
      std::optional<bool> strip_accents;
    } fast;
    const std::string vocab_path = detail::join_path(dir, "vocab.txt");
    const std::string fast_path = detail::join_path(dir, detail::kTokenizerJsonFile);
    const bool from_vocab_txt = detail::is_regular_file(vocab_path);
    if (from_vocab_txt) {
      const std::vector<std::string> tokens = detail::read_vocab_txt(vocab_path);
      std::vector<std::pair<std::string, int64_t>> entries;
      entries.reserve(tokens.size());
      for (std::size_t i = 0; i < tokens.size(); ++i)
        entries.emplace_back(tokens[i], static_cast<int64_t>(i));
      set_vocab(entries);
    } else if (detail::is_regular_file(fast_path)) {
      const detail::TokenizerJson t = detail::TokenizerJson::load(fast_path);
      load_tokenizer_json(t);
      const detail::json& normalizer = t.component("normalizer");
      const auto normalizers = t.flatten(normalizer, "normalizer");
      if (normalizers.empty()) {
        fast.lowercase = fast.chinese = fast.clean_text = false;
        fast.strip_accents = false;
      }
      for (const detail::json* n : normalizers) {
        const std::string type = t.type_of(*n, "normalizer");
        if (type != "BertNormalizer") t.unsupported("normalizer", type, "BertNormalizer");
        const std::string nw = fast_path + ": normalizer";
        fast.clean_text = detail::get_or<bool>(*n, "clean_text", true, nw);
        fast.chinese = detail::get_or<bool>(*n, "handle_chinese_chars", true, nw);
        fast.lowercase = detail::get_or<bool>(*n, "lowercase", true, nw);
        fast.strip_accents = optional_flag(*n, "strip_accents", nw);
      }
      const auto pre = t.flatten(t.component("pre_tokenizer"), "pre_tokenizer");
      if (pre.size() != 1 || t.type_of(*pre[0], "pre_tokenizer") != "BertPreTokenizer")
        t.unsupported("pre_tokenizer",
                      pre.empty() ? std::string("null") : t.type_of(*pre[0], "pre_tokenizer"),
                      "BertPreTokenizer for a WordPiece model");
      for (const detail::json* d : t.flatten(t.component("decoder"), "decoder")) {
        const std::string type = t.type_of(*d, "decoder");
        if (type != "WordPiece") t.unsupported("decoder", type, "WordPiece");
        const std::string dw = fast_path + ": decoder";
        fast.cleanup = detail::get_or<bool>(*d, "cleanup", true, dw);
        decode_prefix_ = detail::get_or<std::string>(*d, "prefix", "##", dw);
      }
      template_ = detail::parse_post_processor(t);
    } else {
      throw IoError(dir + ": no tokenizer files (looked for vocab.txt and tokenizer.json)");
    }

    do_basic_tokenize_ = detail::get_or<bool>(config, "do_basic_tokenize", true, where);
    basic_.do_lower_case = detail::get_or<bool>(config, "do_lower_case", fast.lowercase, where);
    basic_.tokenize_chinese_chars =
        detail::get_or<bool>(config, "tokenize_chinese_chars", fast.chinese, where);
    basic_.strip_accents = config.contains("strip_accents")
                               ? optional_flag(config, "strip_accents", where)
                               : fast.strip_accents;
    basic_.clean_text = fast.clean_text;
    basic_.never_split = detail::read_never_split(config, where);
    clean_up_tokenization_spaces_ =
        detail::get_or<bool>(config, "clean_up_tokenization_spaces", fast.cleanup, where);
    split_special_tokens_ = detail::get_or<bool>(config, "split_special_tokens", false, where);

    // bos, eos, unk, sep, pad, cls, mask: plain strings, registered as they are.
    const detail::SpecialTokenDefault none{};
    auto plain = [](const char* s) { return detail::SpecialTokenDefault{s, false, false, true}; };
    const std::array<detail::SpecialTokenDefault, kNumSpecialTokenRoles> defaults = {
        none,           none,           plain("[UNK]"), plain("[SEP]"),
        plain("[PAD]"), plain("[CLS]"), plain("[MASK]")};
    const auto special = detail::apply_special_token_defaults(args.special, defaults);
    // WordpieceTokenizer(unk_token=str(unk_token)) gets the argument as given.
    if (from_vocab_txt) {
      const SpecialTokenArg& unk = special[static_cast<std::size_t>(SpecialTokenRole::kUnk)];
      wordpiece_.unk_token = unk.has_value() ? unk.token.content : "None";
    }
    init_added_tokens(dir, std::move(args.added_tokens_decoder), special,
                      std::move(args.additional_special_tokens));

    for (const std::string& s : all_special_tokens()) special_never_split_.insert(s);
    if (do_basic_tokenize_ && basic_.do_lower_case)
      lowercase_protected_ = detail::lower_case_kept(*this);
  }

  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  bool do_lower_case() const { return basic_.do_lower_case; }
  bool do_basic_tokenize() const { return do_basic_tokenize_; }
  const detail::BasicTokenizer& basic_tokenizer() const { return basic_; }
  const detail::WordpieceTokenizer& wordpiece_tokenizer() const { return wordpiece_; }

 protected:
  // PreTrainedTokenizer.tokenize lower-cases the text before it is split on added tokens
  // (BertTokenizer's do_lower_case exists only with the basic tokenizer).
  std::string prepare_for_tokenization(const std::string& text) const override {
    if (!(do_basic_tokenize_ && basic_.do_lower_case)) return text;
    return detail::lower_case_except(text, lowercase_protected_);
  }

  void tokenize_model(const std::string& text, std::vector<std::string>& out) const override {
    if (!do_basic_tokenize_) {
      wordpiece_.tokenize(text, out);
      return;
    }
    for (const std::string& token :
         basic_.tokenize(text, split_special_tokens_ ? nullptr : &special_never_split_)) {
      if (basic_.never_split.count(token)) {
        out.push_back(token);
      } else {
        wordpiece_.tokenize(token, out);
      }
    }
  }

  std::optional<int64_t> model_token_to_id(const std::string& token) const override {
    return detail::find_value(vocab_, token);
  }

  std::optional<std::string> model_id_to_token(int64_t id) const override {
    return detail::find_value(ids_to_tokens_, id);
  }

  // " ".join(tokens).replace(" ##", "").strip()
  std::string convert_tokens_to_string(const std::vector<std::string>& tokens) const override {
    return detail::join_wordpieces(tokens, decode_prefix_);
  }

  std::vector<int64_t> build_inputs_with_special_tokens(std::vector<int64_t> ids) const override {
    if (template_) {
      ids.insert(ids.begin(), template_->prefix.begin(), template_->prefix.end());
      ids.insert(ids.end(), template_->suffix.begin(), template_->suffix.end());
      return ids;
    }
    ids.insert(ids.begin(), required_special_token_id(SpecialTokenRole::kCls));
    ids.push_back(required_special_token_id(SpecialTokenRole::kSep));
    return ids;
  }

 private:
  static std::optional<bool> optional_flag(const detail::json& j, const char* key,
                                           const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean())
      throw ConfigError(where + ": field '" + key + "' has type " + it->type_name() +
                        ", expected boolean or null");
    return it->get<bool>();
  }

  // Like `{token: index}` then `{index: token}` in Python: a repeated token keeps its last id,
  // and the id it had before decodes to nothing.
  void set_vocab(const std::vector<std::pair<std::string, int64_t>>& entries) {
    vocab_.reserve(entries.size());
    for (const auto& [token, id] : entries) vocab_[token] = id;
    ids_to_tokens_.reserve(vocab_.size());
    for (const auto& [token, id] : vocab_) ids_to_tokens_[id] = token;
    wordpiece_.vocab = &vocab_;
  }

  // The WordPiece model of tokenizer.json (its normalizer and friends are read by the caller).
  void load_tokenizer_json(const detail::TokenizerJson& t) {
    if (t.model_type != "WordPiece")
      throw ConfigError(t.path + ": model.type is '" + t.model_type +
                        "', expected 'WordPiece' for a BertTokenizer");
    const detail::json& model = t.model();
    const std::string where = t.path + ": model";
    auto vocab = model.find("vocab");
    if (vocab == model.end() || !vocab->is_object())
      throw FormatError(t.path + ": missing object 'model.vocab'");
    std::vector<std::pair<std::string, int64_t>> entries;
    entries.reserve(vocab->size());
    for (const auto& [token, id] : vocab->items()) {
      if (!id.is_number_integer())
        throw FormatError(t.path + ": model.vocab[\"" + token + "\"] is " + id.type_name() +
                          ", expected an integer id");
      entries.emplace_back(token, id.get<int64_t>());
    }
    if (entries.empty()) throw FormatError(t.path + ": model.vocab is empty");
    set_vocab(entries);
    wordpiece_.unk_token = detail::get_or<std::string>(model, "unk_token", "[UNK]", where);
    wordpiece_.prefix =
        detail::get_or<std::string>(model, "continuing_subword_prefix", "##", where);
    wordpiece_.max_input_chars_per_word =
        detail::get_or<int64_t>(model, "max_input_chars_per_word", 100, where);
    decode_prefix_ = wordpiece_.prefix;
  }

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<int64_t, std::string> ids_to_tokens_;
  bool do_basic_tokenize_ = true;
  detail::BasicTokenizer basic_;
  detail::WordpieceTokenizer wordpiece_;
  std::string decode_prefix_ = "##";
  // The post-processor of tokenizer.json, which replaces [CLS] ... [SEP] when present.
  std::optional<detail::SpecialTokensTemplate> template_;
  std::unordered_set<std::string> special_never_split_;
  std::vector<std::u32string> lowercase_protected_;
};

// transformers' BertJapaneseTokenizer (models/bert_japanese/tokenization_bert_japanese.py):
// vocab.txt, a word tokenizer, then a subword tokenizer on each word; [CLS] ... [SEP] and
// BERT's decoding, without its clean-up by default. ved runs the configurations it can run
// exactly:
//   * subword_tokenizer_type "character" (manga-ocr, cl-tohoku's *-char models): each word
//     NFKC-normalised, then one token per character, [UNK] for a character not in vocab.txt;
//   * "wordpiece" after word_tokenizer_type "basic" (BERT's WordPiece), or no subword step.
// Word tokenizer "basic" is BERT's BasicTokenizer without spaces around CJK characters.
// Word tokenizer "mecab" with character subwords is run as "basic" (without accent
// stripping, which MeCabTokenizer does not do): every character becomes a token either way, so
// only the characters dropped can differ. MeCab may differ around whitespace, control
// characters and characters whose NFKC form holds a space (unverified; ved ships no MeCab).
// Everything else needs what ved does not have and is refused with a ConfigError: MeCab,
// Sudachi or Juman++ words before WordPiece (a morphological analyser and its dictionary),
// Sudachi or Juman++ before characters (they keep or trim whitespace differently), and
// SentencePiece subwords (spiece.model).
class BertJapaneseTokenizer : public PreTrainedTokenizer {
 public:
  enum class Subword { kNone, kCharacter, kWordpiece };

  explicit BertJapaneseTokenizer(const std::string& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw IoError(dir + ": not a directory (expected a tokenizer folder with vocab.txt)");
    TokenizerInitArgs args = TokenizerInitArgs::load(dir);
    const std::string& where = args.config_path;
    const detail::json& config = args.config;

    do_lower_case_ = detail::get_or<bool>(config, "do_lower_case", false, where);
    do_word_tokenize_ = detail::get_or<bool>(config, "do_word_tokenize", true, where);
    const bool do_subword = detail::get_or<bool>(config, "do_subword_tokenize", true, where);
    const std::string word_type =
        detail::get_or<std::string>(config, "word_tokenizer_type", "basic", where);
    const std::string subword_type =
        detail::get_or<std::string>(config, "subword_tokenizer_type", "wordpiece", where);
    choose_tokenizers(where, word_type, subword_type, do_subword);

    basic_.do_lower_case = do_lower_case_;
    basic_.tokenize_chinese_chars = false;
    if (word_type == "mecab") basic_.strip_accents = false;
    basic_.never_split = detail::read_never_split(config, where);
    clean_up_tokenization_spaces_ =
        detail::get_or<bool>(config, "clean_up_tokenization_spaces", false, where);
    split_special_tokens_ = detail::get_or<bool>(config, "split_special_tokens", false, where);

    const std::string vocab_path = detail::join_path(dir, "vocab.txt");
    if (!detail::is_regular_file(vocab_path))
      throw IoError(vocab_path +
                    ": not found (BertJapaneseTokenizer reads its vocabulary from it)");
    const std::vector<std::string> tokens = detail::read_vocab_txt(vocab_path);
    // {token: line} then {id: token}, as Python builds them: a repeated token keeps its last id.
    for (std::size_t i = 0; i < tokens.size(); ++i) vocab_[tokens[i]] = static_cast<int64_t>(i);
    for (const auto& [token, id] : vocab_) ids_to_tokens_[id] = token;
    wordpiece_.vocab = &vocab_;

    auto plain = [](const char* s) { return detail::SpecialTokenDefault{s, false, false, true}; };
    const detail::SpecialTokenDefault none{};
    const std::array<detail::SpecialTokenDefault, kNumSpecialTokenRoles> defaults = {
        none,           none,           plain("[UNK]"), plain("[SEP]"),
        plain("[PAD]"), plain("[CLS]"), plain("[MASK]")};
    const auto special = detail::apply_special_token_defaults(args.special, defaults);
    // The subword tokenizers get str(unk_token).
    const SpecialTokenArg& unk = special[static_cast<std::size_t>(SpecialTokenRole::kUnk)];
    unk_token_ = unk.has_value() ? unk.token.content : "None";
    wordpiece_.unk_token = unk_token_;
    init_added_tokens(dir, std::move(args.added_tokens_decoder), special,
                      std::move(args.additional_special_tokens));

    for (const std::string& s : all_special_tokens()) special_never_split_.insert(s);
    if (do_lower_case_) lowercase_kept_ = detail::lower_case_kept(*this);
  }

  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  bool do_lower_case() const { return do_lower_case_; }
  bool do_word_tokenize() const { return do_word_tokenize_; }
  Subword subword_tokenizer() const { return subword_; }

 protected:
  // transformers lower-cases in PreTrainedTokenizer.tokenize whenever do_lower_case is set.
  std::string prepare_for_tokenization(const std::string& text) const override {
    return do_lower_case_ ? detail::lower_case_except(text, lowercase_kept_) : text;
  }

  void tokenize_model(const std::string& text, std::vector<std::string>& out) const override {
    // Unlike BertTokenizer, the special tokens are never split even with split_special_tokens,
    // and never_split words still go through the subword step.
    const std::vector<std::string> words = do_word_tokenize_
                                               ? basic_.tokenize(text, &special_never_split_)
                                               : std::vector<std::string>{text};
    for (const std::string& word : words) {
      switch (subword_) {
        case Subword::kNone:
          out.push_back(word);
          break;
        case Subword::kCharacter:
          for (char32_t c : detail::nfkc(detail::to_u32(word))) {
            std::string ch = detail::to_utf8(std::u32string(1, c));
            out.push_back(vocab_.count(ch) ? std::move(ch) : unk_token_);
          }
          break;
        case Subword::kWordpiece:
          wordpiece_.tokenize(word, out);
          break;
      }
    }
  }

  std::optional<int64_t> model_token_to_id(const std::string& token) const override {
    return detail::find_value(vocab_, token);
  }

  std::optional<std::string> model_id_to_token(int64_t id) const override {
    return detail::find_value(ids_to_tokens_, id);
  }

  // " ".join(tokens).replace(" ##", "").strip()
  std::string convert_tokens_to_string(const std::vector<std::string>& tokens) const override {
    return detail::join_wordpieces(tokens, "##");
  }

  std::vector<int64_t> build_inputs_with_special_tokens(std::vector<int64_t> ids) const override {
    ids.insert(ids.begin(), required_special_token_id(SpecialTokenRole::kCls));
    ids.push_back(required_special_token_id(SpecialTokenRole::kSep));
    return ids;
  }

 private:
  void choose_tokenizers(const std::string& where, const std::string& word_type,
                         const std::string& subword_type, bool do_subword) {
    auto field = [&](const char* name, const std::string& value) {
      return where + ": " + name + " '" + value + "'";
    };
    const bool analyser = word_type == "mecab" || word_type == "sudachi" || word_type == "jumanpp";
    if (do_word_tokenize_ && word_type != "basic" && !analyser)
      throw ConfigError(field("word_tokenizer_type", word_type) +
                        " is not a BertJapaneseTokenizer word tokenizer (basic, mecab, "
                        "sudachi, jumanpp)");
    if (!do_subword) {
      subword_ = Subword::kNone;
    } else if (subword_type == "character") {
      subword_ = Subword::kCharacter;
    } else if (subword_type == "wordpiece") {
      subword_ = Subword::kWordpiece;
    } else if (subword_type == "sentencepiece") {
      throw ConfigError(field("subword_tokenizer_type", subword_type) +
                        " is not supported (ved reads vocab.txt, not spiece.model)");
    } else {
      throw ConfigError(field("subword_tokenizer_type", subword_type) +
                        " is not a BertJapaneseTokenizer subword tokenizer (wordpiece, "
                        "character, sentencepiece)");
    }
    if (!do_word_tokenize_ || !analyser) return;
    if (subword_ != Subword::kCharacter)
      throw ConfigError(field("word_tokenizer_type", word_type) + " with " +
                        (do_subword ? "subword_tokenizer_type '" + subword_type + "'"
                                    : std::string("do_subword_tokenize false")) +
                        " is not supported: its words come from a morphological analyser and "
                        "dictionary that ved does not ship");
    if (word_type != "mecab")
      throw ConfigError(field("word_tokenizer_type", word_type) +
                        " is not supported: ved does not ship that morphological analyser, and "
                        "its whitespace handling changes even character subwords");
  }

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<int64_t, std::string> ids_to_tokens_;
  bool do_lower_case_ = false;
  bool do_word_tokenize_ = true;
  Subword subword_ = Subword::kWordpiece;
  detail::BasicTokenizer basic_;
  detail::WordpieceTokenizer wordpiece_;
  std::string unk_token_;
  std::unordered_set<std::string> special_never_split_;
  std::vector<std::u32string> lowercase_kept_;
};

}  // namespace ved

// Tokenizer::from_pretrained is defined once every tokenizer is (see auto_tokenizer.hpp).
#define VED_BERT_TOKENIZER_COMPLETE
#include "ved/processing/auto_tokenizer.hpp"
