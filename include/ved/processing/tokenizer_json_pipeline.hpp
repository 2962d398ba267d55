#pragma once

// The text-processing components of a Hugging Face tokenizer.json, as the Rust `tokenizers`
// library defines them: normalizers, pre-tokenizers, post-processors and decoders. The model
// (BPE, WordPiece, Unigram) is in tokenizer_json_models.hpp and the whole pipeline with its
// added tokens in fast_tokenizer.hpp.
//
// Text is UTF-8 throughout. A byte that is not part of well-formed UTF-8 (which Rust strings
// cannot hold, but a ved caller can pass) is kept as it is and treated as one character with no
// Unicode properties, so byte-level BPE still round-trips it.
//
// Offsets are not tracked: ved returns ids and token strings, never character spans, so only
// what changes those is reproduced (e.g. ByteLevel's trim_offsets is read and ignored). The one
// offset the pipeline itself looks at, whether a piece starts at the very beginning of the input
// (Metaspace's prepend_scheme "first"), is carried as a flag.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ved/detail/byte_level.hpp"
#include "ved/detail/json.hpp"
#include "ved/detail/regex.hpp"
#include "ved/detail/unicode.hpp"
#include "ved/error.hpp"

namespace ved::detail::fast {

// ---- where a component sits in tokenizer.json, for messages ----

struct Where {
  std::string path;   // the tokenizer.json file
  std::string field;  // e.g. "pre_tokenizer.pretokenizers[2]"

  Where child(const std::string& name) const { return {path, field + "." + name}; }
  Where index(std::size_t i) const { return {path, field + "[" + std::to_string(i) + "]"}; }
  std::string str() const { return path + ": " + field; }
};

[[noreturn]] inline void malformed(const Where& w, const std::string& what) {
  throw ConfigError(w.str() + ": " + what);
}

inline const json& required_field(const json& j, const char* key, const Where& w) {
  if (!j.is_object()) malformed(w, std::string("expected an object, got ") + j.type_name());
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) malformed(w, std::string("missing field '") + key + "'");
  return *it;
}

inline std::string required_string(const json& j, const char* key, const Where& w) {
  const json& v = required_field(j, key, w);
  if (!v.is_string())
    malformed(w,
              std::string("field '") + key + "' has type " + v.type_name() + ", expected string");
  return v.get<std::string>();
}

inline bool optional_bool(const json& j, const char* key, bool fallback, const Where& w) {
  return get_or<bool>(j, key, fallback, w.str());
}

// A non-negative integer that fits the Rust library's u32 / usize fields.
inline int64_t read_index(const json& v, const Where& w, const std::string& what) {
  if (!v.is_number_integer()) malformed(w, what + " is " + v.dump() + ", expected an integer");
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > 0xFFFFFFFFu) malformed(w, what + " " + v.dump() + " is beyond 2^32 - 1");
    return static_cast<int64_t>(u);
  }
  const int64_t i = v.get<int64_t>();
  if (i < 0 || i > 0xFFFFFFFFll) malformed(w, what + " " + v.dump() + " is out of range");
  return i;
}

// A Rust `char` field: a string of exactly one character.
inline char32_t read_char(const json& j, const char* key, const Where& w,
                          std::optional<char32_t> fallback = std::nullopt) {
  auto it = j.find(key);
  if ((it == j.end() || it->is_null()) && fallback) return *fallback;
  const std::string s = required_string(j, key, w);
  const std::u32string u = to_u32(s);
  if (u.size() != 1 || is_invalid_byte_marker(u[0]))
    malformed(w, std::string("field '") + key + "' must be one character, got \"" + s + "\"");
  return u[0];
}

// ---- characters ----

// The character at s[pos] and its length: a UTF-8 sequence, or one ill-formed byte (given as
// an invalid-byte marker, see unicode.hpp).
inline std::size_t char_at(std::string_view s, std::size_t pos, char32_t& cp) {
  std::size_t bad = 0;
  const std::size_t n = utf8_sequence_at(s, pos, cp, bad);
  if (n == 0) {
    cp = kInvalidByteBase + static_cast<unsigned char>(s[pos]);
    return 1;
  }
  return n;
}

// Rust's char::is_whitespace: the White_Space property.
inline bool is_whitespace(char32_t c) {
  return is_unicode_white_space(c);
}

// Rust's char::is_numeric: Nd, Nl, No.
inline bool is_numeric(char32_t c) {
  return is_unicode_number(c);
}

// The `unicode_categories` crate's is_punctuation (P*), or ASCII punctuation: what the
// BertPreTokenizer and Punctuation pre-tokenizers split on.
inline bool is_punctuation(char32_t c) {
  if (c < 0x80)
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  const UnicodeCategory cat = unicode_category(c);
  return cat >= UnicodeCategory::kPc && cat <= UnicodeCategory::kPo;
}

