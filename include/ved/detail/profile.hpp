#pragma once

// Optional per-stage wall-clock timing of a generate() call. A caller that wants it passes a
// GenerateTimings; otherwise every timer is a null check and reads no clock.

#include <chrono>
#include <cstdint>

namespace ved {

// Seconds spent in each stage of one generate() call (totals over its decoding steps).
struct GenerateTimings {
  double encoder_s = 0.0;   // the vision encoder
  double cross_kv_s = 0.0;  // enc_to_dec_proj and every layer's cross-attention keys/values
  double decoder_s = 0.0;   // the decoder's forward passes, logits included
  double search_s = 0.0;    // everything else: logits processors, token choice, beam bookkeeping
  double total_s = 0.0;
  int64_t decoder_steps = 0;  // forward passes of the decoder
};

namespace detail {

// Adds the lifetime of the scope to *sink, when sink is not null.
class ScopedTimer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ScopedTimer(double* sink) : sink_(sink) {
    if (sink_) start_ = Clock::now();
  }
  ~ScopedTimer() {
    if (sink_) *sink_ += std::chrono::duration<double>(Clock::now() - start_).count();
  }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  double* sink_;
  Clock::time_point start_;
};

// f(), its time added to timings->*stage when timings is not null.
template <typename F>
auto timed(GenerateTimings* timings, double GenerateTimings::*stage, F&& f) {
  const ScopedTimer timer(timings ? &(timings->*stage) : nullptr);
  return f();
}

}  // namespace detail
}  // namespace ved
