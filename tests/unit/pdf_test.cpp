// PDF input: pages rendered by poppler at the requested resolution (sizes and colours checked
// against the drawing commands), hostile files (damaged, encrypted, not a PDF, a gigapixel page)
// as clear errors, and the CLI reading a PDF page by page with the embedded model, to stdout and
// to a resumable Markdown file.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../cli_runner.hpp"
#include "../pdf_writer.hpp"
#include "../test_util.hpp"
#include "ved/error.hpp"
#include "ved/io/pdf.hpp"

namespace ved {
namespace {

const std::string kTinyOcr = std::string(VED_TEST_DATA) + "/../../examples/models/tiny-ocr";

// A page whose left half is red and whose right half is left white (PDF's y axis points up).
test::PdfPage half_red(double w, double h) {
  char ops[128];
  std::snprintf(ops, sizeof ops, "1 0 0 rg 0 0 %.4f %.4f re f\n", w / 2, h);
  return {w, h, ops, nullptr};
}

void expect_rgb(const Image& im, int x, int y, int r, int g, int b) {
  const uint8_t* p = im.row(y) + 3 * x;
  EXPECT_EQ(p[0], r) << x << "," << y;
  EXPECT_EQ(p[1], g) << x << "," << y;
  EXPECT_EQ(p[2], b) << x << "," << y;
}

TEST(Pdf, RendersEachPageAtTheRequestedResolution) {
  if (!PdfDocument::supported()) {
    const std::string m =
        test::expect_throw_message<InvalidArgument>([] { PdfDocument::open("x.pdf"); });
    EXPECT_NE(m.find("libpoppler-cpp-dev"), std::string::npos) << m;
    return;
  }
  test::TempDir dir;
  const std::string path =
      dir.write("two.pdf", test::make_pdf({half_red(200, 100), half_red(150, 75)}));
  EXPECT_TRUE(is_pdf_file(path));
  const PdfDocument doc = PdfDocument::open(path);
  ASSERT_EQ(doc.num_pages(), 2);
  // 1 pt = 1/72 inch: 200 x 100 pt is 200 x 100 px at 72 dpi and twice that at 144 dpi.
  for (const double dpi : {72.0, 144.0}) {
    const Image im = doc.render_page(0, dpi);
    const int s = static_cast<int>(dpi / 72);
    ASSERT_EQ(im.width, 200 * s);
    ASSERT_EQ(im.height, 100 * s);
    expect_rgb(im, 50 * s, 50 * s, 255, 0, 0);
    expect_rgb(im, 150 * s, 50 * s, 255, 255, 255);
  }
  const Image second = doc.render_page(1);  // 96 dpi: 150 pt is 200 px
  EXPECT_EQ(second.width, 200);
  EXPECT_EQ(second.height, 100);
  expect_rgb(second, 10, 90, 255, 0, 0);
  expect_rgb(second, 190, 10, 255, 255, 255);

  std::string m = test::expect_throw_message<InvalidArgument>([&] { doc.render_page(2); });
  EXPECT_NE(m.find("no page 3"), std::string::npos) << m;
  m = test::expect_throw_message<InvalidArgument>([&] { doc.render_page(0, 0); });
  EXPECT_NE(m.find("dpi"), std::string::npos) << m;
}

TEST(PdfBadInput, EveryBrokenFileIsAnErrorNamingIt) {
  if (!PdfDocument::supported()) return;  // covered by the test above
  test::TempDir dir;
  const std::string good = test::make_pdf({half_red(200, 100)});
  struct Case {
    std::string name, bytes, needle;
  };
  const std::vector<Case> cases = {
      {"truncated.pdf", good.substr(0, good.size() / 3), "not a readable PDF"},
      {"garbage.pdf", "%PDF-1.4\n" + std::string(3000, '\x9c'), "not a readable PDF"},
      {"text.pdf", "hello, I am not a PDF\n", "not a PDF file"},
      {"empty.pdf", "", "not a PDF file"},
      {"encrypted.pdf", test::make_pdf({half_red(200, 100)}, /*encrypt=*/true), "password"},
  };
  for (const auto& c : cases) {
    const std::string path = dir.write(c.name, c.bytes);
    const std::string m = test::expect_throw_message<FormatError>([&] { PdfDocument::open(path); });
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find(c.needle), std::string::npos) << c.name << ": " << m;
  }
  const std::string missing = dir.file("missing.pdf");
  EXPECT_NE(test::expect_throw_message<IoError>([&] { PdfDocument::open(missing); }).find(missing),
            std::string::npos);
  // A page of a million points square would be 1.3 gigapixels across at 96 dpi: refused before
  // rendering, by ved::Limits.
  const std::string huge = dir.write("huge.pdf", test::make_pdf({half_red(1e6, 1e6)}));
  const PdfDocument doc = PdfDocument::open(huge);
  const std::string m = test::expect_throw_message<FormatError>([&] { doc.render_page(0); });
  EXPECT_NE(m.find("page 1"), std::string::npos) << m;
  EXPECT_NE(m.find("Limits"), std::string::npos) << m;
}

// One page per shipped sample, the sample's pixels filling a page of as many points: at 72 dpi
// the page renders back to the sample itself.
std::string samples_pdf(const std::vector<std::string>& files) {
  static std::vector<Image> images;  // make_pdf keeps pointers while writing
  images.clear();
  for (const auto& f : files) images.push_back(load_image(kTinyOcr + "/samples/" + f));
  std::vector<test::PdfPage> pages;
  for (const auto& im : images) pages.push_back({double(im.width), double(im.height), "", &im});
  return test::make_pdf(pages);
}

test::CliResult ved(const std::vector<std::string>& args) {
  std::string cmd = "env -u VED_DEFAULT_MODEL " + test::shell_quote(VED_CLI_PATH);
  for (const auto& a : args) cmd += " " + test::shell_quote(a);
  return test::run_shell(cmd, /*merge_stderr=*/false);
}

TEST(PdfCli, CaptionReadsAPdfPageByPage) {
  if (!PdfDocument::supported()) return;
  test::TempDir dir;
  // Texts from samples/expected.json.
  const std::string pdf = dir.write("lines.pdf", samples_pdf({"00.png", "04.png", "07.png"}));
  test::CliResult r = ved({"caption", "--dpi", "72", pdf});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "INV-2024-0042\nInvoice #4711\nHello, world!\n");
  // At the default 96 dpi the pages are scaled by 4/3 before the processor's own resize; the
  // model still reads them.
  r = ved({"caption", pdf});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "INV-2024-0042\nInvoice #4711\nHello, world!\n");

  r = ved({"caption", "--dpi", "72", "--json", pdf});
  ASSERT_EQ(r.status, 0) << r.out;
  const detail::json j = detail::json::parse(r.out);
  ASSERT_EQ(j.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(j[i]["image"], pdf);
    EXPECT_EQ(j[i]["page"], i + 1);
  }
}

