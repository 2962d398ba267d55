#pragma once

// FastTokenizer: a tokenizer.json run the way transformers' PreTrainedTokenizerFast runs it,
// i.e. the Rust `tokenizers` pipeline (added tokens, normalizer, pre-tokenizer, model,
// post-processor, decoder; see tokenizer_json_pipeline.hpp and tokenizer_json_models.hpp),
// with transformers' share on top: the special tokens of tokenizer_config.json /
// special_tokens_map.json, the few settings a Fast class's __init__ writes into the pipeline,
// and `clean_up_tokenization` after decoding.
//
// The file's padding and truncation are ignored, as transformers' encode(text) switches both
// off. A component type the engine does not implement is a ved::ConfigError naming the file,
// the component and its type.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
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
#include "ved/processing/tokenizer_json_models.hpp"
#include "ved/processing/tokenizer_json_pipeline.hpp"

namespace ved {

namespace detail::fast {

// Whether `j` is an object whose "type" is the string `type` (never throws, whatever `j` is).
inline bool has_type(const json& j, const char* type) {
  if (!j.is_object()) return false;
  auto it = j.find("type");
  return it != j.end() && it->is_string() && it->get_ref<const std::string&>() == type;
}

inline bool same_added_token(const AddedToken& a, const AddedToken& b) {
  return a.content == b.content && a.single_word == b.single_word && a.lstrip == b.lstrip &&
         a.rstrip == b.rstrip && a.normalized == b.normalized && a.special == b.special;
}

// Leftmost-longest matching of a set of strings (the Rust library's Aho-Corasick automaton
// with MatchKind::LeftmostLongest): the match that starts first, the longest one there.
class LeftmostLongestMatcher {
 public:
  void add(std::string_view pattern, int64_t id) {
    if (pattern.empty()) return;  // would match everywhere without consuming anything
    int node = 0;
    for (unsigned char c : pattern) {
      auto it = nodes_[static_cast<std::size_t>(node)].next.find(c);
      if (it == nodes_[static_cast<std::size_t>(node)].next.end()) {
        const int created = static_cast<int>(nodes_.size());
        nodes_[static_cast<std::size_t>(node)].next.emplace(c, created);
        nodes_.emplace_back();
        node = created;
      } else {
        node = it->second;
      }
    }
    // An earlier pattern with the same text keeps its id (Aho-Corasick reports the first).
    if (nodes_[static_cast<std::size_t>(node)].id < 0)
      nodes_[static_cast<std::size_t>(node)].id = id;
  }

  bool empty() const { return nodes_[0].next.empty(); }

  struct Hit {
    std::size_t begin, end;
    int64_t id;
  };
  std::optional<Hit> find(std::string_view text, std::size_t from) const {
    for (std::size_t i = from; i < text.size(); ++i) {
      int node = 0;
      std::optional<Hit> best;
      for (std::size_t k = i; k < text.size(); ++k) {
        const auto& next = nodes_[static_cast<std::size_t>(node)].next;
        auto it = next.find(static_cast<unsigned char>(text[k]));
        if (it == next.end()) break;
        node = it->second;
        if (nodes_[static_cast<std::size_t>(node)].id >= 0)
          best = Hit{i, k + 1, nodes_[static_cast<std::size_t>(node)].id};
      }
      if (best) return best;
    }
    return std::nullopt;
  }

 private:
  struct Node {
    std::map<unsigned char, int> next;
    int64_t id = -1;
  };
  std::vector<Node> nodes_ = std::vector<Node>(1);
};

// The Rust library's AddedVocabulary: tokens matched in the text before the model sees it.
// Tokens with `normalized` false are looked for in the raw text; the rest in each remaining
// piece after normalization (their content normalized the same way).
class AddedVocabulary {
 public:
  // AddedVocabulary::add_tokens: a token already known (same content and flags) is skipped;
  // one whose content is in the vocabulary or already added keeps that id (taking the new
  // flags); a new one gets the next id after the model's vocabulary and the added tokens.
  void add_tokens(const std::vector<AddedToken>& tokens, const Model& model,
                  const Normalizer* normalizer) {
    for (const AddedToken& t : tokens) {
      if (t.special && !t.content.empty() && special_set_.insert(t.content).second)
        special_.push_back(t);
    }
    for (const AddedToken& t : tokens) {
      if (t.content.empty() || knows(t)) continue;
      int64_t id;
      if (auto existing = token_to_id(t.content, model)) {
        id = *existing;
      } else if (by_content_.empty()) {
        id = model.vocab_size();
      } else {
        const int64_t max = max_id_;
        id = (max >= model.vocab_size() || model.vocab_size() == 0) ? max + 1 : model.vocab_size();
      }
      by_content_[t.content] = id;
      max_id_ = by_content_.size() == 1 ? id : std::max(max_id_, id);
      by_id_[id] = t;
      if (!special_set_.count(t.content)) classic_.push_back(t);
    }
    refresh(model, normalizer);
  }

