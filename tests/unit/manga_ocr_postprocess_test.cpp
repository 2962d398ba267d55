// manga-ocr post-processing (postprocess("manga-ocr", text), ved/processing/postprocess.hpp).
//
// There is no reference fixture for it. Every expected string below was worked out by hand from
// manga_ocr's post_process rules (kha-white/manga-ocr, manga_ocr/ocr.py), not taken from ved's
// output:
//   1. ''.join(text.split())  - every character for which Python's str.isspace() is true goes;
//   2. '…' -> '...';
//   3. re.sub('[・.]{2,}', ...) - a run of two or more '・' (U+30FB) / '.' becomes as many '.';
//   4. jaconv.h2z(text, ascii=True, digit=True) - ASCII '!'..'~' to U+FF01..U+FF5E, half-width
//      katakana and punctuation (U+FF61..U+FF9D) to full width, and the 26 kana + sound-mark
//      pairs jaconv lists (ｶﾞ..ﾄﾞ, ﾊﾞ..ﾎﾞ, ﾊﾟ..ﾎﾟ, ｳﾞ) to one character. Other characters,
//      full-width ones included, are kept.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ved/processing/postprocess.hpp"

namespace ved {
namespace {

struct Case {
  const char* input;
  const char* expected;
};

void expect_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    EXPECT_EQ(manga_ocr_postprocess(c.input), c.expected) << "input: " << c.input;
    EXPECT_EQ(postprocess("manga-ocr", c.input), c.expected) << "input: " << c.input;
  }
}

TEST(MangaOcrPostprocess, Whitespace) {
  expect_cases({
      {"ちょっと 待って!", "ちょっと待って！"},        // rule 1, then '!' by rule 4
      {"", ""},                                        // nothing to do
      {" \t\n\r\v\f", ""},                             // ASCII whitespace only
      {"\u3000\u00a0\u2003\u0085\u2028\x1c\x1f", ""},  // str.isspace() is true for all
      {"あ\u3000い\u00a0う\u2003え\u0085お\x1dか", "あいうえおか"},  // and inside text
      {"あ\u200bい", "あ\u200bい"},  // ZERO WIDTH SPACE is not whitespace in Python
  });
}

TEST(MangaOcrPostprocess, Dots) {
  expect_cases({
      {"なんだ…", "なんだ．．．"},   // rule 2, then '.' -> '．'
      {"……", "．．．．．．"},        // each '…' gives three
      {"・・・", "．．．"},          // rule 3
      {"・", "・"},                  // a single '・' is no run
      {"a.b", "ａ．ｂ"},             // nor is a single '.'
      {"・.・", "．．．"},           // mixed runs count
      {"…・", "．．．．"},           // rule 2 runs first: "...・" is one run of four
      {"あ・い・う", "あ・い・う"},  // separated middle dots stay
      {"･･", "・・"},    // half-width dots are not in rule 3's class; rule 4 widens them after
      {"。。", "。。"},  // the ideographic full stop is no dot for rule 3
  });
}

TEST(MangaOcrPostprocess, AsciiAndDigits) {
  expect_cases({
      {"ABC 123", "ＡＢＣ１２３"},
      {"2024年!?", "２０２４年！？"},
      {"!\"#$%&'()*+,-./", "！＂＃＄％＆＇（）＊＋，－．／"},
      {":;<=>?@[\\]^_`{|}~", "：；＜＝＞？＠［＼］＾＿｀｛｜｝～"},
      {"xyzXYZ09", "ｘｙｚＸＹＺ０９"},
      {"ＡＢＣ１２３！", "ＡＢＣ１２３！"},  // already full width
      {"\x7f", "\x7f"},                      // DEL is outside '!'..'~'
  });
}

TEST(MangaOcrPostprocess, HalfWidthKana) {
  expect_cases({
      {"ｶﾞｷﾞ", "ガギ"},
      {"ﾃｨﾛ･ﾌｨﾅｰﾚ", "ティロ・フィナーレ"},  // jaconv's README example
      {"ｻﾞｼﾞｽﾞｾﾞｿﾞﾀﾞﾁﾞﾂﾞﾃﾞﾄﾞ", "ザジズゼゾダヂヅデド"},
      {"ﾊﾞﾋﾞﾌﾞﾍﾞﾎﾞﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ", "バビブベボパピプペポ"},
      {"ｳﾞｧｲｵﾘﾝ", "ヴァイオリン"},
      {"｢ﾊｲ｣｡､ｦｯｰﾝ", "「ハイ」。、ヲッーン"},
      // Pairs jaconv does not list keep the half-width mark (NFKC would compose some of them).
      {"ﾜﾞ", "ワﾞ"},
      {"ｱﾟｶﾟ", "アﾟカﾟ"},
      {"ﾞﾟ", "ﾞﾟ"},
      {"ｶﾞﾞ", "ガﾞ"},  // one mark per kana
      {"ﾊﾞﾟ", "バﾟ"},
      {"ガﾞ", "ガﾞ"},  // a full-width kana never takes a half-width mark
  });
}

TEST(MangaOcrPostprocess, InvalidUtf8IsReplacedLikeNougat) {
  // Decoded like bytes.decode("utf-8", errors="replace") first: one U+FFFD per ill-formed part.
  expect_cases({
      {"ab\xff", "ａｂ\uFFFD"},
      {"\xe3\x81", "\uFFFD"},  // a cut-off 'あ'
      {"\xc3 \x80", "\uFFFD\uFFFD"},
      {"\xe2\x80\xa6\xe2\x80", "．．．\uFFFD"},  // '…' then a cut-off '…'
  });
}

TEST(MangaOcrPostprocess, IsRegistered) {
  const auto& names = postprocessor_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "manga-ocr"), names.end());
}

}  // namespace
}  // namespace ved
