// ved serve — the HTTP server (src/server/) as a command; ved bench-serve — its load generator.

#include <pthread.h>
#include <signal.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "commands.hpp"
#include "server/request.hpp"
#include "server/server.hpp"
#include "ved/default_model.hpp"
#include "ved/models/all.hpp"
#include "ved/ved.hpp"

// After Eigen: httplib.h brings <resolv.h>, whose `_res` macro breaks Eigen's parameter names.
#include <httplib.h>

namespace {

using Clock = std::chrono::steady_clock;
using json = ved::detail::json;

constexpr const char* kServeHelp =
    R"(usage: ved serve [--model DIR] [--host 127.0.0.1] [--port 8080] [options]

Serves the model over HTTP (README, "Server"):
  POST /  POST /models/<name>   image bytes (image/*, application/octet-stream) or JSON
                                {"inputs": "<base64>" | [...], "parameters": {...}}
                                -> [{"generated_text": "..."}]
  POST /generate                one image -> {"generated_text": "...", "details": ...}
  POST /generate_stream         Server-Sent Events, one per token (or "stream": true)
  GET /health  /info  /metrics  (Prometheus text)

options:
  --model DIR            checkpoint folder (default: the embedded default model)
  --name NAME            the name POST /models/<name> answers to (default: DIR's name)
  --host H --port P      where to listen (default 127.0.0.1:8080; port 0: any free port)
  --threads N            kernel threads (default: the CPUs this process may use)
  --workers N            generate() calls at once (default 1: one batch uses every thread)
  --max-batch N          images per batch (default 8; a batch holds at most 8 decoder rows,
                         images x beams, so batching never changes an answer)
  --batch-wait-ms N      how long an image waits for others to share its batch (default 5)
  --max-queue N          images waiting; beyond it, 503 with Retry-After (default 64)
  --max-body-bytes N     request body limit, 413 beyond (default 20971520)
  --max-image-pixels N   decoded image limit, 400 beyond (default 50000000)
  --max-new-tokens N     tokens per request, 422 beyond; a longer checkpoint default is
                         cut to it (default 4096)
  --timeout S            a request's time limit in seconds, queue included, 504 beyond
                         (default 60)
  --read-timeout S       a client that stops sending for S seconds is dropped (default 10)
  --dtype f32|bf16|int8  weight type (default f32: transformers' tokens)
  --preset NAME          as for caption (manga-ocr)
  --postprocess NAME     as for caption
  --strict               weights the model does not read are an error
SIGTERM or SIGINT: stop accepting, answer what was accepted, exit 0.
)";

constexpr const char* kBenchHelp = R"(usage: ved bench-serve [--model DIR | --config DIR] [options]

Load generator for ved serve. Starts a server in this process on 127.0.0.1 (or uses --url),
then sends --requests images at each concurrency level from that many client threads and
reports throughput (images/s) and p50/p99 latency, next to the sequential throughput of the
same images through the library in the same run (what `ved caption` does one image at a time).

  --model DIR         checkpoint folder (default: the embedded default model)
  --config DIR        a folder with only config.json: real shapes with seeded random weights
                      (text decodes to placeholder tokens)
  --url URL           an already running server (http://host:port); --model still gives the
                      sequential baseline
  --concurrency LIST  client threads per level, comma-separated (default 1,4,16)
  --requests N        requests per level (default 64)
  --args JSON         generate() arguments (default with --config: 20 tokens, forced)
  --threads N --max-batch N --batch-wait-ms N --workers N   server settings
  --dtype f32|bf16|int8  weight type of both the server and the sequential baseline
  --json              print one JSON object
)";

struct UsageError : ved::InvalidArgument {
  using ved::InvalidArgument::InvalidArgument;
};

int64_t parse_integer(const std::string& name, const std::string& text, int64_t min, int64_t max) {
  size_t used = 0;
  long long v = min - 1;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > max)
    throw UsageError(name + " must be an integer in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "], got '" + text + "'");
  return v;
}

// --name value options and --flag options of one command line.
struct CommandLine {
  std::map<std::string, std::string> values;
  std::map<std::string, bool> flags;

  CommandLine(int argc, char** argv, const std::vector<std::string>& value_names,
              const std::vector<std::string>& flag_names, const std::string& command) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) throw UsageError(command + ": unexpected argument '" + a + "'");
      std::string name = a.substr(2), value;
      const size_t eq = name.find('=');
      const bool inline_value = eq != std::string::npos;
      if (inline_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (!inline_value && std::count(flag_names.begin(), flag_names.end(), name)) {
        flags[name] = true;
        continue;
      }
      if (!std::count(value_names.begin(), value_names.end(), name))
        throw UsageError(command + ": unknown option --" + name);
      if (!inline_value) {
        if (i + 1 >= argc) throw UsageError(command + ": option --" + name + " needs a value");
        value = argv[++i];
      }
      values[name] = value;
    }
  }

  bool has(const std::string& name) const { return values.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback) const {
    return has(name) ? values.at(name) : fallback;
  }
  int64_t integer(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
    return has(name) ? parse_integer("--" + name, values.at(name), min, max) : fallback;
  }
  double number(const std::string& name, double fallback, double min, double max) const {
    if (!has(name)) return fallback;
    const std::string& text = values.at(name);
    size_t used = 0;
    double v = min - 1;
    try {
      v = std::stod(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size() || !(v >= min && v <= max))
      throw UsageError("--" + name + " must be a number in [" + std::to_string(min) + ", " +
                       std::to_string(max) + "], got '" + text + "'");
    return v;
  }
};

bool wants_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

std::string folder_name(const std::string& dir) {
  std::filesystem::path p(dir);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

// Blocks SIGINT and SIGTERM in this thread and every thread it starts after; a watcher thread
// takes them with sigwait and calls on_signal, outside any signal handler.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void()> on_signal) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this, on_signal] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set_, &sig) != 0) continue;
        if (done_) return;
        on_signal();
      }
    });
  }
  ~SignalWatcher() {
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

 private:
  sigset_t set_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

ved::server::ServerOptions server_options(const CommandLine& c) {
  ved::server::ServerOptions o;
  o.host = c.get("host", o.host);
  o.port = static_cast<int>(c.integer("port", o.port, 0, 65535));
  o.workers = static_cast<int>(c.integer("workers", o.workers, 1, 256));
  o.max_batch = static_cast<int>(c.integer("max-batch", o.max_batch, 1, 256));
  o.batch_wait_ms = static_cast<int>(c.integer("batch-wait-ms", o.batch_wait_ms, 0, 60000));
  o.max_queue = c.integer("max-queue", o.max_queue, 1, 1 << 20);
  o.max_body_bytes = static_cast<size_t>(
      c.integer("max-body-bytes", static_cast<int64_t>(o.max_body_bytes), 1, int64_t{1} << 34));
  o.max_new_tokens =
      c.integer("max-new-tokens", o.max_new_tokens, 1, ved::limits().max_sequence_length);
  o.timeout_s = c.number("timeout", o.timeout_s, 0.001, 86400);
  o.read_timeout_s = static_cast<int>(c.integer("read-timeout", o.read_timeout_s, 1, 3600));
  return o;
}

void apply_threads(const CommandLine& c) {
  if (c.has("threads")) ved::set_num_threads(static_cast<int>(c.integer("threads", 0, 1, 4096)));
}

ved::WeightType dtype_option(const CommandLine& c) {
  try {
    return ved::parse_weight_type(c.get("dtype", "f32"));
  } catch (const ved::InvalidArgument& e) {
    throw UsageError(std::string("--dtype: ") + e.what());
  }
}

}  // namespace

int serve_main(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::cout << kServeHelp;
    return 0;
  }
  const CommandLine c(
      argc, argv,
      {"model", "name", "host", "port", "threads", "workers", "max-batch", "batch-wait-ms",
       "max-queue", "max-body-bytes", "max-image-pixels", "max-new-tokens", "timeout",
       "read-timeout", "dtype", "preset", "postprocess"},
      {"strict"}, "serve");
  ved::server::ServerOptions o = server_options(c);
#ifdef __GLIBC__
  // glibc gives each thread that allocates its own arena (up to 8 per core), and a server's
  // request threads are many: the resident size then grew with the number of threads that had
  // ever answered a request (+13% from the 200th to the 2,000th request on tiny-ocr, live heap
  // flat). Two arenas keep it flat; request threads allocate little next to generation.
  mallopt(M_ARENA_MAX, 2);
#endif
  ved::Limits lim = ved::limits();
  lim.max_image_pixels = c.integer("max-image-pixels", 50'000'000, 1, ved::kMaxImagePixels);
  ved::set_limits(lim);
  apply_threads(c);
  o.model_dir = c.get("model", "");
  if (o.model_dir.empty()) o.model_dir = ved::default_model_dir();
  o.model_name = c.get("name", folder_name(o.model_dir));
  ved::ModelOptions mo;
  mo.weight_type = dtype_option(c);
  mo.strict = c.flags.count("strict") > 0;
  o.weight_type = ved::weight_type_name(mo.weight_type);
  // Signals are blocked before anything starts a thread (loading a model starts the kernels'
  // thread pool), so only the watcher takes them: a thread started earlier would be killed by
  // SIGTERM's default action, and the whole server with it. A signal before the server runs
  // means it never starts.
  ved::server::Server* running = nullptr;
  bool stop_requested = false;
  std::mutex mutex;
  SignalWatcher watcher([&] {
    std::lock_guard<std::mutex> lock(mutex);
    stop_requested = true;
    if (running) running->stop();
  });
  ved::ImageToText pipeline = ved::ImageToText::from_pretrained(o.model_dir, mo);
  if (c.has("preset")) pipeline.set_preset(c.get("preset", ""));
  if (c.has("postprocess")) pipeline.set_postprocessor(c.get("postprocess", ""));

  ved::server::Server server(pipeline, o);
  const int port = server.bind();
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (stop_requested) {
      std::cerr << json{{"event", "stopped"}}.dump() << std::endl;
      return 0;
    }
    running = &server;
  }
  std::cerr << json{{"event", "listening"},
                    {"url", "http://" + o.host + ":" + std::to_string(port)},
                    {"model", o.model_dir},
                    {"threads", ved::num_threads()},
                    {"kernels", ved::kernel_isa()}}
                   .dump()
            << std::endl;
  server.run();
  {
    std::lock_guard<std::mutex> lock(mutex);
    running = nullptr;
  }
  std::cerr << json{{"event", "stopped"}}.dump() << std::endl;
  return 0;
}

// ---- bench-serve ----

namespace {

// Text for a model with random weights (--config): each id as "t<id>".
class PlaceholderTokenizer : public ved::Tokenizer {
 public:
  explicit PlaceholderTokenizer(int64_t vocab) : vocab_(vocab) {}
  std::vector<std::string> tokenize(const std::string&) const override { return {}; }
  std::vector<int64_t> encode(const std::string&, bool) const override { return {}; }
  std::string decode(const std::vector<int64_t>& ids, bool) const override {
    std::string s;
    for (int64_t id : ids) s += (s.empty() ? "t" : " t") + std::to_string(id);
    return s;
  }
  std::string decode(const std::vector<int64_t>& ids, bool skip, bool) const override {
    return decode(ids, skip);
  }
  bool clean_up_tokenization_spaces() const override { return false; }
  int64_t vocab_size() const override { return vocab_; }
  int64_t total_vocab_size() const override { return vocab_; }
  std::optional<int64_t> token_to_id(const std::string&) const override { return std::nullopt; }
  std::optional<std::string> id_to_token(int64_t id) const override {
    return "t" + std::to_string(id);
  }

 private:
  int64_t vocab_;
};

// A 24-bit BMP of seeded noise: stb_image reads it, and it needs no encoder library.
std::string noise_bmp(int w, int h, uint32_t seed) {
  const int row = (3 * w + 3) / 4 * 4;
  const uint32_t size = 54 + static_cast<uint32_t>(row * h);
  std::string b(size, '\0');
  auto put = [&b](size_t at, uint32_t v, int n) {
    for (int i = 0; i < n; ++i) b[at + static_cast<size_t>(i)] = static_cast<char>(v >> (8 * i));
  };
  b[0] = 'B';
  b[1] = 'M';
  put(2, size, 4);
  put(10, 54, 4);
  put(14, 40, 4);
  put(18, static_cast<uint32_t>(w), 4);
  put(22, static_cast<uint32_t>(h), 4);
  put(26, 1, 2);
  put(28, 24, 2);
  std::mt19937 rng(seed);
  for (size_t i = 54; i < b.size(); ++i) b[i] = static_cast<char>(rng() & 0xFF);
  return b;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

ved::ImageToText synthetic_pipeline(const std::string& dir, const ved::ModelOptions& options) {
  ved::VisionEncoderDecoderModel model = synthetic_model(dir, 0, options);
  const auto [h, w] = encoder_image_size(model.config().encoder);
  const auto processor = ved::ImageProcessor::from_json(
      {{"image_processor_type", "ViTImageProcessor"}, {"size", {{"height", h}, {"width", w}}}},
      "bench-serve");
  const int64_t vocab = model.config().decoder.get<int64_t>("vocab_size", 50257);
  return ved::ImageToText(std::move(model), processor,
                          std::make_shared<PlaceholderTokenizer>(vocab));
}

struct Level {
  int concurrency;
  double seconds, images_per_s, p50, p99;
  int64_t errors;
  // From the in-process server's request log (0 with --url): per request, the mean batch it ran
  // in, its queue wait and its batch's compute time.
  double mean_batch = 0, queue_s = 0, compute_s = 0;
};

Level run_level(const std::string& host, int port, int concurrency, int64_t requests,
                const std::vector<std::string>& bodies) {
  std::atomic<int64_t> next{0}, errors{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
  const auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c)
    clients.emplace_back([&, c] {
      httplib::Client client(host, port);
      client.set_read_timeout(600, 0);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      for (int64_t i; (i = next++) < requests;) {
        const std::string& body = bodies[static_cast<size_t>(i) % bodies.size()];
        const auto s = Clock::now();
        auto res = client.Post("/", body, "application/json");
        if (!res || res->status != 200) {
          errors++;
          continue;
        }
        latencies[static_cast<size_t>(c)].push_back(
            std::chrono::duration<double>(Clock::now() - s).count());
      }
    });
  for (auto& t : clients) t.join();
  const double total = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  return {concurrency,
          total,
          static_cast<double>(all.size()) / total,
          percentile(all, 0.5),
          percentile(all, 0.99),
          errors.load()};
}

}  // namespace

int bench_serve_main(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::cout << kBenchHelp;
    return 0;
  }
  const CommandLine c(argc, argv,
                      {"model", "config", "url", "concurrency", "requests", "args", "threads",
                       "max-batch", "batch-wait-ms", "workers", "max-queue", "dtype"},
                      {"json"}, "bench-serve");
  if (c.has("model") && c.has("config"))
    throw UsageError("bench-serve: give --model or --config, not both");
  apply_threads(c);
  const bool synthetic = c.has("config");
  ved::ModelOptions mo;
  mo.weight_type = dtype_option(c);
  std::optional<ved::ImageToText> pipeline;
  if (synthetic)
    pipeline.emplace(synthetic_pipeline(c.get("config", ""), mo));
  else
    pipeline.emplace(
        ved::ImageToText::from_pretrained(c.get("model", ved::default_model_dir()), mo));
  json args = c.has("args") ? ved::detail::parse_json(c.get("args", ""), "--args")
                            : (synthetic ? json{{"max_new_tokens", 20}, {"min_new_tokens", 20}}
                                         : json::object());
  if (!args.is_object()) throw UsageError("bench-serve: --args must be a JSON object");
  std::vector<int> levels;
  {
    const std::string list = c.get("concurrency", "1,4,16");
    size_t pos = 0;
    while (pos <= list.size()) {
      const size_t comma = std::min(list.find(',', pos), list.size());
      levels.push_back(
          static_cast<int>(parse_integer("--concurrency", list.substr(pos, comma - pos), 1, 1024)));
      pos = comma + 1;
    }
  }
  const int64_t requests = c.integer("requests", 64, 1, 1 << 20);

  // Distinct images, as a real load has: seeded noise at the encoder's input size.
  std::vector<std::string> images, bodies;
  for (uint32_t i = 0; i < 16; ++i) images.push_back(noise_bmp(320, 240, i + 1));
  for (const auto& img : images) {
    const std::string b64 = ved::server::base64_encode(img);
    bodies.push_back(json{{"inputs", b64}, {"parameters", args}}.dump());
  }

  // The sequential baseline: the library, one image at a time, as `ved caption` runs it.
  const int64_t sequential_n = std::min<int64_t>(requests, 16);
  pipeline->run(ved::decode_image(reinterpret_cast<const unsigned char*>(images[0].data()),
                                  images[0].size(), "warm-up"),
                args);
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < sequential_n; ++i) {
    const std::string& img = images[static_cast<size_t>(i) % images.size()];
    pipeline->run(
        ved::decode_image(reinterpret_cast<const unsigned char*>(img.data()), img.size(), "image"),
        args);
  }
  const double sequential =
      static_cast<double>(sequential_n) / std::chrono::duration<double>(Clock::now() - t0).count();

  std::string host = "127.0.0.1";
  int port = 0;
  std::mutex log_mutex;
  std::vector<std::string> log;  // the in-process server's request lines
  std::unique_ptr<ved::server::Server> server;
  std::thread serving;
  if (c.has("url")) {
    const std::string url = c.get("url", "");
    const std::string prefix = "http://";
    const size_t colon = url.rfind(':');
    if (url.rfind(prefix, 0) != 0 || colon == std::string::npos || colon < prefix.size())
      throw UsageError("bench-serve: --url must be http://HOST:PORT, got '" + url + "'");
    host = url.substr(prefix.size(), colon - prefix.size());
    port = static_cast<int>(parse_integer("--url's port", url.substr(colon + 1), 1, 65535));
  } else {
    CommandLine settings = c;
    settings.values.erase("url");
    ved::server::ServerOptions o = server_options(settings);
    o.host = host;
    o.port = 0;
    o.max_queue = std::max<int64_t>(o.max_queue, 1024);
    o.timeout_s = 3600;
    o.log = [&log_mutex, &log](const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mutex);
      log.push_back(line);
    };
    server = std::make_unique<ved::server::Server>(*pipeline, o);
    port = server->bind();
    serving = std::thread([&server] { server->run(); });
  }
  for (const int level : levels) run_level(host, port, level, std::min<int64_t>(level, 4), bodies);
  std::vector<Level> results;
  for (const int level : levels) {
    {
      std::lock_guard<std::mutex> lock(log_mutex);
      log.clear();
    }
    results.push_back(run_level(host, port, level, requests, bodies));
    // What the server saw: batch sizes, queue waits and compute times.
    std::lock_guard<std::mutex> lock(log_mutex);
    double batch = 0, queue_ms = 0, compute_ms = 0, n = 0;
    for (const auto& line : log) {
      const json j = json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("batch")) continue;
      batch += j["batch"].get<double>();
      queue_ms += j["queue_ms"].get<double>();
      compute_ms += j["compute_ms"].get<double>();
      ++n;
    }
    if (n > 0) {
      results.back().mean_batch = batch / n;
      results.back().queue_s = queue_ms / n / 1e3;
      results.back().compute_s = compute_ms / n / 1e3;
    }
  }
  if (server) {
    server->stop();
    serving.join();
  }

  if (c.flags.count("json")) {
    json j = {{"model", synthetic ? c.get("config", "") : c.get("model", "default")},
              {"args", args},
              {"threads", ved::num_threads()},
              {"kernels", ved::kernel_isa()},
              {"sequential_images_per_s", sequential}};
    for (const auto& l : results)
      j["levels"].push_back({{"concurrency", l.concurrency},
                             {"images_per_s", l.images_per_s},
                             {"speedup_vs_sequential", l.images_per_s / sequential},
                             {"p50_s", l.p50},
                             {"p99_s", l.p99},
                             {"mean_batch", l.mean_batch},
                             {"mean_queue_s", l.queue_s},
                             {"mean_compute_s", l.compute_s},
                             {"errors", l.errors}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("sequential (library, one image at a time): %.2f images/s\n", sequential);
  std::printf("%-12s %10s %7s %8s %8s %7s %9s %10s %7s\n", "concurrency", "images/s", "x seq",
              "p50 s", "p99 s", "batch", "queue s", "compute s", "errors");
  for (const auto& l : results)
    std::printf("%-12d %10.2f %7.2f %8.3f %8.3f %7.2f %9.3f %10.3f %7lld\n", l.concurrency,
                l.images_per_s, l.images_per_s / sequential, l.p50, l.p99, l.mean_batch, l.queue_s,
                l.compute_s, static_cast<long long>(l.errors));
  return 0;
}