  // Whether this very token (content and flags) is registered. A content has one id, so only
  // that id's token can be equal.
  bool knows(const AddedToken& t) const {
    auto it = by_content_.find(t.content);
    if (it == by_content_.end()) return false;
    auto tok = by_id_.find(it->second);
    return tok != by_id_.end() && same_added_token(tok->second, t);
  }

  std::optional<int64_t> token_to_id(const std::string& token, const Model& model) const {
    auto it = by_content_.find(token);
    if (it != by_content_.end()) return it->second;
    return model.token_to_id(token);
  }
  std::optional<std::string> id_to_token(int64_t id, const Model& model) const {
    auto it = by_id_.find(id);
    if (it != by_id_.end()) return it->second.content;
    return model.id_to_token(id);
  }
  bool is_special(const std::string& content) const { return special_set_.count(content) > 0; }
  const std::map<int64_t, AddedToken>& by_id() const { return by_id_; }
  const std::unordered_map<std::string, int64_t>& by_content() const { return by_content_; }
  void set_encode_special_tokens(bool v) { encode_special_tokens_ = v; }

  // AddedVocabulary::extract_and_normalize: the text as pieces, added tokens cut out (with
  // their tokens attached) and every other piece normalized.
  std::vector<Split> extract_and_normalize(const Normalizer* normalizer,
                                           const std::string& text) const {
    std::vector<Split> splits(1);
    splits[0].text = text;
    splits[0].at_origin = true;
    std::vector<Split> next;
    for (Split& s : splits) split_on(s, raw_, next);
    splits.swap(next);
    next.clear();
    for (Split& s : splits) {
      if (s.has_tokens) {
        next.push_back(std::move(s));
        continue;
      }
      if (normalizer) normalizer->normalize(s.text);
      split_on(s, normalized_, next);
    }
    return next;
  }

 private:
  void refresh(const Model& model, const Normalizer* normalizer) {
    raw_ = LeftmostLongestMatcher();
    normalized_ = LeftmostLongestMatcher();
    auto add = [&](const AddedToken& t) {
      const auto id = token_to_id(t.content, model);
      if (!id) return;
      if (t.normalized) {
        std::string content = t.content;
        if (normalizer) normalizer->normalize(content);
        normalized_.add(content, *id);
      } else {
        raw_.add(t.content, *id);
      }
    };
    for (const AddedToken& t : special_) add(t);
    for (const AddedToken& t : classic_) add(t);
  }

  // AddedVocabulary::find_matches, then the pieces (empty ones dropped).
  void split_on(const Split& s, const LeftmostLongestMatcher& matcher,
                std::vector<Split>& out) const {
    const std::string& text = s.text;
    auto emit = [&](std::size_t b, std::size_t e, std::optional<int64_t> id) {
      if (e <= b) return;
      Split piece;
      piece.text = text.substr(b, e - b);
      piece.at_origin = s.at_origin && b == 0;
      if (id) {
        piece.has_tokens = true;
        piece.tokens.push_back(Token{*id, piece.text});
      }
      out.push_back(std::move(piece));
    };
    if (matcher.empty()) {
      emit(0, text.size(), std::nullopt);
      return;
    }
    std::size_t start_offset = 0;
    for (std::size_t from = 0; from < text.size();) {
      const auto hit = matcher.find(text, from);
      if (!hit) break;
      from = hit->end;
      const AddedToken& token = by_id_.at(hit->id);
      if (encode_special_tokens_ && special_set_.count(token.content)) continue;
      std::size_t start = hit->begin, stop = hit->end;
      if (token.single_word) {
        const bool start_space = start == 0 || !ends_with_word(text, start);
        const bool stop_space = stop == text.size() || !starts_with_word(text, stop);
        if (!start_space || !stop_space) continue;
      }
      if (token.lstrip) start = space_leftmost_at_end(text, start, start_offset);
      if (token.rstrip) stop = space_rightmost_at_start(text, stop);
      start = std::max(start, start_offset);  // never overlap the previous piece
      if (start_offset < start) emit(start_offset, start, std::nullopt);
      emit(start, stop, hit->id);
      start_offset = std::max(start_offset, stop);
    }
    if (start_offset < text.size()) emit(start_offset, text.size(), std::nullopt);
  }

