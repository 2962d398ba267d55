#pragma once

// UTF-8 decoding/encoding and the few Unicode properties ved's tokenizers need, without ICU:
// categories, whitespace, Python's one-character str.lower() and NFC/NFD normalization. The
// tables come from scripts/gen_unicode_tables.py (Python's unicodedata).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
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

// ---- case mapping and normalization (what BERT's BasicTokenizer does with Python) ----

// Python's str.lower() of the single character `cp`, appended to `out`. Characters that are
// not letters (and invalid-byte markers) are kept. Python lower-cases a whole string the same
// way except for a capital sigma at the end of a word (which becomes 'ς'); transformers only
// lowers one character at a time before BERT sees the text, so that rule never applies there.
inline void append_python_lower(std::u32string& out, char32_t cp) {
  if (cp < 0x80) {
    out += (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    return;
  }
  if (cp == 0x130) {  // 'İ' lower-cases to 'i' + COMBINING DOT ABOVE
    out += U'i';
    out += char32_t{0x307};
    return;
  }
  const auto* begin = std::begin(kLowercaseRuns);
  const auto* end = std::end(kLowercaseRuns);
  const auto* it = std::upper_bound(begin, end, static_cast<std::uint32_t>(cp),
                                    [](std::uint32_t c, const CaseRun& r) { return c < r.first; });
  if (it != begin) {
    const CaseRun& r = *std::prev(it);
    const std::uint32_t offset = static_cast<std::uint32_t>(cp) - r.first;
    if (offset % r.stride == 0 && offset / r.stride < r.count) {
      out += static_cast<char32_t>(static_cast<std::int64_t>(cp) + r.delta);
      return;
    }
  }
  out += cp;
}

inline std::u32string python_lower(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) append_python_lower(out, c);
  return out;
}

// Canonical_Combining_Class; 0 for starters, unassigned code points and invalid-byte markers.
inline int canonical_combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* begin = std::begin(kCombiningClassRuns);
  const auto* end = std::end(kCombiningClassRuns);
  const auto* it =
      std::upper_bound(begin, end, static_cast<std::uint32_t>(cp),
                       [](std::uint32_t c, const CombiningClassRun& r) { return c < r.first; });
  if (it == begin || cp > std::prev(it)->last) return 0;
  return std::prev(it)->ccc;
}

namespace unicode_internal {

// Hangul syllables decompose and compose arithmetically (Unicode §3.12).
inline constexpr char32_t kHangulSBase = 0xAC00, kHangulLBase = 0x1100, kHangulVBase = 0x1161,
                          kHangulTBase = 0x11A7;
inline constexpr char32_t kHangulLCount = 19, kHangulVCount = 21, kHangulTCount = 28;
inline constexpr char32_t kHangulNCount = kHangulVCount * kHangulTCount;
inline constexpr char32_t kHangulSCount = kHangulLCount * kHangulNCount;

inline void append_canonical_decomposition(std::u32string& out, char32_t cp) {
  if (cp >= kHangulSBase && cp < kHangulSBase + kHangulSCount) {
    const char32_t s = cp - kHangulSBase;
    out += kHangulLBase + s / kHangulNCount;
    out += kHangulVBase + (s % kHangulNCount) / kHangulTCount;
    if (s % kHangulTCount != 0) out += kHangulTBase + s % kHangulTCount;
    return;
  }
  if (cp >= 0xC0) {
    const auto* begin = std::begin(kCanonicalDecompositions);
    const auto* end = std::end(kCanonicalDecompositions);
    const auto* it =
        std::lower_bound(begin, end, static_cast<std::uint32_t>(cp),
                         [](const CanonicalDecomposition& d, std::uint32_t c) { return d.cp < c; });
    if (it != end && it->cp == cp) {
      append_canonical_decomposition(out, it->first);
      if (it->second != 0) append_canonical_decomposition(out, it->second);
      return;
    }
  }
  out += cp;
}

// The primary composite of a starter and the character after it, or 0.
inline char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kHangulLBase && first < kHangulLBase + kHangulLCount && second >= kHangulVBase &&
      second < kHangulVBase + kHangulVCount)
    return kHangulSBase +
           ((first - kHangulLBase) * kHangulVCount + (second - kHangulVBase)) * kHangulTCount;
  if (first >= kHangulSBase && first < kHangulSBase + kHangulSCount &&
      (first - kHangulSBase) % kHangulTCount == 0 && second > kHangulTBase &&
      second < kHangulTBase + kHangulTCount)
    return first + (second - kHangulTBase);
  const auto key =
      std::make_pair(static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(second));
  const auto* begin = std::begin(kCanonicalCompositions);
  const auto* end = std::end(kCanonicalCompositions);
  const auto* it =
      std::lower_bound(begin, end, key, [](const CanonicalComposition& c, const auto& k) {
        return std::make_pair(c.first, c.second) < k;
      });
  if (it != end && it->first == key.first && it->second == key.second) return it->composite;
  return 0;
}

}  // namespace unicode_internal

