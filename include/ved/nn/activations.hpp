#pragma once

#include <cmath>
#include <string>

#include "ved/detail/parallel.hpp"
#include "ved/error.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

// The activations transformers' ACT2FN maps config strings to, by the same names.
enum class Activation { Gelu, GeluNew, GeluFast, QuickGelu, Relu, Silu, Tanh };

inline Activation activation_from_name(const std::string& name, const std::string& where) {
  if (name == "gelu" || name == "gelu_python") return Activation::Gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::GeluNew;
  if (name == "gelu_fast") return Activation::GeluFast;
  if (name == "quick_gelu") return Activation::QuickGelu;
  if (name == "relu") return Activation::Relu;
  if (name == "silu" || name == "swish") return Activation::Silu;
  if (name == "tanh") return Activation::Tanh;
  throw ConfigError(where + ": unsupported activation '" + name + "'");
}

inline float activate(Activation a, float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  switch (a) {
    case Activation::Gelu:
      return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
    case Activation::GeluNew:
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    case Activation::GeluFast:
      return 0.5f * x * (1.0f + std::tanh(x * kSqrt2OverPi * (1.0f + 0.044715f * x * x)));
    case Activation::QuickGelu:
      return x / (1.0f + std::exp(-1.702f * x));
    case Activation::Relu:
      return x > 0.0f ? x : 0.0f;
    case Activation::Silu:
      return x / (1.0f + std::exp(-x));
    case Activation::Tanh:
      return std::tanh(x);
  }
  return x;
}

inline void activate_inplace(Activation a, Tensor<float>& t) {
  float* p = t.data();
  parallel_for(0, t.numel(), 1 << 14, [&](int64_t i) { p[i] = activate(a, p[i]); });
}

}  // namespace ved::nn
