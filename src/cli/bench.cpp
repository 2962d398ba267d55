// ved bench — times a VisionEncoderDecoderModel at real size on random input.
//
//   ved bench [--model DIR | --config DIR] [--mode encoder|greedy|beam4|batch8]
//             [--new-tokens 20] [--n 5] [--threads T] [--dtype f32|bf16|int8] [--compare-f32]
//             [--seed S] [--json] [--verbose]
//
// --model loads a checkpoint folder; --config needs only its config.json (generation_config.json
// is read when present) and uses seeded random weights, so that the shapes, memory and arithmetic
// are those of the real model (e.g. ../shared/configs/donut-base) without its weights.
//
// One warm-up run, then --n timed runs of the mode on one random image (batch8: eight):
//   encoder  the vision encoder alone
//   greedy   generate() with greedy search        beam4   generate() with 4 beams
//   batch8   generate() with greedy search over 8 images
// Decoding is forced to exactly --new-tokens tokens (min_new_tokens = max_new_tokens, so eos
// cannot stop it early); every run is checked for that. The machine is probed first (memory read
// bandwidth, f32 GEMM rate) and the run is compared with a simple bound: the encoder's FLOPs at
// the GEMM rate plus, per decoding step, the decoder weights and cross-attention keys/values it
// streams at the measured bandwidth. The bound assumes real sizes, whose weights do not fit in
// cache; a tiny model can beat it.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ved/models/all.hpp"
#include "ved/ved.hpp"

ved::VisionEncoderDecoderModel synthetic_model(const std::string& dir, uint64_t seed,
                                               const ved::ModelOptions& options) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw ved::IoError(dir + ": not a directory");
  const std::string config_path = (fs::path(dir) / "config.json").string();
  const auto config_json = ved::detail::read_json_file(config_path);
  const auto config = ved::VisionEncoderDecoderConfig::from_json(config_json, config_path);
  const fs::path gen_path = fs::path(dir) / "generation_config.json";
  ved::GenerationConfig g =
      fs::exists(gen_path) ? ved::GenerationConfig::from_file(gen_path.string())
                           : ved::GenerationConfig::from_model_config(config_json, config_path);
  return ved::VisionEncoderDecoderModel(config, g, ved::WeightSource::synthetic(seed), options);
}

std::pair<int64_t, int64_t> encoder_image_size(const ved::PretrainedConfig& encoder) {
  const auto& j =
      encoder.raw.contains("image_size") ? encoder.raw["image_size"] : ved::detail::json(224);
  if (j.is_array() && j.size() == 2) return {j[0].get<int64_t>(), j[1].get<int64_t>()};
  if (j.is_number_integer()) return {j.get<int64_t>(), j.get<int64_t>()};
  throw ved::ConfigError(encoder.source + ": image_size must be an integer or [height, width]");
}

namespace {

using Clock = std::chrono::steady_clock;
using ordered_json = nlohmann::ordered_json;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr const char* kUsage =
    "usage: ved bench [--model DIR | --config DIR] [--mode encoder|greedy|beam4|batch8]\n"
    "                 [--new-tokens N] [--n N] [--threads T] [--dtype f32|bf16|int8]\n"
    "                 [--compare-f32] [--seed S] [--json] [--verbose]\n";

constexpr const char* kHelp = R"(
Times a model: one warm-up run, then --n timed runs (medians reported), with the machine's
memory-read and GEMM rates probed in the same run as the bound each stage is compared with.

  --model DIR       a checkpoint folder (default: the embedded default model, `ved models`)
  --config DIR      a folder with only config.json: real shapes with seeded random weights
  --mode M          encoder (the vision encoder alone), greedy, beam4 (4 beams), batch8
                    (greedy over 8 images); default greedy
  --new-tokens N    tokens generated per run, forced (eos cannot stop early); default 20
  --n N             timed runs; default 5
  --threads T       kernel threads (default: VED_NUM_THREADS, else the CPUs this process may use)
  --dtype D         weights as f32 (default), bf16 or int8
  --compare-f32     with --dtype: per-step top-1 agreement and logit difference against f32
  --seed S          seed of the random weights and image; default 0
  --json            print one JSON object
  --verbose         split the time into preprocess, encoder, cross-attention K/V, decoder
                    steps and search
)";

