#pragma once

// A small backtracking regular-expression engine over the code points of UTF-8 text, for the
// two dialects ved meets: Python's `re` (transformers' post-processing code, e.g. Nougat's) and
// Oniguruma as the Rust `tokenizers` library uses it (tokenizer.json Split pre-tokenizers).
// std::regex cannot serve: it has no Unicode classes and recurses once per character.
//
// Semantics are Python's `re` (leftmost match, alternatives and quantifiers tried in priority
// order, Python 3.7+ rules for empty matches). The syntax is the union of the two dialects:
//   literals and escapes      \n \t \r \f \v \a \e \0oo \xhh \x{h..} \uhhhh \Uhhhhhhhh \. \\ ...
//   classes                   . [...] [^...] with ranges and escapes, \d \D \w \W \s \S,
//                             \p{L} \p{Lu} \p{Letter} \pL \p{^L} \P{..} (General Category only)
//   anchors                   ^ $ \A \Z \z \b \B
//   groups                    (...) (?:...) (?P<n>...) (?<n>...) (?'n'...) (?>...) (?#...)
//   references                \1..\99 (?P=n) \k<n>
//   look-around               (?=...) (?!...) (?<=...) (?<!...) (look-behind: bounded width)
//   quantifiers               * + ? {m} {m,} {,n} {m,n}, lazy (…?) and possessive (…+)
//   flags                     (?i) (?m) (?s) (?-i) (?i:...) and Regex::Flag
// Character definitions (Unicode 15.1 tables of unicode_tables.hpp):
//   \d = Nd; \w = letters (L*), numbers (N*) and '_' (Python's str.isalnum() or '_'; \b uses
//   the same); \s = Python's str.isspace(), i.e. Unicode White_Space plus U+001C..U+001F
//   (Oniguruma's \s lacks those four separators); IGNORECASE uses simple lower-case folding.
// Dialect notes: `^`/`$` are Python's (whole-text anchors unless kMultiline); Oniguruma's Ruby
// syntax makes them line anchors, so compile tokenizer.json patterns with kMultiline. `\Z` is
// Python's end of text (as `\z`). `{` that does not start a valid {m,n} is a literal.
//
// Matching uses an explicit backtrack stack (no recursion per character) and a step budget per
// search (2*10^7 steps plus 64 per byte of text). A long search starts remembering failed
// states (patterns without back-references), which makes ambiguous quantifiers such as
// (a|a)*b, (a+)+b or \s*[& ]*\s* linear; what still exhausts the budget (e.g. (a*)*b on a long
// run of a's, where Python hangs) throws ved::InvalidArgument naming the pattern instead of
// hanging. Malformed or unsupported patterns (verbose mode, conditionals, scripts in \p{..})
// throw ved::FormatError("regex '<p>': <what> at offset N"). A Regex is immutable once built:
// const use from many threads is safe; copies share the compiled program.
// Text that is not valid UTF-8 is matched with each ill-formed byte as one unit that matches
// only `.`, negated classes and \W \S \D \P{..} (it has category Cn); offsets stay byte offsets.
// The implementation lives in src/regex.cpp (keeping Unicode tables out of this header).

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ved::detail {

class Regex {
 public:
  enum Flag : unsigned { kNone = 0, kMultiline = 1, kDotAll = 2, kIgnoreCase = 4 };

  explicit Regex(std::string_view pattern, unsigned flags = kNone);  // throws FormatError

  struct Match {
    size_t begin = 0, end = 0;  // byte offsets into the UTF-8 text
    // groups[0] = the whole match, groups[i] = group i's byte span, {-1, -1} if it did not take
    // part in the match.
    std::vector<std::pair<std::ptrdiff_t, std::ptrdiff_t>> groups;
    // The text of group i ("" if unset or out of range).
    std::string_view group(const std::string_view text, size_t i) const {
      if (i >= groups.size() || groups[i].first < 0 || groups[i].second < groups[i].first ||
          static_cast<size_t>(groups[i].second) > text.size())
        return {};
      return text.substr(static_cast<size_t>(groups[i].first),
                         static_cast<size_t>(groups[i].second - groups[i].first));
    }
  };

  // First match starting at or after byte offset `from` (Python's pattern.search(text, pos));
  // `^` and \A still mean the start of `text`.
  bool search(std::string_view text, Match& m, size_t from = 0) const;
  // A match starting exactly at `from` (pattern.match(text, pos)).
  bool match(std::string_view text, Match& m, size_t from = 0) const;
  // Whether the whole text matches (pattern.fullmatch(text)).
  bool fullmatch(std::string_view text) const;
  // Non-overlapping matches left to right (pattern.finditer): an empty match is allowed right
  // after a non-empty one, and after an empty match the next one must not be empty at the same
  // place.
  std::vector<Match> find_all(std::string_view text) const;
  // pattern.sub(replacement, text, count): the template knows \1..\99, \g<1>, \g<name>, \0oo and
  // the escapes \a \b \f \n \r \t \v \\; other escapes of non-letters are kept as written, unknown
  // letter escapes and bad group references throw FormatError. Unset groups insert "".
  // count 0 = replace all.
  std::string sub(std::string_view text, std::string_view replacement, size_t count = 0) const;
  std::string sub(std::string_view text, const std::function<std::string(const Match&)>& replace,
                  size_t count = 0) const;
  // pattern.split(text, maxsplit): the pieces between matches, each match's groups in between
  // (an unset group gives ""). maxsplit 0 = no limit.
  std::vector<std::string> split(std::string_view text, size_t maxsplit = 0) const;

  size_t group_count() const;
  const std::string& pattern() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace ved::detail
