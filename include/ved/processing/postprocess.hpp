#pragma once

// Post-processing of generated text, chosen by name (postprocess("nougat", text)), next to
// Donut's token2json (donut.hpp). The names:
//   "none"       the text unchanged;
//   "nougat"     Nougat's Markdown clean-up (below);
//   "manga-ocr"  manga_ocr's post_process: whitespace removed, '…' and runs of '・'/'.' as
//                dots, then jaconv's half-width to full-width folding (manga_ocr_postprocess).
//
// "nougat" is transformers' NougatTokenizerFast.post_process_generation / post_process_single
// (models/nougat/tokenization_nougat_fast.py) ported rule by rule on ved's regex engine, which
// has Python's `re` semantics, so a page gives the same Markdown as in Python
// (tests/data/fixtures/postprocess/nougat holds transformers' outputs). Python indexes strings
// by code point; the helpers do too where it matters (lengths, slicing, Levenshtein ratio).
// Where Python's code is quadratic (truncate_repetitions' scan, get_slices' walk over empty
// lines) the port computes the same result in linear time.
//
// Known differences, none of which the model's output normally reaches:
//   * nltk: transformers adds a space after a page whose last word is an English word, using
//     nltk's `words` corpus; without that corpus (ved has none) it adds the space whatever the
//     word, its documented fallback, which is what this port does.
//   * str.lower() is applied character by character (no final-sigma rule for Greek 'Σ').
//   * str.isnumeric() uses Unicode 14's numeric characters (N* and 81 CJK ideographs).
// Text that is not UTF-8 is first decoded like bytes.decode("utf-8", errors="replace") (each
// ill-formed part becomes U+FFFD), as transformers' decode would have done.
// A rule's regex that backtracks catastrophically on adversarial text (where Python would run
// for hours) throws ved::InvalidArgument instead (see ved/detail/regex.hpp).

#include <algorithm>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ved/detail/regex.hpp"
#include "ved/detail/unicode.hpp"
#include "ved/error.hpp"