namespace unicode_internal {

// Full compatibility decomposition: NFKD applies the compatibility mappings and the canonical
// ones, each recursively.
inline void append_compatibility_decomposition(std::u32string& out, char32_t cp) {
  if (cp >= 0xA0 && cp <= kMaxCodepoint) {
    const auto* begin = std::begin(kCompatibilityDecompositions);
    const auto* end = std::end(kCompatibilityDecompositions);
    const auto* it = std::lower_bound(
        begin, end, static_cast<std::uint32_t>(cp),
        [](const CompatibilityDecomposition& d, std::uint32_t c) { return d.cp < c; });
    if (it != end && it->cp == cp) {
      for (std::size_t k = 0; k < it->length; ++k)
        append_compatibility_decomposition(out, kCompatibilityDecompositionData[it->offset + k]);
      return;
    }
    std::u32string canonical;
    append_canonical_decomposition(canonical, cp);
    if (canonical.size() != 1 || canonical[0] != cp) {
      // A canonical mapping's parts may themselves have compatibility mappings.
      for (char32_t c : canonical) append_compatibility_decomposition(out, c);
      return;
    }
  }
  out += cp;
}

// The canonical ordering of combining marks: a stable sort of each run of non-starters by
// combining class.
inline void canonical_order(std::u32string& out) {
  for (std::size_t i = 0; i < out.size();) {
    if (canonical_combining_class(out[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < out.size() && canonical_combining_class(out[j]) != 0) ++j;
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(i),
                     out.begin() + static_cast<std::ptrdiff_t>(j), [](char32_t a, char32_t b) {
                       return canonical_combining_class(a) < canonical_combining_class(b);
                     });
    i = j;
  }
}

// Canonical composition of a decomposed string (UAX #15's reference algorithm): each character
// combines with the last starter when nothing between them blocks it.
inline std::u32string compose(std::u32string d) {
  if (d.empty()) return d;
  std::size_t starter = 0;
  int last_class = canonical_combining_class(d[0]);
  if (last_class != 0) last_class = 256;  // a leading combining mark has no starter
  std::size_t kept = 1;
  for (std::size_t i = 1; i < d.size(); ++i) {
    const char32_t c = d[i];
    const int c_class = canonical_combining_class(c);
    const char32_t composite = last_class == 256 ? 0 : compose_pair(d[starter], c);
    if (composite != 0 && (last_class < c_class || last_class == 0)) {
      d[starter] = composite;
      continue;
    }
    if (c_class == 0) starter = kept;
    last_class = c_class;
    d[kept++] = c;
  }
  d.resize(kept);
  return d;
}

}  // namespace unicode_internal

// unicodedata.normalize("NFD", s): full canonical decomposition, then the canonical ordering
// of combining marks (a stable sort of each run of non-starters by combining class).
inline std::u32string nfd(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) unicode_internal::append_canonical_decomposition(out, c);
  unicode_internal::canonical_order(out);
  return out;
}

// unicodedata.normalize("NFKD", s): like NFD with the compatibility mappings too (ﬁ -> fi,
// ½ -> 1⁄2, full-width forms -> ASCII).
inline std::u32string nfkd(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) unicode_internal::append_compatibility_decomposition(out, c);
  unicode_internal::canonical_order(out);
  return out;
}

// unicodedata.normalize("NFC", s): NFD, then canonical composition.
inline std::u32string nfc(std::u32string_view s) {
  return unicode_internal::compose(nfd(s));
}

// unicodedata.normalize("NFKC", s): NFKD, then canonical composition.
inline std::u32string nfkc(std::u32string_view s) {
  return unicode_internal::compose(nfkd(s));
}

// UTF-8 <-> code points, with invalid bytes as markers (see kInvalidByteBase).
inline std::u32string to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  while (pos < s.size()) {
    char32_t cp = 0;
    std::size_t bad_len = 0;
    const std::size_t n = utf8_sequence_at(s, pos, cp, bad_len);
    if (n == 0) {
      out += kInvalidByteBase + static_cast<unsigned char>(s[pos]);
      pos += 1;
    } else {
      out += cp;
      pos += n;
    }
  }
  return out;
}

inline std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

}  // namespace ved::detail
