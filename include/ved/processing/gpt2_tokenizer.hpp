#pragma once

// GPT-2's byte-level BPE tokenizer (and RoBERTa's, which is the same model with other special
// tokens), matching transformers' slow GPT2Tokenizer / RobertaTokenizer token for token.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ved/detail/byte_level.hpp"
#include "ved/processing/tokenizer.hpp"

namespace ved {

namespace detail {

// Python's str.split() with no argument on UTF-8 text: Unicode-whitespace separated fields.
// Returns false when `s` is not valid UTF-8.
inline bool split_python_whitespace(std::string_view s, std::vector<std::string>& parts) {
  parts.clear();
  std::size_t pos = 0, field = std::string_view::npos;
  while (pos < s.size()) {
    char32_t cp = 0;
    std::size_t bad_len = 0;
    const std::size_t n = utf8_sequence_at(s, pos, cp, bad_len);
    if (n == 0) return false;
    if (is_python_space(cp)) {
      if (field != std::string_view::npos) parts.emplace_back(s.substr(field, pos - field));
      field = std::string_view::npos;
    } else if (field == std::string_view::npos) {
      field = pos;
    }
    pos += n;
  }
  if (field != std::string_view::npos) parts.emplace_back(s.substr(field));
  return true;
}

}  // namespace detail

class GPT2Tokenizer : public PreTrainedTokenizer {
 public:
  // Loads a checkpoint folder: vocab.json + merges.txt (what transformers' slow tokenizer
  // reads) or, when those are absent, the vocabulary and merges of a fast tokenizer's
  // tokenizer.json; plus tokenizer_config.json / special_tokens_map.json / added_tokens.json.
  explicit GPT2Tokenizer(const std::string& dir) : GPT2Tokenizer(dir, gpt2_defaults()) {}

  int64_t vocab_size() const override { return static_cast<int64_t>(encoder_.size()); }
  bool add_prefix_space() const { return add_prefix_space_; }
  bool add_bos_token() const { return add_bos_token_; }

 protected:
  // How the tokenizer class's __init__ treats one special token: its default when the files do
  // not name it, and the AddedToken flags it gives a special token named by a plain string.
  struct SpecialTokenDefault {
    const char* content;  // nullptr: None
    bool wraps_string;    // the class turns a plain string into an AddedToken(lstrip, normalized)
    bool lstrip;
    bool normalized;
  };
  using ClassDefaults = std::array<SpecialTokenDefault, kNumSpecialTokenRoles>;

  static ClassDefaults gpt2_defaults() {
    const SpecialTokenDefault eot{"<|endoftext|>", true, false, true};
    const SpecialTokenDefault none_wrapped{nullptr, true, false, true};
    const SpecialTokenDefault none{nullptr, false, false, true};
    // bos, eos, unk, sep, pad, cls, mask
    return {eot, eot, eot, none, none_wrapped, none, none};
  }

  GPT2Tokenizer(const std::string& dir, const ClassDefaults& defaults) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw IoError(dir +
                    ": not a directory (expected a tokenizer folder with vocab.json + "
                    "merges.txt or tokenizer.json)");
    TokenizerInitArgs args = TokenizerInitArgs::load(dir);
    const std::string& where = args.config_path;

    const std::string vocab_path = detail::join_path(dir, "vocab.json");
    const std::string merges_path = detail::join_path(dir, "merges.txt");
    const std::string fast_path = detail::join_path(dir, detail::kTokenizerJsonFile);
    const bool has_vocab = detail::is_regular_file(vocab_path);
    const bool has_merges = detail::is_regular_file(merges_path);
    bool prefix_space_default = false;
    init_alphabet_symbols();
    if (has_vocab && has_merges) {
      set_vocab(detail::read_token_id_map(vocab_path));
      load_merges_txt(merges_path);
    } else if (detail::is_regular_file(fast_path)) {
      prefix_space_default = load_tokenizer_json(fast_path);
    } else if (has_vocab || has_merges) {
      throw IoError(dir + ": found " + (has_vocab ? "vocab.json" : "merges.txt") + " but not " +
                    (has_vocab ? "merges.txt" : "vocab.json") + " (and no tokenizer.json)");
    } else {
      throw IoError(dir + ": no tokenizer files (looked for vocab.json + merges.txt, and " +
                    "tokenizer.json)");
    }

