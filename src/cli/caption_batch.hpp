#pragma once

// `ved caption --output results.jsonl`: captions thousands of images and PDF pages in batches,
// one JSON line each, resumable (see caption_batch.cpp); `--output doc.mmd` writes the pages'
// text as one Markdown document.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/io/pdf.hpp"
#include "ved/pipeline.hpp"

namespace ved::cli {

// One thing to read: an image file, or one page of a PDF.
struct Input {
  std::string path;
  int page = -1;  // 0-based page of a PDF; -1 for an image file
};

// The inputs of `paths` in order, each PDF expanded into its pages. A PDF that cannot be opened
// becomes one Input with page -1, whose loading then reports the error.
std::vector<Input> expand_inputs(const std::vector<std::string>& paths);

// Renders or loads one input (PdfDocuments are opened on demand and kept in `cache`).
class InputLoader {
 public:
  explicit InputLoader(double dpi) : dpi_(dpi) {}
  Image load(const Input& in);

 private:
  double dpi_;
  std::map<std::string, std::shared_ptr<PdfDocument>> open_;
};

struct BatchJob {
  std::vector<Input> inputs;  // in processing order
  std::string output;         // JSON Lines file, appended to; *.mmd / *.md: Markdown (below)
  int batch_size = 8;
  bool progress = false;  // draw a progress bar on stderr
  detail::json kwargs = detail::json::object();
  double dpi = PdfDocument::kDefaultDpi;
};

struct BatchSummary {
  size_t captioned = 0, failed = 0, skipped = 0;  // skipped: already in the output file
};

// The images a --input names: a directory (its image files, recursively, sorted by path) or a
// text file with one path per line (blank lines and lines starting with '#' ignored).
std::vector<std::string> list_images(const std::string& dir_or_list);

// Results as JSON Lines: {"image", "page" (1-based, PDF pages only), "text", "tokens", "score",
// "confidence", "token_logprobs"} or {"image", ["page",] "error"}. With an output ending in .mmd
// or .md, the lines go to OUTPUT.jsonl (which resumes the same way) and, once every input has
// one, OUTPUT gets the pages' text in input order, separated by blank lines.
BatchSummary caption_to_jsonl(const ImageToText& pipeline, const BatchJob& job);

}  // namespace ved::cli