namespace ved {

struct NougatPostprocessOptions {
  // Run markdown_compatible() at the end (equation tags, \bm, URLs, ``` blocks), as
  // post_process_generation(fix_markdown=True) does. Nougat's model card uses False.
  bool fix_markdown = true;
};

namespace nougat {

namespace internal {

inline std::string valid_utf8(std::string_view s) {
  std::string out;
  detail::decode_utf8_bytes(s, detail::Utf8Errors::kReplace, out);
  return out;
}

// Code points; ill-formed parts become U+FFFD as in valid_utf8().
inline std::u32string to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) {
    char32_t cp = 0;
    size_t bad = 0;
    size_t n = detail::utf8_sequence_at(s, pos, cp, bad);
    if (n == 0) {
      cp = detail::kReplacementChar;
      n = bad;
    }
    out += cp;
    pos += n;
  }
  return out;
}

using detail::to_utf8;

// len() of valid UTF-8 text.
inline size_t length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// str.strip().
inline std::string strip(std::string_view s) {
  return detail::python_rstrip(detail::python_lstrip(s));
}

// str.split(sep) for a non-empty separator.
inline std::vector<std::string> split(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t at = s.find(sep); at != std::string_view::npos; at = s.find(sep, start)) {
    parts.emplace_back(s.substr(start, at - start));
    start = at + sep.size();
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

// sep.join(parts[first:last]).
inline std::string join(const std::vector<std::string>& parts, std::string_view sep,
                        size_t first = 0, size_t last = std::string::npos) {
  last = std::min(last, parts.size());
  std::string out;
  for (size_t i = first; i < last; ++i) {
    if (i > first) out += sep;
    out += parts[i];
  }
  return out;
}

// Where `needle` next occurs in s from `from` (npos if nowhere); Boyer-Moore-Horspool for long
// needles, which correct_tables() looks for in large texts.
inline size_t find(std::string_view s, std::string_view needle, size_t from = 0) {
  if (needle.size() < 16 || from >= s.size()) return s.find(needle, from);
  const auto it = std::search(s.begin() + static_cast<std::ptrdiff_t>(from), s.end(),
                              std::boyer_moore_horspool_searcher(needle.begin(), needle.end()));
  return it == s.end() ? std::string_view::npos : static_cast<size_t>(it - s.begin());
}

// str.replace(old, new): every non-overlapping occurrence, left to right; an empty `old`
// inserts `new` around every character, as Python does.
inline std::string replace(std::string_view s, std::string_view old, std::string_view repl) {
  std::string out;
  if (old.empty()) {
    const std::u32string chars = to_u32(s);
    out.reserve(s.size() + (chars.size() + 1) * repl.size());
    out += repl;
    for (char32_t c : chars) {
      detail::append_utf8(out, c);
      out += repl;
    }
    return out;
  }
  size_t start = 0;
  for (size_t at = find(s, old); at != std::string_view::npos; at = find(s, old, start)) {
    out.append(s.substr(start, at - start));
    out += repl;
    start = at + old.size();
  }
  if (start == 0) return std::string(s);
  out.append(s.substr(start));
  return out;
}

// str.count(sub) for a non-empty sub (non-overlapping).
inline size_t count(std::string_view s, std::string_view sub) {
  size_t n = 0;
  for (size_t at = s.find(sub); at != std::string_view::npos; at = s.find(sub, at + sub.size()))
    ++n;
  return n;
}

// s.partition(sep)[-1]: what follows the first `sep`, "" if there is none.
inline std::string partition_tail(std::string_view s, std::string_view sep) {
  const size_t at = s.find(sep);
  return at == std::string_view::npos ? std::string() : std::string(s.substr(at + sep.size()));
}

// str.isnumeric() of one character: Numeric_Type Decimal, Digit or Numeric, i.e. the N*
// categories plus these ideographs (Unicode 14, all Lo).
inline bool is_numeric(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  const auto c = detail::unicode_category(cp);
  if (c == detail::UnicodeCategory::kNd || c == detail::UnicodeCategory::kNl ||
      c == detail::UnicodeCategory::kNo)
    return true;
  static constexpr char32_t kNumericIdeographs[] = {
      0x3405,  0x3483,  0x382A,  0x3B4D,  0x4E00,  0x4E03,  0x4E07,  0x4E09,  0x4E5D,
      0x4E8C,  0x4E94,  0x4E96,  0x4EBF,  0x4EC0,  0x4EDF,  0x4EE8,  0x4F0D,  0x4F70,
      0x5104,  0x5146,  0x5169,  0x516B,  0x516D,  0x5341,  0x5343,  0x5344,  0x5345,
      0x534C,  0x53C1,  0x53C2,  0x53C3,  0x53C4,  0x56DB,  0x58F1,  0x58F9,  0x5E7A,
      0x5EFE,  0x5EFF,  0x5F0C,  0x5F0D,  0x5F0E,  0x5F10,  0x62FE,  0x634C,  0x67D2,
      0x6F06,  0x7396,  0x767E,  0x8086,  0x842C,  0x8CAE,  0x8CB3,  0x8D30,  0x9621,
      0x9646,  0x964C,  0x9678,  0x96F6,  0xF96B,  0xF973,  0xF978,  0xF9B2,  0xF9D1,
      0xF9D3,  0xF9FD,  0x20001, 0x20064, 0x200E2, 0x20121, 0x2092A, 0x20983, 0x2098C,
      0x2099C, 0x20AEA, 0x20AFD, 0x20B19, 0x22390, 0x22998, 0x23B1B, 0x2626D, 0x2F890,
  };
  return std::binary_search(std::begin(kNumericIdeographs), std::end(kNumericIdeographs), cp);
}

// Length of the longest common subsequence, bit-parallel (Hyyrö 2004): O(|a| |b| / 64), so a
// short reference line can be compared with a megabyte-long one.
inline size_t lcs_length(std::u32string_view a, std::u32string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  const size_t m = a.size();
  if (m == 0) return 0;
  const size_t words = (m + 63) / 64;
  std::vector<char32_t> chars(a.begin(), a.end());
  std::sort(chars.begin(), chars.end());
  chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
  std::vector<uint64_t> masks(chars.size() * words, 0);  // bit i of row c: a[i] == c
  for (size_t i = 0; i < m; ++i) {
    const size_t row =
        static_cast<size_t>(std::lower_bound(chars.begin(), chars.end(), a[i]) - chars.begin());
    masks[row * words + i / 64] |= uint64_t{1} << (i % 64);
  }
  std::vector<uint64_t> v(words, ~uint64_t{0});
  for (char32_t c : b) {
    const auto it = std::lower_bound(chars.begin(), chars.end(), c);
    if (it == chars.end() || *it != c) continue;  // no match bits: v stays as it is
    const uint64_t* mask = &masks[static_cast<size_t>(it - chars.begin()) * words];
    uint64_t carry = 0;
    for (size_t k = 0; k < words; ++k) {  // v = (v + (v & mask)) | (v & ~mask)
      const uint64_t x = v[k], u = x & mask[k];
      const uint64_t sum = x + u;
      const uint64_t total = sum + carry;
      carry = (sum < x) | (total < sum);
      v[k] = total | (x - u);
    }
  }
  size_t lcs = 0;
  for (size_t k = 0; k < words; ++k) {
    uint64_t zeros = ~v[k];
    if (k + 1 == words && m % 64 != 0) zeros &= (uint64_t{1} << (m % 64)) - 1;
    lcs += std::bitset<64>(zeros).count();
  }
  return lcs;
}

// Levenshtein.ratio: 1 - InDel distance / (len(a) + len(b)), computed as python-Levenshtein
// does ((lensum - distance) / lensum, 1.0 for two empty strings).
inline double ratio(std::u32string_view a, std::u32string_view b) {
  const size_t lensum = a.size() + b.size();
  if (lensum == 0) return 1.0;
  return static_cast<double>(2 * lcs_length(a, b)) / static_cast<double>(lensum);
}

}  // namespace internal

// Levenshtein.ratio of two UTF-8 strings (by code point).
inline double levenshtein_ratio(std::string_view a, std::string_view b) {
  return internal::ratio(internal::to_u32(a), internal::to_u32(b));
}

// markdown_compatible(): equation tags, "\. ", \bm and \boldmath, clickable URLs and ```
// blocks.
inline std::string markdown_compatible(std::string_view text_in) {
  using detail::Regex;
  std::string text = internal::valid_utf8(text_in);
  // (1.2) \[x\]  ->  \[x \tag{1.2}\]
  static const Regex tag_before(R"re(^\(([\d.]+[a-zA-Z]?)\) \\\[(.+?)\\\]$)re", Regex::kMultiline);
  text = tag_before.sub(text, R"re(\[\2 \\tag{\1}\])re");
  // \[x\] (1.2)  ->  \[x \tag{1.2}\]
  static const Regex tag_after(R"re(^\\\[(.+?)\\\] \(([\d.]+[a-zA-Z]?)\)$)re", Regex::kMultiline);
  text = tag_after.sub(text, R"re(\[\1 \\tag{\2}\])re");
  // \[x\] (1) \[y\]  ->  \[x \tag{1}\] \[y\]
  static const Regex tag_between(R"re(^\\\[(.+?)\\\] \(([\d.]+[a-zA-Z]?)\) (\\\[.+?\\\])$)re",
                                 Regex::kMultiline);
  text = tag_between.sub(text, R"re(\[\1 \\tag{\2}\] \3)re");
  text = internal::replace(text, R"(\. )", ". ");
  text = internal::replace(text, R"(\bm{)", R"(\mathbf{)");
  text = internal::replace(text, R"({\\bm )", R"(\mathbf{)");
  static const Regex boldmath(R"re(\\mbox{ ?\\boldmath\$(.*?)\$})re");
  text = boldmath.sub(text, R"re(\\mathbf{\1})re");
  // http, ftp and https URLs become [url](url)
  static const Regex url(
      R"re(((?:http|ftp|https):\/\/(?:[\w_-]+(?:(?:\.[\w_-]+)+))(?:[\w.,@?^=%&:\/~+#-]*[\w@?^=%&\/~+#-])))re");
  text = url.sub(text, R"re([\1](\1))re");
  static const Regex code_block(R"re(```\s*(.+?)\s*```)re", Regex::kDotAll);
  return code_block.sub(text, R"re(```\n\1\n```)re");
}

// normalize_list_like_lines(): a line starting with "-" or "*" that holds further " - " / " * "
// items is split into one item per line, indented by the depth of a leading numeral.
inline std::string normalize_list_like_lines(std::string_view generation_in) {
  using detail::Regex;
  const std::string generation = internal::valid_utf8(generation_in);
  static const Regex bullet(R"re(. ([-*]) )re");
  static const Regex numeral(R"re(^[\dixv]+((?:\.[\dixv])?)+$)re",
                             Regex::kIgnoreCase | Regex::kMultiline);
  const std::vector<std::string> lines = internal::split(generation, "\n");
  std::vector<std::string> output;
  output.reserve(lines.size());
  for (size_t line_no = 0; line_no < lines.size(); ++line_no) {
    const std::string& line = lines[line_no];
    Regex::Match match;
    // A match needs " - " or " * " after the first character: a cheap test first.
    const bool candidate =
        line.find(" - ", 1) != std::string::npos || line.find(" * ", 1) != std::string::npos;
    if (!candidate || !bullet.search(line, match) || (line[0] != '-' && line[0] != '*')) {
      output.push_back(line);
      continue;
    }
    const std::string delim = std::string(match.group(line, 1)) + " ";
    const std::vector<std::string> splits = internal::split(line, delim);
    const std::string delim1 = std::string(1, line[0]) + " ";
    std::string replacement;
    for (size_t i = 1; i < splits.size(); ++i) {  // line.split(delim)[1:]
      const std::string item = internal::strip(splits[i]);
      const size_t space = item.find(' ');  // potential_numeral, _, rest = item.partition(" ")
      if (space == std::string::npos || space + 1 == item.size()) continue;
      const std::string potential_numeral = item.substr(0, space);
      size_t level = 0;
      Regex::Match numeral_match;
      if (numeral.match(potential_numeral, numeral_match))
        level = internal::count(potential_numeral, ".");
      if (i > 1) replacement += "\n";
      replacement += std::string(level, '\t');
      replacement += i > 1 || line_no == 0 ? delim : delim1;
      replacement += item;
    }
    if (line_no + 1 == lines.size()) replacement += "\n";
    output.push_back(std::move(replacement));
  }
  return internal::join(output, "\n");
}

// truncate_repetitions(): if the text ends with a segment of at least min_len characters
// repeated, keep one copy (then up to the next sentence end).
inline std::string truncate_repetitions(std::string_view text_in, size_t min_len = 30) {
  if (min_len == 0) throw InvalidArgument("truncate_repetitions: min_len must be positive");
  const std::string text = internal::valid_utf8(text_in);
  const std::u32string chars = internal::to_u32(text);
  const std::u32string lower = detail::python_lower(chars);
  const size_t n = lower.size();
  if (n < 2 * min_len) return text;
  // Python tries every length L in [min_len, n/2) and keeps the largest whose last 2L
  // characters have period L (quadratic). Reversed, that is "the text and its suffix from L
  // share a prefix of at least L": the Z-function gives all lengths at once.
  const std::u32string rev(lower.rbegin(), lower.rend());
  std::vector<size_t> z(n, 0);
  for (size_t i = 1, l = 0, r = 0; i < n; ++i) {
    if (i < r) z[i] = std::min(r - i, z[i - l]);
    while (i + z[i] < n && rev[z[i]] == rev[i + z[i]]) ++z[i];
    if (i + z[i] > r) l = i, r = i + z[i];
  }
  size_t repetition = 0;
  for (size_t len = min_len; len < n / 2; ++len)
    if (z[len] >= len) repetition = len;
  if (repetition == 0) return text;
  // Remove all but the last repetition (only the lower-case length matters from here).
  const std::u32string_view lcs(lower.data() + n - repetition, repetition);
  size_t kept = n;
  while (kept >= repetition &&
         std::u32string_view(lower.data() + kept - repetition, repetition) == lcs)
    kept -= repetition;
  // Python then extends to the next sentence end: with find_next_punctuation on the text and
  // on the reversed text, both from `kept`, and stops as soon as text_lower[start:end] is in
  // the repeating tail text_lower[kept:], which always holds since start >= kept. So one
  // step, taken only if both indices exist and are non-zero (Python tests their truth).
  const auto punctuation = [](char32_t c) { return c == '.' || c == '?' || c == '!' || c == '\n'; };
  size_t end = 0, start = 0;
  bool has_end = false, has_start = false;
  for (size_t i = kept; i < n && !has_end; ++i)
    if (punctuation(lower[i])) end = i, has_end = true;
  for (size_t i = kept; i < n && !has_start; ++i)
    if (punctuation(lower[n - 1 - i])) start = i, has_start = true;
  size_t out = kept;
  if (has_end && end != 0 && has_start && start != 0) out = end + 1;
  return internal::to_utf8(std::u32string_view(chars).substr(0, std::min(out, chars.size())));
}

// remove_numbers() of one line: digits, '_' and "**" removed, then stripped.
inline std::string remove_numbers(std::string_view line) {
  static const detail::Regex numbers(R"re((?:[\d_]|\*\*))re");
  return internal::strip(numbers.sub(internal::valid_utf8(line), ""));
}

// get_slices(): [start, end) line ranges (end may pass the last line) of runs of near-identical
// lines, the signature of hallucinated reference lists. clean_lines[i] = remove_numbers(lines[i]).
inline std::vector<std::pair<size_t, size_t>> get_slices(
    const std::vector<std::string>& lines, const std::vector<std::string>& clean_lines) {
  const size_t n = lines.size();
  if (clean_lines.size() != n)
    throw InvalidArgument("get_slices: " + std::to_string(clean_lines.size()) +
                          " clean lines for " + std::to_string(n) + " lines");
  std::vector<size_t> len(n);
  for (size_t i = 0; i < n; ++i) len[i] = internal::length(clean_lines[i]);
  // next[i]: the first non-empty clean line at or after i (n if none), so that Python's
  // per-line walk over empty lines becomes a lookup.
  std::vector<size_t> next(n + 1, n);
  for (size_t i = n; i-- > 0;) next[i] = clean_lines[i].empty() ? next[i + 1] : i;
  std::vector<char> marked(n, 0);
  for (size_t i = 0; i + 1 < n; ++i) {
    const size_t j = std::min(next[i + 1], n - 1);
    if (len[i] < 200 && len[i] > 3 && len[j] < 200 && len[j] > 3 &&
        !internal::starts_with(clean_lines[i], "[MISSING_PAGE") &&
        (clean_lines[i] == clean_lines[j] ||
         internal::ratio(internal::to_u32(clean_lines[i]), internal::to_u32(clean_lines[j])) > 0.9))
      std::fill(marked.begin() + static_cast<std::ptrdiff_t>(i),
                marked.begin() + static_cast<std::ptrdiff_t>(j), 1);
  }
  std::vector<size_t> ids;
  for (size_t i = 0; i < n; ++i)
    if (marked[i]) ids.push_back(i);
  std::vector<std::pair<size_t, size_t>> slices;
  if (ids.empty()) return slices;
  size_t j0 = 0;
  for (size_t j = 0; j + 1 < ids.size(); ++j)
    if (ids[j + 1] - ids[j] > 3) {
      slices.emplace_back(ids[j0], ids[j] + 2);
      j0 = j + 1;
    }
  slices.emplace_back(ids[j0], ids.back() + 2);
  std::vector<std::pair<size_t, size_t>> kept;
  for (const auto& s : slices)
    if (s.second - s.first > 15) kept.push_back(s);
  return kept;
}

// remove_slice_from_lines(): the text of a slice widened to its reference list (the lines
// before it up to "## References" or a differing line, the lines after it that still look
// alike), cut where the next page's content starts.
inline std::string remove_slice_from_lines(const std::vector<std::string>& lines,
                                           const std::vector<std::string>& clean_text,
                                           std::pair<size_t, size_t> slice) {
  using internal::ratio;
  using internal::to_u32;
  const auto n = static_cast<std::ptrdiff_t>(lines.size());
  if (slice.first >= lines.size() || clean_text.size() != lines.size())
    throw InvalidArgument("remove_slice_from_lines: slice start " + std::to_string(slice.first) +
                          " is outside the " + std::to_string(lines.size()) + " lines");
  const std::u32string base = to_u32(clean_text[slice.first]);
  const auto s0 = static_cast<std::ptrdiff_t>(slice.first);
  const auto s1 = static_cast<std::ptrdiff_t>(std::min<size_t>(slice.second, PTRDIFF_MAX / 2));
  std::ptrdiff_t section0 = s0, section1 = s1;
  bool check_start_flag = false;
  // backwards pass, at most 5 lines: range(max(0, s0 - 1), max(0, s0 - 5), -1)
  for (std::ptrdiff_t idx = std::max<std::ptrdiff_t>(0, s0 - 1);
       idx > std::max<std::ptrdiff_t>(0, s0 - 5); --idx) {
    const std::string& line = lines[static_cast<size_t>(idx)];
    if (line.empty()) continue;
    if (line == "## References") {
      section0 = idx;
      break;
    }
    if (ratio(base, to_u32(remove_numbers(line))) < 0.9) {
      section0 = idx + 1;
      const std::string potential_ref = remove_numbers(internal::partition_tail(
          lines[static_cast<size_t>(std::max<std::ptrdiff_t>(0, idx - 1))], "* ["));
      const std::u32string ref = to_u32(potential_ref);
      if (static_cast<double>(ref.size()) >= 0.75 * static_cast<double>(base.size()) &&
          ratio(base, ref) < 0.9)
        section0 = idx;
      check_start_flag = true;
      break;
    }
  }
  // forward pass, at most 5 lines
  for (std::ptrdiff_t idx = std::min(n, s1); idx < std::min(n, s1 + 5); ++idx)
    if (ratio(base, to_u32(remove_numbers(lines[static_cast<size_t>(idx)]))) < 0.9) {
      section1 = idx;
      break;
    }
  if (n <= section1) section1 = n - 1;
  std::string to_delete =
      internal::join(lines, "\n", static_cast<size_t>(section0), static_cast<size_t>(section1 + 1));
  // Cut off the next page's content: walk both lines past numeric characters until they
  // differ; ib is where that walk stopped on lines[section1] (unset if it never got there).
  const auto line_at = [&](std::ptrdiff_t i) -> const std::string& {
    return lines[static_cast<size_t>(i < 0 ? i + n : i)];  // Python's negative index
  };
  const std::u32string a_line = to_u32(line_at(section1 - 1));
  const std::u32string b_line = to_u32(line_at(section1));
  size_t ia = 0, ib_next = 0, ib = 0;
  bool has_ib = false;
  for (bool stop = false; !stop;) {
    // (ia, a) = next(itera), skipping numerals; StopIteration ends the walk.
    char32_t a = 0, b = 0;
    do {
      if (ia >= a_line.size())
        stop = true;
      else
        a = a_line[ia++];
    } while (!stop && internal::is_numeric(a));
    if (stop) break;
    do {
      if (ib_next >= b_line.size()) {
        stop = true;
      } else {
        ib = ib_next;
        has_ib = true;
        b = b_line[ib_next++];
      }
    } while (!stop && internal::is_numeric(b));
    if (stop || a != b) break;
  }
  if (check_start_flag && to_delete.find("* [") != std::string::npos)
    to_delete = "* [" + internal::partition_tail(to_delete, "* [");
  if (has_ib) {  // otherwise Python's UnboundLocalError is caught and nothing is cut
    const auto delta =
        static_cast<std::ptrdiff_t>(b_line.size()) - static_cast<std::ptrdiff_t>(ib) - 1;
    if (delta > 0) {
      std::u32string chars = to_u32(to_delete);
      chars.resize(chars.size() > static_cast<size_t>(delta)
                       ? chars.size() - static_cast<size_t>(delta)
                       : 0);
      to_delete = internal::to_utf8(chars);
    }
  }
  return internal::strip(to_delete);
}

// remove_hallucinated_references(): repeated reference lines become [MISSING_PAGE_POST].
inline std::string remove_hallucinated_references(std::string_view text_in) {
  std::string text = internal::valid_utf8(text_in);
  const std::vector<std::string> lines = internal::split(text, "\n");
  std::vector<std::string> clean_lines;
  clean_lines.reserve(lines.size());
  for (const std::string& line : lines) clean_lines.push_back(remove_numbers(line));
  std::vector<std::string> to_delete;
  for (const auto& slice : get_slices(lines, clean_lines))
    to_delete.push_back(remove_slice_from_lines(lines, clean_lines, slice));
  for (auto it = to_delete.rbegin(); it != to_delete.rend(); ++it)
    text = internal::replace(text, *it, "\n\n[MISSING_PAGE_POST]\n\n");
  static const detail::Regex references(R"re(## References\n+\[MISSING_PAGE_POST(:\d+)?\])re");
  return references.sub(text, "\n\n[MISSING_PAGE_POST\\1]");
}

// correct_tables(): drops lines that are obviously broken tables and puts table / tabular
// environments on lines of their own.
inline std::string correct_tables(std::string_view generation_in) {
  std::string generation = internal::valid_utf8(generation_in);
  // Remove obvious wrong tables: each line of the original text that qualifies is replaced in
  // the current text. A line already replaced leaves nothing to do while the text has not
  // changed since (and held no copy of it then), which keeps repeated lines cheap.
  const std::vector<std::string> lines = internal::split(generation, "\n");
  std::unordered_map<std::string_view, size_t> absent_at;  // line -> version it was gone at
  size_t version = 0;
  for (const std::string& l : lines) {
    if (!(internal::count(l, "\\begin{tabular}") > 15 || internal::count(l, "\\multicolumn") > 60 ||
          internal::count(l, "&") > 400))
      continue;
    const auto seen = absent_at.find(l);
    if (seen != absent_at.end() && seen->second == version) continue;
    std::string replaced = internal::replace(generation, l, "");
    if (replaced.size() != generation.size()) ++version;
    generation = std::move(replaced);
    if (internal::find(generation, l) == std::string::npos) absent_at[l] = version;
  }
  // whitespace corrections
  generation = internal::replace(generation, "\\begin{table} \\begin{tabular}",
                                 "\\begin{table}\n\\begin{tabular}");
  generation =
      internal::replace(generation, "\\end{tabular} \\end{table}", "\\end{tabular}\n\\end{table}");
  generation = internal::replace(generation, "\\end{table} Tab", "\\end{table}\nTab");
  static const detail::Regex table_start(R"re((^.+)\\begin{tab)re", detail::Regex::kMultiline);
  generation = table_start.sub(generation, R"re(\1\n\\begin{tab)re");
  // Remove left-aligned empty LaTeX tabular blocks, and tabulars with just 2 newlines.
  generation = internal::replace(generation, R"(\begin{tabular}{l l}  & \\ \end{tabular})", "");
  return internal::replace(generation, "\\begin{tabular}{}\n\n\\end{tabular}", "");
}

}  // namespace nougat

