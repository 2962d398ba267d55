// ved — command-line front end of the library.
//
//   ved caption    --model DIR [--args JSON] [--json] IMAGE...
//   ved generate   --model DIR --pixel-values FILE [--batch 0,1] [--args JSON] [--json]
//   ved forward    --model DIR --pixel-values FILE --decoder-input-ids FILE --out FILE
//   ved preprocess --model DIR --out FILE IMAGE
//
// --args takes generate() keyword arguments as a JSON object, named as in transformers:
// '{"max_new_tokens": 12, "num_beams": 4}'. Unknown options and arguments are errors.

#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "ved/ved.hpp"

namespace {

constexpr const char* kUsage = R"(usage: ved <command> [options]

commands:
  caption    --model DIR [--args JSON] [--json] IMAGE...
             Read each image and print the generated text, one line per image.
  generate   --model DIR --pixel-values FILE [--batch I,J,...] [--args JSON] [--json]
             Generate from tensor 'pixel_values' [B,3,H,W] of a safetensors file; print token ids.
  forward    --model DIR --pixel-values FILE --decoder-input-ids FILE --out FILE
             Teacher-forced pass; writes 'encoder_last_hidden_state' and 'logits' to FILE.
  preprocess --model DIR --out FILE IMAGE
             Run the checkpoint's image processor; writes 'pixel_values' to FILE.

options:
  --model DIR   a checkpoint folder as transformers' save_pretrained writes it
  --args JSON   generate() keyword arguments, e.g. '{"max_new_tokens": 20, "num_beams": 4}'
  --json        print JSON instead of plain text
  --version     print ved's version
)";

struct UsageError : ved::Error {
  using ved::Error::Error;
};

struct Args {
  std::string command;
  std::map<std::string, std::string> options;
  bool json = false;
  std::vector<std::string> positional;

  const std::string& require(const std::string& name) const {
    auto it = options.find(name);
    if (it == options.end()) throw UsageError(command + ": missing required option --" + name);
    return it->second;
  }
  std::string get(const std::string& name, const std::string& fallback) const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
};

Args parse(int argc, char** argv) {
  static const std::map<std::string, std::vector<std::string>> allowed = {
      {"caption", {"model", "args"}},
      {"generate", {"model", "pixel-values", "batch", "args"}},
      {"forward", {"model", "pixel-values", "decoder-input-ids", "out"}},
      {"preprocess", {"model", "out"}}};
  static const std::map<std::string, std::vector<std::string>> required = {
      {"caption", {"model"}},
      {"generate", {"model", "pixel-values"}},
      {"forward", {"model", "pixel-values", "decoder-input-ids", "out"}},
      {"preprocess", {"model", "out"}}};
  Args a;
  if (argc < 2) throw UsageError("no command given");
  a.command = argv[1];
  auto cmd = allowed.find(a.command);
  if (cmd == allowed.end()) throw UsageError("unknown command '" + a.command + "'");
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      a.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "json" && !inline_value && (a.command == "caption" || a.command == "generate")) {
      a.json = true;
      continue;
    }
    if (std::find(cmd->second.begin(), cmd->second.end(), name) == cmd->second.end())
      throw UsageError(a.command + ": unknown option --" + name);
    if (!inline_value) {
      if (i + 1 >= argc) throw UsageError(a.command + ": option --" + name + " needs a value");
      value = argv[++i];
    }
    a.options[name] = value;
  }
  for (const auto& name : required.at(a.command)) a.require(name);
  return a;
}

ved::detail::json generate_kwargs(const Args& a) {
  if (!a.options.count("args")) return ved::detail::json::object();
  ved::detail::json j = ved::detail::parse_json(a.options.at("args"), "--args");
  if (!j.is_object())
    throw UsageError("--args must be a JSON object, e.g. '{\"max_new_tokens\": 12}'");
  return j;
}

ved::Tensor<float> read_pixel_values(const std::string& path) {
  auto f = ved::SafetensorsFile::open(path);
  if (!f->contains("pixel_values"))
    throw ved::WeightError(path + ": no tensor named 'pixel_values'");
  return f->tensor<float>("pixel_values");
}

std::vector<int64_t> parse_batch(const std::string& spec, int64_t available) {
  std::vector<int64_t> idx;
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t comma = std::min(spec.find(',', pos), spec.size());
    const std::string item = spec.substr(pos, comma - pos);
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size())
      throw UsageError("--batch: '" + item + "' is not an index");
    if (v < 0 || v >= available)
      throw ved::InvalidArgument("--batch: index " + item + " is out of range for " +
                                 std::to_string(available) + " images");
    idx.push_back(v);
    pos = comma + 1;
  }
  return idx;
}

