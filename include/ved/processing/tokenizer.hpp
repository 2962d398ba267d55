#pragma once

// Text tokenizers behind one interface, matching transformers' *slow* (pure-Python) tokenizers.
//
// `Tokenizer` is the interface the rest of ved uses. `PreTrainedTokenizer` reproduces what
// transformers' `PreTrainedTokenizer` / `PreTrainedTokenizerBase` do for every model: reading
// tokenizer_config.json / special_tokens_map.json / added_tokens.json, registering special and
// added tokens, splitting text on them (with their lstrip/rstrip/single_word flags), and
// assembling decoded text. A concrete tokenizer (GPT-2 byte-level BPE, and later WordPiece or
// SentencePiece) only supplies the model part: `_tokenize`, the vocabulary, and
// `convert_tokens_to_string`.
//
// FastTokenizer (fast_tokenizer.hpp) implements the same interface for a tokenizer.json, the way
// transformers' PreTrainedTokenizerFast runs it.
//
// Every method is const and safe to call from several threads at once.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
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

namespace ved {

// A token that is matched in the raw text before the model's own tokenization, like
// `tokenizers.AddedToken`. Special tokens (<|endoftext|>, <s>, [CLS], ...) are added tokens
// with `special` set.
struct AddedToken {
  std::string content;
  bool single_word = false;  // only match as a whole word
  bool lstrip = false;       // swallow the whitespace before the token
  bool rstrip = false;       // swallow the whitespace after the token
  bool normalized = true;    // matters for lower-casing tokenizers
  bool special = false;      // skipped by decode(skip_special_tokens=true)
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // The token strings of `text`, like transformers' `tokenizer.tokenize(text)` (no special
  // tokens added). Byte-level BPE tokens show their byte symbols (`Ġ` for a space).
  virtual std::vector<std::string> tokenize(const std::string& text) const = 0;

  // Token ids of `text`, like `tokenizer.encode(text, add_special_tokens=...)` (no truncation).
  // Text that is not valid UTF-8 does not fail: each ill-formed byte is handled as an opaque
  // symbol (byte-level BPE keeps the byte itself).
  virtual std::vector<int64_t> encode(const std::string& text,
                                      bool add_special_tokens = true) const = 0;

  // Text of `ids` with the tokenizer's default clean-up (`clean_up_tokenization_spaces()`).
  // Note: skip_special_tokens defaults to true here (transformers' default is false) because
  // that is what a caption or transcription wants. An id that is neither in the vocabulary nor
  // an added token is a ved::InvalidArgument naming it.
  virtual std::string decode(const std::vector<int64_t>& ids,
                             bool skip_special_tokens = true) const = 0;
  // Same, with an explicit clean-up setting (" ." -> "." etc., transformers'
  // `clean_up_tokenization`).
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens,
                             bool clean_up_tokenization_spaces) const = 0;

  // The tokenizer's default for decode's clean-up (tokenizer_config.json
  // `clean_up_tokenization_spaces`, false when absent).
  virtual bool clean_up_tokenization_spaces() const = 0;

  // Size of the base vocabulary without added tokens (transformers' `vocab_size`).
  virtual int64_t vocab_size() const = 0;
  // Size of the vocabulary including added tokens (transformers' `len(tokenizer)`).
  virtual int64_t total_vocab_size() const = 0;

  // Id of a token string (added tokens first, then the vocabulary). Unlike transformers this
  // does not fall back to the unk token: an unknown token gives std::nullopt.
  virtual std::optional<int64_t> token_to_id(const std::string& token) const = 0;
  // Token string of an id, or std::nullopt when the id is unknown.
  virtual std::optional<std::string> id_to_token(int64_t id) const = 0;

  // AutoTokenizer: loads the tokenizer a checkpoint folder describes (see auto_tokenizer.hpp for
  // the dispatch: tokenizer_class, else the files present, else config.json's model_type).
  // A missing folder or one without tokenizer files is a ved::IoError naming the folder and the
  // files looked for; an unsupported tokenizer_class is a ved::ConfigError.
  static std::unique_ptr<Tokenizer> from_pretrained(const std::string& dir);
};

// transformers' SPECIAL_TOKENS_ATTRIBUTES without additional_special_tokens, in their order.
// The order matters: special tokens missing from the vocabulary get new ids in this order.
enum class SpecialTokenRole : int { kBos, kEos, kUnk, kSep, kPad, kCls, kMask };
inline constexpr int kNumSpecialTokenRoles = 7;
inline constexpr std::array<const char*, kNumSpecialTokenRoles> kSpecialTokenAttributes = {
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};