  // The character that ends at text[end] (not reaching below `floor`): its start, with the
  // code point in `cp`; an ill-formed byte is an invalid-byte marker of its own.
  static std::size_t char_before(std::string_view text, std::size_t end, std::size_t floor,
                                 char32_t& cp) {
    std::size_t b = end - 1;
    while (b > floor && end - b < 4 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
    if (b + char_at(text, b, cp) != end) {
      b = end - 1;  // the last byte is not the end of a well-formed character
      cp = kInvalidByteBase + static_cast<unsigned char>(text[b]);
    }
    return b;
  }

  // `\w$` on text[..end] and `^\w` on text[begin..].
  static bool ends_with_word(std::string_view text, std::size_t end) {
    if (end == 0) return false;
    char32_t cp = 0;
    char_before(text, end, 0, cp);
    return is_word_char(cp);
  }
  static bool starts_with_word(std::string_view text, std::size_t begin) {
    char32_t cp = 0;
    char_at(text, begin, cp);
    return is_word_char(cp);
  }
  // Start of the whitespace run that ends at `end`, not below `floor` (the Rust library takes
  // the run over the whole text, then the larger of its start and `floor`).
  static std::size_t space_leftmost_at_end(std::string_view text, std::size_t end,
                                           std::size_t floor) {
    std::size_t pos = end;
    while (pos > floor) {
      char32_t cp = 0;
      const std::size_t b = char_before(text, pos, floor, cp);
      if (!is_whitespace(cp)) break;
      pos = b;
    }
    return pos;
  }
  // End of the whitespace run that starts at `begin`.
  static std::size_t space_rightmost_at_start(const std::string& text, std::size_t begin) {
    std::size_t pos = begin;
    while (pos < text.size()) {
      char32_t cp = 0;
      const std::size_t n = char_at(text, pos, cp);
      if (!is_whitespace(cp)) break;
      pos += n;
    }
    return pos;
  }

  std::unordered_map<std::string, int64_t> by_content_;
  int64_t max_id_ = 0;  // the largest id in by_content_
  std::map<int64_t, AddedToken> by_id_;
  std::vector<AddedToken> classic_;
  std::vector<AddedToken> special_;
  std::unordered_set<std::string> special_set_;
  LeftmostLongestMatcher raw_, normalized_;
  bool encode_special_tokens_ = false;
};

// The tokenizer classes FastTokenizer stands in for, by what their Fast variant's __init__ does
// beyond PreTrainedTokenizerFast.
enum class FastFamily { kGeneric, kGpt2, kRoberta, kBart, kBert, kNougat };

inline FastFamily fast_family(const std::string& cls) {
  if (cls == "GPT2Tokenizer") return FastFamily::kGpt2;
  if (cls == "RobertaTokenizer") return FastFamily::kRoberta;
  if (cls == "BartTokenizer") return FastFamily::kBart;
  if (cls == "BertTokenizer" || cls == "DistilBertTokenizer") return FastFamily::kBert;
  if (cls == "NougatTokenizer") return FastFamily::kNougat;
  return FastFamily::kGeneric;
}

// The special tokens each Fast class's __init__ defaults to (bos, eos, unk, sep, pad, cls,
// mask).
inline std::array<SpecialTokenDefault, kNumSpecialTokenRoles> fast_special_defaults(
    FastFamily family) {
  const SpecialTokenDefault none{};
  auto plain = [](const char* s) { return SpecialTokenDefault{s, false, false, true}; };
  switch (family) {
    case FastFamily::kGpt2:
      return {plain("<|endoftext|>"),
              plain("<|endoftext|>"),
              plain("<|endoftext|>"),
              none,
              none,
              none,
              none};
    case FastFamily::kRoberta:
    case FastFamily::kBart:
      return {plain("<s>"), plain("</s>"), plain("<unk>"), plain("</s>"), plain("<pad>"),
              plain("<s>"),
              // RobertaTokenizerFast makes a plain <mask> an AddedToken that swallows the space
              // before it; BartTokenizerFast does too but keeps it normalized.
              SpecialTokenDefault{"<mask>", true, true, family == FastFamily::kBart}};
    case FastFamily::kBert:
      return {none,           none,           plain("[UNK]"), plain("[SEP]"),
              plain("[PAD]"), plain("[CLS]"), plain("[MASK]")};
    case FastFamily::kNougat:
      return {plain("<s>"), plain("</s>"), plain("<unk>"), none, plain("<pad>"), none, none};
    case FastFamily::kGeneric:
      break;
  }
  return {none, none, none, none, none, none, none};
}

// What a Fast class's __init__ rewrites in the pipeline from tokenizer_config.json.
inline void apply_family_settings(FastFamily family, const json& config,
                                  const std::string& config_path, json& root) {
  if (family == FastFamily::kGpt2 || family == FastFamily::kRoberta ||
      family == FastFamily::kBart) {
    // GPT2/Roberta/BartTokenizerFast set a lone ByteLevel pre-tokenizer's add_prefix_space to
    // their own argument (false unless the config says otherwise).
    auto pre = root.find("pre_tokenizer");
    if (pre != root.end() && has_type(*pre, "ByteLevel"))
      (*pre)["add_prefix_space"] = get_or<bool>(config, "add_prefix_space", false, config_path);
  }
  if (family == FastFamily::kBert) {
    // BertTokenizerFast rebuilds a BertNormalizer whose settings differ from its arguments.
    auto norm = root.find("normalizer");
    if (norm == root.end() || !has_type(*norm, "BertNormalizer")) return;
    const json lower = get_or<bool>(config, "do_lower_case", true, config_path);
    const json chinese = get_or<bool>(config, "tokenize_chinese_chars", true, config_path);
    json strip = nullptr;
    auto s = config.find("strip_accents");
    if (s != config.end() && !s->is_null())
      strip = get_or<bool>(config, "strip_accents", false, config_path);
    // The normalizer's state as the Rust object reports it: the file's value or the default.
    auto differs = [&](const char* key, const json& want, const json& fallback) {
      auto it = norm->find(key);
      return (it == norm->end() || it->is_null() ? fallback : *it) != want;
    };
    if (differs("lowercase", lower, true) || differs("strip_accents", strip, nullptr) ||
        differs("handle_chinese_chars", chinese, true)) {
      (*norm)["lowercase"] = lower;
      (*norm)["strip_accents"] = strip;
      (*norm)["handle_chinese_chars"] = chinese;
    }
  }
}

}  // namespace detail::fast

class FastTokenizer : public Tokenizer {
 public:
  // Loads `dir`/tokenizer.json with the folder's tokenizer_config.json and
  // special_tokens_map.json. `tokenizer_class` is the class transformers would instantiate
  // (without "Fast"; "" for PreTrainedTokenizerFast).
  explicit FastTokenizer(const std::string& dir, const std::string& tokenizer_class = "")
      : FastTokenizer(dir, load_json(dir), tokenizer_class) {}

