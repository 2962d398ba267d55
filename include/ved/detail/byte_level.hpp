#pragma once

// GPT-2's byte-level pieces, shared by the slow GPT-2/RoBERTa tokenizer (gpt2_tokenizer.hpp) and
// tokenizer.json's ByteLevel pre-tokenizer and decoder (tokenizer_json_pipeline.hpp): the byte to
// printable-character alphabet and the split of its pre-tokenization regex.

#include <array>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "ved/detail/unicode.hpp"

namespace ved::detail {

// GPT-2's `bytes_to_unicode`: every byte gets a printable character so that BPE symbols are
// text. Printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order
// (space becomes U+0120 'Ġ', newline U+010A 'Ċ').
struct ByteLevelAlphabet {
  static constexpr std::size_t kCharLimit = 0x100 + 68;  // every mapped character is below
  std::array<std::string, 256> byte_to_utf8;
  std::array<int, kCharLimit> char_to_byte;  // -1: not a byte symbol

  ByteLevelAlphabet() {
    char_to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c =
          printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
      append_utf8(byte_to_utf8[static_cast<std::size_t>(b)], c);
      char_to_byte[c] = b;
    }
  }
  // The byte a character stands for, -1 if it is not a byte symbol.
  int byte_of(char32_t c) const { return c < kCharLimit ? char_to_byte[c] : -1; }
};

inline const ByteLevelAlphabet& byte_level_alphabet() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

// Splits text into the pieces GPT-2's pre-tokenization regex finds,
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// as `regex.findall` does (leftmost alternative wins, greedy runs). Spans are code-point index
// ranges of `t`; they cover the whole text.
inline void gpt2_pretokenize(const CodepointText& t,
                             std::vector<std::pair<std::size_t, std::size_t>>& spans) {
  enum : unsigned char { kLetter, kNumber, kSpace, kOther };
  const std::size_t n = t.size();
  std::vector<unsigned char> cls(n);
  for (std::size_t k = 0; k < n; ++k) {
    const char32_t c = t.chars[k];
    cls[k] = is_unicode_letter(c)        ? kLetter
             : is_unicode_number(c)      ? kNumber
             : is_unicode_white_space(c) ? kSpace
                                         : kOther;
  }
  auto match_at = [&](std::size_t i) -> std::size_t {
    const char32_t c = t.chars[i];
    if (c == '\'' && i + 1 < n) {
      const char32_t c1 = t.chars[i + 1];
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
      if (i + 2 < n) {
        const char32_t c2 = t.chars[i + 2];
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
          return i + 3;
      }
    }
    for (unsigned char want : {kLetter, kNumber, kOther}) {
      std::size_t s = i;
      if (c == ' ' && i + 1 < n && cls[i + 1] == want) s = i + 1;
      if (cls[s] != want) continue;
      std::size_t e = s + 1;
      while (e < n && cls[e] == want) ++e;
      return e;
    }
    // Whitespace. `\s+(?!\S)` keeps the last space of a run for the word after it (as its
    // ' ?' prefix); a single space before a word, or a run at the end, is taken whole.
    std::size_t e = i;
    while (e < n && cls[e] == kSpace) ++e;
    if (e == n) return e;
    if (e - 1 > i) return e - 1;
    return e;
  };
  for (std::size_t i = 0; i < n;) {
    const std::size_t e = match_at(i);
    spans.emplace_back(i, e);
    i = e;
  }
}

}  // namespace ved::detail
