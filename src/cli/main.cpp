// ved — command-line front end of the library. `ved --help` lists the commands and
// `ved COMMAND --help` describes one (kCommands below). Without --model, a command reads the
// embedded default model (ved/default_model.hpp). Unknown options and arguments are errors.

#include <cstdio>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "caption_batch.hpp"
#include "commands.hpp"
#include "ved/default_model.hpp"
#include "ved/pipeline.hpp"
#include "ved/processing/postprocess.hpp"
#include "ved/ved.hpp"

namespace {

// One entry per command: its synopsis (the first line is `ved COMMAND ...`) and what it does.
// `ved --help` prints them all; `ved COMMAND --help` prints its own.
struct CommandHelp {
  const char* name;
  const char* text;
};

constexpr CommandHelp kCommands[] = {
    {"caption", R"(caption    [--model DIR] [--args JSON] [--json | --stream] [--batch-size N]
             [--threads N] [--input DIR_OR_LIST] [--output RESULTS.jsonl|DOC.mmd [--no-progress]]
             [--dpi N] [--postprocess NAME] [--preset manga-ocr] [--strict]
             [IMAGE_OR_PDF...]
             Read each image, or each page of a PDF (rendered at --dpi, default 96), and print
             the generated text, one line per image. --input adds a directory's images and PDFs
             (recursively, sorted) or a file's list of paths (one a line). --output DOC.mmd
             writes the pages' text as one Markdown file (results in DOC.mmd.jsonl).
             --postprocess NAME: none, nougat (post_process_generation) or manga-ocr; the
             default is the checkpoint's (nougat for Nougat's tokenizer, else none).
             --preset manga-ocr: what kha-white/manga-ocr-base needs and its files do not say
             (grey images, its text post-processing). --strict: weights the model does not
             read are an error instead of a warning.
             --json prints one JSON array ({"image", "text", "sequence", "score",
             "confidence", "token_logprobs"} per image). --output writes one JSON line per
             image instead (or {"image", "error"} for an image that cannot be read) and
             resumes: images already in RESULTS.jsonl are skipped. A progress bar goes to
             stderr when it is a terminal. --stream prints one image's text as it is generated
             (greedy or sampling). --batch-size: images per generate() call (default 8).
)"},
    {"generate",
     R"(generate   [--model DIR] --pixel-values FILE [--batch I,J,...] [--args JSON] [--json]
             [--strict]
             Generate from tensor 'pixel_values' [B,C,H,W] of a safetensors file; print token ids.
)"},
    {"forward", R"(forward    [--model DIR] --pixel-values FILE --decoder-input-ids FILE --out FILE
             [--strict]
             Teacher-forced pass; writes 'encoder_last_hidden_state' and 'logits' to FILE.
)"},
    {"preprocess", R"(preprocess [--model DIR] --out FILE [--grayscale] IMAGE
             Run the checkpoint's image processor; writes 'pixel_values' to FILE (1 channel
             for an encoder with num_channels 1). --grayscale: convert('L').convert('RGB')
             first, as manga-ocr does.
)"},
    {"convert", R"(convert    --model DIR --out DIR2
             Write DIR's weights (e.g. pytorch_model.bin) as DIR2/model.safetensors, each tensor
             in its stored dtype, and copy DIR's config, tokenizer and processor files to DIR2.
)"},
    {"tokenize", R"(tokenize   [--model DIR] [--add-special-tokens] [--json] -- TEXT
             Print the token ids of TEXT (DIR may hold only tokenizer files).
)"},
    {"detokenize", R"(detokenize [--model DIR] [--skip-special-tokens] [--json] IDS_JSON
             Print the text of a JSON list of token ids, e.g. '[101, 7592, 102]'.
)"},
    {"models", R"(models     [--json]
             Say which default model is used and every place it was looked for.
)"},
    {"postprocess", R"(postprocess NAME [--no-fix-markdown]
             Post-process generated text: UTF-8 text on stdin, the result on stdout (nothing
             added). NAME: none, nougat (transformers' Nougat post_process_generation;
             --no-fix-markdown skips its Markdown fixes, i.e. fix_markdown=False) or manga-ocr
             (manga_ocr's post_process). No model.
)"},
    {"bench", R"(bench      [--model DIR | --config DIR] [--mode encoder|greedy|beam4|batch8] ...
             Time a checkpoint, or a config.json's shapes with random weights
             (`ved bench --help` for its options).
)"},
#ifdef VED_HAVE_SERVER
    {"serve", R"(serve      [--model DIR] [--host 127.0.0.1] [--port 8080] ...
             Serve the model over HTTP: POST / with an image, GET /health, /info, /metrics
             (`ved serve --help` for endpoints and options).
)"},
    {"bench-serve", R"(bench-serve [--model DIR | --config DIR] [--concurrency 1,4,16] ...
             Throughput and latency of ved serve under concurrent clients, next to sequential
             generation (`ved bench-serve --help`).
)"},
#endif
};

