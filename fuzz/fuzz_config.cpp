// libFuzzer target: config.json, generation_config.json and preprocessor_config.json. Every input
// goes through all three parsers (each rejects the others' files quickly), then through what a
// successfully parsed config drives: GenerationConfig::validate and ImageProcessor::preprocess.

#include "fuzz_common.hpp"
#include "ved/config.hpp"
#include "ved/detail/json.hpp"
#include "ved/generation/generation_config.hpp"
#include "ved/processing/image_processor.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ved_fuzz::set_fuzz_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (ved_fuzz::scratch_dir() / "config.json").string();
  const std::string text(reinterpret_cast<const char*>(data), size);
  ved::detail::json j;
  try {
    j = ved::detail::parse_json(text, "fuzz.json");
  } catch (const ved::Error&) {
    return 0;
  }
  try {
    const auto c = ved::VisionEncoderDecoderConfig::from_json(j, "config.json");
    (void)c.encoder.get<int64_t>("hidden_size", 0);
    (void)c.decoder.get_optional<double>("layer_norm_eps");
  } catch (const ved::Error&) {
  }
  try {
    ved::GenerationConfig g = ved::GenerationConfig::from_model_config(j, "config.json");
    g.validate();
  } catch (const ved::Error&) {
  }
  try {
    // From the file, as from_pretrained reads it; then as generate()'s keyword arguments.
    ved_fuzz::write_bytes(path, data, size);
    ved::GenerationConfig g = ved::GenerationConfig::from_file(path);
    g.validate();
    g.update(j);
    g.validate();
  } catch (const ved::Error&) {
  }
  try {
    const auto p = ved::ImageProcessor::from_json(j, "preprocessor_config.json");
    // A small odd-sized image with distinct pixels, so resizing, cropping and padding all run.
    ved::Image img(13, 7);
    for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<uint8_t>(i * 37);
    const ved::Tensor<float> t = p.preprocess(img);
    ved_fuzz::consume(t.data(), t.numel());
  } catch (const ved::Error&) {
  }
  return 0;
}
