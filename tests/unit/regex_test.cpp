// ved::detail::Regex against Python's `re` (and, for \p{..}, the `regex` module that follows
// Oniguruma there). Every expected value below is what Python returns for the same call, e.g.
//   [m.span() for m in re.finditer(r"|a", "aa")]  ->  [(0,0), (0,1), (1,1), (1,2), (2,2)]
// with spans converted to byte offsets where the text is not ASCII.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ved/detail/regex.hpp"
#include "ved/error.hpp"

namespace ved::detail {
namespace {

using Spans = std::vector<std::pair<size_t, size_t>>;
using Strings = std::vector<std::string>;

Strings all(const std::string& pattern, std::string_view text, unsigned flags = Regex::kNone) {
  Strings out;
  const Regex re(pattern, flags);
  for (const auto& m : re.find_all(text)) out.emplace_back(m.group(text, 0));
  return out;
}

Spans spans(const std::string& pattern, std::string_view text, unsigned flags = Regex::kNone) {
  Spans out;
  for (const auto& m : Regex(pattern, flags).find_all(text)) out.emplace_back(m.begin, m.end);
  return out;
}

// The groups of the first match, "<unset>" for a group that did not take part.
Strings groups(const std::string& pattern, std::string_view text, unsigned flags = 0) {
  Regex::Match m;
  if (!Regex(pattern, flags).search(text, m)) return {"<no match>"};
  Strings out;
  for (size_t g = 0; g < m.groups.size(); ++g)
    out.push_back(m.groups[g].first < 0 ? "<unset>" : std::string(m.group(text, g)));
  return out;
}

// Expects a FormatError whose message names the pattern and says `what`.
void expect_format_error(const std::string& pattern, const std::string& what) {
  try {
    Regex re(pattern);
    ADD_FAILURE() << "no error for " << pattern;
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    // Long patterns are cut at 200 bytes in messages.
    const std::string shown = pattern.size() > 200 ? pattern.substr(0, 200) + "..." : pattern;
    EXPECT_NE(msg.find("regex '" + shown + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_NE(msg.find("at offset"), std::string::npos) << msg;
  }
}

TEST(Regex, LiteralsAndEscapes) {
  EXPECT_EQ(all("ab", "xabyab"), (Strings{"ab", "ab"}));
  EXPECT_EQ(all(R"(\t\n\r\f\v\\)", "\t\n\r\f\v\\"), (Strings{"\t\n\r\f\v\\"}));
  EXPECT_EQ(all(R"(\.\#\-\/\&\~\ )", ".#-/&~ "), (Strings{".#-/&~ "}));
  EXPECT_EQ(all(R"(\x41\u00e9\U0001F600\x{263A})", "Aé😀☺"), (Strings{"Aé😀☺"}));
  EXPECT_EQ(all(R"(\101\0)", std::string("A\0", 2)), (Strings{std::string("A\0", 2)}));
  EXPECT_EQ(all("é+", "aééb"), (Strings{"éé"}));
  // `{` that does not start {m,n} is a literal, as are `}` and `{}`.
  EXPECT_EQ(all(R"(x{}y|a{b|\\begin{tab)", "x{}y a{b \\begin{tab"),
            (Strings{"x{}y", "a{b", "\\begin{tab"}));
}

TEST(Regex, DotAndClasses) {
  EXPECT_EQ(all("a.c", "abc a\nc aéc"), (Strings{"abc", "aéc"}));
  EXPECT_EQ(all("a.c", "abc a\nc", Regex::kDotAll), (Strings{"abc", "a\nc"}));
  EXPECT_EQ(all("(?s)a.c", "a\nc"), (Strings{"a\nc"}));
  EXPECT_EQ(all("[a-c]+", "xxabcabd"), (Strings{"abcab"}));
  EXPECT_EQ(all("[^a-c]+", "xxabcabd"), (Strings{"xx", "d"}));
  EXPECT_EQ(all("[]a]+", "a]]b"), (Strings{"a]]"}));  // ']' first is a literal
  EXPECT_EQ(all(R"([\]\\-]+)", "a]\\-b"), (Strings{"]\\-"}));
  EXPECT_EQ(all("[-a]+|[b-]+", "-a-b-"), (Strings{"-a-", "b-"}));
  EXPECT_EQ(all(R"([\b])", "a\bb"), (Strings{"\b"}));  // backspace inside a class
  EXPECT_EQ(all("[😀-😂]", "😁x😃"), (Strings{"😁"}));
  EXPECT_EQ(all(R"([\(\)\[\]\{\}])", "f(x)[y]{z}"), (Strings{"(", ")", "[", "]", "{", "}"}));
}

TEST(Regex, UnicodeShorthands) {
  // \d = Nd: Arabic-Indic digits count, superscripts (No) do not.
  EXPECT_EQ(all(R"(\d+)", "12 ٣٤ ²"), (Strings{"12", "٣٤"}));
  // \w = letters, numbers and '_'; '·' (Po) is not one.
  EXPECT_EQ(all(R"(\w+)", "héllo_wörld 42 x·y ²"), (Strings{"héllo_wörld", "42", "x", "y", "²"}));
  EXPECT_EQ(all(R"(\W+)", "héllo, wörld!"), (Strings{", ", "!"}));
  // \s = str.isspace(): includes U+001C (file separator), U+0085 and U+2003.
  EXPECT_EQ(all(R"(\s+)", "a \t\n\x1c\u0085b\u2003c"), (Strings{" \t\n\x1c\u0085", "\u2003"}));
  EXPECT_EQ(all(R"(\S+)", "a \t\nbc"), (Strings{"a", "bc"}));
  EXPECT_EQ(all(R"([\d\s]+)", "a1 2b"), (Strings{"1 2"}));
  EXPECT_EQ(all(R"([^\s\w]+)", "a, b!?"), (Strings{",", "!?"}));
}

TEST(Regex, UnicodeProperties) {
  EXPECT_EQ(all(R"(\p{L}+)", "émigré ÑAND 中文 42"), (Strings{"émigré", "ÑAND", "中文"}));
  EXPECT_EQ(all(R"(\p{Lu}+)", "aBCdÉ"), (Strings{"BC", "É"}));
  EXPECT_EQ(all(R"(\p{N}+)", "x42 ４５६ ²½"), (Strings{"42", "４５६", "²½"}));
  EXPECT_EQ(all(R"(\p{P}+)", "a,b!?(c)"), (Strings{",", "!?(", ")"}));
  EXPECT_EQ(all(R"(\p{S}+)", "1+1=2 $5 ©"), (Strings{"+", "=", "$", "©"}));
  EXPECT_EQ(all(R"(\p{Z}+)", "a b\u00a0\u3000c"), (Strings{" ", "\u00a0\u3000"}));
  EXPECT_EQ(all(R"(\p{M}+)", "e\u0301\u0308x"), (Strings{"\u0301\u0308"}));
  EXPECT_EQ(all(R"(\p{C}+)", "a\x01\u200bb"), (Strings{"\x01\u200b"}));
  EXPECT_EQ(all(R"(\P{L}+)", "ab12cd"), (Strings{"12"}));
  EXPECT_EQ(all(R"(\p{^L}+)", "ab12cd"), (Strings{"12"}));
  EXPECT_EQ(all(R"(\pN+)", "ab12cd"), (Strings{"12"}));
  EXPECT_EQ(all(R"(\p{Letter}+)", "ab12cd"), (Strings{"ab", "cd"}));
  EXPECT_EQ(all(R"([^\p{L}\p{N}]+)", "ab, 12!"), (Strings{", ", "!"}));
}

TEST(Regex, Anchors) {
  EXPECT_EQ(spans("^", "a\nb\n"), (Spans{{0, 0}}));
  EXPECT_EQ(spans("$", "a\nb\n"), (Spans{{3, 3}, {4, 4}}));  // before the final \n and at the end
  EXPECT_EQ(spans("^", "a\nb\n", Regex::kMultiline), (Spans{{0, 0}, {2, 2}, {4, 4}}));
  EXPECT_EQ(spans("$", "a\nb\n", Regex::kMultiline), (Spans{{1, 1}, {3, 3}, {4, 4}}));
  EXPECT_EQ(all(R"((?m)^\w+$)", "ab\ncd\n\nef"), (Strings{"ab", "cd", "ef"}));
  EXPECT_EQ(all(R"(\A\w|\w\Z|\w\z)", "ab\ncd"), (Strings{"a", "d"}));
  EXPECT_EQ(all(R"(\w\Z)", "ab\n"), Strings{});  // \Z is Python's: the very end
  EXPECT_EQ(spans(R"(\b)", "ab cd"), (Spans{{0, 0}, {2, 2}, {3, 3}, {5, 5}}));
  EXPECT_EQ(spans(R"(\B)", "ab cd"), (Spans{{1, 1}, {4, 4}}));
  EXPECT_EQ(spans(R"(\b)", ""), Spans{});  // Python: no boundary in an empty string
  EXPECT_EQ(spans(R"(\B)", ""), Spans{});
  EXPECT_EQ(all(R"(\b\w)", "été x"), (Strings{"é", "x"}));
}

TEST(Regex, GroupsAndAlternation) {
  EXPECT_EQ(all("a|ab", "abab"), (Strings{"a", "a"}));  // first alternative wins
  EXPECT_EQ(groups("(a|ab)(c|bcd)(d*)", "abcd"), (Strings{"abcd", "a", "bcd", ""}));
  EXPECT_EQ(groups("(a)(b)?", "ac"), (Strings{"a", "a", "<unset>"}));
  EXPECT_EQ(groups("(?:a(b)?)+", "aab"), (Strings{"aab", "b"}));
  EXPECT_EQ(groups("(?:(a)|b)*", "ab"),
            (Strings{"ab", "a"}));  // captures persist across iterations
  EXPECT_EQ(groups(R"((?P<year>\d{4})-(?<mon>\d\d))", "on 2023-10"),
            (Strings{"2023-10", "2023", "10"}));
  EXPECT_EQ(groups("(?'n'x)", "x"), (Strings{"x", "x"}));
  EXPECT_EQ(Regex("(a)(?:b)(?P<c>c)((d))").group_count(), 4u);
  EXPECT_EQ(Regex("a(?#comment)b").pattern(), "a(?#comment)b");
  EXPECT_EQ(all("a(?#comment)b", "ab"), (Strings{"ab"}));
}

TEST(Regex, Quantifiers) {
  EXPECT_EQ(all("a{2}", "aaaaa"), (Strings{"aa", "aa"}));
  EXPECT_EQ(all("a{2,}", "aaaaa"), (Strings{"aaaaa"}));
  EXPECT_EQ(all("a{,2}", "aaa"), (Strings{"aa", "a", ""}));
  EXPECT_EQ(all("a{1,3}?", "aaa"), (Strings{"a", "a", "a"}));
  EXPECT_EQ(all("(ab){2}", "abababab"), (Strings{"abab", "abab"}));
  EXPECT_EQ(all("a*?", "aa"), (Strings{"", "a", "", "a", ""}));
  EXPECT_EQ(all("a+?", "aa"), (Strings{"a", "a"}));
  EXPECT_EQ(all("a??", "a"), (Strings{"", "a", ""}));
  EXPECT_EQ(groups("(a+?)(a*)", "aaa"), (Strings{"aaa", "a", "aa"}));
  EXPECT_EQ(all(".*?x", "abxcx"), (Strings{"abx", "cx"}));
  EXPECT_EQ(groups("(a|b){2,3}?c", "ababc"), (Strings{"babc", "b"}));
  // Possessive quantifiers and atomic groups never give back.
  EXPECT_EQ(all("a++b|a*+a", "aab aaa"), (Strings{"aab"}));
  EXPECT_EQ(all("(?>a+)b", "aaab"), (Strings{"aaab"}));
  EXPECT_EQ(all("(?:ab)*+a", "ababa"), (Strings{"ababa"}));
  // An iteration that matches empty ends the loop (Python's rule): group 1 is "".
  EXPECT_EQ(groups("(a*)*", "b"), (Strings{"", ""}));
  EXPECT_EQ(groups("(a|)*", "ab"), (Strings{"a", ""}));
  EXPECT_EQ(groups("(|a)*", "a"), (Strings{"", ""}));
  // Repeating a group that holds an anchor is allowed (a bare anchor is not).
  EXPECT_EQ(spans("(?:^)*x", "x"), (Spans{{0, 1}}));
}

TEST(Regex, Backreferences) {
  EXPECT_EQ(all(R"((\w)\1)", "aabbcd"), (Strings{"aa", "bb"}));
  EXPECT_EQ(all(R"((?P<x>\w)(?P=x))", "aabbcd"), (Strings{"aa", "bb"}));
  EXPECT_EQ(all(R"((?<x>\w)\k<x>)", "xaab"), (Strings{"aa"}));
  EXPECT_EQ(all(R"((?i)(a)\1)", "aA"), (Strings{"aA"}));
  EXPECT_EQ(all(R"((a)|b\1)", "bb"), Strings{});  // a reference to an unset group fails
  // \NN is a group number up to two digits; three octal digits are a character.
  EXPECT_EQ(all(R"((a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\10)", "abcdefghijj"), (Strings{"abcdefghijj"}));
  EXPECT_EQ(all(R"(\101)", "A"), (Strings{"A"}));
}

TEST(Regex, LookAround) {
  EXPECT_EQ(spans("a(?=b)", "ab ac"), (Spans{{0, 1}}));
  EXPECT_EQ(spans("a(?!b)", "ab ac"), (Spans{{3, 4}}));
  EXPECT_EQ(spans("(?<=a)b", "ab cb"), (Spans{{1, 2}}));
  EXPECT_EQ(spans("(?<!a)b", "ab cb"), (Spans{{4, 5}}));
  EXPECT_EQ(spans(R"((?<=\d{3})x)", "12x 123x"), (Spans{{7, 8}}));
  EXPECT_EQ(spans("(?<=é)x", "éx"), (Spans{{2, 3}}));  // one code point back, two bytes
  // Bounded alternatives of different widths (Oniguruma allows them; Python does not).
  EXPECT_EQ(spans("(?<=ab|cde)x", "abx cdex zx"), (Spans{{2, 3}, {7, 8}}));
  // Captures made inside a positive look-ahead are kept.
  EXPECT_EQ(groups("(?=(a+))a", "aaa"), (Strings{"a", "aaa"}));
  EXPECT_EQ(groups("(?!(a))b", "ab"), (Strings{"b", "<unset>"}));
  EXPECT_EQ(all(R"(\s+(?!\S)|\s+)", "a   b"), (Strings{"  ", " "}));
  EXPECT_EQ(spans("(?<=b)a", "ba"), (Spans{{1, 2}}));
}

TEST(Regex, Flags) {
  EXPECT_EQ(all("hello", "HeLLo hello", Regex::kIgnoreCase), (Strings{"HeLLo", "hello"}));
  EXPECT_EQ(all("(?i)[a-z]+", "ABCdef1"), (Strings{"ABCdef"}));
  EXPECT_EQ(all("(?i)[^a-z]+", "ABC123"), (Strings{"123"}));
  EXPECT_EQ(all("(?i)é", "É"), (Strings{"É"}));
  EXPECT_EQ(all("(?i)[é]", "É"), (Strings{"É"}));
  EXPECT_EQ(all("(?i)k", "K\u212a"), (Strings{"K", "\u212a"}));  // Kelvin sign folds to 'k'
  EXPECT_EQ(all("(?i:a)b", "Ab AB"), (Strings{"Ab"}));
  EXPECT_EQ(all("(?i)a(?-i:b)", "AB Ab"), (Strings{"Ab"}));
  EXPECT_EQ(all("(?ms)^a.", "a\na\n"), (Strings{"a\n", "a\n"}));
  EXPECT_EQ(all(R"(^\.\s*$)", "a\n.  \n.\nb", Regex::kMultiline), (Strings{".  ", "."}));
  EXPECT_THROW(Regex("a", 8), InvalidArgument);
}

TEST(Regex, SearchMatchFullmatch) {
  const Regex re("a");
  Regex::Match m;
  ASSERT_TRUE(re.search("ba", m, 1));
  EXPECT_EQ(m.begin, 1u);
  EXPECT_EQ(m.end, 2u);
  EXPECT_FALSE(re.match("ba", m));
  EXPECT_TRUE(re.match("ba", m, 1));
  // ^ still means the start of the text when searching from elsewhere (Python's pos).
  EXPECT_FALSE(Regex("^a").search("ba", m, 1));
  // \b and look-behind see the text before `from`.
  EXPECT_TRUE(Regex(R"(\Ba)").match("ba", m, 1));
  EXPECT_FALSE(Regex(R"(\ba)").match("ba", m, 1));
  EXPECT_TRUE(Regex("(?<=b)a").match("ba", m, 1));
  ASSERT_TRUE(Regex("$").search("ab", m, 10));  // pos past the end is clamped
  EXPECT_EQ(m.begin, 2u);
  EXPECT_TRUE(Regex("a|ab").fullmatch("ab"));  // fullmatch backtracks to the longer one
  EXPECT_TRUE(Regex("a*?").fullmatch("aaa"));
  EXPECT_FALSE(Regex(R"(\d+)").fullmatch("12a"));
  EXPECT_EQ(m.group("ab", 7), "");
}

TEST(Regex, FindAllEmptyMatches) {
  // Python 3.7+: an empty match may follow a non-empty one; after an empty match the next match
  // must not be empty at the same place.
  EXPECT_EQ(spans("|a", "aa"), (Spans{{0, 0}, {0, 1}, {1, 1}, {1, 2}, {2, 2}}));
  EXPECT_EQ(spans("x*", "abxd"), (Spans{{0, 0}, {1, 1}, {2, 3}, {3, 3}, {4, 4}}));
  EXPECT_EQ(spans("x*", "é"), (Spans{{0, 0}, {2, 2}}));  // advances a whole code point
  EXPECT_EQ(spans("", ""), (Spans{{0, 0}}));
}

TEST(Regex, Sub) {
  EXPECT_EQ(Regex("x*").sub("abxd", "-"), "-a-b--d-");
  EXPECT_EQ(Regex("x*").sub("abxd", "-", 2), "-a-bxd");
  EXPECT_EQ(Regex(R"((\w+) (\w+))").sub("hello world", R"(\2 \1)"), "world hello");
  EXPECT_EQ(Regex(R"((?P<w>\w+))").sub("ab cd", R"(<\g<w>\g<0>\g<1>>)"), "<ababab> <cdcdcd>");
  EXPECT_EQ(Regex("(a)(b)?").sub("ab a", R"([\1|\2])"), "[a|b] [a|]");  // unset group: ""
  // Known escapes are translated, other non-letter escapes kept as written.
  EXPECT_EQ(Regex("a").sub("a", R"(\n\t\\\&\[\])"), "\n\t\\\\&\\[\\]");
  EXPECT_EQ(Regex("a").sub("a", R"(\101\0\07)"), std::string("A\0\a", 3));
  // Nougat's equation-tag rule.
  EXPECT_EQ(Regex(R"(^\(([\d.]+[a-zA-Z]?)\) \\\[(.+?)\\\]$)", Regex::kMultiline)
                .sub("(1.2a) \\[x^2\\]\n(3) \\[y\\]", R"(\[\2 \\tag{\1}\])"),
            "\\[x^2 \\tag{1.2a}\\]\n\\[y \\tag{3}\\]");
  EXPECT_EQ(Regex(R"(\d)").sub(
                "a1b22",
                [](const Regex::Match& m) { return "<" + std::to_string(m.end - m.begin) + ">"; }),
            "a<1>b<1><1>");
  const Regex two("(a)(b)");
  EXPECT_THROW(two.sub("ab", R"(\3)"), FormatError);
  EXPECT_THROW(two.sub("ab", R"(\g<name>)"), FormatError);
  EXPECT_THROW(two.sub("ab", R"(\q)"), FormatError);
  EXPECT_THROW(two.sub("ab", "\\"), FormatError);
  EXPECT_THROW(two.sub("ab", R"(\g<1)"), FormatError);
}

TEST(Regex, Split) {
  EXPECT_EQ(Regex("x*").split("abxd"), (Strings{"", "a", "b", "", "d", ""}));
  EXPECT_EQ(Regex(R"((\W))").split("a,b;c"), (Strings{"a", ",", "b", ";", "c"}));
  EXPECT_EQ(Regex(R"((\W))").split("a,b;c", 1), (Strings{"a", ",", "b;c"}));
  EXPECT_EQ(Regex("(a)|b").split("xbyaz"), (Strings{"x", "", "y", "a", "z"}));  // unset: ""
  EXPECT_EQ(Regex("(?m)^$").split("a\n\nb"), (Strings{"a\n", "\nb"}));
  EXPECT_EQ(Regex(",").split(""), (Strings{""}));
}

// tokenizer.json pre-tokenizer patterns; expectations from the `regex` module.
TEST(Regex, Gpt2PreTokenizerPattern) {
  const std::string gpt2 =
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  EXPECT_EQ(all(gpt2, "I'm   here's 'll 12,345x"),
            (Strings{"I", "'m", "  ", " here", "'s", " '", "ll", " 12", ",", "345", "x"}));
  EXPECT_EQ(all(gpt2, "  leading\n\n trailing   "),
            (Strings{" ", " leading", "\n\n", " trailing", "   "}));
  EXPECT_EQ(all(gpt2, "émigré ÑAND 中文 ４５६"), (Strings{"émigré", " ÑAND", " 中文", " ４５६"}));
  EXPECT_EQ(all(gpt2, "don't!!! ?? tab\t\tend"),
            (Strings{"don", "'t", "!!!", " ??", " tab", "\t", "\t", "end"}));
  EXPECT_EQ(all(gpt2, "a\u00a0b\u3000c"), (Strings{"a", "\u00a0", "b", "\u3000", "c"}));
  EXPECT_EQ(all(gpt2, ""), Strings{});
}

TEST(Regex, NougatTokenizerPattern) {
  const std::string nougat = R"([\(\)\[\]\{\}]|([!"\#\$%\&'\*\+,\-\./:;<=>\?\\\^_`\|\~])\1*)";
  EXPECT_EQ(all(nougat, "f(x) = [a]{b}"), (Strings{"(", ")", "=", "[", "]", "{", "}"}));
  EXPECT_EQ(all(nougat, "wait!!! ... --> ??"), (Strings{"!!!", "...", "--", ">", "??"}));
  EXPECT_EQ(all(nougat, "a\\\\b ^^ ``` || ~~ __"),
            (Strings{"\\\\", "^^", "```", "||", "~~", "__"}));
}

TEST(Regex, MalformedPatterns) {
  expect_format_error("(", "missing ), unterminated subpattern");
  expect_format_error(")", "unbalanced parenthesis");
  expect_format_error("a**", "multiple repeat");
  expect_format_error("*a", "nothing to repeat");
  expect_format_error("^*", "nothing to repeat");
  expect_format_error("a{3,2}", "min repeat greater than max repeat");
  expect_format_error("a{100001}", "the repetition number is too large");
  expect_format_error("[a", "unterminated character set");
  expect_format_error("[z-a]", "bad character range");
  expect_format_error(R"([\d-z])", "bad character range");
  expect_format_error(R"(\q)", "bad escape \\q");
  expect_format_error("\\", "bad escape (end of pattern)");
  expect_format_error(R"(\x4)", "incomplete escape");
  expect_format_error(R"(\U00110000)", "out of range");
  expect_format_error("(?P<1>a)", "bad character in group name");
  expect_format_error("(?<n>a)(?<n>b)", "redefinition of group name");
  expect_format_error("(?<=a+)b", "look-behind requires fixed-width pattern");
  expect_format_error(R"(\2(a))", "invalid group reference 2");
  expect_format_error(R"((a\1))", "cannot refer to an open group");
  expect_format_error("(?P=nope)", "unknown group name 'nope'");
  expect_format_error(R"(\p{Foo})", "unknown property name 'Foo'");
  expect_format_error("(?x)a", "unsupported flag 'x'");
  expect_format_error("(?(1)a|b)", "unknown extension");
  expect_format_error("(?#", "unterminated comment");
  expect_format_error("a\xff", "invalid UTF-8");
  expect_format_error(std::string(300, '(') + std::string(300, ')'), "too deeply nested");
  expect_format_error("(?:(?:(?:ab){1000}){1000})", "pattern too large");
}

TEST(Regex, InvalidUtf8Text) {
  // Each ill-formed byte is one unit: '.' and negated classes match it, literals never do.
  const std::string text = "a\xff\xc3(b\xe2\x82";
  EXPECT_EQ(spans(".", text), (Spans{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}}));
  EXPECT_EQ(all(R"([^a-z(]+)", text), (Strings{"\xff\xc3", "\xe2\x82"}));
  EXPECT_EQ(all(R"(\w+)", text), (Strings{"a", "b"}));
  EXPECT_EQ(spans(R"((?<=\W)b)", text), (Spans{{4, 5}}));
  EXPECT_EQ(spans("x*", "\x80"), (Spans{{0, 0}, {1, 1}}));
  // A truncated sequence at the very end is read without going past it.
  EXPECT_EQ(Regex(R"(\S)").sub("\xf0\x9f\x98", "?"), "???");
  EXPECT_EQ(spans(".$", "\xe2\x82"), (Spans{{1, 2}}));
}

TEST(Regex, CatastrophicPatternsEndQuickly) {
  const auto start = std::chrono::steady_clock::now();
  const std::string as(100000, 'a');
  Regex::Match m;
  // Exponential in a plain backtracker (and in Python): an answer or an InvalidArgument that
  // names the pattern, quickly.
  for (const std::string pattern : {"(a*)*b", "(a+)+b", "(?:a|aa)*c", ".*x"}) {
    try {
      EXPECT_FALSE(Regex(pattern).search(as, m)) << pattern;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("regex '" + pattern + "'"), std::string::npos)
          << e.what();
    }
  }
  // Remembering failed states makes these linear or quadratic instead of exponential / cubic.
  EXPECT_FALSE(Regex("(a|a)*b").search(as, m));
  EXPECT_FALSE(Regex(R"(\s*[& ]*\s*x)").search(std::string(2000, ' '), m));
  // Linear scans of a large text stay inside the budget.
  const std::string spaces = std::string(1000000, ' ') + "x";
  EXPECT_EQ(Regex(R"(\s+(?!\S)|\s+)").find_all(spaces).size(), 2u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(Regex, ConstUseFromManyThreads) {
  const Regex re(R"( ?\p{L}+| ?\p{N}+|\s+)");
  const std::string text = "one two 3 four";
  std::vector<std::thread> threads;
  std::vector<size_t> counts(4);
  for (size_t t = 0; t < counts.size(); ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < 200; ++k) counts[t] += re.find_all(text).size();
    });
  for (auto& th : threads) th.join();
  for (size_t c : counts) EXPECT_EQ(c, 200u * 4);
}

}  // namespace
}  // namespace ved::detail