  FastTokenizer(const std::string& dir, detail::TokenizerJson file,
                const std::string& tokenizer_class)
      : source_(file.path), tokenizer_class_(tokenizer_class) {
    using namespace detail::fast;
    const FastFamily family = fast_family(tokenizer_class);
    TokenizerInitArgs args = TokenizerInitArgs::load(dir, /*with_fast_added_tokens=*/false);
    apply_family_settings(family, args.config, args.config_path, file.root);

    const std::string& path = file.path;
    const detail::json& root = file.root;
    auto component = [&](const char* name) -> const detail::json* {
      auto it = root.find(name);
      return it == root.end() || it->is_null() ? nullptr : &*it;
    };
    if (const detail::json* n = component("normalizer"))
      normalizer_ = parse_normalizer(*n, {path, "normalizer"});
    if (const detail::json* p = component("pre_tokenizer"))
      pre_tokenizer_ = parse_pre_tokenizer(*p, {path, "pre_tokenizer"});
    model_ = parse_model(file.model(), file.model_type, {path, "model"});
    if (const detail::json* p = component("post_processor"))
      post_processor_ = parse_post_processor(*p, {path, "post_processor"});
    if (const detail::json* d = component("decoder"))
      decoder_ = parse_decoder(*d, {path, "decoder"});

    // tokenizer.json's added tokens, registered in file order (their ids come from the model
    // and the order, as in the Rust library; the stored ids only matter for its warning).
    std::vector<AddedToken> added;
    if (const detail::json* list = component("added_tokens")) {
      if (!list->is_array())
        throw ConfigError(path + ": added_tokens has type " + list->type_name() +
                          ", expected a list");
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string where = path + ": added_tokens[" + std::to_string(i) + "]";
        added.push_back(detail::parse_added_token((*list)[i], where));
      }
    }
    added_.add_tokens(added, *model_, normalizer_.get());
    add_config_tokens(args, family);

