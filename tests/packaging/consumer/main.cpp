// Loads a checkpoint through the installed package and prints the greedy tokens of one image.
#include <iostream>

#include <ved/ved.hpp>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  try {
    const auto model = ved::VisionEncoderDecoderModel::from_pretrained(argv[1]);
    const auto pixels = ved::SafetensorsFile::open(argv[2])->tensor<float>("pixel_values");
    const auto out = model.generate(pixels, {{"max_new_tokens", 12}});
    for (int64_t id : out.sequences[0]) std::cout << id << " ";
    std::cout << "\n";
  } catch (const ved::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
