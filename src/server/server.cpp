// `ved serve` on cpp-httplib. Endpoints:
//   POST /, POST /models/<name>  Hugging Face's image-to-text task: raw image bytes, or JSON
//                                {"inputs": b64 | [b64...], "parameters": {...}}; answers
//                                [{"generated_text": ...}] (a list per input for a list).
//   POST /generate               TGI's form: one image, answers {"generated_text", "details"}.
//   POST /generate_stream        Server-Sent Events, one per token (also "stream": true).
//   GET /health, /info, /metrics
// Request threads parse, decode and preprocess; the Batcher's workers generate.

#include "server.hpp"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>

#include "batcher.hpp"
#include "request.hpp"
#include "ved/threads.hpp"
#include "ved/version.hpp"

namespace ved::server {

namespace {

using json = detail::json;

// Beams or sampled sequences per request: each is a decoder row with its own cache.
constexpr int64_t kMaxRowsPerRequest = 16;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json error_body(const std::string& message, const std::string& type) {
  return {{"error", message}, {"error_type", type}};
}

// What the logger reports about the request this thread is answering (httplib answers one
// request at a time per thread, handler, streaming and logger alike).
struct RequestStats {
  Clock::time_point start;
  bool counted = false;  // in_flight was raised for it
  double queue_ms = 0, compute_ms = 0;
  int64_t images = 0, batch = 0, tokens = 0, bytes_out = -1;
};
thread_local RequestStats t_stats;

// A request's generate() arguments, checked before any image is queued.
struct Plan {
  json kwargs;
  std::string key;  // with the pixel shape: jobs that may share a batch
  int64_t rows = 1;
  bool sampling = false;
  bool beams = false;
};

// The answer's entry for one sequence.
json result_json(const TextResult& r, bool details) {
  json j = {{"generated_text", r.text}};
  if (!details) return j;
  j["details"] = {{"finish_reason", r.ended_by_eos ? "eos_token" : "length"},
                  {"generated_tokens", r.token_logprobs.size()},
                  {"tokens", r.tokens},
                  {"token_logprobs", r.token_logprobs},
                  {"confidence", r.confidence},
                  {"score", r.score}};
  return j;
}

enum class Mode { Task, Generate, Stream };

}  // namespace

struct Server::Impl {
  Impl(const ImageToText& p, ServerOptions o)
      : pipeline(p),
        options(std::move(o)),
        batcher(p,
                BatcherOptions{options.workers, options.max_batch,
                               std::chrono::microseconds(int64_t{options.batch_wait_ms} * 1000),
                               options.max_queue},
                metrics) {
    if (!options.log)
      options.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    setup();
  }

  void setup();
  void answer(const httplib::Request& req, httplib::Response& res, Mode mode);
  Plan plan(const json& parameters) const;
  void stream(const std::shared_ptr<Job>& job, bool details, httplib::Response& res);
  json info() const;
  // The 503 for a full queue (--max-queue), with Retry-After set on `res`.
  RequestError queue_full(httplib::Response& res) const {
    res.set_header("Retry-After", "1");
    return RequestError(503, "overloaded",
                        "the queue is full (" + std::to_string(options.max_queue) +
                            " images waiting, --max-queue): retry later");
  }
  void log_request(const httplib::Request& req, const httplib::Response& res);