    clean_up_tokenization_spaces_ =
        detail::get_or<bool>(args.config, "clean_up_tokenization_spaces", false, args.config_path);
    added_.set_encode_special_tokens(
        detail::get_or<bool>(args.config, "split_special_tokens", false, args.config_path));
  }

  std::vector<std::string> tokenize(const std::string& text) const override {
    std::vector<std::string> out;
    for (auto& t : encode_tokens(text, false)) out.push_back(std::move(t.value));
    return out;
  }

  std::vector<int64_t> encode(const std::string& text,
                              bool add_special_tokens = true) const override {
    std::vector<int64_t> ids;
    for (const auto& t : encode_tokens(text, add_special_tokens)) ids.push_back(t.id);
    return ids;
  }

  std::string decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = true) const override {
    return decode(ids, skip_special_tokens, clean_up_tokenization_spaces_);
  }

  // The Rust decode (unknown ids are an error here, where the Rust library drops them), then
  // transformers' clean_up_tokenization when asked.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens,
                     bool clean_up_tokenization_spaces) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int64_t id : ids) {
      std::optional<std::string> token = added_.id_to_token(id, *model_);
      if (!token)
        throw InvalidArgument("token id " + std::to_string(id) + " is not in the vocabulary (" +
                              std::to_string(vocab_size()) + " tokens) nor an added token of " +
                              source_);
      if (skip_special_tokens && added_.is_special(*token)) continue;
      tokens.push_back(std::move(*token));
    }
    std::string text;
    if (decoder_) {
      decoder_->decode_chain(tokens);
      for (const std::string& t : tokens) text += t;
    } else {
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (i > 0) text += ' ';
        text += tokens[i];
      }
    }
    if (clean_up_tokenization_spaces) text = detail::clean_up_tokenization(std::move(text));
    return text;
  }

  bool clean_up_tokenization_spaces() const override { return clean_up_tokenization_spaces_; }

  int64_t vocab_size() const override { return model_->vocab_size(); }

  // The vocabulary and the added tokens, each distinct string once.
  int64_t total_vocab_size() const override {
    int64_t n = model_->vocab_size();
    for (const auto& [content, id] : added_.by_content())
      if (!model_->token_to_id(content)) ++n;
    return n;
  }

  std::optional<int64_t> token_to_id(const std::string& token) const override {
    return added_.token_to_id(token, *model_);
  }
  std::optional<std::string> id_to_token(int64_t id) const override {
    return added_.id_to_token(id, *model_);
  }

  // Ids and token strings of `text` (the Rust Encoding's ids and tokens).
  std::vector<detail::fast::Token> encode_tokens(const std::string& text,
                                                 bool add_special_tokens) const {
    std::vector<detail::fast::Split> splits = added_.extract_and_normalize(normalizer_.get(), text);
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(splits);
    std::vector<detail::fast::Token> tokens;
    for (detail::fast::Split& s : splits) {
      if (s.has_tokens) {
        tokens.insert(tokens.end(), std::make_move_iterator(s.tokens.begin()),
                      std::make_move_iterator(s.tokens.end()));
      } else {
        model_->tokenize(s.text, tokens);
      }
    }
    if (add_special_tokens && post_processor_) post_processor_->process(tokens);
    return tokens;
  }

  // Added tokens by id, special ones included (transformers' added_tokens_decoder).
  const std::map<int64_t, AddedToken>& added_tokens_decoder() const { return added_.by_id(); }
  // Whether decode(skip_special_tokens=true) drops this token.
  bool is_special_token(const std::string& token) const { return added_.is_special(token); }
  // The class this tokenizer stands for, without "Fast" ("" for PreTrainedTokenizerFast).
  const std::string& tokenizer_class() const { return tokenizer_class_; }
  // The tokenizer.json this was loaded from.
  const std::string& source() const { return source_; }

 private:
  static detail::TokenizerJson load_json(const std::string& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw IoError(dir + ": not a directory (expected a tokenizer folder with tokenizer.json)");
    const std::string path = detail::join_path(dir, detail::kTokenizerJsonFile);
    if (!detail::is_regular_file(path))
      throw IoError(dir + ": no tokenizer.json (the file a fast tokenizer is read from)");
    return detail::TokenizerJson::load(path);
  }

  // PreTrainedTokenizerFast.__init__: the added tokens of tokenizer_config.json that the file
  // does not already have (same content and flags), then the special tokens (bos, eos, ...,
  // additional ones) it lacks. A special token named by a plain string is added as special and
  // not normalized; one given as an AddedToken keeps its flags.
  void add_config_tokens(const TokenizerInitArgs& args, detail::fast::FastFamily family) {
    using detail::fast::same_added_token;
    std::vector<AddedToken> to_add;
    auto known = [&](const AddedToken& t) {
      if (added_.knows(t)) return true;
      for (const AddedToken& a : to_add)
        if (same_added_token(a, t)) return true;
      return false;
    };
    for (const auto& [id, token] : args.added_tokens_decoder)
      if (!known(token)) to_add.push_back(token);
    std::unordered_set<std::string> encoder;
    for (const auto& [content, id] : added_.by_content()) encoder.insert(content);
    for (const AddedToken& t : to_add) encoder.insert(t.content);

    const auto special = detail::apply_special_token_defaults(
        args.special, detail::fast::fast_special_defaults(family));
    std::vector<SpecialTokenArg> all(special.begin(), special.end());
    all.insert(all.end(), args.additional_special_tokens.begin(),
               args.additional_special_tokens.end());
    for (const SpecialTokenArg& arg : all) {
      if (!arg.has_value() || arg.token.content.empty()) continue;
      AddedToken t = arg.token;
      if (arg.kind == SpecialTokenArg::Kind::kString) {
        if (encoder.count(t.content)) continue;
        t = AddedToken{t.content, false, false, false, /*normalized=*/false, /*special=*/true};
      } else {
        t.special = true;
        if (known(t)) continue;
      }
      encoder.insert(t.content);
      to_add.push_back(std::move(t));
    }
    if (!to_add.empty()) added_.add_tokens(to_add, *model_, normalizer_.get());
  }

  std::string source_;
  std::string tokenizer_class_;
  std::unique_ptr<detail::fast::Normalizer> normalizer_;
  std::unique_ptr<detail::fast::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<detail::fast::Model> model_;
  std::unique_ptr<detail::fast::PostProcessor> post_processor_;
  std::unique_ptr<detail::fast::Decoder> decoder_;
  detail::fast::AddedVocabulary added_;
  bool clean_up_tokenization_spaces_ = false;
};