constexpr const char* kOptions = R"(
options:
  --model DIR   a checkpoint folder as transformers' save_pretrained writes it; without it,
                the embedded default model (tiny-ocr: printed single text lines; see
                `ved models`, or set VED_DEFAULT_MODEL=DIR)
  --args JSON   generate() keyword arguments, e.g. '{"max_new_tokens": 20, "num_beams": 4}'
  --json        print JSON instead of plain text
  --threads N   threads for ved's kernels (default: VED_NUM_THREADS, else the CPUs this
                process may use: affinity mask and cgroup quota)
  --help        this text; `ved COMMAND --help` for one command
  --version     print ved's version and the default model in use
)";

std::string usage() {
  std::string u = "usage: ved <command> [options]\n\ncommands:\n";
  for (const auto& c : kCommands) u += std::string("  ") + c.text;
  return u + kOptions;
}

std::string command_usage(const std::string& name) {
  for (const auto& c : kCommands)
    if (name == c.name) return std::string("usage: ved ") + c.text + kOptions;
  return usage();
}

struct UsageError : ved::Error {
  using ved::Error::Error;
};

struct Args {
  std::string command;
  std::map<std::string, std::string> options;
  bool json = false;
  std::set<std::string> flags;  // --add-special-tokens, --skip-special-tokens, --stream, ...
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
      {"caption",
       {"model", "args", "input", "output", "batch-size", "threads", "dpi", "postprocess",
        "preset"}},
      {"generate", {"model", "pixel-values", "batch", "args"}},
      {"forward", {"model", "pixel-values", "decoder-input-ids", "out"}},
      {"preprocess", {"model", "out"}},
      {"convert", {"model", "out"}},
      {"tokenize", {"model"}},
      {"detokenize", {"model"}},
      {"models", {}},
      {"postprocess", {}}};
  // Without --model, a command reads the embedded default model (ved::default_model_dir()).
  static const std::map<std::string, std::vector<std::string>> required = {
      {"caption", {}},
      {"generate", {"pixel-values"}},
      {"forward", {"pixel-values", "decoder-input-ids", "out"}},
      {"preprocess", {"out"}},
      {"convert", {"model", "out"}},
      {"tokenize", {}},
      {"detokenize", {}},
      {"models", {}},
      {"postprocess", {}}};
  Args a;
  if (argc < 2) throw UsageError("no command given");
  a.command = argv[1];
  auto cmd = allowed.find(a.command);
  if (cmd == allowed.end()) throw UsageError("unknown command '" + a.command + "'");
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {  // the rest is positional, even if it starts with "--"
      a.positional.insert(a.positional.end(), argv + i + 1, argv + argc);
      break;
    }
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
    if (name == "json" && !inline_value && a.command != "forward" && a.command != "preprocess" &&
        a.command != "convert" && a.command != "postprocess") {
      a.json = true;
      continue;
    }
    if (!inline_value && ((a.command == "tokenize" && name == "add-special-tokens") ||
                          (a.command == "detokenize" && name == "skip-special-tokens") ||
                          (a.command == "caption" && (name == "stream" || name == "no-progress")) ||
                          (a.command == "postprocess" && name == "no-fix-markdown") ||
                          (a.command == "preprocess" && name == "grayscale") ||
                          (name == "strict" && (a.command == "caption" || a.command == "generate" ||
                                                a.command == "forward")))) {
      a.flags.insert(name);
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

// tokenize / detokenize: only the tokenizer files are read, so DIR may be a tokenizer folder.
int run_tokenizer(const Args& a, const std::string& dir) {
  if (a.positional.size() != 1)
    throw UsageError(a.command + ": expects exactly one " +
                     (a.command == "tokenize" ? "TEXT (after --)" : "IDS_JSON") + ", got " +
                     std::to_string(a.positional.size()));
  const auto tokenizer = ved::Tokenizer::from_pretrained(dir);
  if (a.command == "tokenize") {
    const std::vector<int64_t> ids =
        tokenizer->encode(a.positional[0], a.flags.count("add-special-tokens") > 0);
    if (a.json) {
      std::cout << ved::detail::json(ids).dump() << "\n";
    } else {
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << "\n";
    }
    return 0;
  }
  ved::detail::json j;
  try {
    j = ved::detail::json::parse(a.positional[0]);
  } catch (const ved::detail::json::parse_error&) {
    throw UsageError("detokenize: IDS_JSON is not JSON: '" + a.positional[0] + "'");
  }
  const UsageError not_ids("detokenize: IDS_JSON must be a JSON list of integer ids, got '" +
                           a.positional[0] + "'");
  if (!j.is_array()) throw not_ids;
  std::vector<int64_t> ids;
  for (const auto& v : j) {
    constexpr auto kMaxId = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > kMaxId))
      throw not_ids;
    ids.push_back(v.get<int64_t>());
  }
  const std::string text = tokenizer->decode(ids, a.flags.count("skip-special-tokens") > 0);
  if (a.json) {
    // Decoded text is valid UTF-8 for every tokenizer; replace rather than fail if not.
    std::cout << ved::detail::json(text).dump(-1, ' ', false,
                                              ved::detail::json::error_handler_t::replace)
              << "\n";
  } else {
    std::cout << text << "\n";
  }
  return 0;
}

