// `ved serve`: a real server on 127.0.0.1 (in this process, or the ved binary for signals and the
// README's curl examples) and real HTTP clients. Answers are checked against transformers' ids
// where the fixtures have them (tiny-ocr's samples) and otherwise against the library's own
// single-image run, which the parity suite checks against transformers.

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "../cli_runner.hpp"
#include "../model_folders.hpp"
#include "../test_util.hpp"
#include "server/request.hpp"
#include "server/server.hpp"
#include "ved/ved.hpp"

// After Eigen: httplib.h brings <resolv.h>, whose `_res` macro breaks Eigen's parameter names.
#include <httplib.h>

namespace ved {
namespace {

using json = detail::json;
using server::base64_encode;

const std::string kSource = std::string(VED_TEST_DATA) + "/../..";
const std::string kTinyOcr = kSource + "/examples/models/tiny-ocr";

std::string demo(const std::string& name) {
  return kSource + "/examples/models/" + name;
}
std::string sample(const std::string& name) {
  return kTinyOcr + "/samples/" + name;
}
std::string input_image(const std::string& name) {
  return test::fixture("images/inputs/" + name);
}

// tiny-ocr with room for `positions` decoder positions (its own 32, then copies of them): a
// model whose requests can be made slow with many forced tokens, for queue, time-limit and
// shutdown tests. Its text past position 32 means nothing.
void make_long_tiny_ocr_folder(const test::TempDir& dir, int64_t positions) {
  for (const char* name : {"generation_config.json", "preprocessor_config.json", "vocab.json",
                           "merges.txt", "tokenizer_config.json", "special_tokens_map.json"})
    std::filesystem::copy_file(kTinyOcr + "/" + name, dir.path() / name);
  json config = json::parse(test::read_file(kTinyOcr + "/config.json"));
  config["decoder"]["n_positions"] = positions;
  test::write_file(dir.file("config.json"), config.dump());
  const auto weights = SafetensorsFile::open(kTinyOcr + "/model.safetensors");
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, record] : weights->records()) {
    (void)record;
    Tensor<float> t = weights->tensor<float>(name);
    if (name == "decoder.transformer.wpe.weight") {
      Tensor<float> longer({positions, t.dim(1)});
      for (int64_t p = 0; p < positions; ++p)
        std::copy(t[p % t.dim(0)].begin(), t[p % t.dim(0)].end(), longer[p].data());
      t = std::move(longer);
    }
    tensors.push_back(to_write(name, t));
  }
  write_safetensors(dir.file("model.safetensors"), tensors);
}

// A server on a free port of 127.0.0.1, run by a thread of this process.
class TestServer {
 public:
  TestServer(const ImageToText& pipeline, server::ServerOptions options = {})
      : server_(pipeline, with_defaults(std::move(options))) {
    port_ = server_.bind();
    thread_ = std::thread([this] { server_.run(); });
  }
  ~TestServer() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    c.set_write_timeout(120, 0);
    return c;
  }
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> lock(*log_mutex_);
    return *log_;
  }

 private:
  server::ServerOptions with_defaults(server::ServerOptions o) {
    o.host = "127.0.0.1";
    o.port = 0;
    if (o.model_name.empty()) o.model_name = "test-model";
    auto lines = log_;
    auto mutex = log_mutex_;
    o.log = [lines, mutex](const std::string& line) {
      std::lock_guard<std::mutex> lock(*mutex);
      lines->push_back(line);
    };
    return o;
  }

  std::shared_ptr<std::vector<std::string>> log_ = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> log_mutex_ = std::make_shared<std::mutex>();
  server::Server server_;
  int port_ = 0;
  std::thread thread_;
};

json body_json(const httplib::Result& r) {
  if (!r) return json();
  return json::parse(r->body, nullptr, /*allow_exceptions=*/false);
}

json request_json(const std::string& image, const json& parameters = json::object(),
                  bool details = true) {
  return {{"inputs", base64_encode(image)}, {"parameters", parameters}, {"details", details}};
}

// POST / with one base64 image; the answer's first sequence.
json post_one(httplib::Client& c, const std::string& image, const json& parameters = {},
              int expect_status = 200) {
  auto r =
      c.Post("/", request_json(image, parameters.is_null() ? json::object() : parameters).dump(),
             "application/json");
  EXPECT_TRUE(r) << "no answer";
  if (!r) return json();
  EXPECT_EQ(r->status, expect_status) << r->body;
  const json j = body_json(r);
  return j.is_array() && !j.empty() ? j[0] : j;
}

// The library's answer for one image alone: what `ved caption` prints for it.
std::vector<TextResult> alone(const ImageToText& p, const std::string& image_path,
                              const json& kwargs) {
  return p.run(p.processor().preprocess(load_image(image_path)), kwargs);
}

