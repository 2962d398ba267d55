#pragma once

// Shared by the fuzz targets: a scratch file for readers that take paths, and the limits every
// target runs under.
//
// Every target catches ved::Error and nothing else: any other exception (std::bad_alloc,
// std::out_of_range, nlohmann's exceptions...) escapes to libFuzzer and is reported as a crash,
// because ved promises that every failure is a ved::Error.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "ved/error.hpp"
#include "ved/limits.hpp"

namespace ved_fuzz {

// A directory private to this process, in /dev/shm when there is one (no disk writes for the
// millions of inputs a run goes through).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec)
                                     ? "/dev/shm"
                                     : std::filesystem::temp_directory_path();
    std::filesystem::path d = base / ("ved_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline void write_bytes(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the harness itself is broken, not ved
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Tighter caps than the defaults: every input must finish in milliseconds and stay far below
// libFuzzer's 2 GB RSS limit, yet the limit checks themselves are still exercised (an input that
// exceeds one must be a ved::Error like any other).
inline void set_fuzz_limits() {
  ved::Limits l;
  l.max_image_pixels = int64_t(1) << 22;
  l.max_text_file_bytes = uint64_t(1) << 24;
  l.max_total_weight_bytes = uint64_t(1) << 28;
  l.max_header_bytes = uint64_t(1) << 20;
  ved::set_limits(l);
}

// Reads every element, so that ASan sees any out-of-bounds view and UBSan any bad conversion.
template <typename T>
inline void consume(const T* p, int64_t n) {
  volatile T sink{};
  for (int64_t i = 0; i < n; ++i) sink = p[i];
  (void)sink;
}

}  // namespace ved_fuzz