  const ImageToText& pipeline;
  ServerOptions options;
  Metrics metrics;
  Batcher batcher;
  httplib::Server http;
  std::atomic<bool> stopping{false};
  socket_t listening = INVALID_SOCKET;  // set by the socket options callback, for bind()
};

void Server::Impl::setup() {
  // Request threads: enough for every queued image's request plus a running batch, so that the
  // queue limit (503), not the thread count, is what a flood of clients meets.
  const size_t threads =
      static_cast<size_t>(options.max_queue) +
      static_cast<size_t>(options.max_batch) * static_cast<size_t>(std::max(1, options.workers)) +
      8;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.max_body_bytes);
  http.set_read_timeout(options.read_timeout_s, 0);
  http.set_write_timeout(options.read_timeout_s, 0);
  http.set_keep_alive_max_count(1000);
  http.set_keep_alive_timeout(5);
  // Answers are small and sent in pieces (headers, body, stream events): without this, Nagle's
  // algorithm and the client's delayed ACK add ~40 ms to every request.
  http.set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, with which a second server on a taken port starts
  // and silently shares its traffic (perhaps with another model). SO_REUSEADDR alone lets a
  // restarted server bind while old connections linger, and a taken port is an error.
  http.set_socket_options([this](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listening = sock;
  });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (stopping) {
      res.status = 503;
      res.set_content(dump(error_body("shutting down", "unavailable")), "application/json");
      return;
    }
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  http.Get("/info", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump(info()), "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.prometheus(), "text/plain; version=0.0.4");
  });
  auto route = [this](Mode mode) {
    return [this, mode](const httplib::Request& req, httplib::Response& res) {
      answer(req, res, mode);
    };
  };
  http.Post("/", route(Mode::Task));
  http.Post("/generate", route(Mode::Generate));
  http.Post("/generate_stream", route(Mode::Stream));
  http.Post("/models/(.+)", [this](const httplib::Request& req, httplib::Response& res) {
    // Hub ids ("microsoft/trocr-small-printed") match on their last part too.
    const std::string name = req.matches[1];
    const std::string mine = options.model_name;
    auto last = [](const std::string& s) { return s.substr(s.rfind('/') + 1); };
    if (name != mine && last(name) != last(mine)) {
      res.status = 404;
      res.set_content(dump(error_body("model '" + name +
                                          "' is not served here (this server "
                                          "serves '" +
                                          mine + "')",
                                      "not_found")),
                      "application/json");
      return;
    }
    answer(req, res, Mode::Task);
  });

  // Statuses httplib sets itself (404 route, 413 body, 400 malformed HTTP) get a JSON body too.
  using HandlerResponse = httplib::Server::HandlerResponse;
  http.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return HandlerResponse::Unhandled;
        std::string message = "bad request (HTTP " + std::to_string(res.status) + ")";
        std::string type = "bad_request";
        if (res.status == 404) {
          message =
              "no such endpoint (POST /, /models/<name>, /generate, /generate_stream; "
              "GET /health, /info, /metrics)";
          type = "not_found";
        } else if (res.status == 413) {
          message = "the request body is larger than the server's limit (--max-body-bytes)";
          type = "payload_too_large";
        }
        res.set_content(dump(error_body(message, type)), "application/json");
        return HandlerResponse::Handled;
      }));
  http.set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                    std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    options.log(dump({{"level", "error"}, {"path", req.path}, {"internal_error", what}}));
    res.status = 500;
    res.set_content(dump(error_body("internal error: " + what, "internal")), "application/json");
  });
  http.set_logger(
      [this](const httplib::Request& req, const httplib::Response& res) { log_request(req, res); });
}

void Server::Impl::log_request(const httplib::Request& req, const httplib::Response& res) {
  RequestStats& s = t_stats;
  metrics.count_request(res.status);
  json line = {
      {"method", req.method},
      {"path", req.path},
      {"status", res.status},
      {"bytes_in", req.body.size()},
      {"bytes_out", s.bytes_out >= 0 ? s.bytes_out : static_cast<int64_t>(res.body.size())},
      {"remote", req.remote_addr}};
  if (s.counted) {
    const double total = std::chrono::duration<double>(Clock::now() - s.start).count();
    metrics.request_seconds.observe(total);
    metrics.in_flight--;
    line["images"] = s.images;
    line["batch"] = s.batch;
    line["tokens"] = s.tokens;
    line["queue_ms"] = s.queue_ms;
    line["compute_ms"] = s.compute_ms;
    line["total_ms"] = total * 1e3;
  }
  t_stats = RequestStats{};
  options.log(dump(line));
}