// `\w` of the Rust regex engines: Alphabetic, marks, decimal digits, connector punctuation and
// the joiners. Alphabetic is approximated by L*, Nl and the Other_Alphabetic symbols outside M
// (circled and squared Latin letters).
inline bool is_word_char(char32_t c) {
  if (c < 0x80)
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_';
  if (c == 0x200C || c == 0x200D) return true;
  if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
      (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
    return true;
  switch (unicode_category(c)) {
    case UnicodeCategory::kLu:
    case UnicodeCategory::kLl:
    case UnicodeCategory::kLt:
    case UnicodeCategory::kLm:
    case UnicodeCategory::kLo:
    case UnicodeCategory::kNl:
    case UnicodeCategory::kMn:
    case UnicodeCategory::kMc:
    case UnicodeCategory::kMe:
    case UnicodeCategory::kNd:
    case UnicodeCategory::kPc:
      return true;
    default:
      return false;
  }
}

// ---- splits and patterns ----

// An id and its token string, as the model (or an added token) produced them.
struct Token {
  int64_t id = 0;
  std::string value;
};

// A piece of the input on its way through the pipeline (the Rust library's `Split`).
struct Split {
  std::string text;  // normalized text
  // The piece starts at the beginning of the original input.
  bool at_origin = false;
  // Set once the piece is an added token or has been through the model; later stages skip it.
  bool has_tokens = false;
  std::vector<Token> tokens;
};

// A span of a string and whether it is a match of the pattern splitting it. A list of these
// covers the whole string.
struct Match {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool is_match = false;
};

// Matches of a character predicate: every matching character is a match of its own.
template <typename Pred>
std::vector<Match> char_matches(std::string_view s, Pred pred) {
  if (s.empty()) return {{0, 0, false}};
  std::vector<Match> out;
  std::size_t last = 0, pos = 0;
  while (pos < s.size()) {
    char32_t cp = 0;
    const std::size_t n = char_at(s, pos, cp);
    if (pred(cp)) {
      if (last < pos) out.push_back({last, pos, false});
      out.push_back({pos, pos + n, true});
      last = pos + n;
    }
    pos += n;
  }
  if (last < s.size()) out.push_back({last, s.size(), false});
  return out;
}

// Turns a list of (begin, end) match spans into Matches covering `size` bytes.
inline std::vector<Match> cover(const std::vector<std::pair<std::size_t, std::size_t>>& spans,
                                std::size_t size) {
  if (size == 0) return {{0, 0, false}};
  std::vector<Match> out;
  std::size_t prev = 0;
  for (const auto& [b, e] : spans) {
    if (b < prev || e < b || e > size) continue;  // never produced by a sane matcher
    if (prev != b) out.push_back({prev, b, false});
    out.push_back({b, e, true});
    prev = e;
  }
  if (prev != size) out.push_back({prev, size, false});
  return out;
}

// A `{"String": ...}` or `{"Regex": ...}` pattern (Split, Replace). The Rust library compiles
// both as Oniguruma regexes, a String one escaped, so an empty String matches the empty string
// at every character boundary.
class Pattern {
 public:
  static Pattern parse(const json& j, const Where& w) {
    Pattern p;
    if (!j.is_object() || j.size() != 1)
      malformed(w, "expected {\"String\": ...} or {\"Regex\": ...}, got " + j.dump());
    if (j.contains("String")) {
      const json& s = j.at("String");
      if (!s.is_string()) malformed(w, "String pattern " + s.dump() + " is not a string");
      p.literal_ = s.get<std::string>();
    } else if (j.contains("Regex")) {
      const json& r = j.at("Regex");
      if (!r.is_string()) malformed(w, "Regex pattern " + r.dump() + " is not a string");
      const std::string pattern = r.get<std::string>();
      try {
        // Oniguruma's Ruby syntax: ^ and $ are line anchors.
        p.regex_ = std::make_shared<const Regex>(pattern, Regex::kMultiline);
      } catch (const Error& e) {
        throw ConfigError(w.str() + ": Regex \"" + pattern + "\" does not compile: " + e.what());
      }
    } else {
      malformed(w, "expected {\"String\": ...} or {\"Regex\": ...}, got " + j.dump());
    }
    return p;
  }

  std::vector<Match> find_matches(std::string_view s) const {
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    if (regex_) {
      for (const Regex::Match& m : regex_->find_all(s)) spans.emplace_back(m.begin, m.end);
    } else if (literal_.empty()) {
      for (std::size_t pos = 0;;) {
        spans.emplace_back(pos, pos);
        if (pos >= s.size()) break;
        char32_t cp = 0;
        pos += char_at(s, pos, cp);
      }
    } else {
      for (std::size_t pos = s.find(literal_); pos != std::string_view::npos;
           pos = s.find(literal_, pos + literal_.size()))
        spans.emplace_back(pos, pos + literal_.size());
    }
    return cover(spans, s.size());
  }

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;
};

// What a split does with the delimiters it finds (SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

inline SplitBehavior parse_behavior(const json& j, const char* key, const Where& w,
                                    std::optional<SplitBehavior> fallback = std::nullopt) {
  auto it = j.find(key);
  if ((it == j.end() || it->is_null()) && fallback) return *fallback;
  const std::string b = required_string(j, key, w);
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  malformed(w, "behavior '" + b +
                   "' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, "
                   "Contiguous");
}

// NormalizedString::split: the spans to keep, by behavior.
inline std::vector<std::pair<std::size_t, std::size_t>> apply_behavior(
    const std::vector<Match>& matches, SplitBehavior behavior) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Match& m : matches)
        if (!m.is_match) out.emplace_back(m.begin, m.end);
      break;
    case SplitBehavior::kIsolated:
      for (const Match& m : matches) out.emplace_back(m.begin, m.end);
      break;
    case SplitBehavior::kContiguous:
      for (const Match& m : matches) {
        if (m.is_match == previous_match && !out.empty()) {
          out.back().second = m.end;
        } else {
          out.emplace_back(m.begin, m.end);
        }
        previous_match = m.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Match& m : matches) {
        if (m.is_match && !previous_match && !out.empty()) {
          out.back().second = m.end;
        } else {
          out.emplace_back(m.begin, m.end);
        }
        previous_match = m.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) {
          out.back().first = it->begin;
        } else {
          out.emplace_back(it->begin, it->end);
        }
        previous_match = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
  }
  return out;
}

