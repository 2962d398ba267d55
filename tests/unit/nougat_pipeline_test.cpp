// A Nougat-shaped checkpoint end to end: PDF pages rendered, NougatImageProcessor, DonutSwin +
// MBart, NougatTokenizerFast, post_process_generation, Markdown written in page order. The model
// has tiny random weights (its parity with transformers is model_parity_test's); this checks that
// every layer is wired as a Nougat user expects.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../cli_runner.hpp"
#include "../pdf_writer.hpp"
#include "../test_util.hpp"
#include "ved/io/pdf.hpp"
#include "ved/pipeline.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;

// A checkpoint folder as the Hub's facebook/nougat-small is laid out, from the fixtures' parts.
std::string nougat_folder(const test::TempDir& dir) {
  const fs::path out = dir.path() / "nougat";
  fs::create_directories(out);
  const std::string f = test::fixture("");
  for (const char* name : {"config.json", "generation_config.json", "model.safetensors"})
    fs::copy_file(f + "/models/nougat-donutswin-mbart/" + name, out / name);
  fs::copy_file(f + "/images/nougat-112x84/preprocessor_config.json",
                out / "preprocessor_config.json");
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(f + "/tokenizers/nougat-fast/" + name, out / name);
  return out.string();
}

TEST(NougatPipeline, PostProcessesPagesByDefault) {
  test::TempDir dir;
  ImageToText p = ImageToText::from_pretrained(nougat_folder(dir));
  EXPECT_EQ(p.postprocessor(), "nougat");
  const std::string demo = std::string(VED_TEST_DATA) + "/../../examples/models/demo-vit-gpt2";
  EXPECT_EQ(ImageToText::from_pretrained(demo).postprocessor(), "none");
  const std::string m =
      test::expect_throw_message<InvalidArgument>([&] { p.set_postprocessor("latex"); });
  EXPECT_NE(m.find("'latex'"), std::string::npos) << m;
  EXPECT_NE(m.find("nougat"), std::string::npos) << m;
  EXPECT_EQ(p.postprocessor(), "nougat");

  // The text is post_process_generation of the decoded tokens, not the decoded tokens alone.
  const Image page = load_image(test::fixture("images/inputs/page_text_340x440.png"));
  const detail::json args = {{"max_new_tokens", 12}};
  const TextResult post = p.run(page, args);
  p.set_postprocessor("none");
  const TextResult raw = p.run(page, args);
  EXPECT_EQ(post.tokens, raw.tokens);
  EXPECT_EQ(raw.text, p.tokenizer().decode(raw.tokens, true));
  EXPECT_EQ(post.text, postprocess("nougat", raw.text));
}

TEST(NougatPipeline, PdfPagesBecomeOneMarkdownFile) {
  if (!PdfDocument::supported()) return;  // pdf_test checks the error such a build gives
  test::TempDir dir;
  const std::string model = nougat_folder(dir);
  const std::vector<Image> pages = {
      load_image(test::fixture("images/inputs/page_text_340x440.png")),
      load_image(test::fixture("images/inputs/page_offwhite_300x400.png"))};
  std::vector<test::PdfPage> pdf_pages;
  for (const auto& im : pages) pdf_pages.push_back({double(im.width), double(im.height), "", &im});
  const std::string pdf = dir.write("paper.pdf", test::make_pdf(pdf_pages));
  const std::string out = dir.file("paper.mmd");
  const test::CliResult r =
      test::ved_cli({"caption", "--model", model, "--dpi", "72", "--args",
                     R"({"max_new_tokens": 12})", "--output", out, "--no-progress", pdf});
  ASSERT_EQ(r.status, 0) << r.out;

  // What the library gives for each rendered page, post-processed.
  const ImageToText p = ImageToText::from_pretrained(model);
  const PdfDocument doc = PdfDocument::open(pdf);
  std::string expected;
  std::vector<std::vector<int64_t>> tokens;
  for (int i = 0; i < doc.num_pages(); ++i) {
    const TextResult t = p.run(doc.render_page(i, 72), {{"max_new_tokens", 12}});
    expected += (i ? "\n\n" : "") + t.text;
    tokens.push_back(t.tokens);
  }
  EXPECT_EQ(test::read_file(out), expected + "\n");
  const std::string jsonl = test::read_file(out + ".jsonl");
  size_t line = 0;
  for (size_t pos = 0, nl; (nl = jsonl.find('\n', pos)) != std::string::npos;
       pos = nl + 1, ++line) {
    const detail::json j = detail::json::parse(jsonl.substr(pos, nl - pos));
    ASSERT_LT(line, tokens.size());
    EXPECT_EQ(j["page"], line + 1);
    EXPECT_EQ(j["tokens"], detail::json(tokens[line]));
    EXPECT_EQ(j["tokens"][0], 0);  // Nougat starts from bos <s> (generation_config.json)
  }
  EXPECT_EQ(line, 2u);
}

}  // namespace
}  // namespace ved
