// Nougat post-processing (ved/processing/postprocess.hpp) against transformers'
// NougatTokenizerFast.post_process_generation: the 24 fixture pages of
// tests/data/fixtures/postprocess/nougat (whole pipeline with fix_markdown true and false, and
// each helper alone), targeted cases whose expected values are what the Python functions
// return for the same input, large and hostile inputs, and the `ved postprocess` command
// (manga-ocr's rules are tested in manga_ocr_postprocess_test.cpp).

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../cli_runner.hpp"
#include "ved/processing/postprocess.hpp"

namespace ved {
namespace {

const std::string kFixture =
    std::string(VED_TEST_DATA) + "/fixtures/postprocess/nougat/expected.json";

nlohmann::json load_fixture() {
  std::ifstream in(kFixture, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << kFixture;
  return nlohmann::json::parse(in);
}

// Sanitizer builds are several times slower; the limits are for optimized builds.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kSlowdown = 10;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr double kSlowdown = 10;
#else
constexpr double kSlowdown = 1;
#endif
#else
constexpr double kSlowdown = 1;
#endif

template <typename F>
double seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string repeat(const std::string& unit, size_t bytes) {
  std::string s;
  while (s.size() < bytes) s += unit;
  return s;
}

TEST(NougatPostprocess, FixturePagesMatchTransformers) {
  const nlohmann::json fixture = load_fixture();
  ASSERT_EQ(fixture["cases"].size(), 24u);
  for (const auto& c : fixture["cases"]) {
    const std::string name = c["name"];
    const std::string input = c["input"];
    EXPECT_EQ(nougat_postprocess(input), c["fix_markdown_true"].get<std::string>()) << name;
    EXPECT_EQ(nougat_postprocess(input, {false}), c["fix_markdown_false"].get<std::string>())
        << name;
    EXPECT_EQ(postprocess("nougat", input), c["fix_markdown_true"].get<std::string>()) << name;
  }
}

TEST(NougatPostprocess, FixtureHelpersAlone) {
  const nlohmann::json fixture = load_fixture();
  for (const auto& c : fixture["cases"]) {
    const std::string name = c["name"];
    const std::string input = c["input"];
    const auto& h = c["helpers"];
    EXPECT_EQ(nougat::truncate_repetitions(input), h["truncate_repetitions"].get<std::string>())
        << name;
    EXPECT_EQ(nougat::remove_hallucinated_references(input),
              h["remove_hallucinated_references"].get<std::string>())
        << name;
    EXPECT_EQ(nougat::correct_tables(input), h["correct_tables"].get<std::string>()) << name;
    EXPECT_EQ(nougat::normalize_list_like_lines(input),
              h["normalize_list_like_lines"].get<std::string>())
        << name;
    EXPECT_EQ(nougat::markdown_compatible(input), h["markdown_compatible"].get<std::string>())
        << name;
  }
}

TEST(NougatPostprocess, LevenshteinRatio) {
  // Levenshtein.ratio: 2 * LCS / (len1 + len2), by code point.
  EXPECT_DOUBLE_EQ(nougat::levenshtein_ratio("kitten", "sitting"), 8.0 / 13.0);
  EXPECT_DOUBLE_EQ(nougat::levenshtein_ratio("café", "cafe"), 0.75);
  EXPECT_DOUBLE_EQ(nougat::levenshtein_ratio("", ""), 1.0);
  EXPECT_DOUBLE_EQ(nougat::levenshtein_ratio("abc", ""), 0.0);
  // The bit-parallel LCS against the textbook table, across several 64-bit words.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::u32string a, b;
    const size_t na = rng() % 150, nb = rng() % 150;
    for (size_t i = 0; i < na; ++i) a += static_cast<char32_t>('a' + rng() % 4);
    for (size_t i = 0; i < nb; ++i)
      b += static_cast<char32_t>(rng() % 5 ? 'a' + rng() % 4 : 0x4E00);
    std::vector<std::vector<size_t>> t(na + 1, std::vector<size_t>(nb + 1, 0));
    for (size_t i = 1; i <= na; ++i)
      for (size_t j = 1; j <= nb; ++j)
        t[i][j] = a[i - 1] == b[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
    EXPECT_EQ(nougat::internal::lcs_length(a, b), t[na][nb]) << trial;
  }
}

TEST(NougatPostprocess, TruncateRepetitions) {
  EXPECT_EQ(nougat::truncate_repetitions("Intro. " + repeat("This tail repeats itself. ", 130)),
            "Intro. This tail repeats itself. This tail repeats itself.");
  const std::string plain = "Short text that does not repeat at all, really nothing here.";
  EXPECT_EQ(nougat::truncate_repetitions(plain), plain);
  EXPECT_EQ(nougat::truncate_repetitions("Title\n" + repeat("abcdefghij", 80)), "Title\n");
  // 'İ' lower-cases to two characters, so Python's lower-case indices run ahead of the text.
  std::string turkish = "İİ. ";
  for (int i = 0; i < 4; ++i) turkish += "İstanbul again and again! ";
  EXPECT_EQ(nougat::truncate_repetitions(turkish), "İİ. İstanbul again and again! İs");
  EXPECT_THROW(nougat::truncate_repetitions("abc", 0), InvalidArgument);
}

TEST(NougatPostprocess, ReferenceHelpers) {
  EXPECT_EQ(nougat::remove_numbers("  **12_ab**3 c*d "), "ab c*d");
  std::vector<std::string> lines = {"## References", ""};
  for (int k = 1; k <= 20; ++k)
    lines.push_back("* [" + std::to_string(k) +
                    "] Smith, J. The same hallucinated reference again (2020).");
  lines.insert(lines.end(), {"", "Next page text"});
  std::vector<std::string> clean;
  for (const auto& l : lines) clean.push_back(nougat::remove_numbers(l));
  const auto slices = nougat::get_slices(lines, clean);
  ASSERT_EQ(slices, (std::vector<std::pair<size_t, size_t>>{{2, 22}}));
  std::string expected;
  for (size_t k = 2; k < 22; ++k) expected += (k > 2 ? "\n" : "") + lines[k];
  EXPECT_EQ(nougat::remove_slice_from_lines(lines, clean, slices[0]), expected);
  std::string text;
  for (size_t k = 0; k < lines.size(); ++k) text += (k ? "\n" : "") + lines[k];
  EXPECT_EQ(nougat::remove_hallucinated_references(text),
            "\n\n[MISSING_PAGE_POST]\n\n\n\nNext page text");
  EXPECT_THROW(nougat::get_slices(lines, {}), InvalidArgument);
  EXPECT_THROW(nougat::remove_slice_from_lines(lines, clean, {99, 120}), InvalidArgument);
}

TEST(NougatPostprocess, IsNumericIsPythons) {
  for (char32_t c : {U'5', U'٣', U'½', U'Ⅻ', U'一', U'兆', U'〇'})
    EXPECT_TRUE(nougat::internal::is_numeric(c)) << static_cast<uint32_t>(c);
  for (char32_t c : {U'a', U'.', U'中', U' '})
    EXPECT_FALSE(nougat::internal::is_numeric(c)) << static_cast<uint32_t>(c);
}

TEST(NougatPostprocess, OtherHelpers) {
  EXPECT_EQ(nougat::normalize_list_like_lines("- a - 1.2 b c - iv.i d e\n* x * y z"),
            "\n\t- 1.2 b c\n\t- iv.i d e\n\n* y z\n");
  EXPECT_EQ(nougat::correct_tables(
                "text \\begin{table} \\begin{tabular}{l l} a \\end{tabular} \\end{table} Tab. 1"),
            "text \n\\begin{table}\n\\begin{tabular}{l l} a \\end{tabular}\n\\end{table}\nTab. 1");
  EXPECT_EQ(
      nougat::markdown_compatible(
          "(1) \\[a\\]\n\\[b\\] (2a)\nsee https://arxiv.org/abs/1234.5678 now\n```  x = 1  ```"),
      "\\[a \\tag{1}\\]\n\\[b \\tag{2a}\\]\nsee "
      "[https://arxiv.org/abs/1234.5678](https://arxiv.org/abs/1234.5678) now\n```\nx = 1\n```");
}

TEST(NougatPostprocess, InvalidUtf8IsReplacedLikePython) {
  // b"Caf\xe9 ok.\n\xff\xfe# end".decode("utf-8", errors="replace"), then post-processed.
  EXPECT_EQ(nougat_postprocess("Caf\xe9 ok.\n\xff\xfe# end"), "Caf\uFFFD ok.\n\uFFFD\uFFFD# end ");
  for (const char* bytes : {"\xc3", "\xe2\x82", "\xf0\x9f\x98", "\x80\x80 ## \xff"})
    EXPECT_NO_THROW(nougat_postprocess(bytes));
}

TEST(NougatPostprocess, Registry) {
  EXPECT_EQ(postprocessor_names(), (std::vector<std::string>{"none", "nougat", "manga-ocr"}));
  EXPECT_EQ(postprocess("none", "x.\n\n\n\ny"), "x.\n\n\n\ny");
  PostprocessOptions options;
  options.nougat.fix_markdown = false;
  // fix_markdown turns "\[y\] (2)" into a tagged equation (not on the last line, where the
  // space added at the end of the page comes first).
  EXPECT_EQ(postprocess("nougat", "\\[y\\] (2)\nEnd", options), "\\[y\\] (2)\nEnd ");
  EXPECT_EQ(postprocess("nougat", "\\[y\\] (2)\nEnd"), "\\[y \\tag{2}\\]\nEnd ");
  EXPECT_EQ(postprocess("nougat", "\\[y\\] (2)"), "\\[y\\] (2) ");
  try {
    postprocess("manga", "x");
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'manga'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("none, nougat, manga-ocr"), std::string::npos) << e.what();
  }
}

TEST(NougatPostprocess, LargeAndHostileInputsFinishQuickly) {
  const std::string prose = repeat(
      "## Section 1.2\nThe quick brown fox jumps over the lazy dog, see \\[x^2\\] (3) and "
      "http://ex.com/a. Values _x_ and [FOOTNOTE:1]n[ENDFOOTNOTE] here.\n* [12] Smith, J. A "
      "title (2020).\n- a - b - c\n\n",
      1 << 20);
  std::string references;
  for (int k = 0; references.size() < (1 << 20); ++k)
    references += "* [" + std::to_string(k) + "] Smith, J. The same reference again (2020).\n";
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"prose", prose},
      {"repetitive tail",
       "Intro text. " + repeat("the model repeats this sentence forever. ", 1 << 20)},
      {"newlines", std::string(1 << 20, '\n') + "x"},
      {"one long line", repeat("word ", 1 << 20)},
      {"references", references},
      {"broken tables", repeat("1" + std::string(401, '&') + "\n", 1 << 20)},
      // Ambiguous quantifiers over a megabyte of spaces (\s*[& ]*\s* and \W*(.*...)).
      {"tabular spaces", "\\begin{tabular}{ll}" + std::string(1 << 20, ' ') + "x"},
      {"footnote spaces", "a\nFootnote a: thanks:" + std::string(1 << 20, ' ') + "x\nmore"},
      {"bytes",
       [] {
         std::string s;
         for (int i = 0; s.size() < (1 << 20); ++i) s += static_cast<char>(i * 37 % 256);
         return s;
       }()},
  };
  for (const auto& [name, text] : inputs) {
    std::string out;
    const double t = seconds([&] { out = nougat_postprocess(text); });
    EXPECT_LT(t, 2.0 * kSlowdown) << name;
    EXPECT_FALSE(out.empty()) << name;
  }
  // One repetition is kept of a repetitive tail; a list of identical references goes.
  EXPECT_EQ(nougat_postprocess(references, {false}), "\n\n[MISSING_PAGE_POST]\n\n ");
}