// Splits one piece; empty pieces are dropped (PreTokenizedString::split does).
inline void split_piece(const Split& piece, const std::vector<Match>& matches,
                        SplitBehavior behavior, std::vector<Split>& out) {
  for (const auto& [b, e] : apply_behavior(matches, behavior)) {
    if (e <= b) continue;
    Split s;
    s.text = piece.text.substr(b, e - b);
    s.at_origin = piece.at_origin && b == 0;
    out.push_back(std::move(s));
  }
}

// Applies `fn(const Split&, std::vector<Split>& out)` to every piece that has no tokens yet.
template <typename Fn>
void split_each(std::vector<Split>& splits, Fn fn) {
  std::vector<Split> next;
  next.reserve(splits.size());
  for (Split& s : splits) {
    if (s.has_tokens) {
      next.push_back(std::move(s));
      continue;
    }
    std::vector<Split> pieces;
    fn(s, pieces);
    for (Split& p : pieces)
      if (!p.text.empty()) next.push_back(std::move(p));
  }
  splits = std::move(next);
}

// ---- normalizers ----

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Applies a code-point transformation to UTF-8 text.
template <typename Fn>
void transform_u32(std::string& text, Fn fn) {
  text = to_utf8(fn(to_u32(text)));
}

class UnicodeNormalizer : public Normalizer {
 public:
  enum class Form { kNFC, kNFD, kNFKC, kNFKD };
  explicit UnicodeNormalizer(Form form) : form_(form) {}
  void normalize(std::string& text) const override {
    // ASCII is the same in every form.
    if (std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; })) return;
    transform_u32(text, [&](const std::u32string& u) {
      switch (form_) {
        case Form::kNFC:
          return nfc(u);
        case Form::kNFD:
          return nfd(u);
        case Form::kNFKC:
          return nfkc(u);
        case Form::kNFKD:
          return nfkd(u);
      }
      return u;
    });
  }

 private:
  Form form_;
};

// NormalizedString::lowercase: each character's full lower-case mapping (no final-sigma rule).
inline void lowercase_text(std::string& text) {
  transform_u32(text, [](const std::u32string& u) { return python_lower(u); });
}

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override { lowercase_text(text); }
};

// Leading / trailing White_Space removed.
inline void strip_text(std::string& text, bool left, bool right) {
  std::size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end) {
      char32_t cp = 0;
      const std::size_t n = char_at(text, begin, cp);
      if (!is_whitespace(cp)) break;
      begin += n;
    }
  }
  if (right) {
    std::size_t keep = begin;  // end of the last non-space character
    for (std::size_t pos = begin; pos < end;) {
      char32_t cp = 0;
      const std::size_t n = char_at(text, pos, cp);
      pos += n;
      if (!is_whitespace(cp)) keep = pos;
    }
    end = keep;
  }
  text = text.substr(begin, end - begin);
}

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override { strip_text(text, left_, right_); }

 private:
  bool left_, right_;
};

// StripAccents: drops every combining mark (M*); meant to follow NFD or NFKD.
class StripAccentsNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    transform_u32(text, [](const std::u32string& u) {
      std::u32string out;
      for (char32_t c : u) {
        const UnicodeCategory cat = unicode_category(c);
        if (cat < UnicodeCategory::kMn || cat > UnicodeCategory::kMe) out += c;
      }
      return out;
    });
  }
};