int int_option(const Args& a, const std::string& name, int fallback, int min) {
  if (!a.options.count(name)) return fallback;
  const std::string& text = a.options.at(name);
  size_t used = 0;
  int v = min - 1;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min)
    throw UsageError(a.command + ": --" + name + " must be an integer >= " + std::to_string(min) +
                     ", got '" + text + "'");
  return v;
}

ved::ModelOptions model_options(const Args& a) {
  ved::ModelOptions options;
  options.strict = a.flags.count("strict") > 0;
  return options;
}

// A positive number of dots per inch for rendering PDF pages.
double dpi_option(const Args& a) {
  if (!a.options.count("dpi")) return ved::PdfDocument::kDefaultDpi;
  const std::string& text = a.options.at("dpi");
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !(v > 0 && v <= 2400))
    throw UsageError("caption: --dpi must be a number in (0, 2400], got '" + text + "'");
  return v;
}

// caption: plain lines or one JSON array on stdout, JSON Lines (or Markdown) to a file
// (--output), or one image's text streamed as it is generated (--stream). PDF inputs are read
// page by page.
int run_caption(const Args& a, const std::string& model_dir) {
  std::vector<std::string> paths = a.positional;
  if (a.options.count("input")) {
    const auto listed = ved::cli::list_images(a.options.at("input"));
    paths.insert(paths.end(), listed.begin(), listed.end());
  }
  if (paths.empty()) throw UsageError("caption: expects at least one IMAGE or --input");
  const bool stream = a.flags.count("stream") > 0;
  const bool to_file = a.options.count("output") > 0;
  if (a.json && to_file) throw UsageError("caption: --output always writes JSON; drop --json");
  if (a.flags.count("no-progress") && !to_file)
    throw UsageError("caption: --no-progress only applies with --output");
  const int batch_size = int_option(a, "batch-size", 8, 1);
  const double dpi = dpi_option(a);
  if (a.options.count("threads")) ved::set_num_threads(int_option(a, "threads", 0, 1));
  const ved::detail::json kwargs = generate_kwargs(a);
  const std::vector<ved::cli::Input> inputs = ved::cli::expand_inputs(paths);
  if (stream && (a.json || to_file || inputs.size() != 1))
    throw UsageError(
        "caption: --stream takes exactly one IMAGE (or one-page PDF), without --json or --output");
  auto pipeline = ved::ImageToText::from_pretrained(model_dir, model_options(a));
  if (a.options.count("preset")) pipeline.set_preset(a.options.at("preset"));
  if (a.options.count("postprocess")) pipeline.set_postprocessor(a.options.at("postprocess"));
  ved::cli::InputLoader loader(dpi);

  if (stream) {
    pipeline.run(loader.load(inputs[0]), kwargs,
                 [](const std::string& piece) { std::cout << piece << std::flush; });
    std::cout << "\n";
    return 0;
  }
  if (to_file) {
    ved::cli::BatchJob job;
    job.inputs = inputs;
    job.output = a.options.at("output");
    job.batch_size = batch_size;
    job.progress = ::isatty(STDERR_FILENO) && !a.flags.count("no-progress");
    job.kwargs = kwargs;
    job.dpi = dpi;
    const ved::cli::BatchSummary s = ved::cli::caption_to_jsonl(pipeline, job);
    std::cerr << "ved: " << s.captioned << " captioned, " << s.failed << " unreadable, "
              << s.skipped << " already in " << job.output << "\n";
    return 0;
  }
  ved::detail::json results = ved::detail::json::array();
  for (size_t first = 0; first < inputs.size(); first += static_cast<size_t>(batch_size)) {
    const size_t n = std::min(inputs.size() - first, static_cast<size_t>(batch_size));
    std::vector<ved::Image> batch;
    for (size_t i = 0; i < n; ++i) batch.push_back(loader.load(inputs[first + i]));
    const std::vector<ved::TextResult> out = pipeline.run(batch, kwargs);
    const size_t per_image = out.size() / n;
    for (size_t i = 0; i < out.size(); ++i) {
      if (!a.json) {
        std::cout << out[i].text << "\n";
        continue;
      }
      const ved::cli::Input& in = inputs[first + i / per_image];
      ved::detail::json r = {{"image", in.path}};
      if (in.page >= 0) r["page"] = in.page + 1;
      r["text"] = out[i].text;
      r["sequence"] = out[i].tokens;
      r["score"] = out[i].score;
      r["confidence"] = out[i].confidence;
      r["token_logprobs"] = out[i].token_logprobs;
      results.push_back(std::move(r));
    }
  }
  if (a.json)
    std::cout << results.dump(-1, ' ', false, ved::detail::json::error_handler_t::replace) << "\n";
  return 0;
}

