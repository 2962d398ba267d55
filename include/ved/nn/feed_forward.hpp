#pragma once

// The pre-LN MLP half of a transformer block, x + scale ⊙ output(act(intermediate(LN(x)))),
// shared by the vision encoders (ViT/DeiT/BEiT layernorm_after + intermediate + output, Swin the
// same per block). Rows go through in chunks, so the [rows, intermediate] activation never
// exists whole: at Donut's first stage that would be 307200 tokens × 512 floats.

#include <algorithm>

#include "ved/nn/activations.hpp"
#include "ved/nn/layer_norm.hpp"
#include "ved/nn/linear.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

struct FeedForward {
  Linear intermediate;  // *.intermediate.dense [inner, dim]
  Linear output;        // *.output.dense [dim, inner]
  Activation act = Activation::Gelu;

  static FeedForward load(const WeightLoader& intermediate_dense, const WeightLoader& output_dense,
                          int64_t dim, int64_t inner, Activation act) {
    return FeedForward{Linear::load(intermediate_dense, dim, inner),
                       Linear::load(output_dense, inner, dim), act};
  }
};

// x + layer_scale ⊙ ffn(norm(x)) for x [..., dim] into `out` (x.numel() floats, which may be
// x's own storage: each chunk of rows is read whole before it is written); `layer_scale` [dim]
// may be empty (no scale: BEiT's lambda_2 is the only user). Chunks of 2048 rows keep the
// [rows, inner] activations a few MB to 32 MB (Donut's third stage at 2560 x 1920 made 67 MB
// ones with 8192, mapped and faulted in afresh each block).
inline void residual_feed_forward(const Tensor<float>& x, const LayerNorm& norm,
                                  const FeedForward& ffn, const Tensor<float>& layer_scale,
                                  float* out, int64_t chunk_rows = 2048) {
  const int64_t dim = x.dim(-1), rows = x.numel() / dim;
  const Tensor<float> flat = x.reshape({rows, dim});
  Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> om(out, rows,
                                                                                       dim);
  const Eigen::Map<const Eigen::Array<float, 1, Eigen::Dynamic>> scale(layer_scale.data(), dim);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
    const int64_t r1 = std::min(rows, r0 + chunk_rows);
    const Tensor<float> xs = flat.slice(r0, r1);
    const Tensor<float> h = ffn.intermediate.forward(norm.forward(xs), ffn.act);
    if (layer_scale.empty() && out != x.data()) {
      // The residual added by the product's epilogue, straight into `out`.
      ffn.output.forward(h.data(), r1 - r0, out + r0 * dim, Activation::Linear, xs.data());
    } else if (layer_scale.empty()) {
      // In place: the product would overwrite the residual before its epilogue read it.
      const Tensor<float> y = ffn.output.forward_residual(h, xs);
      std::copy(y.begin(), y.end(), out + r0 * dim);
    } else {
      Tensor<float> y = ffn.output.forward(h);
      auto ym = y.matrix();
      ym.array().rowwise() *= scale;
      om.middleRows(r0, r1 - r0) = ym + xs.matrix();
    }
  }
}

inline Tensor<float> residual_feed_forward(const Tensor<float>& x, const LayerNorm& norm,
                                           const FeedForward& ffn,
                                           const Tensor<float>& layer_scale = {}) {
  Tensor<float> out = Tensor<float>::uninitialized(x.shape());
  residual_feed_forward(x, norm, ffn, layer_scale, out.data());
  return out;
}

}  // namespace ved::nn
