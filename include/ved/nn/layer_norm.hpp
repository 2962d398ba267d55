#pragma once

#include <cmath>

#include "ved/detail/parallel.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

// nn.LayerNorm over the last dimension.
struct LayerNorm {
  Tensor<float> weight, bias;  // [dim]
  float eps = 1e-5f;

  static LayerNorm load(const WeightLoader& w, int64_t dim, double eps) {
    return LayerNorm{w.get("weight", {dim}), w.get("bias", {dim}), static_cast<float>(eps)};
  }

  Tensor<float> forward(const Tensor<float>& x) const {
    const int64_t d = weight.numel();
    if (x.dim(-1) != d)
      throw InvalidArgument("LayerNorm: input has " + std::to_string(x.dim(-1)) +
                            " features, expected " + std::to_string(d));
    Tensor<float> y(x.shape());
    const int64_t rows = x.numel() / d;
    const float* in = x.data();
    float* out = y.data();
    const float* g = weight.data();
    const float* b = bias.data();
    parallel_for(0, rows, 64, [&](int64_t r) {
      const float* xr = in + r * d;
      float* yr = out + r * d;
      // Two passes in double: the mean-subtracted variance keeps 1e-12 eps meaningful.
      double mean = 0.0;
      for (int64_t i = 0; i < d; ++i) mean += xr[i];
      mean /= static_cast<double>(d);
      double var = 0.0;
      for (int64_t i = 0; i < d; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= static_cast<double>(d);
      const double inv = 1.0 / std::sqrt(var + static_cast<double>(eps));
      for (int64_t i = 0; i < d; ++i)
        yr[i] = static_cast<float>((xr[i] - mean) * inv) * g[i] + b[i];
    });
    return y;
  }
};

}  // namespace ved::nn