namespace detail {

// Which slow tokenizer reads a tokenizer.json, judged by its component types the way that
// class's own reader (bert_tokenizer.hpp, gpt2_tokenizer.hpp, sentencepiece_tokenizer.hpp)
// accepts them. Malformed components never fit: the engine or the slow reader reports them.
inline bool json_fits_slow_class(const TokenizerJson& t, const std::string& cls) {
  try {
    auto types = [&](const char* name) {
      std::vector<std::string> out;
      for (const json* c : t.flatten(t.component(name), name)) out.push_back(t.type_of(*c, name));
      return out;
    };
    auto all_in = [](const std::vector<std::string>& got,
                     std::initializer_list<const char*> allowed) {
      for (const std::string& g : got)
        if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return g == a; }))
          return false;
      return true;
    };
    const bool post_ok =
        all_in(types("post_processor"),
               {"ByteLevel", "BertProcessing", "RobertaProcessing", "TemplateProcessing"});
    if (cls == "BertTokenizer" || cls == "DistilBertTokenizer") {
      return t.model_type == "WordPiece" && all_in(types("normalizer"), {"BertNormalizer"}) &&
             types("pre_tokenizer") == std::vector<std::string>{"BertPreTokenizer"} &&
             all_in(types("decoder"), {"WordPiece"}) && post_ok;
    }
    if (cls == "GPT2Tokenizer" || cls == "RobertaTokenizer" || cls == "BartTokenizer") {
      const auto pre = types("pre_tokenizer");
      return t.model_type == "BPE" && std::find(pre.begin(), pre.end(), "ByteLevel") != pre.end();
    }
    if (cls == "XLMRobertaTokenizer") {
      const json& model = t.model();
      auto unk = model.find("unk_id");
      for (const json* n : t.flatten(t.component("normalizer"), "normalizer")) {
        const std::string type = t.type_of(*n, "normalizer");
        if (type == "Replace") {
          // SentencePiece's remove_extra_whitespaces, as transformers' converter spells it.
          auto pattern = n->find("pattern");
          if (pattern == n->end() || !pattern->is_object()) return false;
          auto regex = pattern->find("Regex");
          if (regex == pattern->end() || !regex->is_string() || *regex != " {2,}") return false;
        } else if (type != "Precompiled" && type != "Strip") {
          return false;
        }
      }
      return t.model_type == "Unigram" && unk != model.end() && unk->is_number_integer() &&
             all_in(types("pre_tokenizer"), {"Metaspace", "WhitespaceSplit"}) &&
             all_in(types("decoder"), {"Metaspace"}) && post_ok;
    }
  } catch (const Error&) {
  }
  return false;
}