TEST(PdfCli, MarkdownOutputIsInPageOrderResumesAndSurvivesBrokenFiles) {
  if (!PdfDocument::supported()) return;
  test::TempDir dir;
  const std::string a = dir.write("a.pdf", samples_pdf({"01.png", "02.png"}));
  const std::string bad = dir.write("bad.pdf", "%PDF-1.4\nthis is not a PDF body\n");
  const std::string b = dir.write("b.pdf", samples_pdf({"03.png"}));
  const std::string list = dir.write("inputs.txt", a + "\n" + bad + "\n" + b + "\n");
  const std::string out = dir.file("doc.mmd");
  test::CliResult r = ved({"caption", "--dpi", "72", "--batch-size", "2", "--input", list,
                           "--output", out, "--no-progress"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(test::read_file(out), "12/03/2024\n\nTotal: 19.99\n\nEUR 1,250.00\n");
  const std::string jsonl = test::read_file(out + ".jsonl");
  std::vector<detail::json> lines;
  for (size_t pos = 0, nl; (nl = jsonl.find('\n', pos)) != std::string::npos; pos = nl + 1)
    lines.push_back(detail::json::parse(jsonl.substr(pos, nl - pos)));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["page"], 1);
  EXPECT_EQ(lines[1]["page"], 2);
  EXPECT_EQ(lines[2]["image"], bad);
  EXPECT_FALSE(lines[2].contains("page"));
  EXPECT_NE(lines[2]["error"].get<std::string>().find("not a readable PDF"), std::string::npos);
  EXPECT_EQ(lines[3]["image"], b);

  // A second run finds every input done and rewrites the same Markdown.
  r = test::run_shell("env -u VED_DEFAULT_MODEL " + test::shell_quote(VED_CLI_PATH) +
                      " caption --dpi 72 --input " + test::shell_quote(list) + " --output " +
                      test::shell_quote(out) + " --no-progress");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("0 captioned, 0 unreadable, 4 already in"), std::string::npos) << r.out;
  EXPECT_EQ(test::read_file(out), "12/03/2024\n\nTotal: 19.99\n\nEUR 1,250.00\n");
}

TEST(PdfCli, BadDpiIsAUsageError) {
  for (const std::string dpi : {"0", "-3", "abc", "1e9"}) {
    const test::CliResult r = ved({"caption", "--dpi", dpi, kTinyOcr + "/samples/00.png"});
    EXPECT_EQ(r.status, 2) << dpi;
  }
}

}  // namespace
}  // namespace ved
