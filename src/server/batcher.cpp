#include "batcher.hpp"

#include <algorithm>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace ved::server {

namespace {

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

Batcher::Batcher(const ImageToText& pipeline, BatcherOptions options, Metrics& metrics)
    : pipeline_(pipeline), options_(options), metrics_(metrics) {
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { work(); });
}

Batcher::~Batcher() {
  shutdown();
}

bool Batcher::submit(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || static_cast<int64_t>(queue_.size()) >= options_.max_queue) return false;
    job->enqueued = Clock::now();
    queue_.push_back(job);
    metrics_.queue_depth = static_cast<int64_t>(queue_.size());
  }
  // Every worker may be waiting for company for its first image.
  cv_.notify_all();
  return true;
}

void Batcher::arrive(int delta) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    arriving_ += delta;
  }
  if (delta < 0) cv_.notify_all();
}

void Batcher::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void Batcher::work() {
  Clock::time_point trimmed = Clock::now();
  for (;;) {
    std::vector<std::shared_ptr<Job>> batch;
    bool idle = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to do
      batch = next_batch(lock);
      metrics_.queue_depth = static_cast<int64_t>(queue_.size());
    }
    run(batch);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle = queue_.empty();
    }
#ifdef __GLIBC__
    // Generation frees thousands of small blocks of varying sizes; glibc keeps the freed pages
    // of its per-thread arenas, so a long-running server's resident size crept up by ~15% over
    // its first 2,000 requests though its live heap stayed at 5 MB. Returning them when the
    // queue runs dry (at most once a second) keeps the resident size flat.
    if (idle && Clock::now() - trimmed > std::chrono::seconds(1)) {
      malloc_trim(0);
      trimmed = Clock::now();
    }
#else
    (void)idle;
    (void)trimmed;
#endif
  }
}

// Takes the oldest job and, unless it runs alone, the queued jobs that may share its batch,
// waiting up to batch_wait after its arrival for requests still arriving. Called with the lock
// held.
std::vector<std::shared_ptr<Job>> Batcher::next_batch(std::unique_lock<std::mutex>& lock) {
  std::vector<std::shared_ptr<Job>> batch{queue_.front()};
  queue_.pop_front();
  const Job& first = *batch[0];
  if (first.alone) return batch;
  int64_t rows = first.rows;
  const Clock::time_point until = first.enqueued + options_.batch_wait;
  for (;;) {
    for (auto it = queue_.begin(); it != queue_.end();) {
      const bool full = static_cast<int>(batch.size()) >= options_.max_batch;
      if (!full && !(*it)->alone && (*it)->key == first.key &&
          rows + (*it)->rows <= kMaxBatchRows) {
        rows += (*it)->rows;
        batch.push_back(*it);
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    if (static_cast<int>(batch.size()) >= options_.max_batch || rows + first.rows > kMaxBatchRows ||
        stopping_ || arriving_ == 0 || Clock::now() >= until)
      return batch;
    cv_.wait_until(lock, until);
  }
}

void Batcher::run(const std::vector<std::shared_ptr<Job>>& batch, bool retry) {
  std::vector<std::shared_ptr<Job>> live;
  const Clock::time_point start = Clock::now();
  for (const auto& job : batch) {
    if (!retry) {
      job->queue_s = seconds(start - job->enqueued);
      metrics_.queue_seconds.observe(job->queue_s);
    }
    if (job->abandoned) {
      job->finish();  // nobody reads the answer
      continue;
    }
    live.push_back(job);
  }
  if (live.empty()) return;
  const int64_t B = static_cast<int64_t>(live.size());
  Shape shape = live[0]->pixels.shape();
  shape[0] = B;
  Tensor<float> pixels(shape);
  const int64_t per_image = live[0]->pixels.numel();
  for (int64_t b = 0; b < B; ++b)
    std::copy(live[static_cast<size_t>(b)]->pixels.begin(),
              live[static_cast<size_t>(b)]->pixels.end(), pixels.data() + b * per_image);

  GenerateTimings timings;
  ImageToText::GenerateHooks hooks = live[0]->hooks;  // a streamed job runs alone
  hooks.timings = &timings;
  // Stop when every image's answer has been given up on (deadline passed, client gone).
  hooks.keep_going = [&live] {
    return std::any_of(live.begin(), live.end(), [](const auto& j) { return !j->abandoned; });
  };
  std::vector<TextResult> results;
  std::exception_ptr error;
  try {
    results = pipeline_.run(pixels, live[0]->kwargs, hooks);
  } catch (...) {
    error = std::current_exception();
  }
  const double compute_s = seconds(Clock::now() - start);
  metrics_.batches++;
  metrics_.batch_size.observe(static_cast<double>(B));
  metrics_.add_seconds(metrics_.encoder_seconds, timings.encoder_s);
  metrics_.add_seconds(metrics_.decoder_seconds,
                       timings.cross_kv_s + timings.decoder_s + timings.search_s);
  metrics_.add_seconds(metrics_.compute_seconds, compute_s);

  if (error && B > 1) {
    // Whatever failed may concern one image only: each gets its own answer.
    for (const auto& job : live) run({job}, /*retry=*/true);
    return;
  }
  uint64_t tokens = 0;
  const size_t per = error ? 0 : results.size() / static_cast<size_t>(B);
  for (size_t b = 0; b < live.size(); ++b) {
    Job& job = *live[b];
    job.compute_s = compute_s;
    job.batch_size = B;
    if (error) {
      job.error = error;
    } else {
      job.results.assign(std::make_move_iterator(results.begin() + b * per),
                         std::make_move_iterator(results.begin() + (b + 1) * per));
      for (const auto& r : job.results) tokens += r.token_logprobs.size();
    }
    metrics_.images++;
    job.finish();
  }
  metrics_.generated_tokens += tokens;
  const double decode_s = timings.decoder_s + timings.search_s;
  if (tokens && decode_s > 0) {
    std::lock_guard<std::mutex> lock(metrics_.mutex);
    metrics_.last_tokens_per_second = static_cast<double>(tokens) / decode_s;
  }
}

}  // namespace ved::server