// Every match of the pattern replaced by `content` (taken literally).
inline std::string replace_matches(const Pattern& pattern, std::string_view text,
                                   std::string_view content) {
  std::string out;
  for (const Match& m : pattern.find_matches(text)) {
    if (m.is_match) {
      out.append(content);
    } else {
      out.append(text.substr(m.begin, m.end - m.begin));
    }
  }
  return out;
}

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    text = replace_matches(pattern_, text, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

// The Rust BertNormalizer. Unlike transformers' slow BasicTokenizer it strips accents before
// lower-casing and its CJK ranges differ in one block (U+2B920.., not U+2B820..).
class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool handle_chinese_chars, bool strip_accents, bool lowercase)
      : clean_text_(clean_text),
        chinese_(handle_chinese_chars),
        strip_accents_(strip_accents),
        lowercase_(lowercase) {}

  void normalize(std::string& text) const override {
    std::u32string u = to_u32(text);
    if (clean_text_) {
      std::u32string cleaned;
      cleaned.reserve(u.size());
      for (char32_t c : u) {
        if (c == 0 || c == kReplacementChar || is_control(c)) continue;
        cleaned += (c == '\t' || c == '\n' || c == '\r' || is_whitespace(c)) ? U' ' : c;
      }
      u = std::move(cleaned);
    }
    if (chinese_) {
      std::u32string spaced;
      spaced.reserve(u.size());
      for (char32_t c : u) {
        if (is_chinese(c)) {
          spaced += U' ';
          spaced += c;
          spaced += U' ';
        } else {
          spaced += c;
        }
      }
      u = std::move(spaced);
    }
    if (strip_accents_) {
      std::u32string stripped;
      for (char32_t c : nfd(u))
        if (unicode_category(c) != UnicodeCategory::kMn) stripped += c;
      u = std::move(stripped);
    }
    if (lowercase_) u = python_lower(u);
    text = to_utf8(u);
  }

 private:
  // Cc, Cf, Cn, Co, Cs but tab, newline and carriage return (they are whitespace); ill-formed
  // bytes have no category and count as unassigned.
  static bool is_control(char32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    const UnicodeCategory cat = unicode_category(c);
    return cat == UnicodeCategory::kCn || cat >= UnicodeCategory::kCc;
  }
  static bool is_chinese(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  }

  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps)
      : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& s : steps_) s->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

inline std::string component_type(const json& j, const Where& w) {
  if (!j.is_object()) malformed(w, std::string("expected an object, got ") + j.type_name());
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) malformed(w, "no string 'type'");
  return type->get<std::string>();
}

[[noreturn]] inline void unsupported(const Where& w, const std::string& type,
                                     const char* supported) {
  throw ConfigError(w.str() + ": type '" + type + "' is not supported (ved reads " + supported +
                    ")");
}

inline const json& list_field(const json& j, const char* key, const Where& w) {
  const json& list = required_field(j, key, w);
  if (!list.is_array())
    malformed(w.child(key), std::string("expected a list, got ") + list.type_name());
  return list;
}

inline std::unique_ptr<Normalizer> parse_normalizer(const json& j, const Where& w) {
  const std::string type = component_type(j, w);
  using Form = UnicodeNormalizer::Form;
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(Form::kNFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(Form::kNFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(Form::kNFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(Form::kNFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(optional_bool(j, "strip_left", true, w),
                                             optional_bool(j, "strip_right", true, w));
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(
        Pattern::parse(required_field(j, "pattern", w), w.child("pattern")),
        required_string(j, "content", w));
  }
  if (type == "Prepend")
    return std::make_unique<PrependNormalizer>(required_string(j, "prepend", w));
  if (type == "BertNormalizer") {
    const bool lowercase = optional_bool(j, "lowercase", true, w);
    auto strip = j.find("strip_accents");
    bool strip_accents = lowercase;  // null: follow lowercase
    if (strip != j.end() && !strip->is_null())
      strip_accents = optional_bool(j, "strip_accents", false, w);
    return std::make_unique<BertNormalizer>(optional_bool(j, "clean_text", true, w),
                                            optional_bool(j, "handle_chinese_chars", true, w),
                                            strip_accents, lowercase);
  }
  if (type == "Sequence") {
    const json& list = list_field(j, "normalizers", w);
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      steps.push_back(parse_normalizer(list[i], w.child("normalizers").index(i)));
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  unsupported(w, type,
              "NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, "
              "BertNormalizer and Sequence");
}

// ---- pre-tokenizers ----

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::vector<Split>& splits) const = 0;
};

// The pieces GPT-2's regex finds (detail/byte_level.hpp), as byte spans covering `s`.
inline std::vector<std::pair<std::size_t, std::size_t>> byte_level_spans(std::string_view s) {
  const CodepointText t = decode_codepoints(s);
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  gpt2_pretokenize(t, spans);
  for (auto& [first, last] : spans) {
    first = t.offsets[first];
    last = t.offsets[last];
  }
  return spans;
}

inline std::string to_byte_symbols(std::string_view text) {
  const ByteLevelAlphabet& symbols = byte_level_alphabet();
  std::string out;
  out.reserve(text.size() * 2);
  for (char c : text) out += symbols.byte_to_utf8[static_cast<unsigned char>(c)];
  return out;
}

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void pre_tokenize(std::vector<Split>& splits) const override {
    split_each(splits, [&](const Split& s, std::vector<Split>& out) {
      Split piece = s;
      if (add_prefix_space_ && (piece.text.empty() || piece.text[0] != ' '))
        piece.text.insert(0, " ");
      if (use_regex_) {
        split_piece(piece, cover(byte_level_spans(piece.text), piece.text.size()),
                    SplitBehavior::kIsolated, out);
      } else {
        out.push_back(std::move(piece));
      }
      for (Split& p : out) p.text = to_byte_symbols(p.text);
    });
  }

 private:
  bool add_prefix_space_, use_regex_;
};

// Splits on a character predicate.
template <typename Pred>
class CharSplitPreTokenizer : public PreTokenizer {
 public:
  CharSplitPreTokenizer(Pred pred, SplitBehavior behavior) : pred_(pred), behavior_(behavior) {}
  void pre_tokenize(std::vector<Split>& splits) const override {
    split_each(splits, [&](const Split& s, std::vector<Split>& out) {
      split_piece(s, char_matches(s.text, pred_), behavior_, out);
    });
  }

 private:
  Pred pred_;
  SplitBehavior behavior_;
};

template <typename Pred>
std::unique_ptr<PreTokenizer> make_char_split(Pred pred, SplitBehavior behavior) {
  return std::make_unique<CharSplitPreTokenizer<Pred>>(pred, behavior);
}

// Whitespace: the runs `\w+` and `[^\w\s]+` are kept, whitespace is dropped.
class WhitespacePreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Split>& splits) const override {
    split_each(splits, [&](const Split& s, std::vector<Split>& out) {
      std::vector<std::pair<std::size_t, std::size_t>> runs;
      int run_class = -1;  // 0: word, 1: other
      for (std::size_t pos = 0; pos < s.text.size();) {
        char32_t cp = 0;
        const std::size_t n = char_at(s.text, pos, cp);
        const int c = is_word_char(cp) ? 0 : is_whitespace(cp) ? -1 : 1;
        if (c >= 0 && c == run_class) {
          runs.back().second = pos + n;
        } else if (c >= 0) {
          runs.emplace_back(pos, pos + n);
        }
        run_class = c;
        pos += n;
      }
      // The runs are the matches; what lies between them is whitespace, removed.
      std::vector<Match> matches = cover(runs, s.text.size());
      for (Match& m : matches) m.is_match = !m.is_match;
      split_piece(s, matches, SplitBehavior::kRemoved, out);
    });
  }
};

class BertPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Split>& splits) const override {
    split_each(splits, [&](const Split& s, std::vector<Split>& out) {
      split_piece(s, char_matches(s.text, is_whitespace), SplitBehavior::kRemoved, out);
    });
    split_each(splits, [&](const Split& s, std::vector<Split>& out) {
      split_piece(s, char_matches(s.text, is_punctuation), SplitBehavior::kIsolated, out);
    });
  }
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  MetaspacePreTokenizer(char32_t replacement, Prepend prepend, bool split)
      : replacement_(replacement), prepend_(prepend), split_(split) {
    append_utf8(rep_, replacement);
  }
  void pre_tokenize(std::vector<Split>& splits) const override {
    split_each(splits, [&](const Split& s, std::vector<Split>& out) {
      Split piece = s;
      replace_all_bytes(piece.text, " ", rep_);
      const bool starts = piece.text.compare(0, rep_.size(), rep_) == 0;
      if (!starts &&
          (prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && piece.at_origin)))
        piece.text.insert(0, rep_);
      if (split_) {
        const char32_t rep = replacement_;
        split_piece(piece, char_matches(piece.text, [rep](char32_t c) { return c == rep; }),
                    SplitBehavior::kMergedWithNext, out);
      } else {
        out.push_back(std::move(piece));
      }
    });
  }

  static void replace_all_bytes(std::string& s, std::string_view from, std::string_view to) {
    std::string out;
    std::size_t pos = 0;
    for (std::size_t hit = s.find(from); hit != std::string::npos; hit = s.find(from, pos)) {
      out.append(s, pos, hit - pos);
      out.append(to);
      pos = hit + from.size();
    }
    out.append(s, pos, std::string::npos);
    s = std::move(out);
  }

 private:
  char32_t replacement_;
  std::string rep_;
  Prepend prepend_;
  bool split_;
};