json Server::Impl::info() const {
  const auto& config = pipeline.model().config();
  return {{"model_id", options.model_name},
          {"model_dir", options.model_dir},
          {"model_type", "vision-encoder-decoder"},
          {"encoder", config.encoder.get<std::string>("model_type", "")},
          {"decoder", config.decoder.get<std::string>("model_type", "")},
          {"weight_type", options.weight_type},
          {"postprocessor", pipeline.postprocessor()},
          {"version", VED_VERSION_STRING},
          {"kernels", kernel_isa()},
          {"threads", num_threads()},
          {"workers", options.workers},
          {"max_batch", options.max_batch},
          {"max_batch_rows", kMaxBatchRows},
          {"batch_wait_ms", options.batch_wait_ms},
          {"max_queue", options.max_queue},
          {"max_body_bytes", options.max_body_bytes},
          {"max_new_tokens", options.max_new_tokens},
          {"max_beams", kMaxRowsPerRequest},
          {"max_image_pixels", limits().max_image_pixels},
          {"timeout_s", options.timeout_s}};
}

Plan Server::Impl::plan(const json& parameters) const {
  Plan p;
  p.kwargs = parameters;
  auto unprocessable = [](const std::string& m) { return RequestError(422, "validation", m); };
  // The server's own caps come first: the library's are far higher.
  auto cap = [&](const char* key, int64_t max, const char* option) {
    if (!parameters.contains(key) || !parameters[key].is_number_unsigned()) return;
    if (parameters[key].get<uint64_t>() > static_cast<uint64_t>(max))
      throw unprocessable(std::string("parameters: ") + key + " " + parameters[key].dump() +
                          " is over this server's limit of " + std::to_string(max) + option);
  };
  cap("max_new_tokens", options.max_new_tokens, " (--max-new-tokens)");
  cap("max_length", options.max_new_tokens, " (--max-new-tokens)");
  cap("num_beams", kMaxRowsPerRequest, "");
  cap("num_return_sequences", kMaxRowsPerRequest, "");
  GenerationConfig config = pipeline.model().generation_config();
  json rest = parameters;
  try {
    if (rest.contains("decoder_input_ids")) {
      VisionEncoderDecoderModel::parse_decoder_input_ids(rest["decoder_input_ids"]);
      rest.erase("decoder_input_ids");
    }
    config.update(rest, "parameters");
  } catch (const InvalidArgument& e) {
    throw unprocessable(e.what());
  } catch (const Error& e) {
    throw RequestError(400, "validation", e.what());  // wrong types, unknown arguments
  }
  try {
    config.validate();
  } catch (const Error& e) {
    throw unprocessable(e.what());
  }
  // A checkpoint's own default length may exceed the cap; it is cut to the cap then.
  if (!config.max_new_tokens && config.max_length - 1 > options.max_new_tokens &&
      !parameters.contains("max_length"))
    p.kwargs["max_new_tokens"] = options.max_new_tokens;
  p.sampling = config.do_sample;
  p.beams = config.num_beams > 1;
  p.rows = config.do_sample ? config.num_beams * config.num_return_sequences : config.num_beams;
  p.key = p.kwargs.dump();
  return p;
}