// A special-token argument as transformers' from_pretrained hands it to the tokenizer class.
// The distinction matters: a tokenizer class turns a plain string into an AddedToken with its
// own flags (RoBERTa's <mask> gets lstrip), while an AddedToken from the files keeps its flags.
struct SpecialTokenArg {
  enum class Kind {
    kDefault,     // not given: the tokenizer class's default applies
    kNone,        // given as null
    kString,      // a plain string: only `token.content` is meaningful
    kAddedToken,  // an AddedToken with all its flags
  };
  Kind kind = Kind::kDefault;
  AddedToken token;

  static SpecialTokenArg none() { return {Kind::kNone, {}}; }
  static SpecialTokenArg string(std::string s) { return {Kind::kString, AddedToken{std::move(s)}}; }
  static SpecialTokenArg added(AddedToken t) { return {Kind::kAddedToken, std::move(t)}; }
  bool has_value() const { return kind == Kind::kString || kind == Kind::kAddedToken; }
};

namespace detail {

inline constexpr const char* kTokenizerConfigFile = "tokenizer_config.json";
inline constexpr const char* kSpecialTokensMapFile = "special_tokens_map.json";
inline constexpr const char* kAddedTokensFile = "added_tokens.json";
inline constexpr const char* kTokenizerJsonFile = "tokenizer.json";

inline std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

inline bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// Python's str.replace(from, to): non-overlapping, left to right.
inline void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  std::size_t pos = 0;
  bool changed = false;
  while (true) {
    const std::size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
    changed = true;
  }
  if (!changed) return;
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

// transformers' `PreTrainedTokenizerBase.clean_up_tokenization`: removes the space that
// word-level detokenization leaves before punctuation and English contractions. The
// replacements run one after the other, in this order.
inline std::string clean_up_tokenization(std::string text) {
  static constexpr std::array<std::pair<const char*, const char*>, 10> kReplacements = {{
      {" .", "."},
      {" ?", "?"},
      {" !", "!"},
      {" ,", ","},
      {" ' ", "'"},
      {" n't", "n't"},
      {" 'm", "'m"},
      {" 's", "'s"},
      {" 've", "'ve"},
      {" 're", "'re"},
  }};
  for (const auto& [from, to] : kReplacements) replace_all(text, from, to);
  return text;
}

// Splits text on added tokens exactly like transformers' `tokenization_utils.Trie.split`,
// including its quirks: the earliest-starting match wins, extended to the longest token from
// that start; the look-ahead resumes from partial matches in the same way. Positions are code
// points, as in Python; the pieces are byte ranges of the UTF-8 input.
class AddedTokenTrie {
 public:
  void add(std::string_view word) {
    const CodepointText t = decode_codepoints(word);
    if (t.size() == 0) return;  // the empty string is never a token
    int node = 0;
    for (char32_t c : t.chars) {
      int next = child(node, c);
      if (next < 0) {
        next = static_cast<int>(nodes_.size());
        nodes_.emplace_back();
        nodes_[node].children.emplace(c, next);
      }
      node = next;
    }
    nodes_[node].terminal = true;
  }

  bool empty() const { return nodes_[0].children.empty(); }

  std::vector<std::string> split(const std::string& text) const {
    const CodepointText t = decode_codepoints(text);
    const std::size_t n = t.size();
    std::vector<std::size_t> offsets{0};
    if (!empty()) find_cuts(t, offsets);
    // cut_text: drop empty and backwards cuts.
    offsets.push_back(n);
    std::vector<std::string> pieces;
    std::size_t start = 0;
    for (std::size_t end : offsets) {
      if (start >= end) continue;
      pieces.emplace_back(t.bytes(text, start, end));
      start = end;
    }
    return pieces;
  }

 private:
  struct Node {
    std::map<char32_t, int> children;
    bool terminal = false;
  };

  int child(int node, char32_t c) const {
    const auto& ch = nodes_[static_cast<std::size_t>(node)].children;
    auto it = ch.find(c);
    return it == ch.end() ? -1 : it->second;
  }
  bool terminal(int node) const { return nodes_[static_cast<std::size_t>(node)].terminal; }

