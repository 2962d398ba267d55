#pragma once

// UTF-8 decoding/encoding and the few Unicode properties ved's tokenizers need, without ICU.
// The property tables come from scripts/gen_unicode_tables.py (Python's unicodedata).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "ved/detail/unicode_tables.hpp"

namespace ved::detail {

inline constexpr char32_t kMaxCodepoint = 0x10FFFF;
inline constexpr char32_t kReplacementChar = 0xFFFD;

// A byte that is not part of well-formed UTF-8 is represented as kInvalidByteBase + byte. These
// values lie outside Unicode, so they never equal a real character (an added token, a
// contraction) and have no property: the tokenizers see them as "other" symbols while keeping
// the original byte, which is what byte-level BPE needs to round-trip the input.
inline constexpr char32_t kInvalidByteBase = 0x110000;

inline bool is_invalid_byte_marker(char32_t c) {
  return c >= kInvalidByteBase && c < kInvalidByteBase + 0x100;
}

// Length of the well-formed UTF-8 sequence at s[pos] (1..4) with its code point in `cp`, or 0
// when the bytes there are ill-formed. For an ill-formed sequence `bad_len` receives the length
// of its maximal subpart (Unicode 15 §3.9, D93b): the prefix of a well-formed sequence that
// stops where a byte does not fit, always at least 1. CPython's decoder replaces each maximal
// subpart with one U+FFFD, so counting the same way reproduces bytes.decode(errors="replace").
inline std::size_t utf8_sequence_at(std::string_view s, std::size_t pos, char32_t& cp,
                                    std::size_t& bad_len) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(pos);
  bad_len = 1;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Table 3-7)
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // excludes surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // excludes > U+10FFFF
  } else {
    return 0;  // C0, C1, F5..FF and stray continuation bytes never start a sequence
  }
  for (std::size_t k = 1; k < need; ++k) {
    if (pos + k >= s.size()) return 0;
    const unsigned char b = byte(pos + k);
    const unsigned char min = k == 1 ? lo : 0x80;
    const unsigned char max = k == 1 ? hi : 0xBF;
    if (b < min || b > max) return 0;
    cp = (cp << 6) | (b & 0x3F);
    bad_len = k + 1;
  }
  return need;
}

inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp <= kMaxCodepoint) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (is_invalid_byte_marker(cp)) {
    out += static_cast<char>(cp - kInvalidByteBase);  // give the original byte back
  } else {
    append_utf8(out, kReplacementChar);
  }
}

// Text as code points plus the byte offset of each, so that code-point positions (what Python
// string algorithms index by) map back to byte ranges of the original string. Ill-formed bytes
// become one invalid-byte marker each.
struct CodepointText {
  std::vector<char32_t> chars;
  std::vector<std::size_t> offsets;  // offsets[i] = byte offset of chars[i]; one extra at the end

  std::size_t size() const { return chars.size(); }
  // Bytes of the code points [first, last).
  std::string_view bytes(std::string_view source, std::size_t first, std::size_t last) const {
    return source.substr(offsets[first], offsets[last] - offsets[first]);
  }
};

inline CodepointText decode_codepoints(std::string_view s) {
  CodepointText t;
  t.chars.reserve(s.size());
  t.offsets.reserve(s.size() + 1);
  std::size_t pos = 0;
  while (pos < s.size()) {
    char32_t cp = 0;
    std::size_t bad_len = 0;
    const std::size_t n = utf8_sequence_at(s, pos, cp, bad_len);
    t.offsets.push_back(pos);
    if (n == 0) {
      t.chars.push_back(kInvalidByteBase + static_cast<unsigned char>(s[pos]));
      pos += 1;
    } else {
      t.chars.push_back(cp);
      pos += n;
    }
  }
  t.offsets.push_back(s.size());
  return t;
}

// How to turn bytes that are not UTF-8 into text: the `errors` argument of Python's
// bytes.decode("utf-8", errors=...) for the values tokenizers use.
enum class Utf8Errors { kReplace, kIgnore, kStrict };

