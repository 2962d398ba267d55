// Every activation of transformers' ACT2FN against its definition in activations.py, evaluated
// here in double precision from the formula.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "ved/nn/activations.hpp"

namespace ved {
namespace {

using nn::Activation;

struct Case {
  const char* name;
  std::function<double(double)> reference;
};

const double kPi = std::acos(-1.0);

double gelu(double x) {
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}
double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// activations.py, one formula per ACT2FN key.
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"gelu", gelu},
      {"gelu_python", gelu},
      {"gelu_10", [](double x) { return std::min(std::max(gelu(x), -10.0), 10.0); }},
      {"gelu_new",
       [](double x) {
         return 0.5 * x *
                (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (x + 0.044715 * std::pow(x, 3.0))));
       }},
      {"gelu_accurate",
       [](double x) {
         return 0.5 * x * (1 + std::tanh(std::sqrt(2 / kPi) * (x + 0.044715 * std::pow(x, 3))));
       }},
      {"gelu_pytorch_tanh",
       [](double x) {
         return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (x + 0.044715 * x * x * x)));
       }},
      {"gelu_fast",
       [](double x) {
         return 0.5 * x * (1.0 + std::tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)));
       }},
      {"quick_gelu", [](double x) { return x * sigmoid(1.702 * x); }},
      {"relu", [](double x) { return std::max(x, 0.0); }},
      {"relu2", [](double x) { return std::max(x, 0.0) * std::max(x, 0.0); }},
      {"relu6", [](double x) { return std::min(std::max(x, 0.0), 6.0); }},
      {"leaky_relu", [](double x) { return x > 0 ? x : 0.01 * x; }},
      {"silu", [](double x) { return x * sigmoid(x); }},
      {"swish", [](double x) { return x * sigmoid(x); }},
      {"sigmoid", sigmoid},
      {"tanh", [](double x) { return std::tanh(x); }},
      {"linear", [](double x) { return x; }},
      {"mish", [](double x) { return x * std::tanh(std::log1p(std::exp(x))); }},
      {"laplace",
       [](double x) {
         return 0.5 * (1.0 + std::erf((x - 0.707107) / (0.282095 * std::sqrt(2.0))));
       }},
  };
  return c;
}

std::vector<float> inputs() {
  std::vector<float> xs = {0.0f, -0.0f, 1e-7f, -1e-7f, 0.5f, -0.5f, 1.0f, -1.0f, 12.0f, -12.0f};
  for (int i = -800; i <= 800; ++i) xs.push_back(static_cast<float>(i) * 0.01f);
  return xs;
}

TEST(Activations, MatchTransformersFormulas) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    const Activation a = nn::activation_from_name(c.name, "test");
    double worst = 0;
    for (float x : inputs()) {
      const double want = c.reference(static_cast<double>(x));
      const double got = nn::activate(a, x);
      // A handful of float32 roundings; where 1 + erf / 1 + tanh cancels (large negative x), the
      // float formula loses relative accuracy exactly as PyTorch's does, hence the absolute term.
      EXPECT_NEAR(got, want, 1e-6 + 2e-6 * std::fabs(want)) << "x = " << x;
      worst = std::max(worst, std::fabs(got - want));
    }
    RecordProperty(c.name, std::to_string(worst));
  }
}

// The approximations really are different functions: mapping one name to another's formula
// would go unnoticed by a loose comparison but not by this one.
TEST(Activations, GeluVariantsAreDistinct) {
  const float x = 1.5f;
  const float erf_gelu = nn::activate(Activation::Gelu, x);
  const float tanh_gelu = nn::activate(Activation::GeluNew, x);
  const float quick = nn::activate(Activation::QuickGelu, x);
  EXPECT_GT(std::fabs(erf_gelu - tanh_gelu), 1e-5f);
  EXPECT_GT(std::fabs(erf_gelu - quick), 1e-3f);
  EXPECT_EQ(nn::activation_from_name("gelu_accurate", "t"), Activation::GeluNew);
  EXPECT_EQ(nn::activation_from_name("swish", "t"), Activation::Silu);
}

TEST(Activations, InplaceMatchesScalar) {
  const std::vector<float> xs = inputs();
  for (const auto& c : cases()) {
    const Activation a = nn::activation_from_name(c.name, "test");
    Tensor<float> t = Tensor<float>::from_vector({static_cast<int64_t>(xs.size())}, xs);
    nn::activate_inplace(a, t);
    for (size_t i = 0; i < xs.size(); ++i)
      ASSERT_EQ(t.data()[i], nn::activate(a, xs[i])) << c.name << " x = " << xs[i];
  }
}

TEST(Activations, UnknownNameIsAConfigErrorNamingTheField) {
  try {
    nn::activation_from_name("gelu_fancy", "config.json: encoder: hidden_act");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("hidden_act"), std::string::npos) << what;
    EXPECT_NE(what.find("gelu_fancy"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ved