  void find_cuts(const CodepointText& t, std::vector<std::size_t>& offsets) const {
    const std::size_t n = t.size();
    // Partial matches: (start, trie node), in increasing start order like Python's ordered dict.
    std::vector<std::pair<std::size_t, int>> states;
    std::vector<bool> remove;
    std::size_t skip = 0;
    for (std::size_t current = 0; current < n; ++current) {
      if (skip && current < skip) continue;
      const char32_t current_char = t.chars[current];
      bool reset = false;
      remove.assign(states.size(), false);
      for (std::size_t s = 0; s < states.size(); ++s) {
        std::size_t start = states[s].first;
        const int node = states[s].second;
        if (terminal(node)) {
          // A complete match. Look ahead from every partial match that started no later, to
          // prefer the earliest start and then the longest token.
          std::size_t end = 0;
          for (std::size_t l = 0; l < states.size(); ++l) {
            const std::size_t lookstart = states[l].first;
            int look_node = states[l].second;
            std::size_t lookahead;
            if (lookstart > start) {
              break;
            } else if (lookstart < start) {
              // Earlier partial matches have already consumed current_char (or failed to, in
              // which case Python still looks ahead from their old node; so do we).
              lookahead = current + 1;
              end = current + 1;
            } else {
              lookahead = current;
              end = current;
            }
            if (terminal(look_node)) {
              start = lookstart;
              end = lookahead;
              skip = lookahead;
            }
            while (lookahead < n) {
              const int next = child(look_node, t.chars[lookahead]);
              if (next < 0) break;
              look_node = next;
              ++lookahead;
              if (terminal(look_node)) {
                start = lookstart;
                end = lookahead;
                skip = lookahead;
              }
            }
          }
          offsets.push_back(start);
          offsets.push_back(end);
          reset = true;
          break;
        }
        const int next = child(node, current_char);
        if (next >= 0) {
          states[s].second = next;
        } else {
          remove[s] = true;
        }
      }
      if (reset) {
        states.clear();
      } else {
        std::size_t kept = 0;
        for (std::size_t s = 0; s < states.size(); ++s)
          if (!remove[s]) states[kept++] = states[s];
        states.resize(kept);
      }
      if (current >= skip) {
        const int first = child(0, current_char);
        if (first >= 0) states.emplace_back(current, first);
      }
    }
    // A match running to the end of the text; the earliest start is the longest.
    for (const auto& [start, node] : states) {
      if (terminal(node)) {
        offsets.push_back(start);
        offsets.push_back(n);
        break;
      }
    }
  }

  std::vector<Node> nodes_ = std::vector<Node>(1);
};

// Reads a JSON object of string -> integer (vocab.json, added_tokens.json) in file order, the
// order Python's json.load gives a dict. Uses the SAX interface because vocabularies are large
// and an ordered DOM would be quadratic.
inline std::vector<std::pair<std::string, int64_t>> read_token_id_map(const std::string& path) {
  const std::string text = detail::read_file(path);

  struct Handler : json::json_sax_t {
    std::vector<std::pair<std::string, int64_t>> entries;
    std::string pending_key;
    int depth = 0;
    std::string problem;

    bool fail(const std::string& what) {
      if (problem.empty()) problem = what;
      return false;
    }
    bool value_int(int64_t v) {
      if (depth != 1) return fail("expected a JSON object of token -> id");
      entries.emplace_back(std::move(pending_key), v);
      pending_key.clear();
      return true;
    }
    bool not_int(const char* type) {
      if (depth != 1) return fail("expected a JSON object of token -> id");
      return fail("token '" + pending_key + "' has a " + type + " value, expected an integer id");
    }
    bool null() override { return not_int("null"); }
    bool boolean(bool) override { return not_int("boolean"); }
    bool number_integer(number_integer_t v) override { return value_int(v); }
    bool number_unsigned(number_unsigned_t v) override {
      if (v > static_cast<number_unsigned_t>(std::numeric_limits<int64_t>::max()))
        return not_int("too large");
      return value_int(static_cast<int64_t>(v));
    }
    bool number_float(number_float_t, const string_t&) override { return not_int("float"); }
    bool string(string_t&) override { return not_int("string"); }
    bool binary(binary_t&) override { return not_int("binary"); }
    bool start_object(std::size_t) override {
      if (depth != 0) return not_int("object");
      ++depth;
      return true;
    }
    bool key(string_t& k) override {
      pending_key = k;
      return true;
    }
    bool end_object() override {
      --depth;
      return true;
    }
    bool start_array(std::size_t) override {
      if (depth != 1) return fail("expected a JSON object of token -> id, got an array");
      return not_int("array");
    }
    bool end_array() override { return true; }
    bool parse_error(std::size_t, const std::string&, const json::exception& e) override {
      return fail(std::string("malformed JSON: ") + e.what());
    }
  } handler;
  bool ok = false;
  try {
    ok = json::sax_parse(text, &handler);
  } catch (const json::exception& e) {
    handler.fail(std::string("malformed JSON: ") + e.what());
  }
  if (!ok || !handler.problem.empty())
    throw FormatError(path + ": " + (handler.problem.empty() ? "malformed JSON" : handler.problem));
  return std::move(handler.entries);
}

inline bool read_flag(const json& j, const char* name, bool fallback, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    throw ConfigError(where + ": field '" + name + "' has type " + it->type_name() +
                      ", expected boolean");
  return it->get<bool>();
}

// An AddedToken from its JSON form ({"content": ..., "lstrip": ..., ...}, as in
// tokenizer_config.json's added_tokens_decoder or tokenizer.json's added_tokens). Like
// `tokenizers.AddedToken`, `normalized` defaults to `not special`.
inline AddedToken parse_added_token(const json& j, const std::string& where,
                                    bool force_special = false) {
  if (!j.is_object())
    throw ConfigError(where + ": expected an AddedToken object, got " + j.type_name());
  auto content = j.find("content");
  if (content == j.end() || !content->is_string())
    throw ConfigError(where + ": AddedToken without a string 'content'");
  AddedToken t;
  t.content = content->get<std::string>();
  t.single_word = read_flag(j, "single_word", false, where);
  t.lstrip = read_flag(j, "lstrip", false, where);
  t.rstrip = read_flag(j, "rstrip", false, where);
  t.special = force_special || read_flag(j, "special", false, where);
  t.normalized = read_flag(j, "normalized", !t.special, where);
  return t;
}

inline SpecialTokenArg parse_special_token_arg(const json& v, const std::string& where) {
  if (v.is_null()) return SpecialTokenArg::none();
  if (v.is_string()) return SpecialTokenArg::string(v.get<std::string>());
  if (v.is_object()) return SpecialTokenArg::added(parse_added_token(v, where));
  throw ConfigError(where + ": expected a string, null or an AddedToken object, got " +
                    v.type_name());
}

}  // namespace detail

