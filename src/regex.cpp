// The regular-expression engine of ved/detail/regex.hpp: a recursive-descent parser to a node
// tree, a compiler to a small instruction program, and a backtracking machine that keeps its
// choice points on an explicit stack.
//
// Recursion is bounded by the pattern (nesting depth <= kMaxDepth), never by the text: the
// parser, the compiler and look-around sub-matches recurse per nesting level only.

#include "ved/detail/regex.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "ved/detail/unicode.hpp"
#include "ved/error.hpp"

namespace ved::detail {

namespace {

constexpr uint32_t kInf = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kMaxRepeat = 100000;   // Oniguruma's limit on {m,n} counts
constexpr size_t kMaxProgram = 1u << 20;  // instructions, after expanding counted repeats
constexpr int kMaxDepth = 200;            // nesting of groups and quantifiers
// Steps (instructions, characters consumed by a repeat, backtracks) one search may take. The
// part proportional to the text keeps linear scans of large texts well inside the budget; only
// super-linear backtracking exhausts it (about a second of work at worst).
constexpr uint64_t kBaseSteps = 20'000'000;
constexpr uint64_t kStepsPerByte = 64;
// After this many steps in one search, failed (instruction, position) states are remembered so
// that ambiguous quantifiers (\s*[& ]*\s*, (a|a)*) stop re-exploring them: polynomial and
// many exponential blow-ups become linear. Bounded to kMaxMemoBits of memory.
constexpr uint64_t kMemoAfter = 1'000'000;
constexpr uint64_t kMaxMemoBits = uint64_t{1} << 29;  // 64 MiB
constexpr size_t kNoEnd = std::numeric_limits<size_t>::max();

std::string shown(std::string_view pattern) {
  // Keeps messages readable for generated, very long patterns.
  if (pattern.size() > 200) return std::string(pattern.substr(0, 200)) + "...";
  return std::string(pattern);
}

// ---- characters ----

// The code point at pos (pos < s.size()) and the offset after it; an ill-formed byte is one
// unit, the invalid-byte marker of unicode.hpp.
inline size_t decode_at(std::string_view s, size_t pos, char32_t& cp) {
  const auto b = static_cast<unsigned char>(s[pos]);
  if (b < 0x80) {
    cp = b;
    return pos + 1;
  }
  size_t bad = 0;
  const size_t n = utf8_sequence_at(s, pos, cp, bad);
  if (n == 0) {
    cp = kInvalidByteBase + b;
    return pos + 1;
  }
  return pos + n;
}

// The unit that ends at pos (0 < pos), consistent with decoding forward from 0: a well-formed
// sequence cannot contain a lead byte after its first byte, so the nearest non-continuation
// byte within 4 bytes starts it if it decodes to exactly that length; otherwise the byte before
// pos is an ill-formed unit of its own.
inline size_t prev_at(std::string_view s, size_t pos, char32_t& cp) {
  const auto last = static_cast<unsigned char>(s[pos - 1]);
  if (last < 0x80) {
    cp = last;
    return pos - 1;
  }
  for (size_t k = 1; k <= 4 && k <= pos; ++k) {
    const auto b = static_cast<unsigned char>(s[pos - k]);
    if ((b & 0xC0) == 0x80) continue;
    char32_t v = 0;
    size_t bad = 0;
    if (utf8_sequence_at(s, pos - k, v, bad) == k) {
      cp = v;
      return pos - k;
    }
    break;
  }
  cp = kInvalidByteBase + last;
  return pos - 1;
}

constexpr uint32_t cat_bit(UnicodeCategory c) {
  return 1u << static_cast<unsigned>(c);
}
using UC = UnicodeCategory;
constexpr uint32_t kCatL =
    cat_bit(UC::kLu) | cat_bit(UC::kLl) | cat_bit(UC::kLt) | cat_bit(UC::kLm) | cat_bit(UC::kLo);
constexpr uint32_t kCatM = cat_bit(UC::kMn) | cat_bit(UC::kMc) | cat_bit(UC::kMe);
constexpr uint32_t kCatN = cat_bit(UC::kNd) | cat_bit(UC::kNl) | cat_bit(UC::kNo);
constexpr uint32_t kCatP = cat_bit(UC::kPc) | cat_bit(UC::kPd) | cat_bit(UC::kPs) |
                           cat_bit(UC::kPe) | cat_bit(UC::kPi) | cat_bit(UC::kPf) |
                           cat_bit(UC::kPo);
constexpr uint32_t kCatS =
    cat_bit(UC::kSm) | cat_bit(UC::kSc) | cat_bit(UC::kSk) | cat_bit(UC::kSo);
constexpr uint32_t kCatZ = cat_bit(UC::kZs) | cat_bit(UC::kZl) | cat_bit(UC::kZp);
constexpr uint32_t kCatC =
    cat_bit(UC::kCc) | cat_bit(UC::kCf) | cat_bit(UC::kCs) | cat_bit(UC::kCo) | cat_bit(UC::kCn);

inline bool in_categories(char32_t cp, uint32_t mask) {
  return (mask >> static_cast<unsigned>(unicode_category(cp))) & 1u;
}

// Python's \w: str.isalnum() or '_' (isalnum = the letter and number categories).
inline bool is_word(char32_t cp) {
  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || cp == '_';
  return in_categories(cp, kCatL | kCatN);
}

// Python's \s: str.isspace().
inline bool is_space(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  return is_python_space(cp);
}

// The simple (one code point) lower-case mapping: Python's str.lower() of one character where
// that is one character, and 'i' for U+0130 (as Python's re does).
inline char32_t fold(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  if (cp == 0x130) return U'i';
  if (cp > kMaxCodepoint) return cp;
  const auto* begin = std::begin(kLowercaseRuns);
  const auto* end = std::end(kLowercaseRuns);
  const auto* it = std::upper_bound(begin, end, static_cast<uint32_t>(cp),
                                    [](uint32_t c, const CaseRun& r) { return c < r.first; });
  if (it == begin) return cp;
  const CaseRun& r = *std::prev(it);
  const uint32_t offset = static_cast<uint32_t>(cp) - r.first;
  if (offset % r.stride == 0 && offset / r.stride < r.count)
    return static_cast<char32_t>(static_cast<int64_t>(cp) + r.delta);
  return cp;
}

// Calls f(x) for every x != cp with fold(x) == cp until f returns true.
template <typename F>
bool any_unfolded(char32_t cp, F f) {
  for (const CaseRun& r : kLowercaseRuns) {
    const int64_t x = static_cast<int64_t>(cp) - r.delta;
    if (x < static_cast<int64_t>(r.first)) continue;
    const uint64_t offset = static_cast<uint64_t>(x) - r.first;
    if (offset % r.stride != 0 || offset / r.stride >= r.count) continue;
    if (static_cast<char32_t>(x) != cp && f(static_cast<char32_t>(x))) return true;
  }
  return cp == U'i' && f(char32_t{0x130});
}

// ---- character classes ----

struct ClassItem {
  enum Kind : uint8_t { kCategories, kSpace, kWord } kind;
  bool negate;
  uint32_t mask;  // kCategories: a set of UnicodeCategory bits
};

struct CharClass {
  std::vector<std::pair<char32_t, char32_t>> ranges;  // sorted and merged after finish()
  std::vector<ClassItem> items;
  bool negated = false;
  bool icase = false;
  std::array<uint64_t, 2> ascii{};  // contains() of U+0000..U+007F, precomputed

