#pragma once

// Resource limits for untrusted input.
//
// ved opens files from strangers (uploaded images, checkpoints downloaded from a hub). Every
// reader checks what a file declares -- image dimensions, header lengths, file sizes, weight
// bytes, nesting depth, generation lengths -- against these caps *before* allocating, so a tiny
// hostile file is a ved::Error naming the limit, the value and the file, never a multi-gigabyte
// allocation, a stack overflow or a hang.
//
// The limits are process-wide rather than a parameter of every API: files are reached through
// long chains (from_pretrained -> config -> weights -> shards, Tokenizer::from_pretrained ->
// vocab/merges/tokenizer.json) whose signatures would all have to carry them, and a product
// sets its policy once at start-up. set_limits() may be called at any time from any thread; a
// reader takes one consistent snapshot (limits()) when it starts.
//
// The defaults are far above every real checkpoint and image ved targets (the largest Donut /
// Nougat checkpoints, 16k x 16k scans) and far below what would exhaust a server.

#include <cstdint>
#include <mutex>
#include <string>

namespace ved {

struct Limits {
  // Decoded image pixels (width * height): 2^28, e.g. 16384 x 16384. An RGB image of this size
  // takes 768 MiB; checked against the header before any pixel memory is allocated.
  int64_t max_image_pixels = int64_t(1) << 28;
  // Either side of an image, in pixels (the largest PNG/JPEG side stb_image supports).
  int64_t max_image_side = 65535;
  // The JSON header of a safetensors file (the reference implementation's cap: 100 MiB).
  uint64_t max_header_bytes = uint64_t(100) << 20;
  // A text file read whole: config.json, generation_config.json, preprocessor_config.json,
  // tokenizer files (tokenizer.json of the largest multilingual models is ~20 MB).
  uint64_t max_text_file_bytes = uint64_t(1) << 30;
  // Nesting of JSON arrays and objects. Real configs nest at most ~6 deep; the cap keeps
  // recursive copies and comparisons of a parsed document off a stack overflow.
  int64_t max_json_depth = 256;
  // generate()'s max_length / max_new_tokens: the decoder's KV cache grows with each token.
  int64_t max_sequence_length = 16384;
  // generate()'s num_beams: each beam keeps its own KV cache.
  int64_t max_num_beams = 256;
  // generate()'s num_return_sequences when sampling (with beams it is at most num_beams): each
  // sequence is a row of the decoder's batch, with its own KV cache.
  int64_t max_num_return_sequences = 8192;
  // Total bytes of the weight files of one checkpoint (all shards together).
  uint64_t max_total_weight_bytes = uint64_t(64) << 30;
};

namespace detail {

struct LimitsStore {
  std::mutex mutex;
  Limits value;
};

inline LimitsStore& limits_store() {
  static LimitsStore store;
  return store;
}

}  // namespace detail

// The limits in force (a copy: readers keep one snapshot for a whole file).
inline Limits limits() {
  auto& s = detail::limits_store();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.value;
}

// Replaces the process-wide limits. Affects files opened afterwards.
inline void set_limits(const Limits& l) {
  auto& s = detail::limits_store();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.value = l;
}

// Sets limits for the lifetime of the object and restores the previous ones (tests, fuzzers, a
// request handler that tightens the caps for one job).
class ScopedLimits {
 public:
  explicit ScopedLimits(const Limits& l) : saved_(limits()) { set_limits(l); }
  ~ScopedLimits() { set_limits(saved_); }
  ScopedLimits(const ScopedLimits&) = delete;
  ScopedLimits& operator=(const ScopedLimits&) = delete;

 private:
  Limits saved_;
};

namespace detail {

// "<what> <value> exceeds the limit <name> = <limit>" for every limit message, so that a user
// can find the field to change.
inline std::string limit_message(const std::string& what, uint64_t value, const char* name,
                                 uint64_t limit) {
  return what + " " + std::to_string(value) + " exceeds the limit ved::Limits::" + name + " = " +
         std::to_string(limit);
}

}  // namespace detail
}  // namespace ved