// ---- the `ved postprocess` command ----

#ifdef VED_CLI_PATH
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& bytes) {
    static int counter = 0;
    path = testing::TempDir() + "ved_postprocess_" + std::to_string(::getpid()) + "_" +
           std::to_string(counter++);
    std::ofstream(path, std::ios::binary) << bytes;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

TEST(PostprocessCli, NougatFromStdin) {
  const std::string page = "# 1 Intro\nSome text (1) \\[x\\]\n\\[y\\] (2)\n\n\n\nEnd";
  const TempFile in(page);
  const std::string cmd =
      test::shell_quote(VED_CLI_PATH) + " postprocess nougat < " + test::shell_quote(in.path);
  auto r = test::run_shell(cmd, false);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "\n\n# 1 Intro\nSome text (1) \\[x\\]\n\\[y \\tag{2}\\]\n\nEnd");
  r = test::run_shell(cmd + " --no-fix-markdown", false);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "\n\n# 1 Intro\nSome text (1) \\[x\\]\n\\[y\\] (2)\n\nEnd");
  // A fixture page, byte for byte.
  const nlohmann::json fixture = load_fixture();
  const auto& c = fixture["cases"][5];
  const TempFile page_file(c["input"].get<std::string>());
  r = test::run_shell(test::shell_quote(VED_CLI_PATH) + " postprocess nougat < " +
                          test::shell_quote(page_file.path),
                      false);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, c["fix_markdown_true"].get<std::string>()) << c["name"];
}