// ---- options ----

struct Mode {
  std::string name;
  int64_t batch = 1, beams = 1;
  bool decodes = true;

  static Mode parse(const std::string& name) {
    if (name == "encoder") return {name, 1, 1, false};
    if (name == "greedy") return {name, 1, 1, true};
    if (name == "beam4") return {name, 1, 4, true};
    if (name == "batch8") return {name, 8, 1, true};
    throw ved::InvalidArgument("bench: unknown --mode '" + name +
                               "' (expected encoder, greedy, beam4 or batch8)");
  }
};

struct Options {
  std::string dir;
  bool synthetic = false;  // --config: random weights
  Mode mode = Mode::parse("greedy");
  int64_t new_tokens = 20, runs = 5, threads = 0;
  uint64_t seed = 0;
  ved::WeightType dtype = ved::WeightType::F32;
  bool compare_f32 = false, json = false, verbose = false, help = false;
};

int64_t parse_count(const std::string& option, const std::string& value, int64_t min) {
  size_t used = 0;
  int64_t n = 0;
  try {
    n = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || n < min)
    throw ved::InvalidArgument("bench: " + option + " must be an integer >= " +
                               std::to_string(min) + ", got '" + value + "'");
  return n;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ved::InvalidArgument("bench: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      o.help = true;
      return o;
    } else if (a == "--model" || a == "--config") {
      if (!o.dir.empty()) throw ved::InvalidArgument("bench: give one of --model and --config");
      o.dir = value();
      o.synthetic = a == "--config";
    } else if (a == "--mode") {
      o.mode = Mode::parse(value());
    } else if (a == "--new-tokens") {
      o.new_tokens = parse_count(a, value(), 1);
    } else if (a == "--n") {
      o.runs = parse_count(a, value(), 1);
    } else if (a == "--threads") {
      o.threads = parse_count(a, value(), 1);
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(parse_count(a, value(), 0));
    } else if (a == "--dtype") {
      o.dtype = ved::parse_weight_type(value());
    } else if (a == "--compare-f32") {
      o.compare_f32 = true;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else {
      throw ved::InvalidArgument("bench: unknown option " + a + "\n" + kUsage);
    }
  }
  if (o.dir.empty()) o.dir = ved::default_model_dir();
  return o;
}

// ---- statistics and process state ----

struct Summary {
  double min = 0, median = 0, max = 0;

  static Summary of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return {v.front(), n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v.back()};
  }
};

// Peak resident set size of this process in MiB (VmHWM), or -1 where /proc is unavailable.
double peak_rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1.0;
}

// ---- machine probes ----

struct Machine {
  double bandwidth_gbs = 0;  // memory read, all threads
  double gemm_gflops = 0;    // f32 GEMM (ved's kernels), all threads
};