// ved models: which default model is in use and where it was looked for.
int run_models(const Args& a) {
  if (!a.positional.empty())
    throw UsageError("models: unexpected argument '" + a.positional[0] + "'");
  const std::vector<ved::DefaultModelCandidate> search = ved::default_model_search();
  std::string in_use, problem;
  try {
    in_use = ved::default_model_dir();
  } catch (const ved::Error& e) {
    problem = e.what();
  }
  if (a.json) {
    ved::detail::json places = ved::detail::json::array();
    for (const auto& c : search)
      places.push_back({{"dir", c.dir}, {"origin", c.origin}, {"found", c.found}});
    ved::detail::json j = {{"name", ved::default_model_name()}, {"searched", places}};
    j["default"] = in_use.empty() ? ved::detail::json(nullptr) : ved::detail::json(in_use);
    if (!problem.empty()) j["error"] = problem;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "default model: " << (in_use.empty() ? "none" : in_use) << "\n";
  if (!problem.empty()) std::cout << "  " << problem << "\n";
  std::cout << "searched, in order:\n";
  for (const auto& c : search)
    std::cout << "  " << (c.found ? "found    " : "missing  ") << c.dir << "  (" << c.origin
              << ")\n";
  std::cout << "--model DIR overrides it for one command; VED_DEFAULT_MODEL=DIR for all.\n";
  return 0;
}

// ved postprocess NAME: generated text on stdin, the post-processed text on stdout, byte for
// byte (no newline added). Needs no model.
int run_postprocess(const Args& a) {
  if (a.positional.size() != 1)
    throw UsageError("postprocess: expects exactly one NAME (none, nougat or manga-ocr)");
  ved::PostprocessOptions options;
  options.nougat.fix_markdown = a.flags.count("no-fix-markdown") == 0;
  const std::vector<std::string>& names = ved::postprocessor_names();
  if (std::find(names.begin(), names.end(), a.positional[0]) == names.end())
    ved::postprocess(a.positional[0], "", options);  // throws, naming the known ones
  const std::string text{std::istreambuf_iterator<char>(std::cin),
                         std::istreambuf_iterator<char>()};
  const std::string out = ved::postprocess(a.positional[0], text, options);
  std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
  std::cout.flush();
  return std::cout ? 0 : 1;
}

int run(const Args& a) {
  if (a.command == "models") return run_models(a);
  if (a.command == "postprocess") return run_postprocess(a);
  const std::string model_dir =
      a.options.count("model") ? a.options.at("model") : ved::default_model_dir();
  if (a.command == "tokenize" || a.command == "detokenize") return run_tokenizer(a, model_dir);
  if (a.command == "preprocess") {
    if (a.positional.size() != 1) throw UsageError("preprocess: expects exactly one IMAGE");
    ved::ImageProcessor processor = ved::ImageToText::processor_for(model_dir);
    processor.set_grayscale(a.flags.count("grayscale") > 0);
    const ved::Tensor<float> pixels = processor.preprocess(ved::load_image(a.positional[0]));
    ved::write_safetensors(a.require("out"), {ved::to_write("pixel_values", pixels)});
    return 0;
  }
  if (!a.positional.empty() && a.command != "caption")
    throw UsageError(a.command + ": unexpected argument '" + a.positional[0] + "'");
  if (a.command == "convert") {
    const ved::ConversionSummary s = ved::convert_to_safetensors(model_dir, a.require("out"));
    std::cout << "wrote " << s.tensors << " tensors to " << s.weights << "\n";
    for (const auto& name : s.copied) std::cout << "copied " << name << "\n";
    return 0;
  }
  if (a.command == "caption") return run_caption(a, model_dir);
  const auto model = ved::VisionEncoderDecoderModel::from_pretrained(model_dir, model_options(a));
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
  throw UsageError("unknown command '" + a.command + "'");
}

}  // namespace

