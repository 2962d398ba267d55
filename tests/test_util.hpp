#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "ved/detail/json.hpp"
#include "ved/io/safetensors.hpp"
#include "ved/tensor.hpp"

namespace ved::test {

inline std::string data_path(const std::string& rel) { return std::string(VED_TEST_DATA) + "/" + rel; }
inline std::string fixture(const std::string& rel) { return data_path("fixtures/" + rel); }

// |a - b| <= atol + rtol * |b| everywhere, -inf exactly where expected has -inf.
inline ::testing::AssertionResult all_close(const float* actual, const float* expected, int64_t n, double atol = 1e-4,
                                            double rtol = 1e-4) {
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
  return ::testing::AssertionFailure() << bad << " of " << n << " elements differ; first at " << first << ": got "
                                       << actual[first] << ", expected " << expected[first] << " (max finite abs diff "
                                       << worst << ")";
}

inline ::testing::AssertionResult all_close(const Tensor<float>& actual, const Tensor<float>& expected, double atol = 1e-4,
                                            double rtol = 1e-4) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.shape()) << " != expected "
                                         << shape_str(expected.shape());
  return all_close(actual.data(), expected.data(), actual.numel(), atol, rtol);
}

}  // namespace ved::test
