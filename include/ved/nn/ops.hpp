#pragma once

#include <vector>

#include "ved/tensor.hpp"

namespace ved::nn {

// Splits the last dimension into `parts` equal tensors (a packed qkv projection -> q, k, v).
inline std::vector<Tensor<float>> split_last(const Tensor<float>& x, int64_t parts) {
  const int64_t n = x.dim(-1) / parts;
  Shape shape = x.shape();
  shape.back() = n;
  std::vector<Tensor<float>> out;
  for (int64_t p = 0; p < parts; ++p) {
    Tensor<float> t(shape);
    t.matrix() = x.matrix().middleCols(p * n, n);
    out.push_back(std::move(t));
  }
  return out;
}

// x += y, elementwise (residual connections).
inline void add_inplace(Tensor<float>& x, const Tensor<float>& y) {
  x.matrix() += y.matrix();
}

// Rows of an embedding table [num, dim] for ids [B, T] -> [B, T, dim]. Ids are checked: a bad id
// in user input must be an error, not an out-of-bounds read.
inline Tensor<float> embedding(const Tensor<float>& table, const Tensor<int64_t>& ids,
                               const char* what) {
  const int64_t num = table.dim(0), dim = table.dim(1);
  Shape shape = ids.shape();
  shape.push_back(dim);
  Tensor<float> out(shape);
  for (int64_t i = 0; i < ids.numel(); ++i) {
    const int64_t id = ids.data()[i];
    if (id < 0 || id >= num)
      throw InvalidArgument(std::string(what) + ": id " + std::to_string(id) +
                            " is out of range [0, " + std::to_string(num) + ")");
    std::copy(table.data() + id * dim, table.data() + (id + 1) * dim, out.data() + i * dim);
  }
  return out;
}

// Position t of a sequence of rows [B, T, ...] -> [B, 1, ...] (the last position's hidden state).
inline Tensor<float> take_position(const Tensor<float>& x, int64_t t) {
  const int64_t B = x.dim(0), T = x.dim(1), D = x.dim(2);
  Tensor<float> out({B, 1, D});
  for (int64_t b = 0; b < B; ++b)
    std::copy(x.data() + (b * T + t) * D, x.data() + (b * T + t + 1) * D, out.data() + b * D);
  return out;
}

}  // namespace ved::nn
