#pragma once

// The server's scheduler: images from concurrent requests wait in one queue, and a fixed set of
// worker threads runs them through ImageToText in batches. Knows nothing of HTTP.
//
// Batching must never change an answer: an image's tokens are the same whether it ran alone or
// with others (`ved caption` on the same image and arguments gives the same). So only images
// with identical generate() arguments and pixel_values shapes share a batch; sampling (one
// random stream drawn row by row) and streamed requests always run alone; and a batch holds at
// most kMaxBatchRows decoder rows (images x beams), the sizes at which every kernel computes each
// row exactly as it would alone (tests/unit/matmul_test.cpp checks this for every kernel set).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metrics.hpp"
#include "ved/pipeline.hpp"

namespace ved::server {

using Clock = std::chrono::steady_clock;

constexpr int64_t kMaxBatchRows = 8;

// One image to generate for. The submitter fills the inputs, then waits on wait_until(); the
// worker fills the outputs and calls finish().
struct Job {
  // Inputs.
  Tensor<float> pixels;              // [1, C, H, W]
  detail::json kwargs;               // generate()'s keyword arguments
  std::string key;                   // jobs with equal keys may share a batch
  int64_t rows = 1;                  // decoder rows: beams, or sampled sequences
  bool alone = false;                // never batched (sampling, streaming)
  ImageToText::GenerateHooks hooks;  // streaming: on_token / on_finish (the worker adds the rest)
  Clock::time_point enqueued, deadline;
  // Set by the submitter when nobody waits for the answer any more (deadline passed, client
  // gone): a queued job is dropped and a running batch of abandoned jobs is stopped.
  std::atomic<bool> abandoned{false};

  // Outputs, valid once finished.
  std::vector<TextResult> results;
  std::exception_ptr error;
  double queue_s = 0, compute_s = 0;
  int64_t batch_size = 0;

  void finish() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
  }
  bool wait_until(Clock::time_point t) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_until(lock, t, [this] { return done_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
};

struct BatcherOptions {
  int workers = 1;
  int max_batch = 8;  // images per batch
  // How long a first image waits for the images of requests still arriving (Batcher::Arrival).
  std::chrono::microseconds batch_wait{5000};
  int64_t max_queue = 64;  // images waiting; beyond it submit() refuses
};

class Batcher {
 public:
  Batcher(const ImageToText& pipeline, BatcherOptions options, Metrics& metrics);
  ~Batcher();  // shutdown()

  // Queues a job; false when the queue is full (the caller answers 503).
  bool submit(const std::shared_ptr<Job>& job);

  // A request being read and prepared, whose images will be submitted soon: while any is, a
  // worker waits (up to batch_wait) for them to share its batch; when none is, it runs what it
  // has at once, so a lone request never waits for company that is not coming.
  class Arrival {
   public:
    explicit Arrival(Batcher& b) : batcher_(&b) { batcher_->arrive(+1); }
    ~Arrival() { done(); }
    Arrival(const Arrival&) = delete;
    Arrival& operator=(const Arrival&) = delete;
    void done() {
      if (batcher_) batcher_->arrive(-1);
      batcher_ = nullptr;
    }

   private:
    Batcher* batcher_;
  };
  // Lets the workers finish every queued job, then joins them.
  void shutdown();

 private:
  void arrive(int delta);
  void work();
  std::vector<std::shared_ptr<Job>> next_batch(std::unique_lock<std::mutex>& lock);
  // `retry`: the jobs of a failed batch, each run again alone (their queue time is counted).
  void run(const std::vector<std::shared_ptr<Job>>& batch, bool retry = false);

  const ImageToText& pipeline_;
  const BatcherOptions options_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  int64_t arriving_ = 0;  // Arrivals not yet done
  std::vector<std::thread> workers_;
};

}  // namespace ved::server
