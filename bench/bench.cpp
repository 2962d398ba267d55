// ved_bench — runs a VisionEncoderDecoderModel at real size on random input and prints per-stage
// timings (medians over --repeat runs) and peak memory.
//
//   ved_bench --model DIR [--batch 1] [--new-tokens 20] [--beams 1] [--repeat 5]
//
// DIR needs only config.json (generation_config.json is read when present): when it holds no
// weights, seeded synthetic ones are used, so the shapes, memory and arithmetic are those of the
// real checkpoint (e.g. ../shared/configs/donut-base) without downloading it.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "ved/ved.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Peak resident set size of this process in MiB (VmHWM), or -1 where /proc is unavailable.
double peak_rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1.0;
}

// The encoder's input size from its config: image_size is an int or [height, width].
std::pair<int64_t, int64_t> image_size(const ved::PretrainedConfig& encoder) {
  const auto& j =
      encoder.raw.contains("image_size") ? encoder.raw["image_size"] : ved::detail::json(224);
  if (j.is_array() && j.size() == 2) return {j[0].get<int64_t>(), j[1].get<int64_t>()};
  if (j.is_number_integer()) return {j.get<int64_t>(), j.get<int64_t>()};
  throw ved::ConfigError(encoder.source + ": image_size must be an integer or [height, width]");
}

int run(int argc, char** argv) {
  std::string dir;
  int64_t batch = 1, new_tokens = 20, beams = 1, repeat = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ved::InvalidArgument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model")
      dir = value();
    else if (a == "--batch")
      batch = std::stoll(value());
    else if (a == "--new-tokens")
      new_tokens = std::stoll(value());
    else if (a == "--beams")
      beams = std::stoll(value());
    else if (a == "--repeat")
      repeat = std::stoll(value());
    else
      throw ved::InvalidArgument("unknown option " + a);
  }
  if (dir.empty() || batch < 1 || new_tokens < 1 || beams < 1 || repeat < 1)
    throw ved::InvalidArgument(
        "usage: ved_bench --model DIR [--batch N] [--new-tokens N] [--beams N] [--repeat N]");

  namespace fs = std::filesystem;
  const auto t_load = Clock::now();
  const std::string config_path = (fs::path(dir) / "config.json").string();
  const auto config_json = ved::detail::read_json_file(config_path);
  const auto config = ved::VisionEncoderDecoderConfig::from_json(config_json, config_path);
  const fs::path gen_path = fs::path(dir) / "generation_config.json";
  ved::GenerationConfig gen =
      fs::exists(gen_path) ? ved::GenerationConfig::from_file(gen_path.string())
                           : ved::GenerationConfig::from_model_config(config_json, config_path);
  const bool has_weights = fs::exists(fs::path(dir) / "model.safetensors") ||
                           fs::exists(fs::path(dir) / "model.safetensors.index.json");
  const ved::VisionEncoderDecoderModel model(
      config, gen,
      has_weights ? ved::WeightSource::from_dir(dir) : ved::WeightSource::synthetic(0));
  const double load_s = seconds_since(t_load);

  const auto [h, w] = image_size(config.encoder);
  ved::Tensor<float> pixels({batch, 3, h, w});
  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  for (float& v : pixels) v = normal(rng);

  // A fixed number of new tokens: eos is masked until then, so random weights cannot stop early.
  gen.max_new_tokens = new_tokens;
  gen.min_new_tokens = new_tokens;
  gen.num_beams = beams;

  std::vector<double> encode_s, generate_s;
  model.encode(pixels);  // warm-up: page in weights, size OpenMP's pool
  for (int64_t r = 0; r < repeat; ++r) {
    auto t0 = Clock::now();
    model.encode(pixels);
    encode_s.push_back(seconds_since(t0));
    t0 = Clock::now();
    const auto out = model.generate(pixels, gen);
    generate_s.push_back(seconds_since(t0));
    if (static_cast<int64_t>(out.sequences[0].size()) != new_tokens + 1)
      throw ved::Error("generate stopped after " + std::to_string(out.sequences[0].size() - 1) +
                       " tokens");
  }
  const double enc = median(encode_s), gen_total = median(generate_s);
  const double per_token = (gen_total - enc) / static_cast<double>(new_tokens);
  std::printf("model        %s (%s + %s, %s weights)\n", dir.c_str(),
              config.encoder.model_type.c_str(), config.decoder.model_type.c_str(),
              has_weights ? "checkpoint" : "synthetic");
  std::printf(
      "input        batch %lld, %lldx%lld, %lld new tokens, %lld beam(s), %lld repeats (medians)\n",
      static_cast<long long>(batch), static_cast<long long>(h), static_cast<long long>(w),
      static_cast<long long>(new_tokens), static_cast<long long>(beams),
      static_cast<long long>(repeat));
  std::printf("load         %8.3f s\n", load_s);
  std::printf("encode       %8.3f s\n", enc);
  std::printf("generate     %8.3f s  (encode included)\n", gen_total);
  std::printf("decode/token %8.2f ms\n", per_token * 1e3);
  std::printf("peak memory  %8.1f MiB\n", peak_rss_mib());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ved_bench: " << e.what() << "\n";
    return 1;
  }
}