// The slow tokenizer a bare tokenizer.json (no tokenizer_config.json, no slow files) keeps
// loading as, where the slow reader reproduces the file exactly; "" for FastTokenizer.
inline std::string slow_class_for_bare_json(const TokenizerJson& t, bool roberta_style) {
  try {
    if (t.model_type == "WordPiece" && json_fits_slow_class(t, "BertTokenizer"))
      return "BertTokenizer";
    if (t.model_type == "Unigram" && json_fits_slow_class(t, "XLMRobertaTokenizer"))
      return "XLMRobertaTokenizer";
    if (t.model_type == "BPE") {
      // Only the plain GPT-2 / RoBERTa pipeline: the slow reader ignores anything around its
      // ByteLevel step.
      const json& pre = t.component("pre_tokenizer");
      if (!t.component("normalizer").is_null() || !pre.is_object() ||
          t.type_of(pre, "pre_tokenizer") != "ByteLevel")
        return "";
      for (const json* d : t.flatten(t.component("decoder"), "decoder"))
        if (t.type_of(*d, "decoder") != "ByteLevel") return "";
      const json& post = t.component("post_processor");
      if (post.is_null()) return roberta_style ? "RobertaTokenizer" : "GPT2Tokenizer";
      const std::string type = t.type_of(post, "post_processor");
      if (type == "ByteLevel") return roberta_style ? "RobertaTokenizer" : "GPT2Tokenizer";
      if (type == "RobertaProcessing") return "RobertaTokenizer";
    }
  } catch (const Error&) {
  }
  return "";
}

// Whether transformers has a Fast variant of the class that FastTokenizer reproduces.
inline bool fast_tokenizer_runs_class(const std::string& cls) {
  return cls == "BertTokenizer" || cls == "DistilBertTokenizer" || cls == "GPT2Tokenizer" ||
         cls == "RobertaTokenizer" || cls == "BartTokenizer";
}

// Whether a folder naming `cls` (one fast_tokenizer_runs_class accepts) runs its tokenizer.json
// on FastTokenizer, as AutoTokenizer would, rather than on the slow class: the pipeline must be
// the one that class writes. One exception keeps the behaviour ved had before this engine: a
// BERT pipeline with the BertProcessing post-processor (what transformers' BertConverter wrote
// before TemplateProcessing) stays with the slow BertTokenizer, whose results ved's tests pin
// for that layout. The two differ only in decode with clean_up_tokenization_spaces=false, where
// the Rust WordPiece decoder still removes the spaces before punctuation.
inline bool fast_tokenizer_takes(const TokenizerJson& t, const std::string& cls) {
  if (!json_fits_slow_class(t, cls)) return false;
  if (cls == "BertTokenizer" || cls == "DistilBertTokenizer") {
    if (fast::has_type(t.component("post_processor"), "BertProcessing")) return false;
  }
  return true;
}

}  // namespace detail

}  // namespace ved

// Tokenizer::from_pretrained is defined once every tokenizer is (see auto_tokenizer.hpp).
#define VED_FAST_TOKENIZER_COMPLETE
#include "ved/processing/auto_tokenizer.hpp"
