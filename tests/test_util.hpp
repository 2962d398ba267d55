#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "ved/detail/file.hpp"
#include "ved/detail/json.hpp"
#include "ved/io/safetensors.hpp"
#include "ved/tensor.hpp"

namespace ved::test {

namespace fs = std::filesystem;

inline std::string read_file(const std::string& path) {
  return detail::read_file(path);
}

template <typename Bytes, typename = std::enable_if_t<!std::is_array_v<Bytes>>>
void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}
inline void write_file(const std::string& path, std::string_view text) {
  write_file<std::string_view>(path, text);
}

// A fresh, empty directory, removed with its contents when the test ends.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("ved_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Writes `bytes` to `name` in this directory and returns its path.
  template <typename Bytes, typename = std::enable_if_t<!std::is_array_v<Bytes>>>
  std::string write(const std::string& name, const Bytes& bytes) const {
    write_file(file(name), bytes);
    return file(name);
  }
  std::string write(const std::string& name, std::string_view text) const {
    write_file(file(name), text);
    return file(name);
  }

 private:
  fs::path path_;
};

// Runs f, expecting an exception of type E; returns its message ("" and a failure otherwise).
template <typename E, typename F>
std::string expect_throw_message(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw the wrong exception type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

inline std::string data_path(const std::string& rel) {
  return std::string(VED_TEST_DATA) + "/" + rel;
}
inline std::string fixture(const std::string& rel) {
  return data_path("fixtures/" + rel);
}

// |a - b| <= atol + rtol * |b| everywhere, -inf exactly where expected has -inf.
inline ::testing::AssertionResult all_close(const float* actual, const float* expected, int64_t n,
                                            double atol = 1e-4, double rtol = 1e-4) {
  int64_t bad = 0, first = -1;
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float a = actual[i], e = expected[i];
    bool ok;
    if (std::isinf(e) || std::isinf(a)) {
      ok = a == e;
    } else {
      const double d = std::fabs(static_cast<double>(a) - e);
      worst = std::max(worst, d);
      ok = d <= atol + rtol * std::fabs(static_cast<double>(e));
    }
    if (!ok && bad++ == 0) first = i;
  }
  if (bad == 0) return ::testing::AssertionSuccess() << "max abs diff " << worst;
  return ::testing::AssertionFailure()
         << bad << " of " << n << " elements differ; first at " << first << ": got "
         << actual[first] << ", expected " << expected[first] << " (max finite abs diff " << worst
         << ")";
}

inline ::testing::AssertionResult all_close(const Tensor<float>& actual,
                                            const Tensor<float>& expected, double atol = 1e-4,
                                            double rtol = 1e-4) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.shape()) << " != expected "
                                         << shape_str(expected.shape());
  return all_close(actual.data(), expected.data(), actual.numel(), atol, rtol);
}

}  // namespace ved::test
