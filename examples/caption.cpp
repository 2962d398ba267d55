// Captions (or reads the text in) each image given on the command line.
//   caption MODEL_DIR IMAGE...

#include <iostream>

#include <ved/ved.hpp>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: caption MODEL_DIR IMAGE...\n";
    return 2;
  }
  try {
    const auto model = ved::VisionEncoderDecoderModel::from_pretrained(argv[1]);
    const auto processor = ved::ImageProcessor::from_pretrained(argv[1]);
    const auto tokenizer = ved::Tokenizer::from_pretrained(argv[1]);
    for (int i = 2; i < argc; ++i) {
      const ved::Tensor<float> pixels = processor.preprocess(ved::load_image(argv[i]));
      const ved::GenerateOutput out =
          model.generate(pixels, {{"max_new_tokens", 20}, {"num_beams", 4}});
      std::cout << argv[i] << ": " << tokenizer->decode(out.sequences[0]) << "\n";
    }
  } catch (const ved::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
