// Captions many images from code: a batch per generate() call, unreadable images reported and
// skipped, one JSON line per image on stdout.
//   batch --model DIR [--batch-size N] IMAGE...
// For folders of thousands of images use the CLI instead (`ved caption --input DIR --output
// results.jsonl`), which adds a progress bar and resumes interrupted runs (see README.md).

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <ved/pipeline.hpp>

int main(int argc, char** argv) {
  std::string model_dir;
  size_t batch_size = 8;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--model" && i + 1 < argc)
      model_dir = argv[++i];
    else if (arg == "--batch-size" && i + 1 < argc)
      batch_size = static_cast<size_t>(std::max(1, std::atoi(argv[++i])));
    else
      paths.push_back(arg);
  }
  if (model_dir.empty() || paths.empty()) {
    std::cerr << "usage: batch --model DIR [--batch-size N] IMAGE...\n";
    return 2;
  }
  try {
    const auto pipeline = ved::ImageToText::from_pretrained(model_dir);
    const auto print = [](const ved::detail::json& line) {
      std::cout << line.dump(-1, ' ', false, ved::detail::json::error_handler_t::replace) << "\n";
    };
    for (size_t first = 0; first < paths.size(); first += batch_size) {
      std::vector<ved::Image> images;
      std::vector<std::string> names;
      for (size_t i = first; i < std::min(paths.size(), first + batch_size); ++i) {
        try {
          images.push_back(ved::load_image(paths[i]));
          names.push_back(paths[i]);
        } catch (const ved::Error& e) {  // IoError or FormatError: report, keep going
          print({{"image", paths[i]}, {"error", e.what()}});
        }
      }
      if (images.empty()) continue;
      const std::vector<ved::TextResult> results =
          pipeline.run(images, {{"max_new_tokens", 16}, {"num_beams", 1}});
      for (size_t i = 0; i < results.size(); ++i)
        print({{"image", names[i]},
               {"text", results[i].text},
               {"tokens", results[i].tokens},
               {"confidence", results[i].confidence}});
    }
  } catch (const ved::Error& e) {
    std::cerr << "batch: " << e.what() << "\n";
    return 1;
  }
}