// Best of a few passes of ved's own skinny product (the kernel set in use, all threads) over a
// matrix of 256 MiB or twice the last-level cache, whichever is larger, with one row of x: the
// rate at which a decoding step could read its weights from memory if nothing else took time, as
// the GEMM probe below is the rate for an encoder. A plain sum, compiled for baseline x86-64 as
// this file is, could not issue loads fast enough on every machine: on a 2-core Xeon VM it read
// 20-23 GB/s while ved's decoding steps streamed their weights at 29, and bench reported
// "achieved 1.16" of a bound. A Xeon VM with 480 MiB of L3 read 256-512 MB of matrices at
// 41-46 GB/s once they lay on huge pages, and 768 MB at 30.
double probe_bandwidth_gbs() {
  const int64_t cols = 1024;
  const long l3 = ::sysconf(_SC_LEVEL3_CACHE_SIZE);  // 0 or -1 where unknown
  const int64_t rows =
      std::max<int64_t>(65536, 2 * static_cast<int64_t>(std::max(l3, 0L)) / (cols * 4));
  ved::Tensor<float> w({rows, cols}), x({1, cols}), y({1, rows});
  std::fill(w.begin(), w.end(), 1.0f);
  std::fill(x.begin(), x.end(), 1.0f);
  const ved::nn::WeightMatrix m(std::move(w));
  m.multiply(x.data(), 1, y.data());  // warm-up: pages, thread pool
  double best = 1e30;
  for (int pass = 0; pass < 4; ++pass) {
    const auto t0 = Clock::now();
    m.multiply(x.data(), 1, y.data());
    best = std::min(best, seconds_since(t0));
  }
  if (std::any_of(y.begin(), y.end(), [&](float v) { return v != static_cast<float>(cols); }))
    throw ved::Error("bench: the bandwidth probe's product came out wrong");
  return static_cast<double>(rows * cols) * sizeof(float) / best / 1e9;
}

// Best of a few 1024³ products by ved's own GEMM (the kernel set in use, all threads): the rate
// an encoder's matrix products could reach if nothing else took time.
double probe_gemm_gflops() {
  const int64_t n = 1024;
  ved::Tensor<float> w({n, n}), x({n, n}), y({n, n});
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& v : w) v = u(rng);
  for (float& v : x) v = u(rng);
  const ved::nn::WeightMatrix m(w);
  m.multiply(x.data(), n, y.data());  // warm-up: pages, thread pool
  double best = 1e30;
  for (int pass = 0; pass < 3; ++pass) {
    const auto t0 = Clock::now();
    m.multiply(x.data(), n, y.data());
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * static_cast<double>(n * n * n) / best / 1e9;
}

// ---- analytic costs ----

// The encoder on one image at its configured size: the FLOPs (2 per multiply-add) of its matrix
// products (patch embedding, projections, attention, MLP, patch merging), and the length of the
// sequence it hands to the decoder's cross-attention.
struct EncoderCost {
  double flops = 0;
  double tokens = 0;
};

std::optional<EncoderCost> encoder_cost(const ved::PretrainedConfig& c) {
  const std::string& type = c.model_type;
  // ViT-style: patch embedding, then `layers` blocks over `tokens` tokens.
  auto vit_like = [](double patches, double patch_in, double tokens, double D, double F,
                     double layers) {
    const double block = 4 * tokens * D * D + 2 * tokens * D * F + 2 * tokens * tokens * D;
    return EncoderCost{2 * (patches * patch_in * D + layers * block), tokens};
  };
  if (type == "vit" || type == "deit") {
    const auto v = ved::ViTConfig::from(c);
    const double patches = static_cast<double>(v.grid_h() * v.grid_w());
    return vit_like(patches, static_cast<double>(v.num_channels * v.patch_size.h * v.patch_size.w),
                    patches + (type == "deit" ? 2 : 1), static_cast<double>(v.hidden_size),
                    static_cast<double>(v.intermediate_size),
                    static_cast<double>(v.num_hidden_layers));
  }
  if (type == "beit") {
    const auto v = ved::BeitConfig::from(c);
    const double patches = static_cast<double>(v.grid_h() * v.grid_w());
    return vit_like(patches, static_cast<double>(v.num_channels * v.patch_size * v.patch_size),
                    patches + 1, static_cast<double>(v.hidden_size),
                    static_cast<double>(v.intermediate_size),
                    static_cast<double>(v.num_hidden_layers));
  }
  if (type == "swin" || type == "donut-swin") {
    const auto v = ved::SwinConfig::from(c);
    const auto res = v.stage_resolutions(v.image_size.h, v.image_size.w);
    double C = static_cast<double>(v.embed_dim);
    double macs = static_cast<double>(res[0].h * res[0].w) *
                  static_cast<double>(v.num_channels * v.patch_size.h * v.patch_size.w) * C;
    for (size_t s = 0; s < res.size(); ++s) {
      const double rh = static_cast<double>(res[s].h), rw = static_cast<double>(res[s].w);
      // The window shrinks to a smaller map; otherwise the map is padded to whole windows.
      const double window = std::min({static_cast<double>(v.window_size), rh, rw});
      const double N = std::ceil(rh / window) * window * std::ceil(rw / window) * window;
      macs += static_cast<double>(v.depths[s]) *
              (4 * N * C * C + 2 * N * C * v.mlp_ratio * C + 2 * N * window * window * C);
      if (s + 1 < res.size()) {  // patch merging: 4C -> 2C on a quarter of the tokens
        macs += rh * rw / 4 * 4 * C * 2 * C;
        C *= 2;
      }
    }
    return EncoderCost{2 * macs, static_cast<double>(res.back().h * res.back().w)};
  }
  return std::nullopt;
}