// What transformers' `PreTrainedTokenizerBase._from_pretrained` gathers from a checkpoint
// folder before it instantiates the tokenizer class; shared by every slow tokenizer.
//
// With `added_tokens_decoder` in tokenizer_config.json (every tokenizer saved by transformers
// >= 4.34) that is the whole truth about added tokens. Otherwise ("legacy" folders)
// special_tokens_map.json overrides the config's special tokens, added_tokens.json and
// tokenizer.json's `added_tokens` give the added tokens.
struct TokenizerInitArgs {
  std::string dir;
  std::string config_path;  // tokenizer_config.json (may not exist), for messages
  detail::json config = detail::json::object();  // tokenizer_config.json merged as above
  std::array<SpecialTokenArg, kNumSpecialTokenRoles> special{};
  std::vector<SpecialTokenArg> additional_special_tokens;
  std::map<int64_t, AddedToken> added_tokens_decoder;

  // `with_fast_added_tokens`: whether a legacy folder's tokenizer.json contributes its
  // `added_tokens` (a fast tokenizer reads them from that file itself).
  static TokenizerInitArgs load(const std::string& dir, bool with_fast_added_tokens = true) {
    using detail::json;
    TokenizerInitArgs a;
    a.dir = dir;
    a.config_path = detail::join_path(dir, detail::kTokenizerConfigFile);
    if (detail::is_regular_file(a.config_path)) {
      a.config = detail::read_json_file(a.config_path);
      if (!a.config.is_object()) throw ConfigError(a.config_path + ": expected a JSON object");
    }

    std::map<std::string, AddedToken> added_tokens_map;  // content -> token
    auto decoder_it = a.config.find("added_tokens_decoder");
    if (decoder_it != a.config.end()) {
      if (!decoder_it->is_object())
        throw ConfigError(a.config_path + ": field 'added_tokens_decoder' must be an object");
      for (const auto& [key, value] : decoder_it->items()) {
        const std::string where = a.config_path + ": added_tokens_decoder[\"" + key + "\"]";
        const int64_t id = parse_id(key, where);
        AddedToken t = detail::parse_added_token(value, where);
        added_tokens_map[t.content] = t;
        a.added_tokens_decoder[id] = std::move(t);
      }
    } else {
      load_legacy_files(a, added_tokens_map, with_fast_added_tokens);
    }

    for (int r = 0; r < kNumSpecialTokenRoles; ++r) {
      const char* name = kSpecialTokenAttributes[static_cast<std::size_t>(r)];
      auto it = a.config.find(name);
      if (it == a.config.end()) continue;
      SpecialTokenArg arg = detail::parse_special_token_arg(*it, a.config_path + ": " + name);
      // Special tokens that are also listed as added tokens take those flags.
      if (arg.has_value() && !added_tokens_map.empty()) {
        auto hit = added_tokens_map.find(arg.token.content);
        if (hit != added_tokens_map.end()) arg = SpecialTokenArg::added(hit->second);
      }
      a.special[static_cast<std::size_t>(r)] = std::move(arg);
    }
    auto extra = a.config.find("additional_special_tokens");
    if (extra != a.config.end() && !extra->is_null()) {
      const std::string where = a.config_path + ": additional_special_tokens";
      if (!extra->is_array()) throw ConfigError(where + ": expected a list");
      for (const auto& v : *extra) {
        SpecialTokenArg arg = detail::parse_special_token_arg(v, where);
        if (!arg.has_value()) throw ConfigError(where + ": null entry");
        a.additional_special_tokens.push_back(std::move(arg));
      }
    }
    return a;
  }

