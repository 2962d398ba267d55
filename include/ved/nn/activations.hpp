#pragma once

// The activation functions of transformers' ACT2FN (activations.py), by the same names and with
// the same float32 formulas: each one is written in the operation order PyTorch evaluates it
// (e.g. gelu_new cubes x before scaling it, quick_gelu multiplies by a sigmoid instead of
// dividing), so results agree with transformers to the last bit or two of float32.

#include <algorithm>
#include <cmath>
#include <string>

#include "ved/detail/parallel.hpp"
#include "ved/error.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

enum class Activation {
  Gelu,        // "gelu": exact erf GELU (nn.functional.gelu)
  GeluNew,     // "gelu_new", "gelu_accurate": tanh approximation (GPT-2, BERT-TF)
  GeluFast,    // "gelu_fast": tanh approximation with a truncated constant
  QuickGelu,   // "quick_gelu": x * sigmoid(1.702 x)
  Relu,        // "relu"
  Silu,        // "silu", "swish": x * sigmoid(x)
  Tanh,        // "tanh"
  GeluPython,  // "gelu_python": erf GELU written as x / sqrt(2)
  GeluTanh,    // "gelu_pytorch_tanh": nn.functional.gelu(approximate="tanh")
  Gelu10,      // "gelu_10": erf GELU clipped to [-10, 10]
  Laplace,     // "laplace"
  LeakyRelu,   // "leaky_relu": nn.LeakyReLU() (negative_slope 0.01)
  Linear,      // "linear": identity
  Mish,        // "mish": x * tanh(softplus(x))
  Relu2,       // "relu2": relu(x)^2
  Relu6,       // "relu6": min(max(x, 0), 6)
  Sigmoid,     // "sigmoid"
};

// ACT2FN's lookup. `where` names the config field for the error message
// ("config.json: encoder: hidden_act").
inline Activation activation_from_name(const std::string& name, const std::string& where) {
  static const std::pair<const char*, Activation> table[] = {
      {"gelu", Activation::Gelu},
      {"gelu_10", Activation::Gelu10},
      {"gelu_fast", Activation::GeluFast},
      {"gelu_new", Activation::GeluNew},
      {"gelu_python", Activation::GeluPython},
      {"gelu_pytorch_tanh", Activation::GeluTanh},
      {"gelu_accurate", Activation::GeluNew},
      {"laplace", Activation::Laplace},
      {"leaky_relu", Activation::LeakyRelu},
      {"linear", Activation::Linear},
      {"mish", Activation::Mish},
      {"quick_gelu", Activation::QuickGelu},
      {"relu", Activation::Relu},
      {"relu2", Activation::Relu2},
      {"relu6", Activation::Relu6},
      {"sigmoid", Activation::Sigmoid},
      {"silu", Activation::Silu},
      {"swish", Activation::Silu},
      {"tanh", Activation::Tanh},
  };
  std::string known;
  for (const auto& [n, a] : table) {
    if (name == n) return a;
    known += (known.empty() ? "" : ", ") + std::string(n);
  }
  throw ConfigError(where + ": unsupported activation '" + name + "' (transformers' ACT2FN has " +
                    known + ")");
}

// x · 0.5 · (1 + erf(x / √2)) in place over n values (nn.functional.gelu), with the kernels
// chosen for this CPU (src/kernels/dispatch.cpp): a rational erf within a couple of ulp of
// std::erf, computed alike wherever a value sits in the array.
void gelu_erf(float* p, int64_t n);

// x · 0.5 · (1 + tanh(√(2/π) · (x + 0.044715 · x³))) in place over n values, in the order
// PyTorch evaluates gelu_new and gelu_pytorch_tanh (x³ as (x · x) · x; their two spellings of
// √(2/π) round to the same float), with the kernels chosen for this CPU: a vector tanh within
// 1.5 ulp of std::tanh, computed alike wherever a value sits in the array.
void gelu_tanh(float* p, int64_t n);

}  // namespace ved::nn