// Weights of the matrices one decoding step multiplies by (cross-attention keys/values excluded:
// they are computed once per image), the output projection included.
struct DecoderCost {
  double step_weights = 0;
  double layers = 0;
};

std::optional<DecoderCost> decoder_cost(const ved::PretrainedConfig& c) {
  const std::string& type = c.model_type;
  if (type == "gpt2") {
    const auto g = ved::GPT2Config::from(c);
    const double D = static_cast<double>(g.n_embd), F = static_cast<double>(g.inner_dim());
    const double L = static_cast<double>(g.n_layer);
    // c_attn (q,k,v) + c_proj, cross q_attn + c_proj, c_fc + c_proj
    return DecoderCost{L * (6 * D * D + 2 * D * F) + static_cast<double>(g.vocab_size) * D, L};
  }
  auto bart_like = [&](const ved::detail::BartLikeConfig& b) {
    const double D = static_cast<double>(b.d_model), F = static_cast<double>(b.decoder_ffn_dim);
    const double L = static_cast<double>(b.decoder_layers);
    // self q,k,v,out + cross q,out + fc1, fc2
    return DecoderCost{L * (6 * D * D + 2 * D * F) + static_cast<double>(b.vocab_size) * D, L};
  };
  if (type == "trocr") return bart_like(ved::TrOCRConfig::from(c));
  if (type == "mbart") return bart_like(ved::MBartConfig::from(c));
  if (type == "bart") return bart_like(ved::BartConfig::from(c));
  if (type == "bert" || type == "roberta") {
    const auto b = type == "bert" ? ved::BertConfig::from(c) : ved::RobertaConfig::from(c);
    const double D = static_cast<double>(b.hidden_size),
                 F = static_cast<double>(b.intermediate_size);
    const double L = static_cast<double>(b.num_hidden_layers);
    // self q,k,v,out + cross q,out + intermediate, output; the LM head's transform and decoder
    return DecoderCost{L * (6 * D * D + 2 * D * F) + D * D + static_cast<double>(b.vocab_size) * D,
                       L};
  }
  return std::nullopt;
}

double weight_bytes(ved::WeightType t) {
  switch (t) {
    case ved::WeightType::F32:
      return 4;
    case ved::WeightType::BF16:
      return 2;
    case ved::WeightType::Int8:
      return 1;
  }
  return 4;
}

// ---- the model and its input ----

struct Loaded {
  ved::VisionEncoderDecoderModel model;
  ved::GenerationConfig generation;
  double load_s;
};

Loaded load(const Options& o, ved::WeightType dtype) {
  const auto t0 = Clock::now();
  const ved::ModelOptions options{dtype};
  auto model = o.synthetic ? synthetic_model(o.dir, o.seed, options)
                           : ved::VisionEncoderDecoderModel::from_pretrained(o.dir, options);
  ved::GenerationConfig g = model.generation_config();
  return {std::move(model), std::move(g), seconds_since(t0)};
}