  bool raw(char32_t cp) const {
    const auto it = std::upper_bound(
        ranges.begin(), ranges.end(), cp,
        [](char32_t c, const std::pair<char32_t, char32_t>& r) { return c < r.first; });
    if (it != ranges.begin() && cp <= std::prev(it)->second) return true;
    for (const ClassItem& item : items) {
      bool in = false;
      switch (item.kind) {
        case ClassItem::kCategories:
          in = in_categories(cp, item.mask);
          break;
        case ClassItem::kSpace:
          in = is_space(cp);
          break;
        case ClassItem::kWord:
          in = is_word(cp);
          break;
      }
      if (in != item.negate) return true;
    }
    return false;
  }
  bool slow(char32_t cp) const {
    bool in = raw(cp);
    if (!in && icase) {
      const char32_t f = fold(cp);
      in = (f != cp && raw(f)) || any_unfolded(f, [&](char32_t u) { return u != cp && raw(u); });
    }
    return in != negated;
  }
  void finish() {
    std::sort(ranges.begin(), ranges.end());
    std::vector<std::pair<char32_t, char32_t>> merged;
    for (const auto& r : ranges) {
      if (!merged.empty() && r.first <= merged.back().second + 1)
        merged.back().second = std::max(merged.back().second, r.second);
      else
        merged.push_back(r);
    }
    ranges = std::move(merged);
    for (char32_t c = 0; c < 128; ++c)
      if (slow(c)) ascii[c >> 6] |= uint64_t{1} << (c & 63);
  }
  bool contains(char32_t cp) const {
    if (cp < 128) return (ascii[cp >> 6] >> (cp & 63)) & 1;
    return slow(cp);
  }
};

// ---- the node tree ----

enum class AssertKind : uint8_t {
  kBeginText,  // \A, and ^ without MULTILINE
  kBeginLine,  // ^ with MULTILINE
  kEndText,    // \Z \z
  kEndPython,  // $ without MULTILINE: end, or before a final '\n'
  kEndLine,    // $ with MULTILINE
  kWordBoundary,
  kNotWordBoundary,
};

enum class NodeType : uint8_t {
  kEmpty,
  kChar,
  kAny,
  kClass,
  kConcat,
  kAlt,
  kRepeat,
  kCapture,
  kAssert,
  kBackref,
  kLook,
};

struct Node {
  NodeType type = NodeType::kEmpty;
  bool icase = false;       // kChar (c is folded), kBackref
  bool dotall = false;      // kAny
  bool greedy = true;       // kRepeat
  bool possessive = false;  // kRepeat
  bool ahead = true;        // kLook
  bool negate = false;      // kLook
  bool atomic = false;      // kLook: (?>...), which consumes what it matched
  AssertKind assertion = AssertKind::kBeginText;
  char32_t c = 0;
  int index = 0;  // kClass: class number; kCapture / kBackref: group number
  uint32_t min = 0, max = 0;
  size_t offset = 0;  // kLook: where it starts in the pattern (for messages)
  std::vector<int> kids;
};

struct Width {
  uint32_t min, max;  // in code points; max == kInf: unbounded
};

uint32_t sat_add(uint32_t a, uint32_t b) {
  return a == kInf || b == kInf || a + b < a || a + b == kInf ? kInf : a + b;
}
uint32_t sat_mul(uint32_t a, uint32_t b) {
  if (a == 0 || b == 0) return 0;
  if (a == kInf || b == kInf || uint64_t{a} * b >= kInf) return kInf;
  return a * b;
}

// ---- the program ----

enum class Op : uint8_t {
  kOne,            // one character passing the test
  kRepeat,         // a single-character test repeated min..max times (x = greedy/lazy/possessive)
  kSplit,          // try x, then y
  kJmp,            // go to x
  kSave,           // slot x := position (captures and loop registers)
  kCheckProgress,  // go to x if the position moved since slot `min` was saved, else to y
  kAssert,         // zero-width test
  kBackref,        // the text of group x again
  kLook,           // look-around or atomic group number x
  kMatch,
};

enum class Test : uint8_t { kChar, kAny, kAnyAll, kClass };

constexpr int kGreedy = 0, kLazy = 1, kPossessive = 2;

struct Inst {
  Op op = Op::kMatch;
  Test test = Test::kChar;
  AssertKind assertion = AssertKind::kBeginText;
  bool icase = false;
  char32_t c = 0;
  int32_t x = 0, y = 0;  // targets, slot, group, class (kOne/kRepeat with Test::kClass: y)
  uint32_t min = 0, max = 0;
};

struct Look {
  int node = -1;
  int pc = -1;  // start of its sub-program, which ends with kMatch
  bool ahead = true, negate = false, atomic = false;
  bool has_captures = false;
  uint32_t min_width = 0, max_width = 0;  // look-behind
};

enum class Anchor : uint8_t { kNone, kText, kLine };

}  // namespace

struct Regex::Impl {
  std::string pattern;
  unsigned flags = 0;
  std::vector<Node> nodes;
  std::vector<CharClass> classes;
  std::vector<Look> looks;
  std::vector<Inst> prog;
  int groups = 0;  // capture groups, group 0 not counted
  int registers = 0;
  std::vector<std::pair<std::string, int>> names;
  // memo_slot[pc] >= 0: pc's failures at a position may be remembered (see kMemoAfter). Only
  // main-program instructions where the state is (pc, position) alone qualify: none when the
  // pattern has back-references (captures then matter), none inside the body of a loop whose
  // body can match empty (its progress register is state too).
  std::vector<int32_t> memo_slot;
  int32_t memo_count = 0;
  std::array<bool, 256> first_bytes{};  // bytes a match can start with
  bool use_first_bytes = false;
  Anchor anchor = Anchor::kNone;

  size_t slot_count() const { return 2 * static_cast<size_t>(groups + 1) + registers; }
  int group_index(std::string_view name) const {
    for (const auto& n : names)
      if (n.first == name) return n.second;
    return -1;
  }
  [[noreturn]] void format_error(const std::string& what, size_t offset) const {
    throw FormatError("regex '" + shown(pattern) + "': " + what + " at offset " +
                      std::to_string(offset));
  }
};

namespace {

// ---- parser ----

class Parser {
 public:
  Parser(Regex::Impl& re) : re_(re), p_(re.pattern), flags_(re.flags) {}

  int parse() {
    const int root = parse_alternation(0);
    if (i_ < p_.size()) re_.format_error("unbalanced parenthesis", i_);
    return root;
  }

 private:
  Regex::Impl& re_;
  std::string_view p_;
  size_t i_ = 0;
  unsigned flags_;
  std::vector<bool> closed_;  // closed_[g]: group g has been closed (may be referred to)

  [[noreturn]] void fail(const std::string& what, size_t at) const { re_.format_error(what, at); }

  int add(Node n) {
    re_.nodes.push_back(std::move(n));
    return static_cast<int>(re_.nodes.size() - 1);
  }
  bool at(char c) const { return i_ < p_.size() && p_[i_] == c; }
  bool at(size_t k, char c) const { return i_ + k < p_.size() && p_[i_ + k] == c; }

  char32_t next_cp() {
    char32_t cp = 0;
    size_t bad = 0;
    const size_t n = utf8_sequence_at(p_, i_, cp, bad);
    if (n == 0) fail("invalid UTF-8", i_);
    i_ += n;
    return cp;
  }

  int parse_alternation(int depth) {
    std::vector<int> alts{parse_sequence(depth)};
    while (at('|')) {
      ++i_;
      alts.push_back(parse_sequence(depth));
    }
    if (alts.size() == 1) return alts[0];
    Node n;
    n.type = NodeType::kAlt;
    n.kids = std::move(alts);
    return add(std::move(n));
  }

  int parse_sequence(int depth) {
    std::vector<int> items;
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      // Python refuses to repeat a bare anchor (^*, \b+) but not a group holding one.
      const bool bare = p_[i_] != '(';
      int atom = parse_atom(depth);
      if (atom < 0) continue;  // a comment or a flag setting
      uint32_t mn = 0, mx = 0;
      const size_t quant_at = i_;
      if (parse_quantifier(mn, mx)) {
        if (bare && re_.nodes[atom].type == NodeType::kAssert) fail("nothing to repeat", quant_at);
        if (depth + 1 > kMaxDepth) fail("too deeply nested", quant_at);
        Node r;
        r.type = NodeType::kRepeat;
        r.min = mn;
        r.max = mx;
        if (at('?')) {
          r.greedy = false;
          ++i_;
        } else if (at('+')) {
          r.possessive = true;
          ++i_;
        }
        r.kids = {atom};
        atom = add(std::move(r));
        uint32_t a = 0, b = 0;
        const size_t again = i_;
        if (parse_quantifier(a, b)) fail("multiple repeat", again);
      }
      items.push_back(atom);
    }
    if (items.size() == 1) return items[0];
    Node n;
    n.type = items.empty() ? NodeType::kEmpty : NodeType::kConcat;
    n.kids = std::move(items);
    return add(std::move(n));
  }

  // {m}, {m,}, {,n}, {m,n} at i_; anything else leaves i_ alone and returns false.
  bool parse_brace(uint32_t& mn, uint32_t& mx) {
    size_t j = i_ + 1;
    const auto digits = [&](uint32_t& value, bool& any) {
      uint64_t v = 0;
      any = false;
      const size_t from = j;
      while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9') {
        v = std::min<uint64_t>(v * 10 + static_cast<uint64_t>(p_[j] - '0'), uint64_t{kInf});
        any = true;
        ++j;
      }
      if (any && v > kMaxRepeat) fail("the repetition number is too large", from);
      value = static_cast<uint32_t>(v);
    };
    bool has_lo = false, has_hi = false, comma = false;
    uint32_t lo = 0, hi = 0;
    digits(lo, has_lo);
    if (j < p_.size() && p_[j] == ',') {
      comma = true;
      ++j;
      digits(hi, has_hi);
    }
    if (j >= p_.size() || p_[j] != '}' || (!has_lo && !comma)) return false;
    mn = has_lo ? lo : 0;
    mx = comma ? (has_hi ? hi : kInf) : lo;
    if (mx < mn) fail("min repeat greater than max repeat", i_);
    i_ = j + 1;
    return true;
  }

  bool parse_quantifier(uint32_t& mn, uint32_t& mx) {
    if (i_ >= p_.size()) return false;
    switch (p_[i_]) {
      case '*':
        mn = 0, mx = kInf;
        break;
      case '+':
        mn = 1, mx = kInf;
        break;
      case '?':
        mn = 0, mx = 1;
        break;
      case '{':
        return parse_brace(mn, mx);
      default:
        return false;
    }
    ++i_;
    return true;
  }

  int char_node(char32_t c) {
    Node n;
    n.type = NodeType::kChar;
    n.icase = (flags_ & Regex::kIgnoreCase) != 0;
    n.c = n.icase ? fold(c) : c;
    return add(std::move(n));
  }

  int assert_node(AssertKind k) {
    Node n;
    n.type = NodeType::kAssert;
    n.assertion = k;
    return add(std::move(n));
  }

  int class_node(CharClass cls) {
    cls.finish();
    re_.classes.push_back(std::move(cls));
    Node n;
    n.type = NodeType::kClass;
    n.index = static_cast<int>(re_.classes.size() - 1);
    return add(std::move(n));
  }

