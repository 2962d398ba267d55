// Captions images with beam search, the way nlpconnect/vit-gpt2-image-captioning is used:
//   caption --model DIR [--beams N] [--max-new-tokens N] [--stream] INPUT...
// INPUT is an image file, or a .safetensors file of preprocessed 'pixel_values' (one caption per
// row). --stream prints the text as it is generated (greedy: streaming cannot follow beams).

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <ved/pipeline.hpp>

int main(int argc, char** argv) {
  std::string model_dir;
  int beams = 4, max_new_tokens = 16;
  bool stream = false;
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
    else if (arg == "--stream")
      stream = true;
    else
      inputs.push_back(arg);
  }
  if (model_dir.empty() || inputs.empty()) {
    std::cerr
        << "usage: caption --model DIR [--beams N] [--max-new-tokens N] [--stream] INPUT...\n";
    return 2;
  }
  try {
    const auto pipeline = ved::ImageToText::from_pretrained(model_dir);
    const ved::detail::json args = {{"num_beams", stream ? 1 : beams},
                                    {"max_new_tokens", max_new_tokens}};
    for (const std::string& input : inputs) {
      const ved::Tensor<float> pixels = pipeline.load_pixel_values(input);
      if (stream) {
        for (int64_t b = 0; b < pixels.dim(0); ++b) {
          std::cout << input << ": " << std::flush;
          pipeline.run(pixels[b].reshape({1, pixels.dim(1), pixels.dim(2), pixels.dim(3)}), args,
                       [](const std::string& piece) { std::cout << piece << std::flush; });
          std::cout << "\n";
        }
        continue;
      }
      const std::vector<ved::TextResult> results = pipeline.run(pixels, args);
      for (size_t b = 0; b < results.size(); ++b)
        std::cout << input << (results.size() > 1 ? "#" + std::to_string(b) : "") << ": "
                  << results[b].text << "  [score " << results[b].score << "]\n";
    }
  } catch (const ved::Error& e) {
    std::cerr << "caption: " << e.what() << "\n";
    return 1;
  }
}