ved::Tensor<float> random_pixels(const ved::VisionEncoderDecoderConfig& config, int64_t batch,
                                 uint64_t seed) {
  const auto [h, w] = encoder_image_size(config.encoder);
  const int64_t channels = config.encoder.get("num_channels", int64_t{3});
  ved::Tensor<float> pixels({batch, channels, h, w});
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  for (float& v : pixels) v = normal(rng);
  return pixels;
}

// Exactly `new_tokens` new tokens: eos is masked until then, so random weights cannot stop early.
ved::GenerationConfig forced(ved::GenerationConfig g, const Options& o) {
  g.max_new_tokens = o.new_tokens;
  g.min_new_tokens = o.new_tokens;
  g.min_length = 0;
  g.num_beams = o.mode.beams;
  g.num_return_sequences = 1;
  g.do_sample = false;
  g.output_scores = false;
  return g;
}

void check_forced_length(const ved::GenerateOutput& out, const Options& o) {
  for (const auto& seq : out.sequences)
    if (static_cast<int64_t>(seq.size()) != 1 + o.new_tokens)
      throw ved::Error("bench: generate() returned " + std::to_string(seq.size() - 1) +
                       " new tokens, expected exactly " + std::to_string(o.new_tokens));
}

// ---- timing ----

struct StageSamples {
  std::vector<double> preprocess, encoder, cross_kv, decoder, search, step_ms;
  // Greedy batch-1 runs of at least 128 tokens: the mean time per token over tokens 2-64 and
  // over the last 64, from the streaming callback's clock (token 1 also holds the encoder). A
  // decode whose per-token cost grows with the sequence (KV-cache copies, quadratic work)
  // shows as a ratio well above 1.
  std::vector<double> early_token_ms, late_token_ms;
};

struct RunResult {
  std::vector<double> seconds;
  StageSamples stages;
  ved::GenerateOutput last;  // the last run's output (decoding modes)
};

// The preprocessing stage exists only for folders with a preprocessor_config.json: one
// 640×480 photo-sized random image through the model's ImageProcessor.
std::optional<ved::ImageProcessor> find_processor(const Options& o) {
  if (!std::filesystem::exists(std::filesystem::path(o.dir) / "preprocessor_config.json"))
    return std::nullopt;
  return ved::ImageProcessor::from_pretrained(o.dir);
}

RunResult time_runs(const Loaded& m, const Options& o, const ved::Tensor<float>& pixels) {
  const ved::GenerationConfig g = forced(m.generation, o);
  const std::optional<ved::ImageProcessor> processor = find_processor(o);
  ved::Image photo(640, 480);
  std::mt19937 rng(static_cast<uint32_t>(o.seed));
  for (auto& p : photo.rgb) p = static_cast<uint8_t>(rng());

  RunResult r;
  for (int64_t run = -1; run < o.runs; ++run) {  // run -1 is the warm-up
    if (processor) {
      const auto t0 = Clock::now();
      processor->preprocess(photo);
      if (run >= 0) r.stages.preprocess.push_back(seconds_since(t0));
    }
    const auto t0 = Clock::now();
    if (!o.mode.decodes) {
      m.model.encode(pixels);
      const double s = seconds_since(t0);
      if (run < 0) continue;
      r.seconds.push_back(s);
      r.stages.encoder.push_back(s);
      continue;
    }
    ved::GenerateTimings t;
    std::vector<Clock::time_point> stamps;
    ved::TokenCallback on_token;
    if (o.mode.batch == 1 && o.mode.beams == 1 && o.new_tokens >= 128) {
      stamps.reserve(static_cast<size_t>(o.new_tokens));
      on_token = [&](int64_t, const std::vector<int64_t>&) {
        stamps.push_back(Clock::now());
        return true;
      };
    }
    r.last = m.model.generate(pixels, g, {}, on_token, &t);
    const double s = seconds_since(t0);
    if (run >= 0 && stamps.size() >= 128) {
      auto mean_ms = [&](size_t from, size_t to) {  // intervals ending at stamps[from..to)
        return 1e3 * std::chrono::duration<double>(stamps[to - 1] - stamps[from - 1]).count() /
               static_cast<double>(to - from);
      };
      r.stages.early_token_ms.push_back(mean_ms(1, 64));
      r.stages.late_token_ms.push_back(mean_ms(stamps.size() - 64, stamps.size()));
    }
    check_forced_length(r.last, o);
    if (run < 0) continue;
    r.seconds.push_back(s);
    r.stages.encoder.push_back(t.encoder_s);
    r.stages.cross_kv.push_back(t.cross_kv_s);
    r.stages.decoder.push_back(t.decoder_s);
    r.stages.search.push_back(t.search_s);
    r.stages.step_ms.push_back(1e3 * t.decoder_s / static_cast<double>(t.decoder_steps));
  }
  return r;
}

