#pragma once

#include "ved/detail/parallel.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

// One row: y = (x - mean) / sqrt(var + eps) · weight + bias over d features, with the kernels
// chosen for this CPU (src/kernels/dispatch.cpp). Mean and variance are summed in double, so a
// 1e-12 eps stays meaningful.
void layer_norm_row(const float* x, float* y, int64_t d, const float* weight, const float* bias,
                    float eps);

// nn.LayerNorm over the last dimension.
struct LayerNorm {
  Tensor<float> weight, bias;  // [dim]
  float eps = 1e-5f;

  static LayerNorm load(const WeightLoader& w, int64_t dim, double eps) {
    return LayerNorm{w.get("weight", {dim}), w.get("bias", {dim}), static_cast<float>(eps)};
  }

  // One row of `dim` features, x -> y.
  void forward_row(const float* x, float* y) const {
    layer_norm_row(x, y, weight.numel(), weight.data(), bias.data(), eps);
  }

  Tensor<float> forward(const Tensor<float>& x) const {
    const int64_t d = weight.numel();
    if (x.dim(-1) != d)
      throw InvalidArgument("LayerNorm: input has " + std::to_string(x.dim(-1)) +
                            " features, expected " + std::to_string(d));
    Tensor<float> y = Tensor<float>::uninitialized(x.shape());
    const int64_t rows = x.numel() / d;
    const float* in = x.data();
    float* out = y.data();
    const float* g = weight.data();
    const float* b = bias.data();
    parallel_for(0, rows, 64,
                 [&](int64_t r) { layer_norm_row(in + r * d, out + r * d, d, g, b, eps); });
    return y;
  }
};

}  // namespace ved::nn