    const std::string errors = detail::get_or<std::string>(args.config, "errors", "replace", where);
    if (errors == "replace") {
      errors_ = detail::Utf8Errors::kReplace;
    } else if (errors == "ignore") {
      errors_ = detail::Utf8Errors::kIgnore;
    } else if (errors == "strict") {
      errors_ = detail::Utf8Errors::kStrict;
    } else {
      throw ConfigError(where + ": field 'errors' is '" + errors +
                        "', expected 'replace', 'ignore' or 'strict'");
    }
    add_prefix_space_ =
        detail::get_or<bool>(args.config, "add_prefix_space", prefix_space_default, where);
    add_bos_token_ = detail::get_or<bool>(args.config, "add_bos_token", false, where);
    clean_up_tokenization_spaces_ =
        detail::get_or<bool>(args.config, "clean_up_tokenization_spaces", false, where);
    split_special_tokens_ = detail::get_or<bool>(args.config, "split_special_tokens", false, where);

    std::array<SpecialTokenArg, kNumSpecialTokenRoles> special = args.special;
    for (std::size_t r = 0; r < special.size(); ++r) {
      SpecialTokenArg& arg = special[r];
      const SpecialTokenDefault& d = defaults[r];
      if (arg.kind == SpecialTokenArg::Kind::kDefault)
        arg = d.content ? SpecialTokenArg::string(d.content) : SpecialTokenArg::none();
      if (arg.kind == SpecialTokenArg::Kind::kString && d.wraps_string) {
        AddedToken t;
        t.content = arg.token.content;
        t.lstrip = d.lstrip;
        t.normalized = d.normalized;
        arg = SpecialTokenArg::added(std::move(t));
      }
    }
    init_added_tokens(dir, std::move(args.added_tokens_decoder), special,
                      std::move(args.additional_special_tokens));
  }

  std::string prepare_for_tokenization(const std::string& text) const override {
    return add_prefix_space_ ? " " + text : text;
  }

  std::vector<int64_t> build_inputs_with_special_tokens(std::vector<int64_t> ids) const override {
    if (add_bos_token_) ids.insert(ids.begin(), required_special_token_id(SpecialTokenRole::kBos));
    return ids;
  }

  void tokenize_model(const std::string& text, std::vector<std::string>& out) const override {
    const detail::CodepointText t = detail::decode_codepoints(text);
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    detail::gpt2_pretokenize(t, spans);
    for (const auto& [first, last] : spans) bpe_cached(t.bytes(text, first, last), out);
  }

  std::optional<int64_t> model_token_to_id(const std::string& token) const override {
    auto it = encoder_.find(token);
    if (it == encoder_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<std::string> model_id_to_token(int64_t id) const override {
    auto it = decoder_.find(id);
    if (it == decoder_.end()) return std::nullopt;
    return it->second;
  }

  // Byte symbols back to bytes, then UTF-8 decoding with the `errors` policy (invalid sequences
  // become U+FFFD by default, exactly like Python's bytes.decode).
  std::string convert_tokens_to_string(const std::vector<std::string>& tokens) const override {
    const auto& alphabet = detail::byte_level_alphabet();
    std::string bytes;
    for (const std::string& token : tokens) {
      std::size_t pos = 0;
      while (pos < token.size()) {
        char32_t cp = 0;
        std::size_t bad_len = 0;
        const std::size_t n = detail::utf8_sequence_at(token, pos, cp, bad_len);
        if (n == 0) {
          bytes += token[pos++];
          continue;
        }
        const int b = alphabet.byte_of(cp);
        if (b >= 0) {
          bytes += static_cast<char>(b);
        } else {
          // Not a byte symbol: only possible for an added token whose text is not byte-level
          // (transformers raises KeyError here); keep its text as it is.
          bytes.append(token, pos, n);
        }
        pos += n;
      }
    }
    std::string text;
    if (!detail::decode_utf8_bytes(bytes, errors_, text))
      throw InvalidArgument(source_ +
                            ": decoded bytes are not valid UTF-8 and the tokenizer's 'errors' "
                            "setting is 'strict'");
    return text;
  }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged;  // symbol id of the concatenation
  };
  // Words longer than this are not cached: they are rare and would bloat the cache.
  static constexpr std::size_t kMaxCachedWordBytes = 256;
  static constexpr std::size_t kMaxCacheEntries = 1 << 16;

  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  int32_t intern(const std::string& s) {
    auto [it, inserted] = symbol_ids_.emplace(s, static_cast<int32_t>(symbols_.size()));
    if (inserted) symbols_.push_back(s);
    return it->second;
  }

  void init_alphabet_symbols() {
    const auto& alphabet = detail::byte_level_alphabet();
    for (std::size_t b = 0; b < 256; ++b) byte_symbol_[b] = intern(alphabet.byte_to_utf8[b]);
  }

  void add_merge(const std::string& a, const std::string& b, int32_t rank) {
    const int32_t merged = intern(a + b);
    // Like dict(zip(merges, ranks)): a repeated pair keeps its last rank.
    merges_[pair_key(intern(a), intern(b))] = Merge{rank, merged};
  }

  // Like `{k: v}` then `{v: k}` in Python: a repeated token keeps its last id (and its first
  // position), and an id shared by several tokens decodes to the last of them in that order.
  void set_vocab(const std::vector<std::pair<std::string, int64_t>>& entries) {
    std::vector<const std::string*> order;
    encoder_.reserve(entries.size());
    for (const auto& [token, id] : entries) {
      auto [it, inserted] = encoder_.emplace(token, id);
      if (inserted) {
        order.push_back(&it->first);
      } else {
        it->second = id;
      }
    }
    decoder_.reserve(encoder_.size());
    for (const std::string* token : order) decoder_[encoder_.at(*token)] = *token;
  }

  // merges.txt exactly as transformers reads it: `read().split("\n")[1:-1]`, i.e. the first line
  // (the "#version" header) and whatever follows the last newline are not merges.
  void load_merges_txt(const std::string& path) {
    const std::string text = detail::read_file(path);

    std::vector<std::string_view> lines;
    std::size_t start = 0;
    while (true) {
      const std::size_t nl = text.find('\n', start);
      if (nl == std::string::npos) {
        lines.emplace_back(text.data() + start, text.size() - start);
        break;
      }
      lines.emplace_back(text.data() + start, nl - start);
      start = nl + 1;
    }
    std::vector<std::string> parts;
    for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
      const std::string where = path + ":" + std::to_string(i + 1);
      if (!detail::split_python_whitespace(lines[i], parts))
        throw FormatError(where + ": not valid UTF-8");
      if (parts.empty()) continue;  // a blank line merges nothing (transformers ignores it too)
      if (parts.size() != 2)
        throw FormatError(where + ": expected two space-separated symbols, got '" +
                          std::string(lines[i]) + "'");
      add_merge(parts[0], parts[1], static_cast<int32_t>(i - 1));
    }
  }