// `--help` or `-h` anywhere before a `--` asks for the command's usage instead of running it.
bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") return false;
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

int main(int argc, char** argv) {
  const std::string command = argc >= 2 ? argv[1] : "";
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << (argc >= 3 ? command_usage(argv[2]) : usage());
    return 0;
  }
  if (command == "--version") {
    std::cout << "ved " << VED_VERSION_STRING << "\n";
    try {
      std::cout << "kernels: " << ved::kernel_isa()
                << " (VED_ISA=generic|avx2|avx512|amx lowers it), " << ved::num_threads()
                << " threads\n";
    } catch (const ved::Error& e) {
      std::cout << "kernels: " << e.what() << "\n";
    }
    try {
      std::cout << "default model: " << ved::default_model_name() << " ("
                << ved::default_model_dir() << ")\n";
    } catch (const ved::Error&) {
      std::cout << "default model: none found (`ved models` says where it looked)\n";
    }
    return 0;
  }
  try {
    if (command == "bench") return bench_main(argc - 1, argv + 1);
#ifdef VED_HAVE_SERVER
    if (command == "serve") return serve_main(argc - 1, argv + 1);
    if (command == "bench-serve") return bench_serve_main(argc - 1, argv + 1);
#endif
    if (wants_help(argc, argv)) {
      std::cout << command_usage(command);
      return 0;
    }
    return run(parse(argc, argv));
  } catch (const UsageError& e) {
    std::cerr << "ved: " << e.what() << "\n\n" << command_usage(command);
    return 2;
  } catch (const ved::Error& e) {
    std::cerr << "ved: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "ved: internal error: " << e.what() << "\n";
    return 1;
  }
}