// Waits until `pred` or a few seconds pass.
template <typename F>
bool eventually(F pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// A well-formed request still gets the right answer (after each hostile one).
void expect_serving(const TestServer& s, const std::string& image, const std::string& text) {
  auto c = s.client();
  const json r = post_one(c, image);
  EXPECT_EQ(r.value("generated_text", "?"), text);
}

// ---- request parsing ----

TEST(ServerRequest, Base64RoundTripsAndRejectsGarbage) {
  for (const std::string& s :
       {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("abcd"),
        std::string("\0\xff\x10", 3)})
    EXPECT_EQ(server::base64_decode(base64_encode(s), "x"), s);
  EXPECT_EQ(server::base64_encode("Man"), "TWFu");     // RFC 4648's example
  EXPECT_EQ(server::base64_decode("TWE", "x"), "Ma");  // padding optional
  EXPECT_EQ(server::base64_decode("T W\nFu", "x"), "Man");
  EXPECT_EQ(server::base64_decode("data:image/png;base64,TWFu", "x"), "Man");
  for (const std::string bad : {"T", "TWFu!", "TW=Fu", "TWFu====", "data:image/png,TWFu"}) {
    try {
      server::base64_decode(bad, "inputs");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const server::RequestError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_NE(std::string(e.what()).find("inputs"), std::string::npos) << e.what();
    }
  }
}

TEST(ServerRequest, FormsAndMediaTypes) {
  auto r = server::parse_request("image/png", "PNGDATA");
  EXPECT_EQ(r.images, std::vector<std::string>{"PNGDATA"});
  r = server::parse_request("application/json; charset=utf-8",
                            R"({"inputs": ["TWFu", "YWJj"], "parameters": {"num_beams": 2,
                               "details": true}, "stream": false})");
  EXPECT_TRUE(r.batch_form);
  EXPECT_EQ(r.images, (std::vector<std::string>{"Man", "abc"}));
  EXPECT_TRUE(r.details);
  EXPECT_EQ(r.parameters, json({{"num_beams", 2}}));
  auto status = [](const std::string& type, const std::string& body) {
    try {
      server::parse_request(type, body);
    } catch (const server::RequestError& e) {
      return e.status();
    }
    return 200;
  };
  EXPECT_EQ(status("text/plain", "x"), 415);
  EXPECT_EQ(status("application/x-www-form-urlencoded", "a=b"), 415);
  EXPECT_EQ(status("", "x"), 415);
  EXPECT_EQ(status("image/png", ""), 400);
  EXPECT_EQ(status("application/json", "{"), 400);
  EXPECT_EQ(status("application/json", "[]"), 400);
  EXPECT_EQ(status("application/json", R"({"inputs": 5})"), 400);
  EXPECT_EQ(status("application/json", R"({"inputs": []})"), 400);
  EXPECT_EQ(status("application/json", R"({"inputs": "TWFu", "parameters": 3})"), 400);
  EXPECT_EQ(status("application/json", R"({"inputs": "TWFu", "stream": "yes"})"), 400);
  EXPECT_EQ(status("application/json", R"({"inputs": "TWFu", "extra": 1})"), 400);
  EXPECT_EQ(status("application/json", R"({"inputs": "https://example.com/a.png"})"), 400);
  EXPECT_EQ(status("application/json", std::string(100000, '[') + std::string(100000, ']')), 400);
}

// ---- correctness ----

// tiny-ocr's samples against transformers' own ids, in every request form.
TEST(Server, AnswersAreTransformersTokensInEveryForm) {
  const auto pipeline = ImageToText::from_pretrained(kTinyOcr);
  server::ServerOptions o;
  o.model_name = "tiny-ocr";
  TestServer s(pipeline, o);
  auto c = s.client();
  const json expected = json::parse(test::read_file(sample("expected.json")));
  std::vector<std::string> images;
  std::vector<std::vector<int64_t>> ids;
  std::vector<std::string> texts;
  for (const auto& e : expected["samples"]) {
    images.push_back(test::read_file(sample(e["file"].get<std::string>())));
    ids.push_back(e["greedy_ids"].get<std::vector<int64_t>>());
    texts.push_back(e["text"].get<std::string>());
  }
  ASSERT_GE(images.size(), 10u);
  for (size_t i = 0; i < images.size(); ++i) {
    // Raw bytes.
    auto raw = c.Post("/", images[i], "image/png");
    ASSERT_TRUE(raw);
    ASSERT_EQ(raw->status, 200) << raw->body;
    EXPECT_EQ(body_json(raw), json::array({{{"generated_text", texts[i]}}}));
    // Base64 JSON with details, on both task paths and TGI's /generate.
    const json one = post_one(c, images[i]);
    EXPECT_EQ(one["details"]["tokens"].get<std::vector<int64_t>>(), ids[i]) << i;
    EXPECT_EQ(one["details"]["finish_reason"], "eos_token");
    auto named = c.Post("/models/tiny-ocr", images[i], "application/octet-stream");
    ASSERT_TRUE(named);
    EXPECT_EQ(body_json(named)[0]["generated_text"], texts[i]);
    auto tgi = c.Post("/generate", request_json(images[i]).dump(), "application/json");
    ASSERT_TRUE(tgi);
    EXPECT_EQ(body_json(tgi)["details"]["tokens"].get<std::vector<int64_t>>(), ids[i]);
  }
  // The batch form: a list per input, in order.
  json batch = {{"inputs", json::array()}, {"details", true}};
  for (const auto& img : images) batch["inputs"].push_back(base64_encode(img));
  auto r = c.Post("/", batch.dump(), "application/json");
  ASSERT_TRUE(r);
  const json answers = body_json(r);
  ASSERT_EQ(answers.size(), images.size());
  for (size_t i = 0; i < images.size(); ++i)
    EXPECT_EQ(answers[i][0]["details"]["tokens"].get<std::vector<int64_t>>(), ids[i]) << i;
  // A model name that is not this one.
  auto other = c.Post("/models/someone/else", images[0], "image/png");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST(Server, HealthInfoAndMetrics) {
  const auto pipeline = ImageToText::from_pretrained(kTinyOcr);
  server::ServerOptions o;
  o.model_name = "tiny-ocr";
  o.model_dir = kTinyOcr;
  o.weight_type = "f32";
  o.max_queue = 7;
  TestServer s(pipeline, o);
  auto c = s.client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  const json info = body_json(c.Get("/info"));
  EXPECT_EQ(info["model_id"], "tiny-ocr");
  EXPECT_EQ(info["encoder"], "vit");
  EXPECT_EQ(info["decoder"], "gpt2");
  EXPECT_EQ(info["weight_type"], "f32");
  EXPECT_EQ(info["max_queue"], 7);
  EXPECT_EQ(info["max_body_bytes"], o.max_body_bytes);
  EXPECT_EQ(info["kernels"], kernel_isa());
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  for (const char* name :
       {"ved_requests_total", "ved_queue_depth", "ved_requests_in_flight", "ved_batch_size_bucket",
        "ved_encoder_seconds_total", "ved_decoder_seconds_total", "ved_tokens_per_second",
        "ved_request_duration_seconds_bucket"})
    EXPECT_NE(m->body.find(name), std::string::npos) << name;
}

// The same answers as the CLI: `ved caption --json` prints each image's sequence.
TEST(Server, AnswersEqualTheCli) {
  const auto pipeline = ImageToText::from_pretrained(kTinyOcr);
  TestServer s(pipeline);
  auto c = s.client();
  const json args = {{"num_beams", 3}, {"max_new_tokens", 12}};
  const test::CliResult cli = test::ved_cli({"caption", "--model", kTinyOcr, "--json", "--args",
                                             args.dump(), sample("03.png"), sample("07.png")},
                                            /*merge_stderr=*/false);
  ASSERT_EQ(cli.status, 0) << cli.out;
  const json printed = json::parse(cli.out);
  for (size_t i = 0; i < 2; ++i) {
    const json r = post_one(c, test::read_file(sample(i == 0 ? "03.png" : "07.png")), args);
    EXPECT_EQ(r["details"]["tokens"], printed[i]["sequence"]);
    EXPECT_EQ(r["generated_text"], printed[i]["text"]);
  }
}

// Every runnable checkpoint family: the server's tokens equal the library's for the image alone,
// for greedy, beam and prompt arguments, raw and batched.
TEST(Server, EveryModelFamilyMatchesSingleImageRuns) {
  test::TempDir manga, texteller;
  test::make_manga_ocr_folder(manga);
  test::make_texteller_folder(texteller, /*with_processor=*/true);
  const std::vector<std::string> dirs = {kTinyOcr,           demo("demo-vit-gpt2"),
                                         demo("demo-trocr"), demo("demo-donut"),
                                         manga.str(),        texteller.str()};
  const std::vector<std::string> images = {input_image("coco_000000039769_q90.jpg"),
                                           input_image("page_text_340x440.png"),
                                           input_image("gray_45x30.png")};
  // (The fixture models have 64 positions; manga-ocr's config asks for up to 300 tokens.)
  const std::vector<json> argsets = {{{"max_new_tokens", 30}},
                                     {{"num_beams", 2}, {"max_new_tokens", 6}},
                                     {{"max_new_tokens", 4}, {"no_repeat_ngram_size", 2}}};
  for (const auto& dir : dirs) {
    SCOPED_TRACE(dir);
    const auto pipeline = ImageToText::from_pretrained(dir);
    TestServer s(pipeline);
    auto c = s.client();
    for (const auto& args : argsets) {
      json batch = {{"inputs", json::array()}, {"parameters", args}, {"details", true}};
      for (const auto& path : images)
        batch["inputs"].push_back(base64_encode(test::read_file(path)));
      auto r = c.Post("/", batch.dump(), "application/json");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      const json answers = body_json(r);
      for (size_t i = 0; i < images.size(); ++i) {
        const TextResult want = alone(pipeline, images[i], args).at(0);
        EXPECT_EQ(answers[i][0]["details"]["tokens"].get<std::vector<int64_t>>(), want.tokens)
            << images[i] << " " << args.dump();
        EXPECT_EQ(answers[i][0]["generated_text"], want.text);
        // Bit for bit: a batch never changes an image's arithmetic.
        EXPECT_EQ(answers[i][0]["details"]["token_logprobs"].get<std::vector<float>>(),
                  want.token_logprobs);
      }
    }
  }
}

TEST(Server, StreamedTokensMakeTheNonStreamedText) {
  const auto pipeline = ImageToText::from_pretrained(demo("demo-vit-gpt2"));
  TestServer s(pipeline);
  auto c = s.client();
  const std::string image = test::read_file(input_image("coco_000000039769.png"));
  for (const json& args : {json{{"max_new_tokens", 12}},
                           json{{"do_sample", true}, {"seed", 7}, {"max_new_tokens", 10}}}) {
    const json plain = post_one(c, image, args);
    for (const std::string path : {"/generate_stream", "/"}) {
      json body = request_json(image, args);
      if (path == "/") body["stream"] = true;
      auto r = c.Post(path, body.dump(), "application/json");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
      std::string text;
      std::vector<int64_t> ids;
      json last;
      int64_t index = 0;
      std::istringstream events(r->body);
      for (std::string line; std::getline(events, line);) {
        if (line.empty()) continue;
        ASSERT_EQ(line.rfind("data:", 0), 0u) << line;
        last = json::parse(line.substr(5));
        EXPECT_EQ(last["index"], ++index);
        text += last["token"]["text"].get<std::string>();
        ids.push_back(last["token"]["id"].get<int64_t>());
      }
      const auto& want = plain["details"]["tokens"];
      ASSERT_FALSE(ids.empty());
      // The streamed ids are the sequence after its start token.
      EXPECT_EQ(json(ids), json(std::vector<int64_t>(want.begin() + 1, want.end())));
      EXPECT_EQ(text, plain["generated_text"]) << args.dump();
      EXPECT_EQ(last["generated_text"], plain["generated_text"]);
      EXPECT_EQ(last["details"]["tokens"], want);
    }
  }
  // Beam search cannot stream; neither can a batch.
  json beams = request_json(image, {{"num_beams", 2}});
  auto r = c.Post("/generate_stream", beams.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  json two = {{"inputs", {base64_encode(image), base64_encode(image)}}, {"stream", true}};
  r = c.Post("/", two.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
}

// ---- concurrency ----

TEST(Server, ConcurrentClientsGetTheirOwnAnswers) {
  const auto pipeline = ImageToText::from_pretrained(demo("demo-trocr"));
  server::ServerOptions o;
  o.batch_wait_ms = 20;
  TestServer s(pipeline, o);
  const std::vector<std::string> paths = {
      input_image("coco_000000039769.png"), input_image("page_text_340x440.png"),
      input_image("gradient_37x23.png"), input_image("tall_20x90.png")};
  const std::vector<json> argsets = {json::object(),
                                     {{"max_new_tokens", 5}},
                                     {{"num_beams", 2}, {"max_new_tokens", 6}},
                                     {{"do_sample", true}, {"seed", 3}, {"max_new_tokens", 6}}};
  // The single-request answers, from the library.
  std::vector<std::vector<std::vector<int64_t>>> want(paths.size());
  std::vector<std::string> images;
  for (size_t i = 0; i < paths.size(); ++i) {
    images.push_back(test::read_file(paths[i]));
    for (const auto& args : argsets) want[i].push_back(alone(pipeline, paths[i], args)[0].tokens);
  }
  constexpr int kClients = 16, kRequests = 20;
  std::atomic<int> wrong{0}, failed{0};
  // What went wrong, for the failure message: written by the one client that counts the first
  // failure, read after every client has been joined.
  std::string first_failure;
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t)
    clients.emplace_back([&, t] {
      auto c = s.client();
      for (int k = 0; k < kRequests; ++k) {
        const size_t i = static_cast<size_t>(t + k) % paths.size();
        const size_t a = static_cast<size_t>(t * 7 + k * 3) % argsets.size();
        auto r = c.Post("/", request_json(images[i], argsets[a]).dump(), "application/json");
        if (!r || r->status != 200) {
          if (failed++ == 0)
            first_failure = "client " + std::to_string(t) + ", request " + std::to_string(k) +
                            ": " +
                            (r ? std::to_string(r->status) + " " + r->body
                               : "no answer (" + httplib::to_string(r.error()) + ")");
          continue;
        }
        const json j = body_json(r);
        if (j[0]["details"]["tokens"].get<std::vector<int64_t>>() != want[i][a]) wrong++;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0) << "the first: " << first_failure;
  EXPECT_EQ(wrong.load(), 0);

  // The metrics add up: every request answered 200, every image generated, some batched. The
  // server counts a request as it logs it, after its answer is sent (httplib's logger runs after
  // the write), so a client can have its answer before the server has counted it: /metrics is
  // read once every request has its log line.
  const double total = kClients * kRequests;
  EXPECT_TRUE(eventually([&] { return s.log().size() == static_cast<size_t>(total); }))
      << s.log().size();
  auto c = s.client();
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  auto value = [&m](const std::string& name) {
    std::smatch match;
    const std::regex re("\n" + std::regex_replace(name, std::regex(R"([{}"])"), R"(\$&)") +
                        " ([0-9.e+]+)\n");
    return std::regex_search(m->body, match, re) ? std::stod(match[1]) : -1.0;
  };
  EXPECT_EQ(value(R"(ved_requests_total{status="200"})"), total);
  EXPECT_EQ(value("ved_images_total"), total);
  EXPECT_EQ(value("ved_batch_size_sum"), total);
  EXPECT_EQ(value("ved_batch_size_count"), value("ved_batches_total"));
  EXPECT_LT(value("ved_batches_total"), total) << "no request was batched with another";
  EXPECT_EQ(value("ved_queue_depth"), 0);
  EXPECT_EQ(value("ved_requests_in_flight"), 0);  // counts generation requests
  EXPECT_GT(value("ved_encoder_seconds_total"), 0);
  EXPECT_GT(value("ved_generated_tokens_total"), total);
  // One log line per request, /metrics included.
  EXPECT_TRUE(eventually([&] { return s.log().size() == static_cast<size_t>(total) + 1; }))
      << s.log().size();
}

// ---- hostile clients ----

// Sends raw bytes on a fresh connection and returns what the server answers until it closes,
// `wait` passes without data, or `max_bytes` have come; then hangs up.
std::string raw_exchange(int port, const std::string& bytes, bool close_write,
                         std::chrono::milliseconds wait, size_t max_bytes = size_t(-1)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (close_write) ::shutdown(fd, SHUT_WR);
  timeval tv{static_cast<time_t>(wait.count() / 1000),
             static_cast<suseconds_t>(wait.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  for (ssize_t n; out.size() < max_bytes && (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(Server, HostileClientsGetErrorsAndTheServerKeepsServing) {
  test::TempDir dir;
  make_long_tiny_ocr_folder(dir, 2048);
  const auto pipeline = ImageToText::from_pretrained(dir.str());
  server::ServerOptions o;
  o.max_body_bytes = 1 << 20;
  o.read_timeout_s = 1;
  o.max_new_tokens = 2000;
  TestServer s(pipeline, o);
  auto c = s.client();
  const std::string good = test::read_file(sample("00.png"));
  const std::string text = "INV-2024-0042";
  expect_serving(s, good, text);

  auto expect_error = [&](const httplib::Result& r, int status, const std::string& type) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    const json j = body_json(r);
    EXPECT_TRUE(j.contains("error")) << r->body;
    if (!type.empty()) {
      EXPECT_EQ(j.value("error_type", ""), type) << r->body;
    }
    expect_serving(s, good, text);
  };
  // Media types and bodies.
  expect_error(c.Post("/", "hello", "text/plain"), 415, "unsupported_media_type");
  expect_error(c.Post("/",
                      "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
                      "Content-Type: image/png\r\n\r\n" +
                          good + "\r\n--x--\r\n",
                      "multipart/form-data; boundary=x"),
               415, "unsupported_media_type");
  expect_error(c.Post("/", std::string(2 << 20, 'x'), "image/png"), 413, "payload_too_large");
  expect_error(c.Post("/", "", "image/png"), 400, "validation");
  expect_error(c.Post("/", "{\"inputs\": \"not base64!\"}", "application/json"), 400, "validation");
  expect_error(c.Post("/", "{\"inputs\": ", "application/json"), 400, "validation");
  // Corrupt, truncated and huge images.
  expect_error(c.Post("/", good.substr(0, good.size() / 2), "image/png"), 400, "invalid_image");
  expect_error(c.Post("/", std::string("\x89PNG\r\n\x1a\n") + std::string(64, '\0'), "image/png"),
               400, "invalid_image");
  {
    // A valid PNG header claiming 60000 x 60000 pixels: refused before any pixel is allocated.
    std::string png = good;
    const uint32_t side = 60000;
    for (int k = 0; k < 4; ++k) {
      png[16 + k] = static_cast<char>(side >> (24 - 8 * k));
      png[20 + k] = static_cast<char>(side >> (24 - 8 * k));
    }
    expect_error(c.Post("/", png, "image/png"), 400, "invalid_image");
  }
  json batch = {{"inputs", {base64_encode(good), base64_encode("not an image")}}};
  expect_error(c.Post("/", batch.dump(), "application/json"), 400, "invalid_image");
  // Absurd and impossible parameters.
  for (const json& p :
       {json{{"max_new_tokens", 1000000000000}}, json{{"max_new_tokens", 2001}},
        json{{"num_beams", 100000}}, json{{"num_beams", 0}}, json{{"max_new_tokens", -3}},
        json{{"num_return_sequences", 3}}, json{{"do_sample", true}, {"temperature", 0}},
        json{{"decoder_input_ids", {{1, 2}, {3}}}}})
    expect_error(c.Post("/", request_json(good, p).dump(), "application/json"), 422, "validation");
  for (const json& p :
       {json{{"num_beams", "four"}}, json{{"no_such_argument", 1}}, json{{"max_new_tokens", 2.5}}})
    expect_error(c.Post("/", request_json(good, p).dump(), "application/json"), 400, "validation");
  expect_error(c.Get("/no/such/thing"), 404, "not_found");

  // Malformed HTTP, a body shorter than its Content-Length, a client that stops mid-body.
  // Not HTTP at all: a 400, or the connection closed without an answer.
  const std::string garbage =
      raw_exchange(s.port(), "GARBAGE\r\n\r\n", true, std::chrono::seconds(3));
  EXPECT_TRUE(garbage.empty() || garbage.find(" 400 ") != std::string::npos) << garbage;
  const std::string head =
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
      "Content-Length: 100000\r\n\r\n";
  const std::string truncated =
      raw_exchange(s.port(), head + good.substr(0, 100), true, std::chrono::seconds(3));
  EXPECT_EQ(truncated.find("200 OK"), std::string::npos) << truncated;
  expect_serving(s, good, text);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string slow =
      raw_exchange(s.port(), head + good.substr(0, 100), false, std::chrono::seconds(8));
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(slow.find("200 OK"), std::string::npos) << slow;
  EXPECT_LT(waited, 7.0) << "the stalled connection was not dropped after --read-timeout";
  expect_serving(s, good, text);

  // Connections dropped mid-stream: generation of the abandoned request stops, and the server
  // goes on.
  auto generated = [&c] {
    auto m = c.Get("/metrics");
    std::smatch match;
    return m && std::regex_search(m->body, match,
                                  std::regex("\nved_generated_tokens_total ([0-9]+)\n"))
               ? std::stoll(match[1])
               : -1;
  };
  const int64_t before = generated();
  const std::string req_body =
      request_json(good, {{"max_new_tokens", 1500}, {"min_new_tokens", 1500}}).dump();
  const std::string request =
      "POST /generate_stream HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(req_body.size()) + "\r\n\r\n" + req_body;
  for (int i = 0; i < 5; ++i) {
    // Read a little of the stream, then hang up.
    const std::string got =
        raw_exchange(s.port(), request, false, std::chrono::milliseconds(500), 600);
    EXPECT_NE(got.find("text/event-stream"), std::string::npos) << got.substr(0, 200);
    expect_serving(s, good, text);
  }
  EXPECT_TRUE(eventually([&] {
    auto m = c.Get("/metrics");
    return m && m->body.find("\nved_queue_depth 0\n") != std::string::npos &&
           m->body.find("\nved_requests_in_flight 0\n") != std::string::npos;
  }));
  // The abandoned streams stopped early: far fewer tokens than 5 x 1500 were generated.
  EXPECT_LT(generated() - before, 5 * 1500 / 2);
}

// ---- overload ----

TEST(Server, AFullQueueAnswers503) {
  test::TempDir dir;
  make_long_tiny_ocr_folder(dir, 1024);
  const auto pipeline = ImageToText::from_pretrained(dir.str());
  const std::string good = test::read_file(sample("01.png"));
  {
    server::ServerOptions o;
    o.max_queue = 2;
    o.max_batch = 1;
    TestServer s(pipeline, o);
    // Slow requests: many forced tokens each.
    const std::string body =
        request_json(good, {{"max_new_tokens", 800}, {"min_new_tokens", 800}}).dump();
    std::atomic<int> ok{0}, busy{0}, other{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 12; ++t)
      clients.emplace_back([&] {
        auto c = s.client();
        auto r = c.Post("/", body, "application/json");
        if (r && r->status == 200) {
          ok++;
        } else if (r && r->status == 503) {
          EXPECT_EQ(r->get_header_value("Retry-After"), "1");
          EXPECT_EQ(body_json(r)["error_type"], "overloaded");
          busy++;
        } else {
          other++;
        }
      });
    for (auto& t : clients) t.join();
    EXPECT_GT(busy.load(), 0);
    EXPECT_GE(ok.load(), 2);
    EXPECT_EQ(other.load(), 0);
  }
}

TEST(Server, TimeLimitAnswers504) {
  test::TempDir dir;
  make_long_tiny_ocr_folder(dir, 4096);
  const auto pipeline = ImageToText::from_pretrained(dir.str());
  server::ServerOptions o;
  o.timeout_s = 0.05;
  TestServer s(pipeline, o);
  auto c = s.client();
  const std::string good = test::read_file(sample("02.png"));
  const json slow = {{"max_new_tokens", 3000}, {"min_new_tokens", 3000}};
  auto r = c.Post("/", request_json(good, slow).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->body;
  EXPECT_EQ(body_json(r)["error_type"], "timeout");
  r = c.Post("/generate_stream", request_json(good, slow).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("\"error_type\":\"timeout\""), std::string::npos) << r->body;
}

// ---- the ved binary: signals and the README's examples ----

#ifdef VED_CLI_PATH
// `ved serve --port 0` in the background; its pid and port.
struct Served {
  int pid = 0, port = 0;
  std::string log;
};

Served start_ved_serve(const test::TempDir& dir, const std::vector<std::string>& args) {
  Served s;
  s.log = dir.file("serve.log");
  std::string cmd = test::shell_quote(VED_CLI_PATH) + " serve --port 0";
  for (const auto& a : args) cmd += " " + test::shell_quote(a);
  const test::CliResult r =
      test::run_shell(cmd + " >/dev/null 2>" + test::shell_quote(s.log) + " & echo $!",
                      /*merge_stderr=*/false);
  s.pid = std::stoi(r.out);
  eventually([&] {
    const std::string text = test::read_file(s.log);
    std::smatch m;
    if (!std::regex_search(text, m, std::regex(R"(127\.0\.0\.1:([0-9]+))"))) return false;
    s.port = std::stoi(m[1]);
    return true;
  });
  return s;
}

int wait_exit(int pid) {
  // Not our child (the shell's): poll until it is gone.
  for (int i = 0; i < 3000 && ::kill(pid, 0) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return ::kill(pid, 0) == 0 ? -1 : 0;
}

// `extra` server arguments; the long tiny-ocr model keeps every request busy for a while.
void expect_sigterm_finishes_accepted_requests(const std::vector<std::string>& extra) {
  test::TempDir dir, model;
  make_long_tiny_ocr_folder(model, 2048);
  std::vector<std::string> args = {"--model", model.str()};
  args.insert(args.end(), extra.begin(), extra.end());
  const Served served = start_ved_serve(dir, args);
  ASSERT_GT(served.port, 0) << test::read_file(served.log);
  const std::string good = test::read_file(sample("05.png"));
  const std::string body =
      request_json(good, {{"max_new_tokens", 1500}, {"min_new_tokens", 1500}}).dump();
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", served.port);
      c.set_read_timeout(60, 0);
      auto r = c.Post("/", body, "application/json");
      if (r && r->status == 200)
        ok++;
      else if (!r)
        refused++;
      else
        other++;
    });
  // Once requests are in (queued or running), ask the server to stop.
  int64_t accepted = 0;
  eventually([&] {
    httplib::Client c("127.0.0.1", served.port);
    auto m = c.Get("/metrics");
    std::smatch match;
    if (m && std::regex_search(m->body, match, std::regex("\nved_requests_in_flight ([0-9]+)\n")))
      accepted = std::stoll(match[1]);
    return accepted >= 4;
  });
  ::kill(served.pid, SIGTERM);
  for (auto& t : clients) t.join();
  // Every request the server had taken is answered; a later one may find the door closed.
  EXPECT_GE(accepted, 4);
  EXPECT_GE(ok.load(), accepted);
  EXPECT_EQ(ok + refused, 8) << "other answers: " << other;
  EXPECT_EQ(wait_exit(served.pid), 0);
  const std::string log = test::read_file(served.log);
  EXPECT_NE(log.find("\"event\":\"stopped\""), std::string::npos) << log;
  httplib::Client late("127.0.0.1", served.port);
  EXPECT_FALSE(late.Get("/health")) << "still accepting after SIGTERM";
}

TEST(ServerCli, SigtermFinishesAcceptedRequestsThenExits) {
  expect_sigterm_finishes_accepted_requests({});
}

// Converting the weights to bf16 runs on the kernels' thread pool while the model loads: its
// threads must not take SIGTERM either (they did, and its default action killed the server).
TEST(ServerCli, SigtermFinishesAcceptedRequestsWhenLoadingStartedThreads) {
  expect_sigterm_finishes_accepted_requests({"--dtype", "bf16"});
}

// Bad command lines and a taken port: an error naming what is wrong, before any request.
TEST(ServerCli, BadOptionsAndTakenPortsAreErrors) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"serve", "--port", "70000"},
                                               {"serve", "--max-batch", "0"},
                                               {"serve", "--timeout", "-1"},
                                               {"serve", "--no-such-option"},
                                               {"serve", "--dtype", "f64"},
                                               {"serve", "--model", "/nonexistent/folder"},
                                               {"bench-serve", "--concurrency", "1,x"},
                                               {"bench-serve", "--url", "ftp://a:1"},
                                               {"bench-serve", "--dtype", "f64"}}) {
    const test::CliResult r = test::ved_cli(args);
    EXPECT_NE(r.status, 0) << args[1];
    EXPECT_NE(r.out.find(args[1] == "--no-such-option" ? "no-such-option"
                         : args[1] == "--model"        ? "/nonexistent/folder"
                                                       : args[1]),
              std::string::npos)
        << r.out;
  }
  const auto pipeline = ImageToText::from_pretrained(kTinyOcr);
  TestServer taken(pipeline);
  const test::CliResult r =
      test::ved_cli({"serve", "--model", kTinyOcr, "--port", std::to_string(taken.port())});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("cannot listen on 127.0.0.1:" + std::to_string(taken.port())),
            std::string::npos)
      << r.out;
  const test::CliResult help = test::ved_cli({"serve", "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("POST /generate_stream"), std::string::npos);
}

int64_t rss_kb(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

// The server process's resident memory after 2,000 requests is that after 200 (within 10%): no
// request leaves anything behind.
TEST(ServerCli, MemoryStaysFlatUnderLoad) {
  test::TempDir dir;
  const Served served = start_ved_serve(dir, {"--model", kTinyOcr});
  ASSERT_GT(served.port, 0) << test::read_file(served.log);
  const std::vector<std::string> bodies = {
      request_json(test::read_file(sample("00.png"))).dump(),
      request_json(test::read_file(sample("04.png")), {{"num_beams", 2}}).dump(),
      test::read_file(sample("08.png"))};
  std::atomic<int> failures{0};
  auto run = [&](int n) {
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t)
      clients.emplace_back([&, t] {
        httplib::Client c("127.0.0.1", served.port);
        c.set_keep_alive(t % 2 == 0);  // new connections too
        for (int k = 0; k < n / 4; ++k) {
          const size_t i = static_cast<size_t>(t + k) % bodies.size();
          auto r = c.Post("/", bodies[i], i == 2 ? "image/png" : "application/json");
          if (!r || r->status != 200) failures++;
        }
      });
    for (auto& t : clients) t.join();
  };
  run(200);
  const int64_t after_200 = rss_kb(served.pid);
  run(1800);
  const int64_t after_2000 = rss_kb(served.pid);
  std::printf("[ rss ] after 200 requests %lld kB, after 2000 %lld kB\n",
              static_cast<long long>(after_200), static_cast<long long>(after_2000));
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(after_200, 0);
  EXPECT_LT(static_cast<double>(after_2000), static_cast<double>(after_200) * 1.10)
      << after_200 << " kB -> " << after_2000 << " kB";
  ::kill(served.pid, SIGTERM);
  EXPECT_EQ(wait_exit(served.pid), 0);
}

// The README's curl examples, run against a real server.
TEST(ServerCli, ReadmeCurlExamplesRun) {
  test::TempDir dir;
  const Served served = start_ved_serve(dir, {});  // the embedded default model
  ASSERT_GT(served.port, 0) << test::read_file(served.log);
  std::istringstream readme(test::read_file(kSource + "/README.md"));
  bool in_section = false, in_block = false;
  int commands = 0;
  for (std::string line; std::getline(readme, line);) {
    if (line.rfind("## ", 0) == 0) in_section = line.find("Server") != std::string::npos;
    if (line.rfind("```", 0) == 0) {
      in_block = line == "```sh";
      continue;
    }
    if (!in_section || !in_block || line.rfind("curl ", 0) != 0) continue;
    // Multi-line commands are not used in the section: each curl line is whole.
    const std::string cmd = std::regex_replace(line, std::regex("localhost:8080"),
                                               "127.0.0.1:" + std::to_string(served.port));
    const test::CliResult r = test::run_shell("cd " + test::shell_quote(kSource) + " && " + cmd);
    EXPECT_EQ(r.status, 0) << line << "\n" << r.out;
    EXPECT_EQ(r.out.find("\"error\""), std::string::npos) << line << "\n" << r.out;
    ++commands;
  }
  EXPECT_GE(commands, 6);
  ::kill(served.pid, SIGTERM);
  EXPECT_EQ(wait_exit(served.pid), 0);
}
#endif

}  // namespace
}  // namespace ved