// ---- f32 comparison ----

// Teacher-forces the reduced-precision model's tokens through it and through the f32 model, and
// compares the next-token logits at every position: top-1 agreement and the largest difference.
ordered_json compare_with_f32(const Loaded& reduced, const Loaded& f32, const RunResult& r,
                              const ved::Tensor<float>& pixels) {
  if (r.last.sequences.empty()) {
    const ved::Tensor<float> a = reduced.model.encode(pixels), b = f32.model.encode(pixels);
    float diff = 0;
    for (int64_t i = 0; i < a.numel(); ++i)
      diff = std::max(diff, std::abs(a.data()[i] - b.data()[i]));
    return {{"max_abs_encoder_diff", diff}};
  }
  const auto& seqs = r.last.sequences;
  const int64_t B = static_cast<int64_t>(seqs.size()), T = static_cast<int64_t>(seqs[0].size()) - 1;
  ved::Tensor<int64_t> ids({B, T});
  for (int64_t b = 0; b < B; ++b)
    std::copy(seqs[static_cast<size_t>(b)].begin(), seqs[static_cast<size_t>(b)].end() - 1,
              ids.data() + b * T);
  const ved::Tensor<float> a = reduced.model.forward(pixels, ids).logits;
  const ved::Tensor<float> b = f32.model.forward(pixels, ids).logits;
  const int64_t V = a.dim(2), positions = B * T;
  int64_t agree = 0;
  float diff = 0;
  for (int64_t p = 0; p < positions; ++p) {
    const float* x = a.data() + p * V;
    const float* y = b.data() + p * V;
    agree += ved::argmax(x, V) == ved::argmax(y, V);
    for (int64_t v = 0; v < V; ++v) diff = std::max(diff, std::abs(x[v] - y[v]));
  }
  return {{"positions", positions},
          {"top1_agreement", static_cast<double>(agree) / static_cast<double>(positions)},
          {"max_abs_logit_diff", diff}};
}

// ---- report ----

ordered_json stage_medians(const StageSamples& s) {
  ordered_json j;
  auto add = [&](const char* name, const std::vector<double>& v) {
    j[name] = v.empty() ? ordered_json(nullptr) : ordered_json(Summary::of(v).median);
  };
  add("preprocess_s", s.preprocess);
  add("encoder_s", s.encoder);
  add("cross_kv_s", s.cross_kv);
  add("decoder_s", s.decoder);
  add("decoder_step_ms", s.step_ms);
  add("search_s", s.search);

  return j;
}