void Server::Impl::answer(const httplib::Request& req, httplib::Response& res, Mode mode) {
  t_stats = RequestStats{};
  t_stats.start = Clock::now();
  t_stats.counted = true;
  metrics.in_flight++;
  auto fail = [&res](int status, const std::string& type, const std::string& message) {
    res.status = status;
    res.set_content(dump(error_body(message, type)), "application/json");
  };
  Batcher::Arrival arrival(batcher);
  try {
    ParsedRequest request = parse_request(req.get_header_value("Content-Type"), req.body);
    if (mode == Mode::Stream) request.stream = true;
    if (mode != Mode::Task && request.batch_form)
      throw RequestError(400, "validation",
                         "/generate and /generate_stream take one image; send a list to POST /");
    const Plan p = plan(request.parameters);
    if (request.stream) {
      if (request.images.size() != 1)
        throw RequestError(
            422, "validation",
            "streaming takes one image, got " + std::to_string(request.images.size()));
      if (p.beams)
        throw RequestError(422, "validation",
                           "streaming needs greedy search or sampling (num_beams 1): beam search "
                           "knows its best sequence only at the end");
    }
    // Decode and prepare every image before queueing any: a bad one fails the request at once.
    const Clock::time_point deadline =
        t_stats.start + std::chrono::microseconds(static_cast<int64_t>(options.timeout_s * 1e6));
    std::vector<std::shared_ptr<Job>> jobs;
    for (size_t i = 0; i < request.images.size(); ++i) {
      const std::string name = request.batch_form ? "inputs[" + std::to_string(i) + "]"
                                                  : std::string("the request's image");
      const std::string& bytes = request.images[i];
      auto job = std::make_shared<Job>();
      try {
        job->pixels = pipeline.processor().preprocess(
            decode_image(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), name));
      } catch (const Error& e) {
        throw RequestError(400, "invalid_image", e.what());
      }
      job->kwargs = p.kwargs;
      job->key = p.key + shape_str(job->pixels.shape());
      job->rows = p.rows;
      job->alone = p.sampling || request.stream;
      job->deadline = deadline;
      jobs.push_back(std::move(job));
    }
    t_stats.images = static_cast<int64_t>(jobs.size());
    auto abandon = [&jobs] {
      for (auto& j : jobs) j->abandoned = true;
    };
    if (request.stream) {
      arrival.done();  // streams run alone
      return stream(jobs[0], request.details, res);
    }
    for (const auto& job : jobs)
      if (!batcher.submit(job)) {
        abandon();
        throw queue_full(res);
      }
    arrival.done();
    for (const auto& job : jobs)
      if (!job->wait_until(deadline)) {
        abandon();
        throw RequestError(504, "timeout",
                           "no answer within the server's time limit of " +
                               std::to_string(options.timeout_s) + " s (--timeout)");
      }
    json answers = json::array();
    for (const auto& job : jobs) {
      if (job->error) std::rethrow_exception(job->error);
      t_stats.queue_ms = std::max(t_stats.queue_ms, job->queue_s * 1e3);
      t_stats.compute_ms = std::max(t_stats.compute_ms, job->compute_s * 1e3);
      t_stats.batch = std::max(t_stats.batch, job->batch_size);
      json per_image = json::array();
      for (const auto& r : job->results) {
        t_stats.tokens += static_cast<int64_t>(r.token_logprobs.size());
        per_image.push_back(result_json(r, request.details));
      }
      answers.push_back(std::move(per_image));
    }
    res.set_header("x-queue-time", std::to_string(static_cast<int64_t>(t_stats.queue_ms)));
    res.set_header("x-inference-time", std::to_string(static_cast<int64_t>(t_stats.compute_ms)));
    res.set_header("x-generated-tokens", std::to_string(t_stats.tokens));
    if (mode == Mode::Generate) {
      res.set_content(dump(answers[0][0]), "application/json");
    } else {
      res.set_content(dump(request.batch_form ? answers : answers[0]), "application/json");
    }
  } catch (const RequestError& e) {
    fail(e.status(), e.type(), e.what());
  } catch (const InvalidArgument& e) {
    fail(422, "validation", e.what());
  } catch (const ConfigError& e) {
    fail(400, "validation", e.what());
  } catch (const std::bad_alloc&) {
    fail(503, "overloaded", "out of memory for this request: retry later or send less");
    res.set_header("Retry-After", "1");
  }
}

