// Document understanding with Donut (naver-clova-ix/donut-base-finetuned-cord-v2, -docvqa, ...):
// the task prompt starts the decoder, the model writes a tag sequence, and token2json turns it
// into JSON, as on Donut's model cards:
//   donut --model DIR --prompt "<s_cord-v2>" [--max-new-tokens N] INPUT...
// INPUT is an image file, or a .safetensors file of preprocessed 'pixel_values'.

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <ved/pipeline.hpp>
#include <ved/processing/donut.hpp>

int main(int argc, char** argv) {
  std::string model_dir, prompt;
  int max_new_tokens = 64;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--model" && has_value)
      model_dir = argv[++i];
    else if (arg == "--prompt" && has_value)
      prompt = argv[++i];
    else if (arg == "--max-new-tokens" && has_value)
      max_new_tokens = std::atoi(argv[++i]);
    else
      inputs.push_back(arg);
  }
  if (model_dir.empty() || prompt.empty() || inputs.empty()) {
    std::cerr << "usage: donut --model DIR --prompt TASK [--max-new-tokens N] INPUT...\n";
    return 2;
  }
  try {
    const auto pipeline = ved::ImageToText::from_pretrained(model_dir);
    const ved::Tokenizer& tokenizer = pipeline.tokenizer();
    const ved::GenerationConfig& defaults = pipeline.model().generation_config();
    using json = ved::detail::json;
    json args = {{"max_new_tokens", max_new_tokens}};
    args["decoder_input_ids"] =
        json::array({json(tokenizer.encode(prompt, /*add_special_tokens=*/false))});
    // The model cards forbid the unknown token.
    if (const auto unk = tokenizer.token_to_id("<unk>"))
      args["bad_words_ids"] = json::array({json::array({*unk})});
    const auto token_text = [&](std::optional<int64_t> id) {
      return id ? tokenizer.id_to_token(*id).value_or("") : std::string();
    };
    const std::string eos =
        token_text(defaults.eos_token_id.empty() ? std::nullopt
                                                 : std::optional(defaults.eos_token_id.front()));
    const std::string pad = token_text(defaults.pad_token_id);
    for (const std::string& input : inputs) {
      const std::vector<ved::TextResult> results =
          pipeline.run(pipeline.load_pixel_values(input), args);
      for (size_t b = 0; b < results.size(); ++b)
        std::cout << input << (results.size() > 1 ? "#" + std::to_string(b) : "") << ": "
                  << ved::donut_sequence_to_json(tokenizer, results[b].tokens, eos, pad)
                         .dump(-1, ' ', false, ved::detail::json::error_handler_t::replace)
                  << "\n";
    }
  } catch (const ved::Error& e) {
    std::cerr << "donut: " << e.what() << "\n";
    return 1;
  }
}