  // The BPE model of a fast tokenizer's tokenizer.json. Returns its ByteLevel pre-tokenizer's
  // add_prefix_space (the default when tokenizer_config.json does not say).
  bool load_tokenizer_json(const std::string& path) {
    const detail::json j = detail::read_json_file(path);
    auto model = j.is_object() ? j.find("model") : j.end();
    if (!j.is_object() || model == j.end() || !model->is_object())
      throw FormatError(path + ": missing object 'model'");
    auto type = model->find("type");
    if (type != model->end() && !(type->is_string() && type->get<std::string>() == "BPE"))
      throw ConfigError(path + ": model.type is " + type->dump() + ", expected \"BPE\"");

    bool byte_level = false, prefix_space = false;
    auto pre = j.find("pre_tokenizer");
    if (pre != j.end() && pre->is_object()) {
      auto visit = [&](const detail::json& p) {
        if (p.is_object() && p.value("type", "") == "ByteLevel") {
          byte_level = true;
          prefix_space = p.value("add_prefix_space", false);
        }
      };
      visit(*pre);
      auto list = pre->find("pretokenizers");
      if (list != pre->end() && list->is_array())
        for (const auto& p : *list) visit(p);
    }
    if (!byte_level)
      throw ConfigError(path +
                        ": pre_tokenizer is not ByteLevel, so this is not a GPT-2 style "
                        "byte-level BPE tokenizer");

    auto vocab = model->find("vocab");
    if (vocab == model->end() || !vocab->is_object())
      throw FormatError(path + ": missing object 'model.vocab'");
    std::vector<std::pair<std::string, int64_t>> entries;
    entries.reserve(vocab->size());
    for (const auto& [token, id] : vocab->items()) {
      if (!id.is_number_integer())
        throw FormatError(path + ": model.vocab[\"" + token + "\"] is " + id.type_name() +
                          ", expected an integer id");
      entries.emplace_back(token, id.get<int64_t>());
    }
    set_vocab(entries);

    auto merges = model->find("merges");
    if (merges == model->end() || !merges->is_array())
      throw FormatError(path + ": missing list 'model.merges'");
    int32_t rank = 0;
    for (const auto& m : *merges) {
      const std::string where = path + ": model.merges[" + std::to_string(rank) + "]";
      if (m.is_string()) {
        // tokenizers splits "a b" on the single space and wants exactly two parts.
        const std::string s = m.get<std::string>();
        const std::size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          throw FormatError(where + ": expected \"a b\", got \"" + s + "\"");
        add_merge(s.substr(0, sp), s.substr(sp + 1), rank);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        add_merge(m[0].get<std::string>(), m[1].get<std::string>(), rank);
      } else {
        throw FormatError(where + ": expected \"a b\" or [\"a\", \"b\"], got " + m.dump());
      }
      ++rank;
    }
    return prefix_space;
  }