// The bound: the encoder's FLOPs and the cross-attention key/value projections at the GEMM rate,
// then per decoding step the larger of the bytes it must stream at the measured bandwidth (the
// weights once, each image's cross-attention keys and values once) and its FLOPs at the GEMM rate.
// The encoder's and one step's own bounds are given too, for --verbose's stage times.
ordered_json bound(const ved::VisionEncoderDecoderModel& model, const Options& o,
                   const Machine& machine) {
  const auto& config = model.config();
  const std::optional<EncoderCost> enc = encoder_cost(config.encoder);
  const std::optional<DecoderCost> dec = decoder_cost(config.decoder);
  if (!enc || (o.mode.decodes && !dec)) return nullptr;
  const double gemm = machine.gemm_gflops * 1e9, bandwidth = machine.bandwidth_gbs * 1e9;
  const double images = static_cast<double>(o.mode.batch);
  const double encoder_s = images * enc->flops / gemm;
  double seconds = encoder_s, step_s = 0;
  if (o.mode.decodes) {
    const double rows = images * static_cast<double>(o.mode.beams);
    const double D = static_cast<double>(model.decoder().hidden_size());
    const double kdim = static_cast<double>(model.decoder().encoder_hidden_size());
    const double S = enc->tokens;
    seconds += images * dec->layers * 2 * (2 * S * kdim * D) / gemm;
    const double bytes = dec->step_weights * weight_bytes(o.dtype) +
                         images * dec->layers * 2 * S * D * sizeof(float);
    const double flops = 2 * rows * dec->step_weights;
    step_s = std::max(bytes / bandwidth, flops / gemm);
    seconds += static_cast<double>(o.new_tokens) * step_s;
  }
  return {{"s", seconds},
          {"encoder_s", encoder_s},
          {"decoder_step_ms", o.mode.decodes ? ordered_json(step_s * 1e3) : ordered_json(nullptr)}};
}