// Server-Sent Events as TGI sends them: one event per token, {"index", "token": {"id", "text",
// "special"}, "generated_text": null, "details": null}; the last token's event carries the whole
// generated_text (post-processed, as non-streamed) and, when asked, details. A failure after
// the first byte is an event {"error", "error_type"}.
void Server::Impl::stream(const std::shared_ptr<Job>& job, bool details, httplib::Response& res) {
  struct Channel {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<json> events;
  };
  auto channel = std::make_shared<Channel>();
  const Tokenizer& tokenizer = pipeline.tokenizer();
  // The hooks live in the job: they hold it by plain pointer, or it would own itself. They run
  // only inside Batcher::run, which holds the job.
  Job* const self = job.get();
  job->hooks.on_token = [channel, self, &tokenizer](int64_t id, const std::string& text) {
    const bool special = text.empty() &&
                         tokenizer.decode({id}, /*skip_special_tokens=*/true).empty() &&
                         !tokenizer.decode({id}, /*skip_special_tokens=*/false).empty();
    {
      std::lock_guard<std::mutex> lock(channel->mutex);
      channel->events.push_back({{"token", {{"id", id}, {"text", text}, {"special", special}}}});
    }
    channel->cv.notify_all();
    return !self->abandoned.load();
  };
  job->hooks.on_finish = [channel](const std::string& rest) {
    std::lock_guard<std::mutex> lock(channel->mutex);
    if (!rest.empty() && !channel->events.empty())
      channel->events.back()["token"]["text"] =
          channel->events.back()["token"]["text"].get<std::string>() + rest;
  };
  if (!batcher.submit(job)) throw queue_full(res);
  res.set_header("Cache-Control", "no-cache");
  t_stats.bytes_out = 0;
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, channel, job, details, index = int64_t{0}](size_t, httplib::DataSink& sink) mutable {
        auto send = [&sink](const json& event) {
          const std::string text = "data:" + dump(event) + "\n\n";
          t_stats.bytes_out += static_cast<int64_t>(text.size());
          return sink.write(text.data(), text.size());
        };
        std::unique_lock<std::mutex> lock(channel->mutex);
        for (;;) {
          // Checked first: once the job is done, every token's event is in the channel.
          lock.unlock();
          const bool done = job->wait_until(Clock::now());
          lock.lock();
          // Every event but the newest can go: the newest may be the last, which carries the
          // whole text.
          while (channel->events.size() > 1) {
            json event = std::move(channel->events.front());
            channel->events.pop_front();
            event["index"] = ++index;
            event["generated_text"] = nullptr;
            event["details"] = nullptr;
            lock.unlock();
            const bool ok = send(event);
            lock.lock();
            if (!ok) {
              job->abandoned = true;  // the client went away: stop generating
              return false;
            }
          }
          if (done) break;
          if (Clock::now() >= job->deadline) {
            job->abandoned = true;
            lock.unlock();
            send(error_body("no answer within the server's time limit of " +
                                std::to_string(options.timeout_s) + " s (--timeout)",
                            "timeout"));
            sink.done();
            return true;
          }
          channel->cv.wait_for(lock, std::chrono::milliseconds(20));
        }
        lock.unlock();
        t_stats.queue_ms = job->queue_s * 1e3;
        t_stats.compute_ms = job->compute_s * 1e3;
        t_stats.batch = job->batch_size;
        if (job->error) {
          std::string message = "internal error";
          try {
            std::rethrow_exception(job->error);
          } catch (const std::exception& e) {
            message = e.what();
          }
          send(error_body(message, "generation"));
        } else {
          json event = channel->events.empty() ? json{{"token", nullptr}}
                                               : std::move(channel->events.back());
          const TextResult& r = job->results.at(0);
          t_stats.tokens = static_cast<int64_t>(r.token_logprobs.size());
          event["index"] = ++index;
          event["generated_text"] = r.text;
          event["details"] = details ? result_json(r, /*details=*/true)["details"] : json(nullptr);
          send(event);
        }
        sink.done();
        return true;
      },
      // Called when the response is done with, sent or not: httplib stops calling the provider
      // when the client has gone, and then nobody waits for the rest of the sequence.
      [job](bool) { job->abandoned = true; });
}

Server::Server(const ImageToText& pipeline, ServerOptions options)
    : impl_(std::make_unique<Impl>(pipeline, std::move(options))) {}

Server::~Server() {
  stop();
  impl_->batcher.shutdown();
}

int Server::bind() {
  const int port = impl_->options.port == 0
                       ? impl_->http.bind_to_any_port(impl_->options.host)
                       : (impl_->http.bind_to_port(impl_->options.host, impl_->options.port)
                              ? impl_->options.port
                              : -1);
  if (port < 0)
    throw IoError("cannot listen on " + impl_->options.host + ":" +
                  std::to_string(impl_->options.port) +
                  " (in use, or not an address of this machine)");
  // httplib (as Debian builds it) listens with a backlog of 5. 16 clients connecting at once,
  // while the accepting thread waited for a core, overflowed that queue: the kernel dropped
  // handshakes and fell back to SYN cookies, and now and then a client got no answer. Listening
  // again on the same socket only enlarges its queue (Linux caps it at net.core.somaxconn); where
  // that fails, the small queue stays.
  ::listen(impl_->listening, SOMAXCONN);
  return port;
}

void Server::run() {
  impl_->http.listen_after_bind();
  // Every accepted connection has been answered (httplib joins its threads); the workers have
  // nothing left that anyone waits for.
  impl_->batcher.shutdown();
}

void Server::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace ved::server