ved::Tensor<float> select_rows(const ved::Tensor<float>& t, const std::vector<int64_t>& idx) {
  ved::Shape s = t.shape();
  s[0] = static_cast<int64_t>(idx.size());
  ved::Tensor<float> out(s);
  for (size_t i = 0; i < idx.size(); ++i) {
    const ved::Tensor<float> row = t[idx[i]];
    std::copy(row.begin(), row.end(), out[static_cast<int64_t>(i)].data());
  }
  return out;
}

void print_generate(const ved::GenerateOutput& out, bool json) {
  if (json) {
    ved::detail::json j = {{"sequences", out.sequences}, {"token_logprobs", out.token_logprobs}};
    if (!out.sequences_scores.empty()) j["sequences_scores"] = out.sequences_scores;
    std::cout << j.dump() << "\n";
    return;
  }
  for (size_t i = 0; i < out.sequences.size(); ++i) {
    for (size_t t = 0; t < out.sequences[i].size(); ++t)
      std::cout << (t ? " " : "") << out.sequences[i][t];
    if (!out.sequences_scores.empty()) std::cout << "\t" << out.sequences_scores[i];
    std::cout << "\n";
  }
}

int run(const Args& a) {
  const std::string& model_dir = a.require("model");
  if (a.command == "preprocess") {
    if (a.positional.size() != 1) throw UsageError("preprocess: expects exactly one IMAGE");
    const auto processor = ved::ImageProcessor::from_pretrained(model_dir);
    const ved::Tensor<float> pixels = processor.preprocess(ved::load_image(a.positional[0]));
    ved::write_safetensors(a.require("out"), {ved::to_write("pixel_values", pixels)});
    return 0;
  }
  if (!a.positional.empty() && a.command != "caption")
    throw UsageError(a.command + ": unexpected argument '" + a.positional[0] + "'");
  const auto model = ved::VisionEncoderDecoderModel::from_pretrained(model_dir);
  if (a.command == "forward") {
    const ved::Tensor<float> pixels = read_pixel_values(a.require("pixel-values"));
    const std::string ids_path = a.require("decoder-input-ids");
    const auto ids_file = ved::SafetensorsFile::open(ids_path);
    if (!ids_file->contains("decoder_input_ids"))
      throw ved::WeightError(ids_path + ": no tensor named 'decoder_input_ids'");
    const auto out = model.forward(pixels, ids_file->tensor<int64_t>("decoder_input_ids"));
    ved::write_safetensors(a.require("out"), {ved::to_write("encoder_last_hidden_state",
                                                            out.encoder_last_hidden_state),
                                              ved::to_write("logits", out.logits)});
    return 0;
  }
  ved::GenerationConfig config = model.generation_config();
  ved::detail::json kwargs = generate_kwargs(a);
  std::vector<std::vector<int64_t>> prompt;
  if (kwargs.contains("decoder_input_ids")) {
    prompt = ved::VisionEncoderDecoderModel::parse_decoder_input_ids(kwargs["decoder_input_ids"]);
    kwargs.erase("decoder_input_ids");
  }
  config.update(kwargs, "--args");
  if (a.command == "generate") {
    ved::Tensor<float> pixels = read_pixel_values(a.require("pixel-values"));
    if (a.options.count("batch"))
      pixels = select_rows(pixels,
                           parse_batch(a.options.at("batch"), pixels.ndim() ? pixels.dim(0) : 0));
    print_generate(model.generate(pixels, config, prompt), a.json);
    return 0;
  }
  // caption
  if (a.positional.empty()) throw UsageError("caption: expects at least one IMAGE");
  const auto processor = ved::ImageProcessor::from_pretrained(model_dir);
  const auto tokenizer = ved::Tokenizer::from_pretrained(model_dir);
  std::vector<ved::Image> images;
  for (const auto& path : a.positional) images.push_back(ved::load_image(path));
  const ved::GenerateOutput out = model.generate(processor.preprocess(images), config, prompt);
  const size_t per_image = out.sequences.size() / images.size();
  ved::detail::json results = ved::detail::json::array();
  for (size_t i = 0; i < out.sequences.size(); ++i) {
    const std::string text = tokenizer->decode(out.sequences[i], /*skip_special_tokens=*/true);
    if (a.json) {
      results.push_back({{"image", a.positional[i / per_image]},
                         {"text", text},
                         {"sequence", out.sequences[i]},
                         {"token_logprobs", out.token_logprobs[i]}});
    } else {
      std::cout << text << "\n";
    }
  }
  if (a.json) std::cout << results.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
                    std::string(argv[1]) == "help")) {
    std::cout << kUsage;
    return 0;
  }
  if (argc >= 2 && std::string(argv[1]) == "--version") {
    std::cout << "ved " << VED_VERSION_STRING << "\n";
    return 0;
  }
  try {
    return run(parse(argc, argv));
  } catch (const UsageError& e) {
    std::cerr << "ved: " << e.what() << "\n\n" << kUsage;
    return 2;
  } catch (const ved::Error& e) {
    std::cerr << "ved: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "ved: internal error: " << e.what() << "\n";
    return 1;
  }
}
