#pragma once

#include "ved/io/checkpoint.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

// y = x Wᵀ + b over the last dimension, W stored [out_features, in_features] as nn.Linear does.
struct Linear {
  Tensor<float> weight;  // [out, in]
  Tensor<float> bias;    // [out], empty when the layer has none

  static Linear load(const WeightLoader& w, int64_t in, int64_t out, bool has_bias = true) {
    Linear l;
    l.weight = w.get("weight", {out, in});
    if (has_bias) l.bias = w.get("bias", {out});
    return l;
  }

  // GPT-2's Conv1D stores W as [in, out]; it is transposed once here so one kernel serves both.
  static Linear load_conv1d(const WeightLoader& w, int64_t in, int64_t out) {
    Linear l;
    const Tensor<float> stored = w.get("weight", {in, out});
    l.weight = Tensor<float>({out, in});
    l.weight.matrix() = stored.matrix().transpose();
    l.bias = w.get("bias", {out});
    return l;
  }

  int64_t in_features() const { return weight.dim(1); }
  int64_t out_features() const { return weight.dim(0); }

  Tensor<float> forward(const Tensor<float>& x) const {
    if (x.dim(-1) != in_features())
      throw InvalidArgument("Linear: input has " + std::to_string(x.dim(-1)) +
                            " features, expected " + std::to_string(in_features()));
    Shape shape = x.shape();
    shape.back() = out_features();
    Tensor<float> y(shape);
    auto ym = y.matrix();
    ym.noalias() = x.matrix() * weight.matrix().transpose();
    if (!bias.empty())
      ym.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias.data(), out_features());
    return y;
  }
};

}  // namespace ved::nn