// NougatTokenizerFast.post_process_generation(generation, fix_markdown) for one page.
inline std::string nougat_postprocess(std::string_view generation_in,
                                      const NougatPostprocessOptions& options = {}) {
  using detail::Regex;
  namespace in = nougat::internal;
  std::string g = in::valid_utf8(generation_in);
  // too long section titles probably are none
  static const Regex long_title(R"re((?:\n|^)#+ \d*\W? ?(.{100,}))re");
  g = long_title.sub(g, R"re(\n\1)re");
  g = in::strip(g);
  // Remove LaTeX left margin tag
  g = in::replace(g, "\n* [leftmargin=*]\n", "\n");
  // Remove headings that hold only (roman) numerals
  static const Regex numeral_heading(R"re(^#+ (?:[\d+\.]+|[ixv\.]+)?\s*(?:$|\n\s*))re",
                                     Regex::kMultiline);
  g = numeral_heading.sub(g, "");
  // most likely hallucinated titles: a last line that is a heading
  const size_t last_newline = g.rfind('\n');
  if (last_newline != std::string::npos) {
    const std::string_view last = std::string_view(g).substr(last_newline + 1);
    const size_t hashes = last.find_first_not_of('#');
    if (in::starts_with(last, "#") && hashes != std::string_view::npos && last[hashes] == ' ')
      g.resize(last_newline);
  }
  // obvious repetition detection
  g = nougat::truncate_repetitions(g);
  // Reference corrections
  g = nougat::remove_hallucinated_references(g);
  // Remove lines like "* [1] A. B. C. ..." (too long references)
  static const Regex initials(R"re(^\* \[\d+\](\s?[A-W]\.+\s?){10,}.*$)re", Regex::kMultiline);
  g = initials.sub(g, "");
  // "* [12][]ABC" -> "* [12]ABC"
  static const Regex empty_brackets(R"re(^(\* \[\d+\])\[\](.*)$)re", Regex::kMultiline);
  g = empty_brackets.sub(g, R"re(\1\2)re");
  // Remove single characters before or after 2 new lines
  static const Regex single_char(R"re((^\w\n\n|\n\n\w$))re");
  g = single_char.sub(g, "");
  // pmc math artifact correction
  static const Regex pmc_sub(R"re(([\s.,()])_([a-zA-Z0-9])__([a-zA-Z0-9]){1,3}_([\s.,:()]))re");
  g = pmc_sub.sub(g, R"re(\1\(\2_{\3}\)\4)re");
  static const Regex pmc_var(R"re(([\s.,\d])_([a-zA-Z0-9])_([\s.,\d;]))re");
  g = pmc_var.sub(g, R"re(\1\(\2\)\3)re");
  // footnote mistakes
  static const Regex footnote(R"re((\nFootnote .*?:) (?:footnotetext|thanks):\W*(.*(?:\n\n|$)))re");
  g = footnote.sub(g, R"re(\1 \2)re");
  static const Regex footnote_block(R"re(\[FOOTNOTE:.+?\](.*?)\[ENDFOOTNOTE\])re");
  g = footnote_block.sub(g, "");
  // itemize post processing
  g = nougat::normalize_list_like_lines(g);
  // How the page ends decides what follows it.
  if (in::ends_with(g, ".") || in::ends_with(g, "}")) g += "\n\n";
  static const Regex one_character(R"re([A-Z0-9,;:]$)re");
  Regex::Match m;
  const std::string_view last_line =
      std::string_view(g).substr(g.rfind('\n') == std::string::npos ? 0 : g.rfind('\n') + 1);
  if (one_character.match(g, m)) {
    g += " ";  // add space in case there is a comma or word ending
  } else if (in::starts_with(g, "#") || in::starts_with(g, "**") || in::starts_with(g, "\\begin")) {
    g = "\n\n" + g;
  } else if (in::starts_with(last_line, "#") || in::starts_with(last_line, "Figure") ||
             in::starts_with(last_line, "Table")) {
    g += "\n\n";
  } else {
    // transformers adds a space if the last word is in nltk's English `words` corpus and, when
    // the corpus is missing (LookupError), adds it anyway; ved has no corpus, so always.
    g += " ";
  }
  // table corrections
  g = nougat::correct_tables(g);
  // Remove optional, empty square brackets after begin{array}
  g = in::replace(g, "\\begin{array}[]{", "\\begin{array}{");
  // Remove empty or malformed LaTeX tabular blocks with 2 or more columns specified
  static const Regex empty_tabular(
      R"re(\\begin{tabular}{([clr ]){2,}}\s*[& ]*\s*(\\\\)? \\end{tabular})re");
  g = empty_tabular.sub(g, "");
  // Remove lines containing "S.A.B." two or more times (from Nougat's code)
  static const Regex sab(R"re((\*\*S\. A\. B\.\*\*\n+){2,})re");
  g = sab.sub(g, "");
  // Remove markdown-style headers that are incomplete or empty
  static const Regex empty_header(R"re(^#+( [\[\d\w])?$)re", Regex::kMultiline);
  g = empty_header.sub(g, "");
  // Remove lines with just one period
  static const Regex lone_period(R"re(^\.\s*$)re", Regex::kMultiline);
  g = lone_period.sub(g, "");
  // Replace three or more newlines with two
  static const Regex newlines(R"re(\n{3,})re");
  g = newlines.sub(g, "\n\n");
  return options.fix_markdown ? nougat::markdown_compatible(g) : g;
}