// Decodes bytes like Python's bytes.decode("utf-8", errors). Returns false (leaving `out`
// partially filled) only for kStrict on ill-formed input.
inline bool decode_utf8_bytes(std::string_view bytes, Utf8Errors errors, std::string& out) {
  out.clear();
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    char32_t cp = 0;
    std::size_t bad_len = 0;
    const std::size_t n = utf8_sequence_at(bytes, pos, cp, bad_len);
    if (n != 0) {
      out.append(bytes.data() + pos, n);
      pos += n;
      continue;
    }
    if (errors == Utf8Errors::kStrict) return false;
    if (errors == Utf8Errors::kReplace) append_utf8(out, kReplacementChar);
    pos += bad_len;
  }
  return true;
}

// ---- Unicode properties ----

inline UnicodeCategory unicode_category(char32_t cp) {
  if (cp > kMaxCodepoint) return UnicodeCategory::kCn;
  const auto* begin = std::begin(kCategoryRuns);
  const auto* end = std::end(kCategoryRuns);
  // The last run starting at or before cp; the table starts at U+0000 so there always is one.
  const auto* it =
      std::upper_bound(begin, end, static_cast<std::uint32_t>(cp),
                       [](std::uint32_t c, const CategoryRun& r) { return c < r.first; });
  return static_cast<UnicodeCategory>(std::prev(it)->category);
}

namespace unicode_internal {
template <std::size_t N>
bool in_ranges(const CodepointRange (&ranges)[N], char32_t cp) {
  const auto* it =
      std::upper_bound(std::begin(ranges), std::end(ranges), static_cast<std::uint32_t>(cp),
                       [](std::uint32_t c, const CodepointRange& r) { return c < r.first; });
  return it != std::begin(ranges) && cp <= std::prev(it)->last;
}
}  // namespace unicode_internal

// \p{L}: Lu, Ll, Lt, Lm, Lo.
inline bool is_unicode_letter(char32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  const auto c = unicode_category(cp);
  return c >= UnicodeCategory::kLu && c <= UnicodeCategory::kLo;
}

// \p{N}: Nd, Nl, No.
inline bool is_unicode_number(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  const auto c = unicode_category(cp);
  return c >= UnicodeCategory::kNd && c <= UnicodeCategory::kNo;
}

// White_Space, i.e. `\s` of the `regex` module that transformers' tokenizers use.
inline bool is_unicode_white_space(char32_t cp) {
  return unicode_internal::in_ranges(kWhiteSpaceRanges, cp);
}

// Python's str.isspace() for one character (a superset of White_Space: it adds U+001C..U+001F).
inline bool is_python_space(char32_t cp) {
  return unicode_internal::in_ranges(kPythonSpaceRanges, cp);
}

// Python's str.lstrip() / str.rstrip() with no argument, on UTF-8 text. Ill-formed bytes are
// not whitespace and are kept.
inline std::string python_lstrip(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    char32_t cp = 0;
    std::size_t bad_len = 0;
    const std::size_t n = utf8_sequence_at(s, pos, cp, bad_len);
    if (n == 0 || !is_python_space(cp)) break;
    pos += n;
  }
  return std::string(s.substr(pos));
}

inline std::string python_rstrip(std::string_view s) {
  std::size_t keep = 0;  // end of the last non-space character
  std::size_t pos = 0;
  while (pos < s.size()) {
    char32_t cp = 0;
    std::size_t bad_len = 0;
    const std::size_t n = utf8_sequence_at(s, pos, cp, bad_len);
    if (n == 0) {
      pos += 1;
      keep = pos;
    } else {
      pos += n;
      if (!is_python_space(cp)) keep = pos;
    }
  }
  return std::string(s.substr(0, keep));
}

// Whether the first character of `s` is Python-whitespace (str[0].isspace()).
inline bool starts_with_python_space(std::string_view s) {
  if (s.empty()) return false;
  char32_t cp = 0;
  std::size_t bad_len = 0;
  return utf8_sequence_at(s, 0, cp, bad_len) != 0 && is_python_space(cp);
}

}  // namespace ved::detail