// Metaspace's prepend scheme, from `prepend_scheme` or the older `add_prefix_space`.
inline MetaspacePreTokenizer::Prepend parse_prepend_scheme(const json& j, const Where& w) {
  using Prepend = MetaspacePreTokenizer::Prepend;
  Prepend scheme = Prepend::kAlways;
  auto it = j.find("prepend_scheme");
  const bool has_scheme = it != j.end() && !it->is_null();
  if (has_scheme) {
    const std::string s = required_string(j, "prepend_scheme", w);
    if (s == "always") {
      scheme = Prepend::kAlways;
    } else if (s == "first") {
      scheme = Prepend::kFirst;
    } else if (s == "never") {
      scheme = Prepend::kNever;
    } else {
      malformed(w, "prepend_scheme '" + s + "' is not one of always, first, never");
    }
  }
  auto add = j.find("add_prefix_space");
  if (add != j.end() && !add->is_null() && !optional_bool(j, "add_prefix_space", true, w)) {
    if (scheme != Prepend::kNever && has_scheme)
      malformed(w, "add_prefix_space false does not match prepend_scheme");
    scheme = Prepend::kNever;
  }
  return scheme;
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Split>& splits) const override {
    split_each(splits, [&](const Split& s, std::vector<Split>& out) {
      std::vector<Match> matches = pattern_.find_matches(s.text);
      if (invert_)
        for (Match& m : matches) m.is_match = !m.is_match;
      split_piece(s, matches, behavior_, out);
    });
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<Split>& splits) const override {
    for (const auto& s : steps_) s->pre_tokenize(splits);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

inline std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const json& j, const Where& w) {
  const std::string type = component_type(j, w);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(optional_bool(j, "add_prefix_space", true, w),
                                                   optional_bool(j, "use_regex", true, w));
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") return make_char_split(is_whitespace, SplitBehavior::kRemoved);
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Metaspace") {
    return std::make_unique<MetaspacePreTokenizer>(read_char(j, "replacement", w),
                                                   parse_prepend_scheme(j, w),
                                                   optional_bool(j, "split", true, w));
  }
  if (type == "Split") {
    return std::make_unique<SplitPreTokenizer>(
        Pattern::parse(required_field(j, "pattern", w), w.child("pattern")),
        parse_behavior(j, "behavior", w), optional_bool(j, "invert", false, w));
  }
  if (type == "Punctuation")
    return make_char_split(is_punctuation,
                           parse_behavior(j, "behavior", w, SplitBehavior::kIsolated));
  if (type == "Digits") {
    const bool individual = optional_bool(j, "individual_digits", false, w);
    return make_char_split(is_numeric,
                           individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }
  if (type == "CharDelimiterSplit") {
    const char32_t d = read_char(j, "delimiter", w);
    return make_char_split([d](char32_t c) { return c == d; }, SplitBehavior::kRemoved);
  }
  if (type == "Sequence") {
    const json& list = list_field(j, "pretokenizers", w);
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      steps.push_back(parse_pre_tokenizer(list[i], w.child("pretokenizers").index(i)));
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  unsupported(w, type,
              "ByteLevel, Whitespace, WhitespaceSplit, BertPreTokenizer, Metaspace, Split, "
              "Punctuation, Digits, CharDelimiterSplit and Sequence");
}

// ---- post-processors (what encode(add_special_tokens=true) puts around one sequence) ----

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<Token>& tokens) const = 0;
};

// The special token of a Bert/RobertaProcessing: ["[CLS]", 101].
inline Token parse_token_pair(const json& j, const char* key, const Where& w) {
  const json& v = required_field(j, key, w);
  if (!v.is_array() || v.size() != 2 || !v[0].is_string())
    malformed(w.child(key), "expected [token, id], got " + v.dump());
  return Token{read_index(v[1], w.child(key), "id"), v[0].get<std::string>()};
}

// BertProcessing and RobertaProcessing: [cls] sequence [sep] (their offset options change
// nothing else).
class WrapProcessor : public PostProcessor {
 public:
  WrapProcessor(Token cls, Token sep) : cls_(std::move(cls)), sep_(std::move(sep)) {}
  void process(std::vector<Token>& tokens) const override {
    tokens.insert(tokens.begin(), cls_);
    tokens.push_back(sep_);
  }

 private:
  Token cls_, sep_;
};

class TemplateProcessor : public PostProcessor {
 public:
  // `single` flattened: an empty optional marks where the sequence goes.
  explicit TemplateProcessor(std::vector<std::optional<Token>> single)
      : single_(std::move(single)) {}
  void process(std::vector<Token>& tokens) const override {
    std::vector<Token> out;
    for (const auto& piece : single_) {
      if (piece) {
        out.push_back(*piece);
      } else {
        out.insert(out.end(), tokens.begin(), tokens.end());
      }
    }
    tokens = std::move(out);
  }