  CharClass new_class() const {
    CharClass cls;
    cls.icase = (flags_ & Regex::kIgnoreCase) != 0;
    return cls;
  }

  int parse_atom(int depth) {
    const char c = p_[i_];
    switch (c) {
      case '(':
        return parse_group(depth);
      case '[':
        return class_node(parse_class());
      case '.': {
        ++i_;
        Node n;
        n.type = NodeType::kAny;
        n.dotall = (flags_ & Regex::kDotAll) != 0;
        return add(std::move(n));
      }
      case '^':
        ++i_;
        return assert_node((flags_ & Regex::kMultiline) ? AssertKind::kBeginLine
                                                        : AssertKind::kBeginText);
      case '$':
        ++i_;
        return assert_node((flags_ & Regex::kMultiline) ? AssertKind::kEndLine
                                                        : AssertKind::kEndPython);
      case '\\':
        return parse_escape();
      case '*':
      case '+':
      case '?':
        fail("nothing to repeat", i_);
      case '{': {
        uint32_t a = 0, b = 0;
        const size_t here = i_;
        if (parse_brace(a, b)) fail("nothing to repeat", here);
        ++i_;
        return char_node('{');
      }
      default:
        return char_node(next_cp());
    }
  }

  std::string parse_name(char close, const char* what) {
    const size_t start = i_;
    while (i_ < p_.size() && p_[i_] != close) ++i_;
    if (i_ >= p_.size()) fail(std::string("missing ") + close + ", unterminated name", start);
    std::string name(p_.substr(start, i_ - start));
    ++i_;
    if (name.empty()) fail(std::string("missing ") + what, start);
    return name;
  }

