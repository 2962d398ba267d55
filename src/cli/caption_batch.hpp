#pragma once

// `ved caption --output results.jsonl`: captions thousands of images in batches, one JSON line
// per image, resumable (see caption_batch.cpp).

#include <string>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/pipeline.hpp"

namespace ved::cli {

struct BatchJob {
  std::vector<std::string> images;  // in processing order
  std::string output;               // JSON Lines file, appended to
  int batch_size = 8;
  bool progress = false;  // draw a progress bar on stderr
  detail::json kwargs = detail::json::object();
};

struct BatchSummary {
  size_t captioned = 0, failed = 0, skipped = 0;  // skipped: already in the output file
};

// The images a --input names: a directory (its image files, recursively, sorted by path) or a
// text file with one path per line (blank lines and lines starting with '#' ignored).
std::vector<std::string> list_images(const std::string& dir_or_list);

BatchSummary caption_to_jsonl(const ImageToText& pipeline, const BatchJob& job);

}  // namespace ved::cli