 private:
  static int64_t parse_id(const std::string& s, const std::string& where) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != s.size()) throw ConfigError(where + ": key is not an integer id");
    return static_cast<int64_t>(v);
  }

  static void load_legacy_files(TokenizerInitArgs& a,
                                std::map<std::string, AddedToken>& added_tokens_map,
                                bool with_fast_added_tokens) {
    using detail::json;
    const std::string map_path = detail::join_path(a.dir, detail::kSpecialTokensMapFile);
    if (detail::is_regular_file(map_path)) {
      const json map = detail::read_json_file(map_path);
      if (!map.is_object()) throw ConfigError(map_path + ": expected a JSON object");
      for (const auto& [key, value] : map.items()) {
        json v = value;
        if (v.is_object()) {
          v["special"] = true;
        } else if (key == "additional_special_tokens" && v.is_array()) {
          json merged = json::array();
          auto prev = a.config.find(key);
          if (prev != a.config.end() && prev->is_array()) merged = *prev;
          for (json token : v) {
            if (token.is_object()) token["special"] = true;
            bool seen = false;
            for (const auto& m : merged) seen = seen || m == token;
            if (!seen) merged.push_back(token);
          }
          v = std::move(merged);
        }
        a.config[key] = std::move(v);
      }
    }

    const std::string added_path = detail::join_path(a.dir, detail::kAddedTokensFile);
    if (detail::is_regular_file(added_path)) {
      std::unordered_set<std::string> special_strings;
      for (const char* name : kSpecialTokenAttributes) {
        auto it = a.config.find(name);
        if (it == a.config.end() || it->is_null()) continue;
        special_strings.insert(content_of(*it));
      }
      auto extra = a.config.find("additional_special_tokens");
      if (extra != a.config.end() && extra->is_array())
        for (const auto& v : *extra) special_strings.insert(content_of(v));
      // These tokens do not replace the special tokens' own AddedTokens (transformers means
      // to record them for that, but keys its map by an unrelated variable), so a <mask> from
      // special_tokens_map.json keeps its lstrip.
      for (auto& [content, id] : detail::read_token_id_map(added_path)) {
        AddedToken t;
        t.content = content;
        t.special = special_strings.count(content) > 0;
        t.normalized = !t.special;
        a.added_tokens_decoder[id] = std::move(t);
      }
    }

    const std::string fast_path = detail::join_path(a.dir, detail::kTokenizerJsonFile);
    if (with_fast_added_tokens && detail::is_regular_file(fast_path)) {
      const json fast = detail::read_json_file(fast_path);
      auto list = fast.is_object() ? fast.find("added_tokens") : fast.end();
      if (fast.is_object() && list != fast.end() && !list->is_null()) {
        if (!list->is_array()) throw FormatError(fast_path + ": 'added_tokens' must be a list");
        for (const auto& entry : *list) {
          const std::string where = fast_path + ": added_tokens";
          auto id = entry.is_object() ? entry.find("id") : entry.end();
          if (!entry.is_object() || id == entry.end() || !id->is_number_integer())
            throw FormatError(where + ": entry without an integer 'id'");
          AddedToken t = detail::parse_added_token(entry, where);
          added_tokens_map[t.content] = t;
          a.added_tokens_decoder[id->get<int64_t>()] = std::move(t);
        }
      }
    }
  }

  static std::string content_of(const detail::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object()) {
      auto c = v.find("content");
      if (c != v.end() && c->is_string()) return c->get<std::string>();
    }
    return v.dump();
  }
};

// The shared machinery of transformers' slow tokenizers (see the top of this file).
class PreTrainedTokenizer : public Tokenizer {
 public:
  std::vector<std::string> tokenize(const std::string& text) const override {
    const std::string prepared = prepare_for_tokenization(text);
    std::vector<std::string> pieces;
    if (split_special_tokens_) {
      pieces.push_back(prepared);
    } else {
      pieces = trie_.split(prepared);
    }
    // Let added tokens eat the whitespace around them (lstrip/rstrip) and glue single_word
    // tokens that touch a word back onto it. Like transformers this edits the neighbours in
    // place while walking, so later tokens see the edited text.
    // With split_special_tokens no text is an added token (transformers empties no_split_token).
    for (std::size_t i = 0; i < pieces.size() && !split_special_tokens_; ++i) {
      const std::string token = pieces[i];
      auto enc = added_tokens_encoder_.find(token);
      if (enc == added_tokens_encoder_.end()) continue;
      auto dec = added_tokens_decoder_.find(enc->second);
      if (dec == added_tokens_decoder_.end()) continue;
      const AddedToken& flags = dec->second;
      const std::string left = i > 0 ? pieces[i - 1] : std::string();
      const std::string right = i + 1 < pieces.size() ? pieces[i + 1] : std::string();
      if (flags.rstrip && !right.empty()) pieces[i + 1] = detail::python_lstrip(right);
      if (flags.lstrip && !left.empty()) pieces[i - 1] = detail::python_rstrip(left);
      if (flags.single_word && !left.empty() && left.back() != ' ') {
        pieces[i - 1] += token;
        pieces[i].clear();
      } else if (flags.single_word && !right.empty() && right.front() != ' ') {
        pieces[i + 1] = token + pieces[i + 1];
        pieces[i].clear();
      }
    }
    std::vector<std::string> tokens;
    for (const std::string& piece : pieces) {
      if (piece.empty()) continue;
      if (!split_special_tokens_ && added_tokens_encoder_.count(piece)) {
        tokens.push_back(piece);
      } else {
        tokenize_model(piece, tokens);
      }
    }
    return tokens;
  }