  static bool is_identifier(const std::string& name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
    for (char ch : name) {
      const auto u = static_cast<unsigned char>(ch);
      if (!(u >= 0x80 || ch == '_' || (ch >= '0' && ch <= '9') ||
            ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')))
        return false;
    }
    return true;
  }

  int backref_node(int group, size_t at) {
    if (group < 1 || group > re_.groups)
      fail("invalid group reference " + std::to_string(group), at);
    if (!closed_[static_cast<size_t>(group)]) fail("cannot refer to an open group", at);
    Node n;
    n.type = NodeType::kBackref;
    n.index = group;
    n.icase = (flags_ & Regex::kIgnoreCase) != 0;
    return add(std::move(n));
  }

  int named_backref(const std::string& name, size_t at) {
    int g = re_.group_index(name);
    if (g < 0) {
      if (!name.empty() &&
          std::all_of(name.begin(), name.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) &&
          name.size() < 7)
        g = std::stoi(name);
      else
        fail("unknown group name '" + name + "'", at);
    }
    return backref_node(g, at);
  }

  // Flag letters after "(?" up to ':' or ')'; returns true for a scoped group "(?i:...)".
  bool parse_flags(unsigned& on, unsigned& off) {
    bool minus = false;
    for (;;) {
      if (i_ >= p_.size()) fail("missing -, : or )", i_);
      const char c = p_[i_];
      const size_t here = i_++;
      if (c == ')') return false;
      if (c == ':') return true;
      if (c == '-' && !minus) {
        minus = true;
        continue;
      }
      unsigned f = 0;
      switch (c) {
        case 'i':
          f = Regex::kIgnoreCase;
          break;
        case 'm':
          f = Regex::kMultiline;
          break;
        case 's':
          f = Regex::kDotAll;
          break;
        case 'u':
          continue;  // Unicode matching is the only mode
        default:
          fail(std::string("unsupported flag '") + c + "'", here);
      }
      (minus ? off : on) |= f;
    }
  }

  int parse_group(int depth) {
    const size_t open = i_;
    if (depth + 1 > kMaxDepth) fail("too deeply nested", open);
    ++i_;
    const unsigned saved_flags = flags_;
    enum { kPlain, kCapture, kLookNode } kind = kCapture;
    bool ahead = true, negate = false, atomic = false;
    std::string name;
    if (at('?')) {
      ++i_;
      if (i_ >= p_.size()) fail("unexpected end of pattern", i_);
      const char c = p_[i_];
      if (c == ':') {
        ++i_;
        kind = kPlain;
      } else if (c == 'P' && at(1, '<')) {
        i_ += 2;
        name = parse_name('>', "group name");
      } else if (c == 'P' && at(1, '=')) {
        i_ += 2;
        const size_t at_name = i_;
        const std::string ref = parse_name(')', "group name");
        return named_backref(ref, at_name);
      } else if (c == '<' && (at(1, '=') || at(1, '!'))) {
        kind = kLookNode;
        ahead = false;
        negate = p_[i_ + 1] == '!';
        i_ += 2;
      } else if (c == '<') {
        ++i_;
        name = parse_name('>', "group name");
      } else if (c == '\'') {
        ++i_;
        name = parse_name('\'', "group name");
      } else if (c == '=' || c == '!') {
        kind = kLookNode;
        negate = c == '!';
        ++i_;
      } else if (c == '>') {
        kind = kLookNode;
        atomic = true;
        ++i_;
      } else if (c == '#') {
        while (i_ < p_.size() && p_[i_] != ')') ++i_;
        if (i_ >= p_.size()) fail("missing ), unterminated comment", open);
        ++i_;
        return -1;
      } else if (c == 'i' || c == 'm' || c == 's' || c == 'u' || c == '-') {
        unsigned on = 0, off = 0;
        const bool scoped = parse_flags(on, off);
        if (!scoped) {  // (?i): the rest of the enclosing group
          flags_ = (flags_ | on) & ~off;
          return -1;
        }
        flags_ = (flags_ | on) & ~off;
        kind = kPlain;
      } else {
        fail(c == 'x' ? std::string("unsupported flag 'x' (verbose patterns)")
                      : std::string("unknown extension ?") + c,
             open + 1);
      }
    }
    int group = 0;
    if (kind == kCapture) {
      group = ++re_.groups;
      if (re_.groups > 9999) fail("too many groups", open);
      closed_.resize(static_cast<size_t>(group) + 1, false);
      if (!name.empty()) {
        if (!is_identifier(name)) fail("bad character in group name '" + name + "'", open);
        if (re_.group_index(name) >= 0) fail("redefinition of group name '" + name + "'", open);
        re_.names.emplace_back(name, group);
      }
    }
    const int body = parse_alternation(depth + 1);
    if (!at(')')) fail("missing ), unterminated subpattern", open);
    ++i_;
    flags_ = saved_flags;
    if (kind == kPlain) return body;
    Node n;
    n.kids = {body};
    if (kind == kCapture) {
      closed_[static_cast<size_t>(group)] = true;
      n.type = NodeType::kCapture;
      n.index = group;
      return add(std::move(n));
    }
    n.type = NodeType::kLook;
    n.offset = open;
    n.ahead = ahead;
    n.negate = negate;
    n.atomic = atomic;
    return add(std::move(n));
  }

  uint32_t hex_digits(size_t count, size_t esc_at) {
    uint32_t v = 0;
    for (size_t k = 0; k < count; ++k) {
      if (i_ >= p_.size() || !std::isxdigit(static_cast<unsigned char>(p_[i_])))
        fail("incomplete escape", esc_at);
      const char h = p_[i_++];
      v = v * 16 + static_cast<uint32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    return v;
  }

  char32_t checked_cp(uint64_t v, size_t esc_at) const {
    if (v > kMaxCodepoint) fail("bad escape (code point out of range)", esc_at);
    return static_cast<char32_t>(v);
  }

  // The character of a character escape whose letter is c (after the backslash), or false.
  bool char_escape(char32_t c, size_t esc_at, char32_t& out) {
    switch (c) {
      case 'n':
        out = '\n';
        return true;
      case 't':
        out = '\t';
        return true;
      case 'r':
        out = '\r';
        return true;
      case 'f':
        out = '\f';
        return true;
      case 'v':
        out = '\v';
        return true;
      case 'a':
        out = '\a';
        return true;
      case 'e':
        out = 0x1B;
        return true;
      case 'x':
        if (at('{')) {
          ++i_;
          const size_t start = i_;
          uint64_t v = 0;
          while (i_ < p_.size() && std::isxdigit(static_cast<unsigned char>(p_[i_])) &&
                 i_ - start < 8) {
            const char h = p_[i_++];
            v = v * 16 + static_cast<uint64_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
          }
          if (i_ == start || !at('}')) fail("bad escape \\x{...}", esc_at);
          ++i_;
          out = checked_cp(v, esc_at);
          return true;
        }
        out = hex_digits(2, esc_at);
        return true;
      case 'u':
        out = checked_cp(hex_digits(4, esc_at), esc_at);
        return true;
      case 'U':
        out = checked_cp(hex_digits(8, esc_at), esc_at);
        return true;
      default:
        return false;
    }
  }

  uint32_t property_mask(const std::string& raw, size_t at_name) const {
    std::string name;
    for (char ch : raw)
      if (ch != ' ' && ch != '_' && ch != '-')
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    // clang-format off
    static const std::pair<const char*, uint32_t> kNames[] = {
        {"l", kCatL}, {"letter", kCatL}, {"m", kCatM}, {"mark", kCatM}, {"combiningmark", kCatM},
        {"n", kCatN}, {"number", kCatN}, {"p", kCatP}, {"punct", kCatP}, {"punctuation", kCatP},
        {"s", kCatS}, {"symbol", kCatS}, {"z", kCatZ}, {"separator", kCatZ}, {"c", kCatC},
        {"other", kCatC}, {"any", ~0u},
        {"l&", cat_bit(UC::kLu) | cat_bit(UC::kLl) | cat_bit(UC::kLt)},
        {"lc", cat_bit(UC::kLu) | cat_bit(UC::kLl) | cat_bit(UC::kLt)},
        {"casedletter", cat_bit(UC::kLu) | cat_bit(UC::kLl) | cat_bit(UC::kLt)},
        {"lu", cat_bit(UC::kLu)}, {"uppercaseletter", cat_bit(UC::kLu)}, {"ll", cat_bit(UC::kLl)},
        {"lowercaseletter", cat_bit(UC::kLl)}, {"lt", cat_bit(UC::kLt)},
        {"titlecaseletter", cat_bit(UC::kLt)}, {"lm", cat_bit(UC::kLm)},
        {"modifierletter", cat_bit(UC::kLm)}, {"lo", cat_bit(UC::kLo)},
        {"otherletter", cat_bit(UC::kLo)}, {"mn", cat_bit(UC::kMn)},
        {"nonspacingmark", cat_bit(UC::kMn)}, {"mc", cat_bit(UC::kMc)},
        {"spacingmark", cat_bit(UC::kMc)}, {"me", cat_bit(UC::kMe)},
        {"enclosingmark", cat_bit(UC::kMe)}, {"nd", cat_bit(UC::kNd)},
        {"decimalnumber", cat_bit(UC::kNd)}, {"digit", cat_bit(UC::kNd)}, {"nl", cat_bit(UC::kNl)},
        {"letternumber", cat_bit(UC::kNl)}, {"no", cat_bit(UC::kNo)},
        {"othernumber", cat_bit(UC::kNo)}, {"pc", cat_bit(UC::kPc)},
        {"connectorpunctuation", cat_bit(UC::kPc)}, {"pd", cat_bit(UC::kPd)},
        {"dashpunctuation", cat_bit(UC::kPd)}, {"ps", cat_bit(UC::kPs)},
        {"openpunctuation", cat_bit(UC::kPs)}, {"pe", cat_bit(UC::kPe)},
        {"closepunctuation", cat_bit(UC::kPe)}, {"pi", cat_bit(UC::kPi)},
        {"initialpunctuation", cat_bit(UC::kPi)}, {"pf", cat_bit(UC::kPf)},
        {"finalpunctuation", cat_bit(UC::kPf)}, {"po", cat_bit(UC::kPo)},
        {"otherpunctuation", cat_bit(UC::kPo)}, {"sm", cat_bit(UC::kSm)},
        {"mathsymbol", cat_bit(UC::kSm)}, {"sc", cat_bit(UC::kSc)},
        {"currencysymbol", cat_bit(UC::kSc)}, {"sk", cat_bit(UC::kSk)},
        {"modifiersymbol", cat_bit(UC::kSk)}, {"so", cat_bit(UC::kSo)},
        {"othersymbol", cat_bit(UC::kSo)}, {"zs", cat_bit(UC::kZs)},
        {"spaceseparator", cat_bit(UC::kZs)}, {"zl", cat_bit(UC::kZl)},
        {"lineseparator", cat_bit(UC::kZl)}, {"zp", cat_bit(UC::kZp)},
        {"paragraphseparator", cat_bit(UC::kZp)}, {"cc", cat_bit(UC::kCc)},
        {"control", cat_bit(UC::kCc)}, {"cf", cat_bit(UC::kCf)}, {"format", cat_bit(UC::kCf)},
        {"cs", cat_bit(UC::kCs)}, {"surrogate", cat_bit(UC::kCs)}, {"co", cat_bit(UC::kCo)},
        {"privateuse", cat_bit(UC::kCo)}, {"cn", cat_bit(UC::kCn)},
        {"unassigned", cat_bit(UC::kCn)},
    };
    // clang-format on
    for (const auto& entry : kNames)
      if (name == entry.first) return entry.second;
    fail("unknown property name '" + raw + "'", at_name);
  }

  // \p{..} / \P{..} / \pL after the letter p or P (i_ just past it).
  ClassItem parse_property(bool negate, size_t esc_at) {
    std::string name;
    const size_t at_name = i_;
    if (at('{')) {
      ++i_;
      name = parse_name('}', "property name");
      if (name[0] == '^') {
        negate = !negate;
        name.erase(0, 1);
      }
    } else if (i_ < p_.size() && std::isalpha(static_cast<unsigned char>(p_[i_]))) {
      name = std::string(1, p_[i_++]);
    } else {
      fail("bad escape \\p (missing property name)", esc_at);
    }
    return ClassItem{ClassItem::kCategories, negate, property_mask(name, at_name)};
  }

  // A class escape \d \D \w \W \s \S \p \P (letter c); false if c is none of them.
  bool class_escape(char32_t c, size_t esc_at, ClassItem& item) {
    switch (c) {
      case 'd':
      case 'D':
        item = {ClassItem::kCategories, c == 'D', cat_bit(UC::kNd)};
        return true;
      case 'w':
      case 'W':
        item = {ClassItem::kWord, c == 'W', 0};
        return true;
      case 's':
      case 'S':
        item = {ClassItem::kSpace, c == 'S', 0};
        return true;
      case 'p':
      case 'P':
        item = parse_property(c == 'P', esc_at);
        return true;
      default:
        return false;
    }
  }

  int parse_escape() {
    const size_t esc_at = i_++;
    if (i_ >= p_.size()) fail("bad escape (end of pattern)", esc_at);
    const char32_t c = next_cp();
    ClassItem item{};
    if (class_escape(c, esc_at, item)) {
      CharClass cls = new_class();
      cls.items.push_back(item);
      return class_node(std::move(cls));
    }
    char32_t ch = 0;
    if (char_escape(c, esc_at, ch)) return char_node(ch);
    switch (c) {
      case 'b':
        return assert_node(AssertKind::kWordBoundary);
      case 'B':
        return assert_node(AssertKind::kNotWordBoundary);
      case 'A':
        return assert_node(AssertKind::kBeginText);
      case 'Z':
      case 'z':
        return assert_node(AssertKind::kEndText);
      case '0': {  // up to two more octal digits
        uint32_t v = 0;
        for (int k = 0; k < 2 && i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '7'; ++k)
          v = v * 8 + static_cast<uint32_t>(p_[i_++] - '0');
        return char_node(v);
      }
      case 'k': {
        const char open = at('<') ? '>' : at('\'') ? '\'' : 0;
        if (!open) fail("bad escape \\k", esc_at);
        ++i_;
        const size_t at_name = i_;
        return named_backref(parse_name(open, "group name"), at_name);
      }
      default:
        break;
    }
    if (c >= '1' && c <= '9') {
      // Python: two digits are a group number, three octal digits an octal escape.
      uint32_t v = c - '0';
      if (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') {
        const char d2 = p_[i_];
        if (c <= '7' && d2 <= '7' && i_ + 1 < p_.size() && p_[i_ + 1] >= '0' && p_[i_ + 1] <= '7') {
          const uint32_t o = (c - '0') * 64 + static_cast<uint32_t>(d2 - '0') * 8 +
                             static_cast<uint32_t>(p_[i_ + 1] - '0');
          if (o > 0377) fail("octal escape value outside of range 0-0o377", esc_at);
          i_ += 2;
          return char_node(o);
        }
        v = v * 10 + static_cast<uint32_t>(d2 - '0');
        ++i_;
      }
      return backref_node(static_cast<int>(v), esc_at);
    }
    if (c < 0x80 && std::isalnum(static_cast<int>(c)))
      fail(std::string("bad escape \\") + static_cast<char>(c), esc_at);
    return char_node(c);  // escaped punctuation, space or non-ASCII character
  }

  // One member of a class: a character (returns true) or a class escape (item, returns false).
  bool parse_class_member(char32_t& ch, ClassItem& item, bool& is_item) {
    is_item = false;
    if (!at('\\')) {
      ch = next_cp();
      return true;
    }
    const size_t esc_at = i_++;
    if (i_ >= p_.size()) fail("unterminated character set", esc_at);
    const char32_t c = next_cp();
    if (class_escape(c, esc_at, item)) {
      is_item = true;
      return false;
    }
    if (char_escape(c, esc_at, ch)) return true;
    if (c == 'b') {
      ch = '\b';
      return true;
    }
    if (c >= '0' && c <= '7') {  // octal, up to three digits
      uint32_t v = c - '0';
      for (int k = 0; k < 2 && i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '7'; ++k)
        v = v * 8 + static_cast<uint32_t>(p_[i_++] - '0');
      if (v > 0377) fail("octal escape value outside of range 0-0o377", esc_at);
      ch = v;
      return true;
    }
    if (c < 0x80 && std::isalnum(static_cast<int>(c)))
      fail(std::string("bad escape \\") + static_cast<char>(c), esc_at);
    ch = c;
    return true;
  }

  CharClass parse_class() {
    const size_t open = i_++;
    CharClass cls = new_class();
    if (at('^')) {
      cls.negated = true;
      ++i_;
    }
    bool first = true;
    for (;;) {
      if (i_ >= p_.size()) fail("unterminated character set", open);
      if (p_[i_] == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      const size_t member_at = i_;
      char32_t lo = 0;
      ClassItem item{};
      bool is_item = false;
      parse_class_member(lo, item, is_item);
      if (at('-') && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
        ++i_;
        char32_t hi = 0;
        ClassItem item2{};
        bool is_item2 = false;
        parse_class_member(hi, item2, is_item2);
        if (is_item || is_item2 || hi < lo) fail("bad character range", member_at);
        cls.ranges.emplace_back(lo, hi);
      } else if (is_item) {
        cls.items.push_back(item);
      } else {
        cls.ranges.emplace_back(lo, lo);
      }
    }
    return cls;
  }
};

// ---- analysis ----

Width width_of(const Regex::Impl& re, int id) {
  const Node& n = re.nodes[static_cast<size_t>(id)];
  switch (n.type) {
    case NodeType::kEmpty:
    case NodeType::kAssert:
      return {0, 0};
    case NodeType::kChar:
    case NodeType::kAny:
    case NodeType::kClass:
      return {1, 1};
    case NodeType::kConcat: {
      Width w{0, 0};
      for (int k : n.kids) {
        const Width kw = width_of(re, k);
        w = {sat_add(w.min, kw.min), sat_add(w.max, kw.max)};
      }
      return w;
    }
    case NodeType::kAlt: {
      Width w{kInf, 0};
      for (int k : n.kids) {
        const Width kw = width_of(re, k);
        w = {std::min(w.min, kw.min), std::max(w.max, kw.max)};
      }
      return w;
    }
    case NodeType::kRepeat: {
      const Width b = width_of(re, n.kids[0]);
      return {sat_mul(b.min, n.min), n.max == kInf && b.max != 0 ? kInf : sat_mul(b.max, n.max)};
    }
    case NodeType::kCapture:
      return width_of(re, n.kids[0]);
    case NodeType::kLook:
      return n.atomic ? width_of(re, n.kids[0]) : Width{0, 0};
    case NodeType::kBackref:
      return {0, kInf};
  }
  return {0, kInf};
}

bool has_captures(const Regex::Impl& re, int id) {
  const Node& n = re.nodes[static_cast<size_t>(id)];
  if (n.type == NodeType::kCapture) return true;
  for (int k : n.kids)
    if (has_captures(re, k)) return true;
  return false;
}

struct First {
  std::array<bool, 256> bytes{};
  bool nullable = true;
};

void add_high_bytes(First& f) {
  for (int b = 0x80; b < 0x100; ++b) f.bytes[static_cast<size_t>(b)] = true;
}

First first_of(const Regex::Impl& re, int id) {
  const Node& n = re.nodes[static_cast<size_t>(id)];
  First f;
  switch (n.type) {
    case NodeType::kEmpty:
    case NodeType::kAssert:
      return f;
    case NodeType::kChar:
      f.nullable = false;
      if (n.icase) {
        add_high_bytes(f);
        for (int b = 0; b < 0x80; ++b)
          if (fold(static_cast<char32_t>(b)) == n.c) f.bytes[static_cast<size_t>(b)] = true;
      } else if (n.c < 0x80) {
        f.bytes[n.c] = true;
      } else {
        std::string utf8;
        append_utf8(utf8, n.c);
        f.bytes[static_cast<unsigned char>(utf8[0])] = true;
      }
      return f;
    case NodeType::kAny:
      f.nullable = false;
      f.bytes.fill(true);
      if (!n.dotall) f.bytes['\n'] = false;
      return f;
    case NodeType::kClass: {
      f.nullable = false;
      const CharClass& cls = re.classes[static_cast<size_t>(n.index)];
      for (char32_t b = 0; b < 0x80; ++b) f.bytes[b] = cls.contains(b);
      add_high_bytes(f);
      return f;
    }
    case NodeType::kConcat:
      for (int k : n.kids) {
        const First kf = first_of(re, k);
        for (size_t b = 0; b < 256; ++b) f.bytes[b] = f.bytes[b] || kf.bytes[b];
        if (!kf.nullable) {
          f.nullable = false;
          return f;
        }
      }
      return f;
    case NodeType::kAlt:
      f.nullable = false;
      for (int k : n.kids) {
        const First kf = first_of(re, k);
        for (size_t b = 0; b < 256; ++b) f.bytes[b] = f.bytes[b] || kf.bytes[b];
        f.nullable = f.nullable || kf.nullable;
      }
      return f;
    case NodeType::kRepeat:
      f = first_of(re, n.kids[0]);
      f.nullable = f.nullable || n.min == 0;
      return f;
    case NodeType::kCapture:
      return first_of(re, n.kids[0]);
    case NodeType::kLook:
      if (n.atomic) return first_of(re, n.kids[0]);
      return f;
    case NodeType::kBackref:
      f.bytes.fill(true);
      return f;
  }
  return f;
}

Anchor anchor_of(const Regex::Impl& re, int id) {
  const Node& n = re.nodes[static_cast<size_t>(id)];
  switch (n.type) {
    case NodeType::kAssert:
      if (n.assertion == AssertKind::kBeginText) return Anchor::kText;
      if (n.assertion == AssertKind::kBeginLine) return Anchor::kLine;
      return Anchor::kNone;
    case NodeType::kConcat:
      return n.kids.empty() ? Anchor::kNone : anchor_of(re, n.kids[0]);
    case NodeType::kCapture:
      return anchor_of(re, n.kids[0]);
    case NodeType::kLook:
      return n.atomic ? anchor_of(re, n.kids[0]) : Anchor::kNone;
    case NodeType::kAlt: {
      Anchor a = Anchor::kText;
      for (int k : n.kids) {
        const Anchor ka = anchor_of(re, k);
        if (ka == Anchor::kNone) return Anchor::kNone;
        if (ka == Anchor::kLine) a = Anchor::kLine;
      }
      return a;
    }
    default:
      return Anchor::kNone;
  }
}

// ---- compiler ----

class Compiler {
 public:
  explicit Compiler(Regex::Impl& re) : re_(re) {}

  void compile(int root) {
    emit(root);
    add({Op::kMatch});
    const size_t main_end = re_.prog.size();
    // Look-around bodies become sub-programs after the main one (they may add more).
    for (size_t k = 0; k < re_.looks.size(); ++k) {
      re_.looks[k].pc = static_cast<int>(re_.prog.size());
      emit(re_.looks[k].node);
      add({Op::kMatch});
    }
    choose_memo_points(main_end);
  }

 private:
  Regex::Impl& re_;
  std::vector<std::pair<int, int>> live_registers_;  // [first, last] pcs where one is live

  // Branch points and the places backtracking resumes at.
  void choose_memo_points(size_t main_end) {
    re_.memo_slot.assign(re_.prog.size(), -1);
    for (const Inst& in : re_.prog)
      if (in.op == Op::kBackref) return;
    std::vector<bool> point(main_end, false);
    for (size_t pc = 0; pc < main_end; ++pc) {
      const Inst& in = re_.prog[pc];
      if (in.op == Op::kSplit) {
        point[pc] = true;
        if (static_cast<size_t>(in.x) < main_end) point[static_cast<size_t>(in.x)] = true;
        if (static_cast<size_t>(in.y) < main_end) point[static_cast<size_t>(in.y)] = true;
      } else if (in.op == Op::kRepeat) {
        point[pc] = true;
        if (pc + 1 < main_end) point[pc + 1] = true;
      }
    }
    for (const auto& r : live_registers_)
      for (int pc = r.first; pc <= r.second && static_cast<size_t>(pc) < main_end; ++pc)
        point[static_cast<size_t>(pc)] = false;
    for (size_t pc = 0; pc < main_end; ++pc)
      if (point[pc]) re_.memo_slot[pc] = re_.memo_count++;
  }

  int add(Inst in) {
    if (re_.prog.size() >= kMaxProgram) re_.format_error("pattern too large", 0);
    re_.prog.push_back(in);
    return static_cast<int>(re_.prog.size() - 1);
  }
  int here() const { return static_cast<int>(re_.prog.size()); }
  Inst& at(int pc) { return re_.prog[static_cast<size_t>(pc)]; }

  int new_register() { return 2 * (re_.groups + 1) + re_.registers++; }

  int add_look(int node, bool ahead, bool negate, bool atomic, size_t offset) {
    Look lk;
    lk.node = node;
    lk.ahead = ahead;
    lk.negate = negate;
    lk.atomic = atomic;
    lk.has_captures = has_captures(re_, node);
    if (!ahead) {
      const Width w = width_of(re_, node);
      if (w.max == kInf) re_.format_error("look-behind requires fixed-width pattern", offset);
      lk.min_width = w.min;
      lk.max_width = w.max;
    }
    re_.looks.push_back(lk);
    return static_cast<int>(re_.looks.size() - 1);
  }

  // Fills a kOne / kRepeat instruction's test from a single-character node.
  static bool single_char(const Node& n, Inst& in) {
    switch (n.type) {
      case NodeType::kChar:
        in.test = Test::kChar;
        in.c = n.c;
        in.icase = n.icase;
        return true;
      case NodeType::kAny:
        in.test = n.dotall ? Test::kAnyAll : Test::kAny;
        return true;
      case NodeType::kClass:
        in.test = Test::kClass;
        in.y = n.index;
        return true;
      default:
        return false;
    }
  }

  void emit(int id) {
    const Node n = re_.nodes[static_cast<size_t>(id)];  // copy: emit may add nodes
    Inst in;
    switch (n.type) {
      case NodeType::kEmpty:
        return;
      case NodeType::kChar:
      case NodeType::kAny:
      case NodeType::kClass:
        in.op = Op::kOne;
        single_char(n, in);
        add(in);
        return;
      case NodeType::kConcat:
        for (int k : n.kids) emit(k);
        return;
      case NodeType::kAlt: {
        std::vector<int> to_end;
        for (size_t k = 0; k < n.kids.size(); ++k) {
          if (k + 1 == n.kids.size()) {
            emit(n.kids[k]);
            break;
          }
          const int split = add({Op::kSplit});
          at(split).x = here();
          emit(n.kids[k]);
          to_end.push_back(add({Op::kJmp}));
          at(split).y = here();
        }
        for (int j : to_end) at(j).x = here();
        return;
      }
      case NodeType::kCapture:
        in.op = Op::kSave;
        in.x = 2 * n.index;
        add(in);
        emit(n.kids[0]);
        in.x = 2 * n.index + 1;
        add(in);
        return;
      case NodeType::kAssert:
        in.op = Op::kAssert;
        in.assertion = n.assertion;
        add(in);
        return;
      case NodeType::kBackref:
        in.op = Op::kBackref;
        in.x = n.index;
        in.icase = n.icase;
        add(in);
        return;
      case NodeType::kLook:
        in.op = Op::kLook;
        in.x = add_look(n.kids[0], n.ahead, n.negate, n.atomic, n.offset);
        add(in);
        return;
      case NodeType::kRepeat:
        emit_repeat(id, n);
        return;
    }
  }

  void emit_repeat(int id, const Node& n) {
    const Node body = re_.nodes[static_cast<size_t>(n.kids[0])];
    Inst in;
    if (single_char(body, in)) {
      in.op = Op::kRepeat;
      in.min = n.min;
      in.max = n.max;
      in.x = n.possessive ? kPossessive : n.greedy ? kGreedy : kLazy;
      add(in);
      return;
    }
    if (n.possessive) {  // x*+ is (?>x*)
      Node plain = n;
      plain.possessive = false;
      re_.nodes.push_back(plain);
      in.op = Op::kLook;
      in.x = add_look(static_cast<int>(re_.nodes.size() - 1), true, false, true, n.offset);
      add(in);
      return;
    }
    (void)id;
    for (uint32_t k = 0; k < n.min; ++k) emit(n.kids[0]);
    // Python's rule for a body that can match empty: an iteration that consumed nothing ends
    // the loop (and guarantees termination).
    const bool nullable = width_of(re_, n.kids[0]).min == 0;
    if (n.max == kInf) {
      const int split = add({Op::kSplit});
      const int body_pc = here();
      int check = -1;
      int reg = 0;
      if (nullable) {
        reg = new_register();
        Inst save;
        save.op = Op::kSave;
        save.x = reg;
        add(save);
      }
      emit(n.kids[0]);
      if (nullable) {
        Inst c;
        c.op = Op::kCheckProgress;
        c.min = static_cast<uint32_t>(reg);
        c.x = split;
        check = add(c);
        live_registers_.emplace_back(body_pc, check);
      } else {
        Inst j;
        j.op = Op::kJmp;
        j.x = split;
        add(j);
      }
      const int exit = here();
      at(split).x = n.greedy ? body_pc : exit;
      at(split).y = n.greedy ? exit : body_pc;
      if (check >= 0) at(check).y = exit;
      return;
    }
    std::vector<int> splits, checks;
    const uint32_t optional = n.max - n.min;
    for (uint32_t k = 0; k < optional; ++k) {
      const bool last = k + 1 == optional;
      const int split = add({Op::kSplit});
      splits.push_back(split);
      at(split).x = here();  // body; fixed below for lazy
      int reg = 0;
      const int body_pc = here();
      if (nullable && !last) {
        reg = new_register();
        Inst save;
        save.op = Op::kSave;
        save.x = reg;
        add(save);
      }
      emit(n.kids[0]);
      if (nullable && !last) {
        Inst c;
        c.op = Op::kCheckProgress;
        c.min = static_cast<uint32_t>(reg);
        c.x = here() + 1;
        checks.push_back(add(c));
        live_registers_.emplace_back(body_pc, checks.back());
      }
    }
    const int end = here();
    for (int s : splits) {
      const int body_pc = at(s).x;
      at(s).x = n.greedy ? body_pc : end;
      at(s).y = n.greedy ? end : body_pc;
    }
    for (int c : checks) at(c).y = end;
  }
};

// ---- the matching machine ----

struct Backtrack {
  enum Kind : uint8_t { kRestore, kBranch, kGreedy, kLazy } kind;
  int32_t pc;      // kRestore: slot; others: where to go (kGreedy/kLazy: the kRepeat)
  size_t pos;      // kBranch: position; kGreedy: last end tried; kLazy: end so far
  ptrdiff_t aux;   // kRestore: old value; kGreedy: smallest end; kLazy: count so far
  size_t end = 0;  // kGreedy: the end it started from (the longest run)
};

// In memo mode, per greedy single-character repeat: where its last run ended, and which ends
// are known to fail (see Machine::give_back).
struct RepeatMemo {
  size_t run_from = 0, run_to = 0;  // every unit in [run_from, run_to) passes the test
  bool run_valid = false;
  size_t failed_lo = 0, failed_hi = 0;  // continuing after the repeat at any end in here fails
  bool failed_valid = false;
};

class Machine {
 public:
  Machine(const Regex::Impl& re, std::string_view text)
      : re_(re), text_(text), slots_(re.slot_count(), -1) {}

  // Starts a search whose attempts begin at `from` or later (the memo's origin).
  void new_search(size_t from) {
    origin_ = from;
    steps_ = 0;
    budget_ = kBaseSteps + kStepsPerByte * (text_.size() - from);
    memo_.clear();
    memo_tried_ = false;
  }

  bool attempt(size_t start, bool must_advance, bool match_all, size_t& end) {
    std::fill(slots_.begin(), slots_.end(), -1);
    stack_.clear();
    start_ = start;
    must_advance_ = must_advance;
    match_all_ = match_all;
    return run(0, start, true, kNoEnd, end);
  }
  const std::vector<ptrdiff_t>& slots() const { return slots_; }

 private:
  const Regex::Impl& re_;
  std::string_view text_;
  uint64_t budget_ = 0;
  uint64_t steps_ = 0;
  std::vector<ptrdiff_t> slots_;
  std::vector<Backtrack> stack_;
  size_t start_ = 0;
  bool must_advance_ = false, match_all_ = false;
  size_t origin_ = 0;
  // Failed states, memo_[slot * width + pos - origin_]; empty until kMemoAfter steps. Sound
  // across the attempts of one search: whether a state leads to a match depends on (pc, pos)
  // alone, except kMatch at the first start under must_advance, and later attempts start
  // beyond that position.
  std::vector<uint64_t> memo_;
  size_t memo_width_ = 0;
  bool memo_tried_ = false;

  std::vector<RepeatMemo> repeats_;  // by pc, in memo mode

  void start_memo() {
    memo_tried_ = true;
    memo_width_ = text_.size() - origin_ + 1;
    const uint64_t bits = uint64_t(re_.memo_count) * memo_width_;
    if (re_.memo_count == 0 || bits > kMaxMemoBits) return;
    memo_.assign(static_cast<size_t>(bits / 64 + 1), 0);
    repeats_.assign(re_.prog.size(), RepeatMemo{});
  }

  // The greedy run of in's test from pos, at most `limit` units: its end, and the end after
  // in.min units (count < in.min if the run is shorter; beyond in.min, count only tells
  // whether there were more). Under memo the last unbounded run of each repeat is remembered:
  // a scan that reaches it (or starts inside it) ends where it ended, so a large text is not
  // rescanned from every start position.
  size_t run(const Inst& in, int pc, size_t pos, bool top, uint32_t limit, uint32_t& count,
             size_t& min_end) {
    const size_t n = text_.size();
    RepeatMemo* memo = nullptr;
    if (!memo_.empty() && top && limit == kInf) memo = &repeats_[static_cast<size_t>(pc)];
    count = 0;
    min_end = pos;
    size_t p = pos;
    const uint32_t exact = memo ? in.min : limit;  // units counted one by one
    while (count < exact && p < n) {
      char32_t cp = 0;
      const size_t next = decode_at(text_, p, cp);
      if (!test(in, cp)) break;
      p = next;
      if (++count == in.min) min_end = p;
    }
    step(p, count + 1);
    if (!memo || count < in.min) return p;
    bool more = false;
    if (memo->run_valid && memo->run_from <= p && p <= memo->run_to) {
      more = memo->run_to > p;
      p = memo->run_to;
    } else {
      uint64_t scanned = 0;
      while (p < n) {
        if (memo->run_valid && p == memo->run_from) {
          p = memo->run_to;
          more = true;
          break;
        }
        char32_t cp = 0;
        const size_t next = decode_at(text_, p, cp);
        if (!test(in, cp)) break;
        p = next;
        more = true;
        ++scanned;
      }
      step(p, scanned);
    }
    memo->run_from = pos;
    memo->run_to = p;
    memo->run_valid = true;
    if (more) ++count;
    return p;
  }

  // The next end to try for a greedy repeat's entry b after continuing from b.pos failed, or
  // false if none is left. Under memo the failed ends [b.pos, b.end] are recorded per repeat,
  // and ends recorded by earlier runs to the same end are skipped in one go.
  bool give_back(Backtrack& b, bool top, size_t& next) {
    const auto min_end = static_cast<size_t>(b.aux);
    size_t q = b.pos;
    if (!memo_.empty() && top && re_.memo_slot[static_cast<size_t>(b.pc) + 1] >= 0) {
      RepeatMemo& m = repeats_[static_cast<size_t>(b.pc)];
      if (m.failed_valid && m.failed_hi == b.end)
        m.failed_lo = std::min(m.failed_lo, q);
      else
        m.failed_lo = q, m.failed_hi = b.end, m.failed_valid = true;
      q = m.failed_lo;
    }
    if (q <= min_end) return false;
    char32_t cp = 0;
    next = std::max(prev_at(text_, q, cp), min_end);
    return true;
  }
  // True if (pc, pos) already failed; otherwise records it (it fails unless a match is found).
  bool seen(int pc, size_t pos) {
    const int32_t slot = re_.memo_slot[static_cast<size_t>(pc)];
    if (slot < 0 || pos < origin_) return false;
    const size_t bit = static_cast<size_t>(slot) * memo_width_ + (pos - origin_);
    uint64_t& word = memo_[bit / 64];
    const uint64_t mask = uint64_t{1} << (bit % 64);
    if (word & mask) return true;
    word |= mask;
    return false;
  }

  [[noreturn]] void over_budget(size_t pos) const {
    throw InvalidArgument("regex '" + shown(re_.pattern) + "': gave up after " +
                          std::to_string(steps_) + " steps near byte " + std::to_string(pos) +
                          " of a " + std::to_string(text_.size()) +
                          "-byte text (catastrophic backtracking)");
  }
  void step(size_t pos, uint64_t n = 1) {
    steps_ += n;
    if (steps_ > budget_) over_budget(pos);
  }

  bool test(const Inst& in, char32_t cp) const {
    switch (in.test) {
      case Test::kChar:
        return cp == in.c || (in.icase && fold(cp) == in.c);
      case Test::kAny:
        return cp != '\n';
      case Test::kAnyAll:
        return true;
      case Test::kClass:
        return re_.classes[static_cast<size_t>(in.y)].contains(cp);
    }
    return false;
  }

  bool word_before(size_t pos) const {
    if (pos == 0) return false;
    char32_t cp = 0;
    prev_at(text_, pos, cp);
    return is_word(cp);
  }
  bool word_after(size_t pos) const {
    if (pos >= text_.size()) return false;
    char32_t cp = 0;
    decode_at(text_, pos, cp);
    return is_word(cp);
  }

  bool check(AssertKind k, size_t pos) const {
    const size_t n = text_.size();
    switch (k) {
      case AssertKind::kBeginText:
        return pos == 0;
      case AssertKind::kBeginLine:
        return pos == 0 || text_[pos - 1] == '\n';
      case AssertKind::kEndText:
        return pos == n;
      case AssertKind::kEndPython:
        return pos == n || (pos + 1 == n && text_[pos] == '\n');
      case AssertKind::kEndLine:
        return pos == n || text_[pos] == '\n';
      case AssertKind::kWordBoundary:
        return n != 0 && word_before(pos) != word_after(pos);  // Python: never in ""
      case AssertKind::kNotWordBoundary:
        return n != 0 && word_before(pos) == word_after(pos);
    }
    return false;
  }

  void save(int slot, ptrdiff_t value) {
    stack_.push_back({Backtrack::kRestore, slot, 0, slots_[static_cast<size_t>(slot)]});
    slots_[static_cast<size_t>(slot)] = value;
  }

  bool backref(const Inst& in, size_t& pos) const {
    const ptrdiff_t s = slots_[2 * static_cast<size_t>(in.x)];
    const ptrdiff_t e = slots_[2 * static_cast<size_t>(in.x) + 1];
    if (s < 0 || e < s) return false;
    const size_t len = static_cast<size_t>(e - s);
    if (!in.icase) {
      if (text_.size() - pos < len ||
          text_.compare(pos, len, text_.substr(static_cast<size_t>(s), len)) != 0)
        return false;
      pos += len;
      return true;
    }
    size_t a = static_cast<size_t>(s), b = pos;
    while (a < static_cast<size_t>(e)) {
      if (b >= text_.size()) return false;
      char32_t ca = 0, cb = 0;
      a = decode_at(text_, a, ca);
      b = decode_at(text_, b, cb);
      if (ca != cb && fold(ca) != fold(cb)) return false;
    }
    pos = b;
    return true;
  }

  bool lookbehind(const Look& lk, size_t pos) {
    size_t p = pos;
    uint32_t w = 0;
    char32_t cp = 0;
    for (; w < lk.min_width; ++w) {
      if (p == 0) return false;
      p = prev_at(text_, p, cp);
    }
    for (;;) {
      size_t end = 0;
      if (run(lk.pc, p, false, pos, end)) return true;
      if (w >= lk.max_width || p == 0) return false;
      p = prev_at(text_, p, cp);
      ++w;
    }
  }

  // Runs the program from pc at pos until its kMatch succeeds (true, end set) or every choice
  // made since entry has failed. A sub-run (top = false) is atomic: its choice points are
  // dropped on success, its captures kept.
  bool run(int pc, size_t pos, bool top, size_t required_end, size_t& end) {
    const size_t base = stack_.size();
    const size_t n = text_.size();
    for (;;) {
      step(pos);
      if (steps_ > kMemoAfter && !memo_tried_) start_memo();
      const Inst& in = re_.prog[static_cast<size_t>(pc)];
      // A state that already failed fails again (falls through to backtracking).
      if (memo_.empty() || !top || !seen(pc, pos)) switch (in.op) {
          case Op::kOne: {
            if (pos >= n) break;
            char32_t cp = 0;
            const size_t next = decode_at(text_, pos, cp);
            if (!test(in, cp)) break;
            pos = next;
            ++pc;
            continue;
          }
          case Op::kRepeat: {
            const uint32_t limit = in.x == kLazy ? in.min : in.max;
            uint32_t count = 0;
            size_t min_end = pos;
            const size_t p = run(in, pc, pos, top, limit, count, min_end);
            if (count < in.min) break;
            if (in.x == kGreedy && p != min_end)
              stack_.push_back({Backtrack::kGreedy, pc, p, static_cast<ptrdiff_t>(min_end), p});
            else if (in.x == kLazy && count < in.max)
              stack_.push_back({Backtrack::kLazy, pc, p, static_cast<ptrdiff_t>(count)});
            pos = p;
            ++pc;
            continue;
          }
          case Op::kSplit:
            stack_.push_back({Backtrack::kBranch, in.y, pos, 0});
            pc = in.x;
            continue;
          case Op::kJmp:
            pc = in.x;
            continue;
          case Op::kSave:
            save(in.x, static_cast<ptrdiff_t>(pos));
            ++pc;
            continue;
          case Op::kCheckProgress:
            pc = slots_[in.min] != static_cast<ptrdiff_t>(pos) ? in.x : in.y;
            continue;
          case Op::kAssert:
            if (!check(in.assertion, pos)) break;
            ++pc;
            continue;
          case Op::kBackref:
            if (!backref(in, pos)) break;
            ++pc;
            continue;
          case Op::kLook: {
            const Look& lk = re_.looks[static_cast<size_t>(in.x)];
            std::vector<ptrdiff_t> before;
            if (lk.has_captures) before = slots_;
            size_t look_end = pos;
            const bool ok =
                lk.ahead ? run(lk.pc, pos, false, kNoEnd, look_end) : lookbehind(lk, pos);
            if (lk.negate) {
              if (ok) {
                if (lk.has_captures) slots_ = before;
                break;
              }
              ++pc;
              continue;
            }
            if (!ok) break;
            if (lk.has_captures)
              for (size_t s = 0; s < slots_.size(); ++s)
                if (slots_[s] != before[s]) {
                  const ptrdiff_t now = slots_[s];
                  slots_[s] = before[s];
                  save(static_cast<int>(s), now);
                }
            if (lk.atomic) pos = look_end;
            ++pc;
            continue;
          }
          case Op::kMatch:
            if (top ? (must_advance_ && pos == start_) || (match_all_ && pos != n)
                    : required_end != kNoEnd && pos != required_end)
              break;
            end = pos;
            stack_.resize(base);
            return true;
        }
      // Backtrack to the most recent choice point.
      for (;;) {
        if (stack_.size() == base) return false;
        step(pos);
        Backtrack& b = stack_.back();
        if (b.kind == Backtrack::kRestore) {
          slots_[static_cast<size_t>(b.pc)] = b.aux;
          stack_.pop_back();
          continue;
        }
        if (b.kind == Backtrack::kBranch) {
          pc = b.pc;
          pos = b.pos;
          stack_.pop_back();
          break;
        }
        if (b.kind == Backtrack::kGreedy) {  // give back one character (or more, see give_back)
          size_t p = 0;
          if (!give_back(b, top, p)) {
            stack_.pop_back();
            continue;
          }
          pc = b.pc + 1;
          if (p <= static_cast<size_t>(b.aux))
            stack_.pop_back();
          else
            b.pos = p;
          pos = p;
          break;
        }
        // kLazy: take one more character
        const Inst& rep = re_.prog[static_cast<size_t>(b.pc)];
        char32_t cp = 0;
        if (static_cast<uint32_t>(b.aux) >= rep.max || b.pos >= n) {
          stack_.pop_back();
          continue;
        }
        const size_t next = decode_at(text_, b.pos, cp);
        if (!test(rep, cp)) {
          stack_.pop_back();
          continue;
        }
        b.pos = next;
        ++b.aux;
        pc = b.pc + 1;
        pos = next;
        break;
      }
    }
  }
};

size_t next_unit(std::string_view text, size_t pos) {
  char32_t cp = 0;
  return decode_at(text, pos, cp);
}

// The parts of a sub() replacement template.
struct TemplatePart {
  std::string literal;
  int group = -1;  // >= 0: insert this group instead
};

// One search of vm's text from byte `from`: the first start position (or only `from` if
// anchored) where the program matches. must_advance forbids an empty match at `from`.
bool find(const Regex::Impl& re, Machine& vm, std::string_view text, size_t from, bool anchored,
          bool match_all, bool must_advance, Regex::Match& m) {
  const size_t n = text.size();
  if (from > n) from = n;  // as Python clamps pos
  vm.new_search(from);
  const Anchor anchor = re.anchor;
  const int groups = re.groups;
  size_t start = from;
  for (;;) {
    if (!anchored) {
      if (anchor == Anchor::kText && start != 0) return false;
      if (anchor == Anchor::kLine && start != 0 && text[start - 1] != '\n') {
        const void* nl = std::memchr(text.data() + start, '\n', n - start);
        if (!nl) return false;
        start = static_cast<size_t>(static_cast<const char*>(nl) - text.data()) + 1;
        continue;
      }
      if (re.use_first_bytes) {
        if (start >= n) return false;
        if (!re.first_bytes[static_cast<unsigned char>(text[start])]) {
          start = next_unit(text, start);
          continue;
        }
      }
    }
    size_t end = 0;
    if (vm.attempt(start, must_advance && start == from, match_all, end)) {
      m.begin = start;
      m.end = end;
      m.groups.assign(static_cast<size_t>(groups) + 1, {-1, -1});
      m.groups[0] = {static_cast<ptrdiff_t>(start), static_cast<ptrdiff_t>(end)};
      const auto& slots = vm.slots();
      for (size_t g = 1; g <= static_cast<size_t>(groups); ++g)
        if (slots[2 * g] >= 0 && slots[2 * g + 1] >= 0)
          m.groups[g] = {slots[2 * g], slots[2 * g + 1]};
      return true;
    }
    if (anchored || start >= n) return false;
    start = next_unit(text, start);
  }
}

}  // namespace

Regex::Regex(std::string_view pattern, unsigned flags) {
  auto re = std::make_shared<Impl>();
  re->pattern = std::string(pattern);
  if (flags & ~unsigned{kMultiline | kDotAll | kIgnoreCase})
    throw InvalidArgument("regex '" + shown(pattern) + "': unknown flags " + std::to_string(flags));
  re->flags = flags;
  Parser parser(*re);
  const int root = parser.parse();
  Compiler(*re).compile(root);
  const First f = first_of(*re, root);
  if (!f.nullable) {
    re->use_first_bytes = true;
    re->first_bytes = f.bytes;
  }
  re->anchor = anchor_of(*re, root);
  re->nodes.clear();  // only the program is needed from here on
  re->nodes.shrink_to_fit();
  impl_ = std::move(re);
}

bool Regex::search(std::string_view text, Match& m, size_t from) const {
  Machine vm(*impl_, text);
  return find(*impl_, vm, text, from, false, false, false, m);
}

bool Regex::match(std::string_view text, Match& m, size_t from) const {
  Machine vm(*impl_, text);
  return find(*impl_, vm, text, from, true, false, false, m);
}

bool Regex::fullmatch(std::string_view text) const {
  Match m;
  Machine vm(*impl_, text);
  return find(*impl_, vm, text, 0, true, true, false, m);
}

std::vector<Regex::Match> Regex::find_all(std::string_view text) const {
  std::vector<Match> out;
  size_t pos = 0;
  bool must_advance = false;
  Match m;
  Machine vm(*impl_, text);
  while (pos <= text.size() && find(*impl_, vm, text, pos, false, false, must_advance, m)) {
    must_advance = m.end == m.begin;
    pos = m.end;
    out.push_back(m);
  }
  return out;
}

std::string Regex::sub(std::string_view text,
                       const std::function<std::string(const Match&)>& replace,
                       size_t count) const {
  std::string out;
  size_t last = 0, pos = 0, done = 0;
  bool must_advance = false;
  Match m;
  Machine vm(*impl_, text);
  while ((count == 0 || done < count) &&
         find(*impl_, vm, text, pos, false, false, must_advance, m)) {
    out.append(text.substr(last, m.begin - last));
    out += replace(m);
    last = m.end;
    pos = m.end;
    must_advance = m.end == m.begin;
    ++done;
  }
  out.append(text.substr(last));
  return out;
}

std::string Regex::sub(std::string_view text, std::string_view replacement, size_t count) const {
  // Parse the template once (Python's re._compile_template).
  const Impl& re = *impl_;
  const auto bad = [&](const std::string& what, size_t at) {
    throw FormatError("regex '" + shown(re.pattern) + "': replacement '" + shown(replacement) +
                      "': " + what + " at offset " + std::to_string(at));
  };
  std::vector<TemplatePart> parts(1);
  const auto add_group = [&](int g, size_t at) {
    if (g < 0 || g > re.groups) bad("invalid group reference " + std::to_string(g), at);
    TemplatePart p;
    p.group = g;
    parts.push_back(p);
    parts.emplace_back();
  };
  const auto is_digit = [&](size_t k) {
    return k < replacement.size() && replacement[k] >= '0' && replacement[k] <= '9';
  };
  const auto is_octal = [&](size_t k) {
    return k < replacement.size() && replacement[k] >= '0' && replacement[k] <= '7';
  };
  for (size_t i = 0; i < replacement.size();) {
    const char c = replacement[i];
    if (c != '\\') {
      parts.back().literal += c;
      ++i;
      continue;
    }
    const size_t esc = i;
    if (i + 1 >= replacement.size()) bad("bad escape (end of pattern)", esc);
    const char e = replacement[i + 1];
    i += 2;
    if (e == 'g') {
      if (i >= replacement.size() || replacement[i] != '<') bad("missing <", i);
      const size_t close = replacement.find('>', i + 1);
      if (close == std::string_view::npos) bad("missing >, unterminated name", i + 1);
      const std::string name(replacement.substr(i + 1, close - i - 1));
      if (name.empty()) bad("missing group name", i + 1);
      int g = re.group_index(name);
      if (g < 0) {
        if (!std::all_of(name.begin(), name.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
          bad("unknown group name '" + name + "'", i + 1);
        g = name.size() > 6 ? -1 : std::stoi(name);
      }
      add_group(g, i + 1);
      i = close + 1;
    } else if (e == '0') {  // octal: \0, \0o, \0oo
      unsigned v = 0;
      for (int k = 0; k < 2 && is_octal(i); ++k)
        v = v * 8 + static_cast<unsigned>(replacement[i++] - '0');
      append_utf8(parts.back().literal, v);
    } else if (e >= '1' && e <= '9') {
      int g = e - '0';
      if (is_digit(i)) {
        if (e <= '7' && is_octal(i) && is_octal(i + 1)) {
          const unsigned v = static_cast<unsigned>(e - '0') * 64 +
                             static_cast<unsigned>(replacement[i] - '0') * 8 +
                             static_cast<unsigned>(replacement[i + 1] - '0');
          if (v > 0377) bad("octal escape value outside of range 0-0o377", esc);
          append_utf8(parts.back().literal, v);
          i += 2;
          continue;
        }
        g = g * 10 + (replacement[i++] - '0');
      }
      add_group(g, esc + 1);
    } else {
      static constexpr std::pair<char, char> kEscapes[] = {{'a', '\a'}, {'b', '\b'}, {'f', '\f'},
                                                           {'n', '\n'}, {'r', '\r'}, {'t', '\t'},
                                                           {'v', '\v'}, {'\\', '\\'}};
      bool known = false;
      for (const auto& k : kEscapes)
        if (k.first == e) {
          parts.back().literal += k.second;
          known = true;
        }
      if (!known) {
        if ((e | 0x20) >= 'a' && (e | 0x20) <= 'z') bad(std::string("bad escape \\") + e, esc);
        parts.back().literal += '\\';  // other escapes stay as written
        parts.back().literal += e;
      }
    }
  }
  return sub(
      text,
      [&](const Match& m) {
        std::string r;
        for (const TemplatePart& p : parts) {
          r += p.literal;
          if (p.group >= 0) r += m.group(text, static_cast<size_t>(p.group));
        }
        return r;
      },
      count);
}

std::vector<std::string> Regex::split(std::string_view text, size_t maxsplit) const {
  std::vector<std::string> out;
  size_t last = 0, pos = 0, done = 0;
  bool must_advance = false;
  Match m;
  Machine vm(*impl_, text);
  while ((maxsplit == 0 || done < maxsplit) &&
         find(*impl_, vm, text, pos, false, false, must_advance, m)) {
    out.emplace_back(text.substr(last, m.begin - last));
    for (size_t g = 1; g < m.groups.size(); ++g) out.emplace_back(m.group(text, g));
    last = m.end;
    pos = m.end;
    must_advance = m.end == m.begin;
    ++done;
  }
  out.emplace_back(text.substr(last));
  return out;
}

size_t Regex::group_count() const {
  return static_cast<size_t>(impl_->groups);
}

const std::string& Regex::pattern() const {
  return impl_->pattern;
}

}  // namespace ved::detail