TEST(PostprocessCli, NoneIsTheIdentityFromAPipe) {
  // popen's /bin/sh may have no here-strings (dash): printf into a pipe instead.
  const auto r = test::run_shell(
      "printf 'a  b\\n\\n' | " + test::shell_quote(VED_CLI_PATH) + " postprocess none", false);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "a  b\n\n");  // nothing added or removed
}

TEST(PostprocessCli, MangaOcrFromStdin) {
  // Hand-derived from manga_ocr's post_process: whitespace goes, '…' becomes three dots, then
  // jaconv.h2z folds the half-width kana (with their sound marks) and the dots to full width.
  const TempFile in("ｶﾞﾝﾊﾞﾚ …\n");
  const auto r = test::run_shell(
      test::shell_quote(VED_CLI_PATH) + " postprocess manga-ocr < " + test::shell_quote(in.path),
      false);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "ガンバレ．．．");  // nothing added, not even a newline
}

TEST(PostprocessCli, HelpAndErrors) {
  auto r = test::ved_cli({"postprocess", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("postprocess NAME [--no-fix-markdown]"), std::string::npos) << r.out;
  r = test::ved_cli({"--help"});
  EXPECT_NE(r.out.find("postprocess NAME"), std::string::npos) << r.out;
  r = test::run_shell(test::shell_quote(VED_CLI_PATH) + " postprocess manga < /dev/null");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("unknown post-processor 'manga' (known: none, nougat, manga-ocr)"),
            std::string::npos)
      << r.out;
  r = test::ved_cli({"postprocess"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("expects exactly one NAME"), std::string::npos) << r.out;
  r = test::ved_cli({"postprocess", "nougat", "--json"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("unknown option --json"), std::string::npos) << r.out;
}
#endif

}  // namespace
}  // namespace ved