  void bpe_cached(std::string_view word, std::vector<std::string>& out) const {
    const bool cacheable = word.size() <= kMaxCachedWordBytes;
    std::string key;
    if (cacheable) {
      key.assign(word);
      std::shared_lock<std::shared_mutex> lock(cache_mutex_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<std::string> tokens;
    bpe(word, tokens);
    if (cacheable) {
      std::unique_lock<std::shared_mutex> lock(cache_mutex_);
      if (cache_.size() >= kMaxCacheEntries) cache_.clear();
      cache_.emplace(std::move(key), tokens);
    }
    out.insert(out.end(), std::make_move_iterator(tokens.begin()),
               std::make_move_iterator(tokens.end()));
  }

  // transformers' `bpe`: repeatedly merge every occurrence (left to right, non-overlapping) of
  // the adjacent pair with the lowest merge rank, until no adjacent pair has a rank.
  void bpe(std::string_view word, std::vector<std::string>& out) const {
    std::vector<int32_t> symbols;
    symbols.reserve(word.size());
    for (char ch : word) symbols.push_back(byte_symbol_[static_cast<unsigned char>(ch)]);
    std::vector<int32_t> next;
    while (symbols.size() > 1) {
      const Merge* best = nullptr;
      uint64_t best_key = 0;
      for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        const uint64_t key = pair_key(symbols[i], symbols[i + 1]);
        auto it = merges_.find(key);
        if (it != merges_.end() && (!best || it->second.rank < best->rank)) {
          best = &it->second;
          best_key = key;
        }
      }
      if (!best) break;
      const auto first = static_cast<int32_t>(best_key >> 32);
      const auto second = static_cast<int32_t>(best_key & 0xFFFFFFFFu);
      next.clear();
      for (std::size_t i = 0; i < symbols.size();) {
        if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
          next.push_back(best->merged);
          i += 2;
        } else {
          next.push_back(symbols[i]);
          i += 1;
        }
      }
      symbols.swap(next);
    }
    for (int32_t s : symbols) out.push_back(symbols_[static_cast<std::size_t>(s)]);
  }

  std::unordered_map<std::string, int64_t> encoder_;
  std::unordered_map<int64_t, std::string> decoder_;
  // BPE symbols are interned so that merging compares integers.
  std::vector<std::string> symbols_;
  std::unordered_map<std::string, int32_t> symbol_ids_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_symbol_{};
  detail::Utf8Errors errors_ = detail::Utf8Errors::kReplace;
  bool add_prefix_space_ = false;
  bool add_bos_token_ = false;

  // word bytes -> BPE tokens; the only mutable state, guarded for concurrent callers.
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::string>> cache_;
};

// RobertaTokenizer: GPT-2's byte-level BPE with <s> ... </s> around a sequence and a <mask>
// token that swallows the space before it.
class RobertaTokenizer : public GPT2Tokenizer {
 public:
  explicit RobertaTokenizer(const std::string& dir) : GPT2Tokenizer(dir, roberta_defaults()) {}

 protected:
  static ClassDefaults roberta_defaults() {
    auto plain = [](const char* s) { return SpecialTokenDefault{s, true, false, true}; };
    // bos, eos, unk, sep, pad, cls, mask
    return {plain("<s>"),
            plain("</s>"),
            plain("<unk>"),
            plain("</s>"),
            plain("<pad>"),
            plain("<s>"),
            SpecialTokenDefault{"<mask>", true, /*lstrip=*/true, /*normalized=*/false}};
  }

  // Unlike GPT-2, RoBERTa adds the prefix space only before text that does not already start
  // with whitespace.
  std::string prepare_for_tokenization(const std::string& text) const override {
    if (add_prefix_space() && !text.empty() && !detail::starts_with_python_space(text))
      return " " + text;
    return text;
  }

  std::vector<int64_t> build_inputs_with_special_tokens(std::vector<int64_t> ids) const override {
    ids.insert(ids.begin(), required_special_token_id(SpecialTokenRole::kCls));
    ids.push_back(required_special_token_id(SpecialTokenRole::kSep));
    return ids;
  }
};

}  // namespace ved

// Tokenizer::from_pretrained is defined once every tokenizer is (see auto_tokenizer.hpp).
#define VED_GPT2_TOKENIZER_COMPLETE
#include "ved/processing/auto_tokenizer.hpp"