 private:
  std::vector<std::optional<Token>> single_;
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> steps)
      : steps_(std::move(steps)) {}
  void process(std::vector<Token>& tokens) const override {
    for (const auto& s : steps_) s->process(tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

class NoOpProcessor : public PostProcessor {
 public:
  void process(std::vector<Token>&) const override {}
};

inline std::unique_ptr<PostProcessor> parse_template(const json& j, const Where& w) {
  // special_tokens: {"[CLS]": {"id": "[CLS]", "ids": [101], "tokens": ["[CLS]"]}, ...}
  const json& specials = required_field(j, "special_tokens", w);
  if (!specials.is_object())
    malformed(w.child("special_tokens"),
              std::string("expected an object, got ") + specials.type_name());
  const json& single = required_field(j, "single", w);
  std::vector<json> pieces;
  if (single.is_array()) {
    pieces.assign(single.begin(), single.end());
  } else if (single.is_string()) {
    // The string form "[CLS] $A [SEP]".
    const std::string s = single.get<std::string>();
    std::size_t pos = 0;
    while (pos < s.size()) {
      const std::size_t end = std::min(s.find(' ', pos), s.size());
      if (end > pos) pieces.emplace_back(s.substr(pos, end - pos));
      pos = end + 1;
    }
  } else {
    malformed(w.child("single"), std::string("expected a list, got ") + single.type_name());
  }
  std::vector<std::optional<Token>> out;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const Where pw = w.child("single").index(i);
    const json& piece = pieces[i];
    std::string special;  // the special token's name, or empty for the sequence
    bool sequence = false;
    if (piece.is_string()) {
      // "$A", "$B", "$0", "$A:1", "[CLS]", "[CLS]:0"
      std::string s = piece.get<std::string>();
      const std::size_t colon = s.rfind(':');
      if (colon != std::string::npos && colon > 0) s.resize(colon);
      if (!s.empty() && s[0] == '$') {
        // "$", "$A" and "$<type id>" are the sequence; "$B" is the second one of a pair.
        const bool digits =
            s.size() > 1 && s.find_first_not_of("0123456789", 1) == std::string::npos;
        if (s != "$" && s != "$A" && s != "$a" && !digits)
          malformed(pw, "the single-sequence template refers to " + s);
        sequence = true;
      } else {
        special = s;
      }
    } else if (piece.is_object() && piece.contains("Sequence")) {
      const json& seq = piece.at("Sequence");
      auto id = seq.is_object() ? seq.find("id") : seq.end();
      if (id == seq.end() || !id->is_string()) malformed(pw, "Sequence without an id");
      if (id->get<std::string>() != "A")
        malformed(pw, "the single-sequence template refers to sequence " + id->dump());
      sequence = true;
    } else if (piece.is_object() && piece.contains("SpecialToken")) {
      const json& sp = piece.at("SpecialToken");
      auto id = sp.is_object() ? sp.find("id") : sp.end();
      if (id == sp.end() || !id->is_string()) malformed(pw, "SpecialToken without a string id");
      special = id->get<std::string>();
    } else {
      malformed(pw, "expected a Sequence or a SpecialToken, got " + piece.dump());
    }
    if (sequence) {
      out.emplace_back();
      continue;
    }
    auto entry = specials.find(special);
    if (entry == specials.end() || !entry->is_object())
      malformed(w.child("special_tokens"), "no entry for '" + special + "'");
    const Where ew = w.child("special_tokens").child(special);
    const json& ids = required_field(*entry, "ids", ew);
    const json& tokens = required_field(*entry, "tokens", ew);
    if (!ids.is_array() || !tokens.is_array() || ids.size() != tokens.size())
      malformed(ew, "'ids' and 'tokens' must be lists of the same length");
    for (std::size_t k = 0; k < ids.size(); ++k) {
      if (!tokens[k].is_string())
        malformed(ew, "tokens[" + std::to_string(k) + "] is not a string");
      out.emplace_back(Token{read_index(ids[k], ew, "ids[" + std::to_string(k) + "]"),
                             tokens[k].get<std::string>()});
    }
  }
  return std::make_unique<TemplateProcessor>(std::move(out));
}

inline std::unique_ptr<PostProcessor> parse_post_processor(const json& j, const Where& w) {
  const std::string type = component_type(j, w);
  if (type == "TemplateProcessing") return parse_template(j, w);
  if (type == "BertProcessing" || type == "RobertaProcessing")
    return std::make_unique<WrapProcessor>(parse_token_pair(j, "cls", w),
                                           parse_token_pair(j, "sep", w));
  if (type == "ByteLevel") return std::make_unique<NoOpProcessor>();  // offsets only
  if (type == "Sequence") {
    const json& list = list_field(j, "processors", w);
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      steps.push_back(parse_post_processor(list[i], w.child("processors").index(i)));
    return std::make_unique<SequenceProcessor>(std::move(steps));
  }
  unsupported(w, type,
              "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel and Sequence");
}

// ---- decoders (token strings back to text) ----

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// Byte symbols back to bytes (a token with any other character keeps its own bytes), then the
// bytes as UTF-8 with U+FFFD for each ill-formed sequence, as String::from_utf8_lossy does.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    const ByteLevelAlphabet& symbols = byte_level_alphabet();
    std::string bytes;
    for (const std::string& t : tokens) {
      std::string own;
      bool all_symbols = true;
      for (std::size_t pos = 0; pos < t.size();) {
        char32_t cp = 0;
        pos += char_at(t, pos, cp);
        const int b = symbols.byte_of(cp);
        if (b < 0) {
          all_symbols = false;
          break;
        }
        own += static_cast<char>(b);
      }
      bytes += all_symbols ? own : t;
    }
    std::string text;
    decode_utf8_bytes(bytes, Utf8Errors::kReplace, text);
    tokens.assign(1, std::move(text));
  }
};