void print_table(const ordered_json& j) {
  auto num = [](const ordered_json& v, const char* fmt) {
    char buf[64];
    if (v.is_null()) return std::string("-");
    std::snprintf(buf, sizeof buf, fmt, v.get<double>());
    return std::string(buf);
  };
  std::printf("model        %s (%s weights, %s)\n", j["model"].get<std::string>().c_str(),
              j["weights"].get<std::string>().c_str(), j["dtype"].get<std::string>().c_str());
  std::printf(
      "mode         %s: batch %lld, %lld beam(s), %lld new tokens, %lld runs, %lld threads, %s "
      "kernels\n",
      j["mode"].get<std::string>().c_str(), j["batch"].get<long long>(),
      j["beams"].get<long long>(), j["new_tokens"].get<long long>(), j["n"].get<long long>(),
      j["threads"].get<long long>(), j["kernels"].get<std::string>().c_str());
  std::printf("time         min %s  median %s  max %s s\n", num(j["min_s"], "%.3f").c_str(),
              num(j["median_s"], "%.3f").c_str(), num(j["max_s"], "%.3f").c_str());
  if (!j["tokens_per_s"].is_null())
    std::printf("throughput   %s tokens/s\n", num(j["tokens_per_s"], "%.1f").c_str());
  std::printf("load         %s s\n", num(j["load_s"], "%.3f").c_str());
  std::printf("peak memory  %s MiB\n", num(j["peak_rss_mb"], "%.1f").c_str());
  std::printf("machine      %s GB/s read, %s GFLOP/s f32 GEMM\n",
              num(j["machine"]["bandwidth_gbs"], "%.1f").c_str(),
              num(j["machine"]["gemm_gflops"], "%.1f").c_str());
  if (!j["bound"].is_null())
    std::printf("bound        %s s (achieved %s of it)\n", num(j["bound"]["s"], "%.3g").c_str(),
                num(j["bound"]["fraction"], "%.3g").c_str());
  if (j.contains("stages"))
    for (const auto& [name, v] : j["stages"].items()) {
      // The encoder's and a step's time against their own bounds.
      std::string against;
      if (!j["bound"].is_null() && !j["bound"].value(name, ordered_json()).is_null() &&
          !v.is_null()) {
        const ordered_json& b = j["bound"][name];
        const ordered_json fraction = b.get<double>() / v.get<double>();
        against = "  (bound " + num(b, "%.4f") + ", achieved " + num(fraction, "%.3g") + " of it)";
      }
      std::printf("  %-17s %s%s\n", name.c_str(), num(v, "%.4f").c_str(), against.c_str());
    }
  if (j.contains("token_ms"))
    std::printf("per token    %s ms (tokens 2-64), %s ms (last 64): %sx\n",
                num(j["token_ms"]["tokens_2_64"], "%.2f").c_str(),
                num(j["token_ms"]["last_64"], "%.2f").c_str(),
                num(j["token_ms"]["late_over_early"], "%.2f").c_str());
  if (j.contains("compare_f32")) std::printf("vs f32       %s\n", j["compare_f32"].dump().c_str());
}

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  if (o.help) {
    std::cout << kUsage << kHelp;
    return 0;
  }
  if (o.threads > 0) ved::set_num_threads(static_cast<int>(o.threads));
  if (o.compare_f32 && o.dtype == ved::WeightType::F32)
    throw ved::InvalidArgument("bench: --compare-f32 needs --dtype bf16 or int8");

  const Loaded m = load(o, o.dtype);
  const ved::Tensor<float> pixels = random_pixels(m.model.config(), o.mode.batch, o.seed);
  const RunResult r = time_runs(m, o, pixels);
  // The peak before the probes' buffers and a second, f32 model (--compare-f32) add to it.
  const double peak = peak_rss_mib();
  Machine machine;
  machine.bandwidth_gbs = probe_bandwidth_gbs();
  machine.gemm_gflops = probe_gemm_gflops();
  const Summary t = Summary::of(r.seconds);

  ordered_json j;
  j["model"] = o.dir;
  j["weights"] = o.synthetic ? "synthetic" : "checkpoint";
  j["mode"] = o.mode.name;
  j["threads"] = ved::num_threads();
  j["kernels"] = ved::kernel_isa();
  j["dtype"] = ved::weight_type_name(o.dtype);
  j["batch"] = o.mode.batch;
  j["beams"] = o.mode.beams;
  j["new_tokens"] = o.mode.decodes ? o.new_tokens : 0;
  j["n"] = o.runs;
  j["min_s"] = t.min;
  j["median_s"] = t.median;
  j["max_s"] = t.max;
  // Tokens delivered per second: new tokens of every image (beams count once), encoder included.
  j["tokens_per_s"] =
      o.mode.decodes ? ordered_json(static_cast<double>(o.new_tokens * o.mode.batch) / t.median)
                     : ordered_json(nullptr);
  j["load_s"] = m.load_s;
  j["peak_rss_mb"] = peak;
  j["machine"] = {{"bandwidth_gbs", machine.bandwidth_gbs}, {"gemm_gflops", machine.gemm_gflops}};
  j["bound"] = bound(m.model, o, machine);
  if (!j["bound"].is_null()) j["bound"]["fraction"] = j["bound"]["s"].get<double>() / t.median;
  if (o.verbose) j["stages"] = stage_medians(r.stages);
  if (!r.stages.early_token_ms.empty()) {
    const double early = Summary::of(r.stages.early_token_ms).median;
    const double late = Summary::of(r.stages.late_token_ms).median;
    j["token_ms"] = {{"tokens_2_64", early}, {"last_64", late}, {"late_over_early", late / early}};
  }
  if (o.compare_f32)
    j["compare_f32"] = compare_with_f32(m, load(o, ved::WeightType::F32), r, pixels);

  if (o.json)
    std::cout << j.dump() << "\n";
  else
    print_table(j);
  return 0;
}

}  // namespace

int bench_main(int argc, char** argv) {
  return run(argc, argv);
}
