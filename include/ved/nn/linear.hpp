#pragma once

#include "ved/io/checkpoint.hpp"
#include "ved/nn/activations.hpp"
#include "ved/nn/matmul.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

// y = x Wᵀ + b over the last dimension, W [out_features, in_features] as nn.Linear stores it,
// kept in the loader's linear_weight_type().
class Linear {
 public:
  Linear() = default;
  Linear(WeightMatrix weight, Tensor<float> bias) : weight_(std::move(weight)), bias_(bias) {
    if (!bias_.empty() && bias_.numel() != weight_.rows())
      throw InvalidArgument("Linear: bias has " + std::to_string(bias_.numel()) + " entries for " +
                            std::to_string(weight_.rows()) + " outputs");
  }

  static Linear load(const WeightLoader& w, int64_t in, int64_t out, bool has_bias = true) {
    return Linear(WeightMatrix(w.get("weight", {out, in})),
                  has_bias ? w.get("bias", {out}) : Tensor<float>())
        .converted(w.linear_weight_type(), w.full_name("weight"));
  }

  // GPT-2's Conv1D stores W as [in, out]; the kernels read that layout in place.
  static Linear load_conv1d(const WeightLoader& w, int64_t in, int64_t out) {
    return Linear(WeightMatrix(w.get("weight", {in, out}), /*transposed=*/true),
                  w.get("bias", {out}))
        .converted(w.linear_weight_type(), w.full_name("weight"));
  }

  // Several layers over the same input as one, so that e.g. q, k and v come out of a single
  // product as [.., q | k | v]. A part without bias contributes zeros, which add nothing.
  static Linear stack(const std::vector<Linear>& parts) {
    std::vector<const WeightMatrix*> weights;
    int64_t out = 0;
    for (const auto& p : parts) {
      weights.push_back(&p.weight_);
      out += p.out_features();
    }
    Tensor<float> bias({out});
    int64_t row = 0;
    for (const auto& p : parts) {
      if (!p.bias_.empty()) std::copy(p.bias_.begin(), p.bias_.end(), bias.data() + row);
      row += p.out_features();
    }
    return Linear(WeightMatrix::stack(weights), bias);
  }

  Linear converted(WeightType type, const std::string& what) const {
    return Linear(weight_.converted(type, what), bias_);
  }

  int64_t in_features() const { return weight_.cols(); }
  int64_t out_features() const { return weight_.rows(); }
  const WeightMatrix& weight() const { return weight_; }
  const Tensor<float>& bias() const { return bias_; }

  // y = act(x Wᵀ + b), the bias and activation run by the product's epilogue.
  Tensor<float> forward(const Tensor<float>& x, Activation act = Activation::Linear) const {
    Tensor<float> y = output_for(x);
    forward(x.data(), x.numel() / in_features(), y.data(), act);
    return y;
  }

  // y = x Wᵀ + b + residual (a residual connection; residual shaped as y), added by the epilogue.
  Tensor<float> forward_residual(const Tensor<float>& x, const Tensor<float>& residual) const {
    Tensor<float> y = output_for(x);
    if (residual.shape() != y.shape())
      throw InvalidArgument("Linear: residual has shape " + shape_str(residual.shape()) +
                            ", the output " + shape_str(y.shape()));
    forward(x.data(), x.numel() / in_features(), y.data(), Activation::Linear, residual.data());
    return y;
  }

  // y [rows, out] = act(x [rows, in] Wᵀ + b) + residual [rows, out] (if given; it must not
  // overlap y), into memory the caller owns.
  void forward(const float* x, int64_t rows, float* y, Activation act = Activation::Linear,
               const float* residual = nullptr) const {
    weight_.multiply(x, rows, y,
                     {bias_.empty() ? nullptr : bias_.data(), activation_span(act), residual});
  }

 private:
  Tensor<float> output_for(const Tensor<float>& x) const {
    if (x.ndim() == 0 || x.dim(-1) != in_features())
      throw InvalidArgument("Linear: input has " +
                            std::to_string(x.ndim() ? x.dim(-1) : int64_t{0}) +
                            " features, expected " + std::to_string(in_features()));
    Shape shape = x.shape();
    shape.back() = out_features();
    return Tensor<float>::uninitialized(std::move(shape));
  }

  WeightMatrix weight_;
  Tensor<float> bias_;  // [out], empty when the layer has none
};

}  // namespace ved::nn