// The WordPiece decoder's clean-up, which differs from transformers' by " do not" -> " don't".
inline std::string wordpiece_cleanup(std::string s) {
  static constexpr std::pair<const char*, const char*> kReplacements[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
      {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
      {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kReplacements)
    MetaspacePreTokenizer::replace_all_bytes(s, from, to);
  return s;
}

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup)
      : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        // replacen(prefix, "", 1) on a token that starts with it.
        if (t.compare(0, prefix_.size(), prefix_) == 0) {
          t.erase(0, prefix_.size());
        } else {
          t.insert(0, " ");
        }
      }
      if (cleanup_) t = wordpiece_cleanup(std::move(t));
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

// Every replacement character becomes a space, except in the first token, where they all go
// (the Rust library drops every one there, not just the leading one).
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool drop_in_first)
      : replacement_(replacement), drop_in_first_(drop_in_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (std::size_t pos = 0; pos < t.size();) {
        char32_t cp = 0;
        const std::size_t n = char_at(t, pos, cp);
        if (cp == replacement_) {
          if (!(i == 0 && drop_in_first_)) out += ' ';
        } else {
          out.append(t, pos, n);
        }
        pos += n;
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  char32_t replacement_;
  bool drop_in_first_;
};

// BPEDecoder: the end-of-word suffix becomes a space, or nothing in the last token.
class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (suffix_.empty()) return;  // str::replace("") would insert between every character
    for (std::size_t i = 0; i < tokens.size(); ++i)
      MetaspacePreTokenizer::replace_all_bytes(tokens[i], suffix_,
                                               i + 1 == tokens.size() ? "" : " ");
  }

 private:
  std::string suffix_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) t = replace_matches(pattern_, t, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// Strip: up to `start` leading and `stop` trailing `content` characters off each token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, uint64_t start, uint64_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      const std::u32string u = to_u32(t);
      std::size_t start_cut = 0;
      for (std::size_t i = 0; i < u.size() && i < start_; ++i) {
        if (u[i] != content_) break;
        start_cut = i + 1;
      }
      std::size_t stop_cut = u.size();
      const std::size_t limit = u.size() - start_cut;
      for (std::size_t i = 0; i < stop_ && i < limit; ++i) {
        const std::size_t index = u.size() - i - 1;
        if (u[index] != content_) break;
        stop_cut = index;
      }
      t = to_utf8(std::u32string_view(u).substr(start_cut, stop_cut - start_cut));
    }
  }

 private:
  char32_t content_;
  uint64_t start_, stop_;
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// ByteFallback: runs of "<0xAB>" tokens become their bytes as UTF-8, or one U+FFFD per byte
// when the run is not valid UTF-8.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (std::size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& t : tokens) {
      if (auto b = byte_of(t)) {
        pending += static_cast<char>(*b);
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

  // "<0x41>": six bytes, two hex digits parsed as Rust's u8::from_str_radix does (which also
  // takes a '+' sign before one digit).
  static std::optional<unsigned char> byte_of(std::string_view t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = t[3] == '+' ? 0 : hex(t[3]);
    const int lo = hex(t[4]);
    if (hi < 0 || lo < 0) return std::nullopt;
    return static_cast<unsigned char>(hi * 16 + lo);
  }

 private:
  static bool is_valid_utf8(std::string_view s) {
    for (std::size_t pos = 0; pos < s.size();) {
      char32_t cp = 0;
      std::size_t bad = 0;
      const std::size_t n = utf8_sequence_at(s, pos, cp, bad);
      if (n == 0) return false;
      pos += n;
    }
    return true;
  }
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps)
      : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& s : steps_) s->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

inline uint64_t read_count(const json& j, const char* key, const Where& w) {
  const json& v = required_field(j, key, w);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    malformed(
        w, std::string("field '") + key + "' is " + v.dump() + ", expected a non-negative integer");
  return v.get<uint64_t>();
}

inline std::unique_ptr<Decoder> parse_decoder(const json& j, const Where& w) {
  const std::string type = component_type(j, w);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDecoder>(get_or<std::string>(j, "prefix", "##", w.str()),
                                              optional_bool(j, "cleanup", true, w));
  }
  if (type == "Metaspace") {
    return std::make_unique<MetaspaceDecoder>(
        read_char(j, "replacement", w),
        parse_prepend_scheme(j, w) != MetaspacePreTokenizer::Prepend::kNever);
  }
  if (type == "BPEDecoder")
    return std::make_unique<BpeDecoder>(get_or<std::string>(j, "suffix", "</w>", w.str()));
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(
        Pattern::parse(required_field(j, "pattern", w), w.child("pattern")),
        required_string(j, "content", w));
  }
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(read_char(j, "content", w), read_count(j, "start", w),
                                          read_count(j, "stop", w));
  }
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Sequence") {
    const json& list = list_field(j, "decoders", w);
    std::vector<std::unique_ptr<Decoder>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      steps.push_back(parse_decoder(list[i], w.child("decoders").index(i)));
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  unsupported(w, type,
              "ByteLevel, WordPiece, Metaspace, BPEDecoder, Replace, Strip, Fuse, ByteFallback "
              "and Sequence");
}

}  // namespace ved::detail::fast