namespace ved::detail {

inline float act_sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

// The kernels that activate_range runs, so a value is the same bits alone or in a tensor.
inline float act_gelu_erf(float x) {
  nn::gelu_erf(&x, 1);
  return x;
}

inline float act_gelu_tanh(float x) {
  nn::gelu_tanh(&x, 1);
  return x;
}

template <nn::Activation A>
inline float activate_one(float x) {
  if constexpr (A == nn::Activation::Gelu) {
    return act_gelu_erf(x);
  } else if constexpr (A == nn::Activation::GeluNew || A == nn::Activation::GeluTanh) {
    // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))); torch.pow(x, 3) is (x*x)*x.
    return act_gelu_tanh(x);
  } else if constexpr (A == nn::Activation::GeluFast) {
    // 0.5 * x * (1 + tanh(x * 0.7978845608 * (1 + 0.044715 * x * x))), left to right.
    return 0.5f * x * (1.0f + std::tanh(x * 0.7978845608f * (1.0f + 0.044715f * x * x)));
  } else if constexpr (A == nn::Activation::QuickGelu) {
    return x * act_sigmoid(1.702f * x);
  } else if constexpr (A == nn::Activation::Relu) {
    return x > 0.0f ? x : 0.0f;
  } else if constexpr (A == nn::Activation::Silu) {
    // PyTorch's silu kernel divides: x / (1 + exp(-x)).
    return x / (1.0f + std::exp(-x));
  } else if constexpr (A == nn::Activation::Tanh) {
    return std::tanh(x);
  } else if constexpr (A == nn::Activation::GeluPython) {
    return x * 0.5f * (1.0f + std::erf(x / static_cast<float>(std::sqrt(2.0))));
  } else if constexpr (A == nn::Activation::Gelu10) {
    return std::min(std::max(act_gelu_erf(x), -10.0f), 10.0f);
  } else if constexpr (A == nn::Activation::Laplace) {
    // (x - mu).div(sigma * sqrt(2)) with mu = 0.707107, sigma = 0.282095; the divisor is a
    // Python float product rounded once to float32.
    const float z = (x - 0.707107f) / static_cast<float>(0.282095 * std::sqrt(2.0));
    return 0.5f * (1.0f + std::erf(z));
  } else if constexpr (A == nn::Activation::LeakyRelu) {
    return x > 0.0f ? x : x * 0.01f;
  } else if constexpr (A == nn::Activation::Linear) {
    return x;
  } else if constexpr (A == nn::Activation::Mish) {
    return x * std::tanh(std::log1p(std::exp(x)));
  } else if constexpr (A == nn::Activation::Relu2) {
    const float r = x > 0.0f ? x : 0.0f;
    return r * r;
  } else if constexpr (A == nn::Activation::Relu6) {
    return std::min(std::max(x, 0.0f), 6.0f);
  } else {
    static_assert(A == nn::Activation::Sigmoid, "unhandled activation");
    return act_sigmoid(x);
  }
}

// n values in place on the calling thread: the encoders' and GPT-2's GELUs on the vector
// kernels, the others a value at a time.
template <nn::Activation A>
void activate_span(float* p, int64_t n) {
  if constexpr (A == nn::Activation::Gelu) {
    nn::gelu_erf(p, n);
  } else if constexpr (A == nn::Activation::GeluNew || A == nn::Activation::GeluTanh) {
    nn::gelu_tanh(p, n);
  } else {
    for (int64_t i = 0; i < n; ++i) p[i] = activate_one<A>(p[i]);
  }
}

}  // namespace ved::detail

namespace ved::nn {

// The activation as a product's epilogue runs it (nn::Epilogue::activate): in place over a run
// of values, on the calling thread. nullptr for "linear", which changes nothing.
inline void (*activation_span(Activation a))(float*, int64_t) {
  switch (a) {
#define VED_ACT_CASE(A) \
  case Activation::A:   \
    return detail::activate_span<Activation::A>;
    VED_ACT_CASE(Gelu)
    VED_ACT_CASE(GeluNew)
    VED_ACT_CASE(GeluFast)
    VED_ACT_CASE(QuickGelu)
    VED_ACT_CASE(Relu)
    VED_ACT_CASE(Silu)
    VED_ACT_CASE(Tanh)
    VED_ACT_CASE(GeluPython)
    VED_ACT_CASE(GeluTanh)
    VED_ACT_CASE(Gelu10)
    VED_ACT_CASE(Laplace)
    VED_ACT_CASE(LeakyRelu)
    VED_ACT_CASE(Mish)
    VED_ACT_CASE(Relu2)
    VED_ACT_CASE(Relu6)
    VED_ACT_CASE(Sigmoid)
#undef VED_ACT_CASE
    case Activation::Linear:
      return nullptr;
  }
  return nullptr;
}

// One value; for tests and scalar code.
inline float activate(Activation a, float x) {
  if (const auto span = activation_span(a)) span(&x, 1);
  return x;
}

// Over a whole tensor in place, in blocks shared among the threads (a product's epilogue, where
// one precedes it, saves this pass).
inline void activate_inplace(Activation a, Tensor<float>& t) {
  const auto span = activation_span(a);
  if (!span) return;
  float* p = t.data();
  const int64_t n = t.numel();
  constexpr int64_t kBlock = 4096;
  parallel_for(0, (n + kBlock - 1) / kBlock, 1,
               [&](int64_t b) { span(p + b * kBlock, std::min(kBlock, n - b * kBlock)); });
}

}  // namespace ved::nn
