// Reads the text in images of single text lines, the way TrOCR checkpoints
// (microsoft/trocr-small-printed, trocr-base-handwritten, ...) are used, and shows how sure the
// model was of each token:
//   ocr --model DIR [--beams N] [--max-new-tokens N] INPUT...
// INPUT is an image file, or a .safetensors file of preprocessed 'pixel_values'.
// A token's confidence is its probability under the processed distribution; the line's is the
// geometric mean over its tokens.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <ved/pipeline.hpp>

int main(int argc, char** argv) {
  std::string model_dir;
  int beams = 1, max_new_tokens = 32;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--model" && has_value)
      model_dir = argv[++i];
    else if (arg == "--beams" && has_value)
      beams = std::atoi(argv[++i]);
    else if (arg == "--max-new-tokens" && has_value)
      max_new_tokens = std::atoi(argv[++i]);
    else
      inputs.push_back(arg);
  }
  if (model_dir.empty() || inputs.empty()) {
    std::cerr << "usage: ocr --model DIR [--beams N] [--max-new-tokens N] INPUT...\n";
    return 2;
  }
  try {
    const auto pipeline = ved::ImageToText::from_pretrained(model_dir);
    const ved::detail::json args = {{"num_beams", beams}, {"max_new_tokens", max_new_tokens}};
    for (const std::string& input : inputs) {
      const std::vector<ved::TextResult> results =
          pipeline.run(pipeline.load_pixel_values(input), args);
      for (size_t b = 0; b < results.size(); ++b) {
        const ved::TextResult& r = results[b];
        std::printf("%s%s: %s  (confidence %.4f)\n", input.c_str(),
                    results.size() > 1 ? ("#" + std::to_string(b)).c_str() : "", r.text.c_str(),
                    r.confidence);
        const size_t prompt = r.tokens.size() - r.token_logprobs.size();
        for (size_t t = 0; t < r.token_logprobs.size(); ++t) {
          const int64_t id = r.tokens[prompt + t];
          // One token can be part of a UTF-8 character: show it JSON-escaped.
          const std::string piece =
              ved::detail::json(pipeline.tokenizer().decode({id}, false))
                  .dump(-1, ' ', false, ved::detail::json::error_handler_t::replace);
          std::printf("  %3zu  %6lld  %-12s %.4f\n", t, static_cast<long long>(id), piece.c_str(),
                      std::exp(r.token_logprobs[t]));
        }
      }
    }
  } catch (const ved::Error& e) {
    std::cerr << "ocr: " << e.what() << "\n";
    return 1;
  }
}
