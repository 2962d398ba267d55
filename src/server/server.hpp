#pragma once

// `ved serve`: image-to-text over HTTP, following Hugging Face's Inference API and
// text-generation-inference conventions (endpoints in server.cpp and the README). The HTTP
// library stays behind this header.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ved/pipeline.hpp"

namespace ved::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;          // 0: any free port (bind() returns it)
  std::string model_name;   // POST /models/<name> answers for this name; GET /info
  std::string model_dir;    // GET /info
  std::string weight_type;  // GET /info
  int workers = 1;          // generate() calls running at once
  int max_batch = 8;        // images per generate() call
  int batch_wait_ms = 5;    // how long an image waits for others to share its batch
  int64_t max_queue = 64;   // images waiting; beyond it requests get 503
  size_t max_body_bytes = size_t{20} << 20;
  int64_t max_new_tokens = 4096;  // cap on a request's tokens
  double timeout_s = 60;          // a request's time limit, queue included (504 beyond)
  int read_timeout_s = 10;        // a client that stops sending mid-request is dropped
  // One line per request (JSON); by default written to stderr.
  std::function<void(const std::string&)> log;
};

class Server {
 public:
  Server(const ImageToText& pipeline, ServerOptions options);
  ~Server();

  // Binds host:port and returns the port (useful with port 0). Throws IoError naming them.
  int bind();
  // Serves until stop(), then finishes every request already accepted and returns.
  void run();
  // Stops accepting; run() returns once in-flight requests are answered. Any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ved::server
