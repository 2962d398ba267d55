#pragma once

// The server's counters, read by GET /metrics in Prometheus' text format (version 0.0.4).

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

namespace ved::server {

// A Prometheus histogram with fixed upper bounds (the last bucket is +Inf).
template <size_t N>
class Histogram {
 public:
  explicit Histogram(const std::array<double, N>& bounds) : bounds_(bounds) {}

  void observe(double v) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < N; ++i)
      if (v <= bounds_[i]) ++counts_[i];
    ++count_;
    sum_ += v;
  }

  void write(std::string& out, const std::string& name, const std::string& help) const {
    std::lock_guard<std::mutex> lock(mutex_);
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    for (size_t i = 0; i < N; ++i)
      out +=
          name + "_bucket{le=\"" + number(bounds_[i]) + "\"} " + std::to_string(counts_[i]) + "\n";
    out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
    out += name + "_sum " + number(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
  }

  static std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
  }

 private:
  std::array<double, N> bounds_;
  std::array<uint64_t, N> counts_{};  // cumulative: observations <= bounds_[i]
  uint64_t count_ = 0;
  double sum_ = 0;
  mutable std::mutex mutex_;
};

struct Metrics {
  // Counted once per answered request, by HTTP status.
  void count_request(int status) {
    std::lock_guard<std::mutex> lock(mutex);
    ++requests_by_status[status];
  }

  // Seconds added with a lock: doubles have no atomic fetch_add before C++20.
  void add_seconds(double& total, double s) {
    std::lock_guard<std::mutex> lock(mutex);
    total += s;
  }

  std::string prometheus() const;

  std::atomic<int64_t> queue_depth{0};  // images waiting for a worker
  std::atomic<int64_t> in_flight{0};    // requests being answered (parsing to last byte)
  std::atomic<uint64_t> images{0};      // images generated for
  std::atomic<uint64_t> generated_tokens{0};
  std::atomic<uint64_t> batches{0};
  Histogram<8> batch_size{{1, 2, 3, 4, 6, 8, 16, 32}};
  Histogram<12> request_seconds{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  Histogram<12> queue_seconds{
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5}};

  mutable std::mutex mutex;
  std::map<int, uint64_t> requests_by_status;
  double encoder_seconds = 0, decoder_seconds = 0, compute_seconds = 0;
  double last_tokens_per_second = 0;
};

inline std::string Metrics::prometheus() const {
  std::string out;
  auto line = [&out](const std::string& name, const char* type, const std::string& help,
                     const std::string& value) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           value + "\n";
  };
  auto num = [](double v) { return Histogram<1>::number(v); };
  {
    std::lock_guard<std::mutex> lock(mutex);
    out += "# HELP ved_requests_total Requests answered, by HTTP status.\n";
    out += "# TYPE ved_requests_total counter\n";
    for (const auto& [status, n] : requests_by_status)
      out += "ved_requests_total{status=\"" + std::to_string(status) + "\"} " + std::to_string(n) +
             "\n";
    line("ved_encoder_seconds_total", "counter", "Time in the vision encoder.",
         num(encoder_seconds));
    line("ved_decoder_seconds_total", "counter",
         "Time in the decoder (cross-attention keys and values, forward passes, token choice).",
         num(decoder_seconds));
    line("ved_compute_seconds_total", "counter", "Time workers spent generating.",
         num(compute_seconds));
    line("ved_tokens_per_second", "gauge", "Tokens per second of decoding in the last batch.",
         num(last_tokens_per_second));
  }
  line("ved_queue_depth", "gauge", "Images waiting for a worker.",
       std::to_string(queue_depth.load()));
  line("ved_requests_in_flight", "gauge", "Requests being answered.",
       std::to_string(in_flight.load()));
  line("ved_images_total", "counter", "Images generated for.", std::to_string(images.load()));
  line("ved_generated_tokens_total", "counter", "Tokens generated (after the prompt).",
       std::to_string(generated_tokens.load()));
  line("ved_batches_total", "counter", "generate() calls made by the workers.",
       std::to_string(batches.load()));
  batch_size.write(out, "ved_batch_size", "Images per generate() call.");
  request_seconds.write(out, "ved_request_duration_seconds",
                        "Time from a request's arrival to its answer.");
  queue_seconds.write(out, "ved_queue_wait_seconds", "Time an image waited for a worker.");
  return out;
}

}  // namespace ved::server