// ---- manga-ocr ----

namespace manga_ocr::internal {

// jaconv's half-width katakana table for U+FF61..U+FF9D (punctuation, kana, the long-vowel
// mark), in code point order. The sound marks U+FF9E and U+FF9F are not in it: alone they stay.
inline constexpr std::u32string_view kFullWidthKana =
    U"。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホ"
    U"マミムメモヤユヨラリルレロワン";

// jaconv.h2z(text, ascii=True, digit=True) (kana=True): ASCII '!'..'~' and the space to full
// width, half-width kana by the table. A kana and the sound mark after it become one character
// for the 26 pairs jaconv lists: ｶ..ﾄ and ﾊ..ﾎ with ﾞ, ｳﾞ, ﾊ..ﾎ with ﾟ. In Unicode the voiced
// kana follows the plain one (ガ = カ + 1) and the semi-voiced one comes next (パ = ハ + 2).
inline std::u32string h2z(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char32_t c = s[i];
    if (c >= U'!' && c <= U'~') {  // ASCII, digits included: U+FF01..U+FF5E
      out += c - U'!' + U'！';
    } else if (c == U' ') {  // in jaconv's ascii table too (post_process leaves none)
      out += U'\u3000';
    } else if (c >= 0xFF61 && c <= 0xFF9D) {
      char32_t full = kFullWidthKana[c - 0xFF61];
      const char32_t mark = i + 1 < s.size() ? s[i + 1] : 0;
      const bool ka_to_to = c >= U'ｶ' && c <= U'ﾄ', ha_to_ho = c >= U'ﾊ' && c <= U'ﾎ';
      if (mark == U'ﾞ' && (ka_to_to || ha_to_ho)) {
        full += 1;
        ++i;
      } else if (mark == U'ﾞ' && c == U'ｳ') {
        full = U'ヴ';
        ++i;
      } else if (mark == U'ﾟ' && ha_to_ho) {
        full += 2;
        ++i;
      }
      out += full;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace manga_ocr::internal

// manga_ocr's post_process (kha-white/manga-ocr, manga_ocr/ocr.py), applied to the decoded
// text:
//   text = ''.join(text.split())      # no whitespace at all (Python's str.isspace set)
//   text = text.replace('…', '...')
//   text = re.sub('[・.]{2,}', lambda x: (x.end() - x.start()) * '.', text)
//   text = jaconv.h2z(text, ascii=True, digit=True)   # half-width to full-width
// Text that is not UTF-8 is first decoded with errors="replace", as for "nougat".
inline std::string manga_ocr_postprocess(std::string_view text) {
  std::u32string joined;
  for (char32_t c : nougat::internal::to_u32(text)) {
    if (c == U'…') {
      joined += U"...";
    } else if (!detail::is_python_space(c)) {
      joined += c;
    }
  }
  // A run of two or more '・' / '.' becomes as many '.'.
  auto dot_like = [](char32_t c) { return c == U'・' || c == U'.'; };
  std::u32string dotted;
  for (std::size_t i = 0; i < joined.size();) {
    std::size_t end = i;
    while (end < joined.size() && dot_like(joined[end])) ++end;
    if (end - i >= 2) {
      dotted.append(end - i, U'.');
      i = end;
    } else {
      dotted += joined[i++];
    }
  }
  return detail::to_utf8(manga_ocr::internal::h2z(dotted));
}

// ---- the registry ----

struct PostprocessOptions {
  NougatPostprocessOptions nougat;  // for "nougat"
};

// The names postprocess() knows: "none" (the text unchanged), "nougat" and "manga-ocr".
inline const std::vector<std::string>& postprocessor_names() {
  static const std::vector<std::string> names = {"none", "nougat", "manga-ocr"};
  return names;
}

// Applies the post-processor `name` to generated text; InvalidArgument for an unknown name.
inline std::string postprocess(std::string_view name, std::string_view text,
                               const PostprocessOptions& options = {}) {
  if (name == "none") return std::string(text);
  if (name == "nougat") return nougat_postprocess(text, options.nougat);
  if (name == "manga-ocr") return manga_ocr_postprocess(text);
  std::string known;
  for (const auto& n : postprocessor_names()) known += (known.empty() ? "" : ", ") + n;
  throw InvalidArgument("unknown post-processor '" + std::string(name) + "' (known: " + known +
                        ")");
}

}  // namespace ved