  std::vector<int64_t> encode(const std::string& text,
                              bool add_special_tokens = true) const override {
    std::vector<int64_t> ids = convert_tokens_to_ids(tokenize(text));
    if (add_special_tokens) ids = build_inputs_with_special_tokens(std::move(ids));
    return ids;
  }

  std::string decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = true) const override {
    return decode(ids, skip_special_tokens, clean_up_tokenization_spaces_, true);
  }
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens,
                     bool clean_up_tokenization_spaces) const override {
    return decode(ids, skip_special_tokens, clean_up_tokenization_spaces, true);
  }

  // transformers' `_decode`. Runs of ordinary tokens are turned into text together; added
  // tokens that are not special are emitted verbatim between them (so that byte-level symbols
  // and plain text are never mixed), joined with a space when `spaces_between_special_tokens`.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens,
                     bool clean_up_tokenization_spaces, bool spaces_between_special_tokens) const {
    const std::vector<std::string> tokens = convert_ids_to_tokens(ids, skip_special_tokens);
    std::vector<std::string> sub_texts;
    std::vector<std::string> current;
    for (const std::string& token : tokens) {
      if (skip_special_tokens && all_special_tokens_set_.count(token)) continue;
      if (legacy_added_tokens_.count(token)) {
        if (!current.empty()) {
          std::string s = convert_tokens_to_string(current);
          if (!s.empty()) sub_texts.push_back(std::move(s));
          current.clear();
        }
        sub_texts.push_back(token);
      } else {
        current.push_back(token);
      }
    }
    if (!current.empty()) sub_texts.push_back(convert_tokens_to_string(current));
    std::string text;
    for (std::size_t i = 0; i < sub_texts.size(); ++i) {
      if (i > 0 && spaces_between_special_tokens) text += ' ';
      text += sub_texts[i];
    }
    if (clean_up_tokenization_spaces) text = detail::clean_up_tokenization(std::move(text));
    return text;
  }

  bool clean_up_tokenization_spaces() const override { return clean_up_tokenization_spaces_; }

  int64_t total_vocab_size() const override {
    int64_t n = vocab_size();
    std::unordered_set<std::string> seen;
    for (const auto& [id, token] : added_tokens_decoder_)
      if (!model_token_to_id(token.content) && seen.insert(token.content).second) ++n;
    return n;
  }

  std::optional<int64_t> token_to_id(const std::string& token) const override {
    auto it = added_tokens_encoder_.find(token);
    if (it != added_tokens_encoder_.end()) return it->second;
    return model_token_to_id(token);
  }

  std::optional<std::string> id_to_token(int64_t id) const override {
    auto it = added_tokens_decoder_.find(id);
    if (it != added_tokens_decoder_.end()) return it->second.content;
    return model_id_to_token(id);
  }

  // transformers' `convert_tokens_to_ids`: added tokens, then the vocabulary with the model's
  // unknown-token fallback. A token that cannot be mapped at all (no unk token) is an error.
  std::vector<int64_t> convert_tokens_to_ids(const std::vector<std::string>& tokens) const {
    std::vector<int64_t> ids;
    ids.reserve(tokens.size());
    for (const std::string& token : tokens) ids.push_back(convert_token_to_id(token));
    return ids;
  }

  // transformers' `convert_ids_to_tokens`.
  std::vector<std::string> convert_ids_to_tokens(const std::vector<int64_t>& ids,
                                                 bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int64_t id : ids) {
      if (skip_special_tokens && all_special_ids_.count(id)) continue;
      auto it = added_tokens_decoder_.find(id);
      if (it != added_tokens_decoder_.end()) {
        tokens.push_back(it->second.content);
        continue;
      }
      std::optional<std::string> token = model_id_to_token(id);
      if (!token)
        throw InvalidArgument("token id " + std::to_string(id) + " is not in the vocabulary (" +
                              std::to_string(vocab_size()) + " tokens) nor an added token");
      tokens.push_back(std::move(*token));
    }
    return tokens;
  }

  // The special-token strings (bos, eos, unk, sep, pad, cls, mask, additional ones), without
  // duplicates: transformers' `all_special_tokens`.
  const std::vector<std::string>& all_special_tokens() const { return all_special_tokens_; }
  std::vector<int64_t> all_special_ids() const {
    std::vector<int64_t> ids;
    for (const auto& t : all_special_tokens_) ids.push_back(convert_token_to_id(t));
    return ids;
  }
  // A named special token (e.g. eos) and its id, when the tokenizer has one.
  std::optional<std::string> special_token(SpecialTokenRole role) const {
    const auto& t = special_[static_cast<std::size_t>(role)];
    if (!t) return std::nullopt;
    return t->content;
  }
  std::optional<int64_t> special_token_id(SpecialTokenRole role) const {
    auto t = special_token(role);
    if (!t) return std::nullopt;
    return convert_token_to_id(*t);
  }
  // Added tokens by id (special ones included), like transformers' `added_tokens_decoder`.
  const std::map<int64_t, AddedToken>& added_tokens_decoder() const {
    return added_tokens_decoder_;
  }

 protected:
  PreTrainedTokenizer() = default;
  PreTrainedTokenizer(const PreTrainedTokenizer&) = delete;
  PreTrainedTokenizer& operator=(const PreTrainedTokenizer&) = delete;

  // ---- what a concrete tokenizer provides ----

  // `prepare_for_tokenization`: e.g. adds a prefix space.
  virtual std::string prepare_for_tokenization(const std::string& text) const { return text; }
  // `_tokenize`: the model's tokens of a piece of text that holds no added token.
  virtual void tokenize_model(const std::string& text, std::vector<std::string>& out) const = 0;
  // The vocabulary alone: the id of `token` or nullopt (no unk fallback).
  virtual std::optional<int64_t> model_token_to_id(const std::string& token) const = 0;
  // `_convert_token_to_id`: with the model's unknown-token fallback. The default is that of the
  // BPE and WordPiece tokenizers: `vocab.get(token, vocab.get(unk_token))`.
  virtual std::optional<int64_t> model_token_to_id_or_unk(const std::string& token) const {
    if (auto id = model_token_to_id(token)) return id;
    const auto& unk = special_[static_cast<std::size_t>(SpecialTokenRole::kUnk)];
    if (unk) return model_token_to_id(unk->content);
    return std::nullopt;
  }
  // `_convert_id_to_token`: nullopt for an unknown id.
  virtual std::optional<std::string> model_id_to_token(int64_t id) const = 0;
  // `convert_tokens_to_string` for a run of ordinary (and special) tokens.
  virtual std::string convert_tokens_to_string(const std::vector<std::string>& tokens) const = 0;
  // `build_inputs_with_special_tokens` for one sequence.
  virtual std::vector<int64_t> build_inputs_with_special_tokens(std::vector<int64_t> ids) const {
    return ids;
  }

  // The id of a special token for build_inputs_with_special_tokens; a clear error when the
  // tokenizer has none.
  int64_t required_special_token_id(SpecialTokenRole role) const {
    auto id = special_token_id(role);
    if (!id)
      throw ConfigError(source_ + ": the tokenizer has no " +
                        kSpecialTokenAttributes[static_cast<std::size_t>(role)] +
                        ", which encoding with special tokens needs");
    return *id;
  }

  int64_t convert_token_to_id(const std::string& token) const {
    auto it = added_tokens_encoder_.find(token);
    if (it != added_tokens_encoder_.end()) return it->second;
    if (auto id = model_token_to_id_or_unk(token)) return *id;
    throw InvalidArgument("token '" + token +
                          "' is not in the vocabulary and the tokenizer has no usable unk_token");
  }

  // Registers added and special tokens the way transformers' `PreTrainedTokenizer.__init__`
  // does; call once the vocabulary is loaded. `special` holds the class's resolved arguments
  // (kDefault already replaced by the class default).
  void init_added_tokens(std::string source, std::map<int64_t, AddedToken> added_tokens_decoder,
                         const std::array<SpecialTokenArg, kNumSpecialTokenRoles>& special,
                         std::vector<SpecialTokenArg> additional_special_tokens) {
    source_ = std::move(source);
    added_tokens_decoder_ = std::move(added_tokens_decoder);
    added_tokens_encoder_.clear();
    for (const auto& [id, token] : added_tokens_decoder_) added_tokens_encoder_[token.content] = id;
    for (std::size_t r = 0; r < special.size(); ++r) {
      if (special[r].has_value()) special_[r] = special[r].token;
    }
    additional_special_tokens_ = std::move(additional_special_tokens);
    refresh_special_tokens();

    // `_add_tokens(all_special_tokens_extended, special_tokens=True)`. AddedToken objects are
    // never found among the added-token strings in Python, so they are always (re)registered,
    // which also marks them special; plain strings are skipped when already added.
    std::vector<SpecialTokenArg> extended;
    {
      std::unordered_set<std::string> seen;
      auto consider = [&](const SpecialTokenArg& arg) {
        if (!arg.has_value() || !seen.insert(arg.token.content).second) return;
        extended.push_back(arg);
      };
      for (const auto& arg : special) consider(arg);
      for (const auto& arg : additional_special_tokens_) consider(arg);
    }
    add_tokens(extended);
    refresh_special_tokens();
  }

  std::string source_;  // the checkpoint folder, for messages
  bool clean_up_tokenization_spaces_ = false;
  bool split_special_tokens_ = false;

 private:
  // `_add_tokens(new_tokens, special_tokens=True)`.
  void add_tokens(const std::vector<SpecialTokenArg>& new_tokens) {
    // `get_vocab()`: the vocabulary overlaid with the added tokens.
    std::unordered_map<std::string, int64_t> added_vocab;
    for (const auto& [id, token] : added_tokens_decoder_) added_vocab[token.content] = id;
    int64_t new_idx = vocab_size();
    for (const auto& [content, id] : added_vocab)
      if (!model_token_to_id(content)) ++new_idx;
    int64_t added = 0;
    for (const SpecialTokenArg& arg : new_tokens) {
      if (arg.token.content.empty()) continue;
      AddedToken token = arg.token;
      if (arg.kind == SpecialTokenArg::Kind::kString) {
        if (added_tokens_encoder_.count(token.content)) continue;
        token = AddedToken{token.content, false, false, false, /*normalized=*/false, true};
      } else {
        token.special = true;
      }
      int64_t id;
      auto hit = added_vocab.find(token.content);
      if (hit != added_vocab.end()) {
        id = hit->second;
      } else if (auto model_id = model_token_to_id(token.content)) {
        id = *model_id;
      } else {
        id = new_idx + added++;
        added_vocab[token.content] = id;
      }
      if (!all_special_tokens_set_.count(token.content)) {
        additional_special_tokens_.push_back(SpecialTokenArg::added(token));
        refresh_special_tokens();
      }
      added_tokens_encoder_[token.content] = id;
      added_tokens_decoder_[id] = std::move(token);
    }
    // `_update_trie`: every added token's content splits the text.
    for (const auto& [id, token] : added_tokens_decoder_) trie_.add(token.content);
  }

  void refresh_special_tokens() {
    all_special_tokens_.clear();
    all_special_tokens_set_.clear();
    auto consider = [&](const std::string& s) {
      if (s.empty() || !all_special_tokens_set_.insert(s).second) return;
      all_special_tokens_.push_back(s);
    };
    for (const auto& t : special_)
      if (t) consider(t->content);
    for (const auto& arg : additional_special_tokens_) consider(arg.token.content);

    all_special_ids_.clear();
    for (const auto& t : all_special_tokens_) {
      auto it = added_tokens_encoder_.find(t);
      if (it != added_tokens_encoder_.end()) {
        all_special_ids_.insert(it->second);
      } else if (auto id = model_token_to_id_or_unk(t)) {
        all_special_ids_.insert(*id);
      }
    }
    // Added tokens that are not special are emitted verbatim by decode; so are additional
    // special tokens beyond the base vocabulary.
    legacy_added_tokens_.clear();
    for (const auto& [content, id] : added_tokens_encoder_)
      if (!all_special_tokens_set_.count(content)) legacy_added_tokens_.insert(content);
    for (const auto& arg : additional_special_tokens_) {
      auto it = added_tokens_encoder_.find(arg.token.content);
      std::optional<int64_t> id;
      if (it != added_tokens_encoder_.end()) {
        id = it->second;
      } else {
        id = model_token_to_id_or_unk(arg.token.content);
      }
      if (id && *id >= vocab_size()) legacy_added_tokens_.insert(arg.token.content);
    }
  }

  std::map<int64_t, AddedToken> added_tokens_decoder_;
  std::unordered_map<std::string, int64_t> added_tokens_encoder_;
  std::array<std::optional<AddedToken>, kNumSpecialTokenRoles> special_{};
  std::vector<SpecialTokenArg> additional_special_tokens_;
  std::vector<std::string> all_special_tokens_;
  std::unordered_set<std::string> all_special_tokens_set_;
  std::unordered_set<int64_t> all_special_ids_;
  std::unordered_set<std::string> legacy_added_tokens_;
  detail::AddedTokenTrie trie_;
};

}  // namespace ved

// The concrete tokenizers and Tokenizer::from_pretrained (AutoTokenizer).
#include "ved/processing/auto_tokenizer.hpp"
