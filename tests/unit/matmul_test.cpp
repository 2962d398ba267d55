// The weight-matrix kernels (nn/matmul.hpp): every storage type and layout against a double
// precision reference, the bf16/int8 conversions against hand-worked values, and the promises
// the decoder relies on (results independent of thread count and of the other rows in a call).

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/matmul_kernels.hpp"
#include "ved/nn/linear.hpp"
#include "ved/threads.hpp"

namespace {

using ved::Tensor;
using ved::WeightType;
using ved::nn::WeightMatrix;

Tensor<float> random_tensor(ved::Shape shape, uint32_t seed) {
  Tensor<float> t(std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (float& v : t) v = normal(rng);
  return t;
}

// y = x Wᵀ in double from the matrix's own f32 rows: what every kernel must approximate.
std::vector<double> reference(const WeightMatrix& w, const Tensor<float>& x, int64_t M) {
  const int64_t N = w.rows(), K = w.cols();
  std::vector<double> y(static_cast<size_t>(M * N));
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    w.f32_row(n, row.data());
    for (int64_t m = 0; m < M; ++m) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(x.data()[m * K + k]) * row[size_t(k)];
      y[size_t(m * N + n)] = s;
    }
  }
  return y;
}

// How far a kernel set's y may be from the reference because of what it does to x (besides the
// f32 rounding of its sums, which the callers allow for): the sets with AVX512-BF16 or
// AVX512-VNNI convert x to W's type inside the kernel. bf16: each x[k] is rounded to nearest even
// with 8 significant bits, a relative error of at most 2^-8, and the products of bf16 pairs are
// exact, so |Δy| <= 2^-8 Σ_k |x[k] w[k]|. int8: x[m] is quantised symmetrically per row with
// scale s = max|x[m]| / 127, an absolute error of at most s / 2 per element, and the integer
// sums are exact, so |Δy| <= (max|x[m]| / 254) Σ_k |w[k]|. These are worst-case bounds (every
// rounding error the same sign), not statistics, so a correct kernel never exceeds them; a kernel
// that got a row, a scale or the offset correction wrong exceeds them by orders of magnitude.
std::vector<double> activation_rounding(const std::string& set, const WeightMatrix& w,
                                        const Tensor<float>& x, int64_t M) {
  const int64_t N = w.rows(), K = w.cols();
  std::vector<double> bound(static_cast<size_t>(M * N), 0.0);
  const bool bf16 = w.type() == WeightType::BF16 && set.find("bf16") != std::string::npos;
  // int8 weights: x quantised to int8 (skinny, VNNI), or rounded to bf16 (GEMM, BF16), whose
  // error 2^-8 |x[k]| is below max|x| / 254: the int8 bound covers both.
  const bool int8 = w.type() == WeightType::Int8 && (set.find("vnni") != std::string::npos ||
                                                     set.find("bf16") != std::string::npos);
  if (!bf16 && !int8) return bound;
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    w.f32_row(n, row.data());
    for (int64_t m = 0; m < M; ++m) {
      const float* xm = x.data() + m * K;
      double sum_xw = 0, sum_w = 0, amax = 0;
      for (int64_t k = 0; k < K; ++k) {
        sum_xw += std::fabs(double(xm[k]) * row[size_t(k)]);
        sum_w += std::fabs(double(row[size_t(k)]));
        amax = std::max(amax, std::fabs(double(xm[k])));
      }
      bound[size_t(m * N + n)] = bf16 ? std::ldexp(sum_xw, -8) : amax / 254 * sum_w;
    }
  }
  return bound;
}

void expect_matches_reference(const WeightMatrix& w, int64_t M, uint32_t seed) {
  const int64_t K = w.cols(), N = w.rows();
  const Tensor<float> x = random_tensor({M, K}, seed);
  std::vector<float> y(static_cast<size_t>(M * N), -1.0f);
  w.multiply(x.data(), M, y.data());
  const std::vector<double> ref = reference(w, x, M);
  const std::vector<double> rounding = activation_rounding(ved::kernel_isa(), w, x, M);
  // f32 accumulation of K products of unit-variance terms, plus what the kernel in use does to x.
  const double tol = 1e-5 * std::sqrt(double(K)) * 4;
  for (size_t i = 0; i < y.size(); ++i)
    ASSERT_NEAR(y[i], ref[i], tol + rounding[i])
        << "M=" << M << " K=" << K << " N=" << N << " at " << i << " type "
        << ved::weight_type_name(w.type());
}

TEST(Matmul, EveryTypeLayoutAndShapeMatchesDoubleReference) {
  for (int64_t K : {1, 15, 16, 17, 100}) {
    for (int64_t N : {1, 3, 4, 5, 37, 70}) {
      const Tensor<float> w = random_tensor({N, K}, uint32_t(K * 131 + N));
      Tensor<float> wt({K, N});
      wt.matrix() = w.matrix().transpose();
      const WeightMatrix plain(w), transposed(wt, /*transposed=*/true);
      for (int64_t M : {1, 2, 3, 4, 5, 8, 9, 17}) {
        expect_matches_reference(plain, M, uint32_t(M));
        expect_matches_reference(transposed, M, uint32_t(M));
        expect_matches_reference(plain.converted(WeightType::BF16), M, uint32_t(M));
        expect_matches_reference(transposed.converted(WeightType::Int8), M, uint32_t(M));
      }
    }
  }
}

// Encoder-sized products: several row tiles, row and column tails, and (N = 2050) x packed in
// more than one group of row tiles; K = 96, a whole number of AMX tiles, lets the AMX GEMM read
// bf16 W in place.
TEST(Matmul, LargeProductsMatchDoubleReference) {
  for (const auto& [M, K, N] :
       std::vector<std::array<int64_t, 3>>{{197, 300, 130}, {800, 40, 2050}, {197, 96, 130}}) {
    const Tensor<float> w = random_tensor({N, K}, uint32_t(K + N));
    Tensor<float> wt({K, N});
    wt.matrix() = w.matrix().transpose();
    const WeightMatrix plain(w), transposed(wt, /*transposed=*/true);
    expect_matches_reference(plain, M, 1);
    expect_matches_reference(transposed, M, 2);
    expect_matches_reference(plain.converted(WeightType::BF16), M, 3);
    expect_matches_reference(transposed.converted(WeightType::Int8), M, 4);
  }
}

// Every kernel set this CPU runs (generic, AVX2, AVX-512), called directly: whichever one
// multiply() dispatches to, the others are checked too, for every weight type and layout, skinny
// and GEMM shapes, against a double-precision reference. K = 100 takes the AVX2 Conv1D kernel
// through several chunks of W's rows (and a tail), N = 130 through two bands and a tail.
TEST(Matmul, EveryKernelSetMatchesDoubleReference) {
  const auto sets = ved::nn::kernels::runnable_kernels();
  ASSERT_GE(sets.size(), 1u);
  EXPECT_STREQ(sets[0]->name, "generic");
  for (const auto& [N, K] : std::vector<std::array<int64_t, 2>>{{70, 37}, {130, 100}}) {
    const Tensor<float> w = random_tensor({N, K}, uint32_t(12 + K));
    Tensor<float> wt({K, N});
    wt.matrix() = w.matrix().transpose();
    const WeightMatrix plain(w), transposed(wt, true);
    for (const WeightMatrix& m : {plain, transposed, plain.converted(WeightType::BF16),
                                  plain.converted(WeightType::Int8)}) {
      for (int64_t M : {1, 3, 4, 7, 8, 9, 50}) {
        const Tensor<float> x = random_tensor({M, K}, 11 + M);
        for (const auto* set : sets) {
          SCOPED_TRACE(std::string(set->name) + " type " + weight_type_name(m.type()) + " M " +
                       std::to_string(M) + (m.view().transposed ? " transposed" : ""));
          std::vector<float> y(static_cast<size_t>(M * N));
          set->multiply(m.view(), x.data(), M, y.data(), {});
          const std::vector<double> want = reference(m, x, M);
          const std::vector<double> rounding = activation_rounding(set->name, m, x, M);
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_NEAR(y[i], want[i], 1e-4 * (1 + std::fabs(want[i])) + rounding[i])
                << "element " << i;
        }
      }
    }
  }
}

// The epilogue (bias per column, then an activation over each row's run of columns, then a
// residual) on every kernel set gives the same bits as the plain product followed by the same
// steps over the whole of y, value by value: skinny and GEMM shapes (M = 9 and 50 leave partial
// panels, N = 130 a narrow band), both layouts, bf16 and int8; the vector erf GELU, a scalar
// activation, and each part alone.
TEST(Matmul, EpilogueIsBiasActivationResidualOnEveryKernelSet) {
  using ved::nn::Activation;
  const int64_t N = 130, K = 37;
  const Tensor<float> w = random_tensor({N, K}, 31), bias = random_tensor({N}, 32);
  Tensor<float> wt({K, N});
  wt.matrix() = w.matrix().transpose();
  const WeightMatrix plain(w), transposed(wt, true);
  struct Case {
    const float* bias;
    Activation act;
    bool residual;
  };
  const Case cases[] = {
      {bias.data(), Activation::Gelu, false},   {bias.data(), Activation::Silu, true},
      {bias.data(), Activation::Linear, false}, {bias.data(), Activation::Linear, true},
      {nullptr, Activation::GeluNew, false},    {nullptr, Activation::Linear, true}};
  for (const WeightMatrix& m :
       {plain, transposed, plain.converted(WeightType::BF16), plain.converted(WeightType::Int8)}) {
    for (int64_t M : {1, 4, 8, 9, 50}) {
      const Tensor<float> x = random_tensor({M, K}, 33 + M), r = random_tensor({M, N}, 34 + M);
      for (const auto* set : ved::nn::kernels::runnable_kernels()) {
        for (const Case& c : cases) {
          SCOPED_TRACE(std::string(set->name) + " type " + weight_type_name(m.type()) + " M " +
                       std::to_string(M) + (m.view().transposed ? " transposed" : "") +
                       " activation " + std::to_string(static_cast<int>(c.act)) +
                       (c.bias ? " with bias" : "") + (c.residual ? " with residual" : ""));
          std::vector<float> want(static_cast<size_t>(M * N)), got(want.size());
          set->multiply(m.view(), x.data(), M, want.data(), {});
          for (int64_t i = 0; i < M * N; ++i) {
            float& v = want[size_t(i)];
            if (c.bias) v += c.bias[i % N];
            v = ved::nn::activate(c.act, v);
            if (c.residual) v += r.data()[i];
          }
          set->multiply(m.view(), x.data(), M, got.data(),
                        {c.bias, ved::nn::activation_span(c.act), c.residual ? r.data() : nullptr});
          for (size_t i = 0; i < got.size(); ++i)
            ASSERT_EQ(std::memcmp(&got[i], &want[i], sizeof(float)), 0)
                << "element " << i << ": " << got[i] << " vs " << want[i];
        }
      }
    }
  }
}

// Linear::forward with an activation, act(x Wᵀ + b), and forward_residual, x Wᵀ + b + r,
// against a double-precision reference; a residual of the wrong shape is refused.
TEST(Matmul, LinearForwardWithActivationOrResidual) {
  const int64_t N = 45, K = 20, M = 30;
  const Tensor<float> w = random_tensor({N, K}, 41), b = random_tensor({N}, 42),
                      x = random_tensor({M, K}, 43), r = random_tensor({M, N}, 44);
  const ved::nn::Linear linear(WeightMatrix(w), b);
  const Tensor<float> y = linear.forward(x, ved::nn::Activation::Relu);
  const Tensor<float> z = linear.forward_residual(x, r);
  ASSERT_EQ(y.shape(), (ved::Shape{M, N}));
  ASSERT_EQ(z.shape(), (ved::Shape{M, N}));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = b.data()[n];
      for (int64_t k = 0; k < K; ++k) s += double(x.data()[m * K + k]) * w.data()[n * K + k];
      const double tol = 1e-4 * (1 + std::fabs(s));
      ASSERT_NEAR(y.data()[m * N + n], std::max(s, 0.0), tol) << "row " << m << " column " << n;
      ASSERT_NEAR(z.data()[m * N + n], s + r.data()[m * N + n], tol)
          << "row " << m << " column " << n;
    }
  EXPECT_THROW(
      {
        try {
          linear.forward_residual(x, random_tensor({M, N + 1}, 45));
        } catch (const ved::InvalidArgument& e) {
          EXPECT_NE(std::string(e.what()).find("residual has shape [30, 46]"), std::string::npos)
              << e.what();
          throw;
        }
      },
      ved::InvalidArgument);
}

// On a CPU with AVX512-BF16 the GEMMs of bf16 and int8 weights run on vdpbf16ps or widened to
// f32, by CPU, or on AMX tiles where the CPU has them (dispatch.cpp): the sets without AMX are
// runnable as well, so the tests above check those this CPU does not use too. The chosen one is
// among them, whatever VED_ISA asks for.
TEST(Matmul, BothBf16GemmSetsAreRunnableWhereOneIs) {
  int bf16_gemm = 0, f32_gemm = 0, amx_gemm = 0;
  bool chosen_runnable = false;
  for (const auto* set : ved::nn::kernels::runnable_kernels()) {
    const std::string name = set->name;
    if (name == "avx512 (bf16, vnni)" || name == "avx512 (bf16)") ++bf16_gemm;
    if (name == "avx512 (bf16 decoding, vnni)" || name == "avx512 (bf16 decoding)") ++f32_gemm;
    if (name == "avx512 (amx bf16, vnni)") ++amx_gemm;
    chosen_runnable = chosen_runnable || name == ved::kernel_isa();
  }
  EXPECT_EQ(bf16_gemm, f32_gemm);
  EXPECT_LE(bf16_gemm, 1);
  EXPECT_LE(amx_gemm, bf16_gemm);
  // Unless VED_ISA asks for a lower set, a CPU with AMX uses it.
  const char* isa = std::getenv("VED_ISA");
  if (amx_gemm && (!isa || !*isa || std::string(isa) == "amx")) {
    EXPECT_STREQ(ved::kernel_isa(), "avx512 (amx bf16, vnni)");
  }
  EXPECT_TRUE(chosen_runnable) << ved::kernel_isa();
}

// Attention reads k and v in place: rows `stride` floats apart, in both layouts.
TEST(Matmul, StridedViewsOnEveryKernelSet) {
  const int64_t N = 40, K = 24, pad = 9;
  const Tensor<float> wide = random_tensor({N, K + pad}, 21);  // [N, K] inside wider rows
  const Tensor<float> tall = random_tensor({K, N + pad}, 22);  // [K, N] inside wider rows
  for (int64_t M : {1, 5, 12, 30}) {
    const Tensor<float> x = random_tensor({M, K}, 23 + M);
    for (const auto* set : ved::nn::kernels::runnable_kernels()) {
      for (bool transposed : {false, true}) {
        SCOPED_TRACE(std::string(set->name) + " M " + std::to_string(M) +
                     (transposed ? " transposed" : ""));
        const ved::nn::WeightView w{WeightType::F32,
                                    transposed,
                                    N,
                                    K,
                                    transposed ? tall.data() : wide.data(),
                                    nullptr,
                                    nullptr,
                                    nullptr,
                                    transposed ? N + pad : K + pad};
        std::vector<float> y(static_cast<size_t>(M * N));
        set->multiply(w, x.data(), M, y.data(), {});
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k)
              s += double(x.data()[m * K + k]) *
                   (transposed ? tall.data()[k * (N + pad) + n] : wide.data()[n * (K + pad) + k]);
            ASSERT_NEAR(y[size_t(m * N + n)], s, 1e-4 * (1 + std::fabs(s)));
          }
      }
    }
  }
}

TEST(Matmul, TransposedLayoutHoldsTheSameMatrix) {
  const Tensor<float> w = random_tensor({6, 5}, 3);
  Tensor<float> wt({5, 6});
  wt.matrix() = w.matrix().transpose();
  const WeightMatrix a(w), b(wt, true);
  ASSERT_EQ(b.rows(), 6);
  ASSERT_EQ(b.cols(), 5);
  std::vector<float> ra(5), rb(5);
  for (int64_t n = 0; n < 6; ++n) {
    a.f32_row(n, ra.data());
    b.f32_row(n, rb.data());
    EXPECT_EQ(ra, rb);
  }
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(Matmul, Bf16RoundsToNearestEven) {
  using ved::nn::kernel::f32_to_bf16;
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_bf16(from_bits(0x7f7fffffu)), 0x7f80);  // FLT_MAX overflows to inf
  const uint16_t nan = f32_to_bf16(std::nanf(""));
  EXPECT_TRUE(std::isnan(from_bits(uint32_t(nan) << 16)));
  (void)bits;
}

TEST(Matmul, Int8ScalesEachRowByItsLargestMagnitude) {
  const Tensor<float> w = Tensor<float>::from_vector({2, 3}, {0.5f, -1.27f, 0.0f, 0, 0, 0});
  const WeightMatrix q = WeightMatrix(w).converted(WeightType::Int8);
  std::vector<float> row(3);
  q.f32_row(0, row.data());
  // scale 1.27 / 127 = 0.01: 0.5 -> 50, -1.27 -> -127.
  EXPECT_NEAR(row[0], 0.5f, 1e-6);
  EXPECT_NEAR(row[1], -1.27f, 1e-6);
  EXPECT_EQ(row[2], 0.0f);
  q.f32_row(1, row.data());  // an all-zero row has scale 0, not NaN
  EXPECT_EQ(row, std::vector<float>({0, 0, 0}));
}

TEST(Matmul, Int8RejectsNonFiniteWeights) {
  Tensor<float> w = random_tensor({3, 4}, 1);
  w.data()[6] = std::nanf("");
  try {
    WeightMatrix(w).converted(WeightType::Int8, "decoder.layer.0.fc1.weight");
    FAIL() << "no error";
  } catch (const ved::WeightError& e) {
    EXPECT_NE(std::string(e.what()).find("decoder.layer.0.fc1.weight"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("element 6 "), std::string::npos) << e.what();
  }
  // GPT-2's [K, N] layout: the element is named by its index in the tensor as stored.
  Tensor<float> wt = random_tensor({4, 3}, 2);
  wt.data()[7] = std::numeric_limits<float>::infinity();
  try {
    WeightMatrix(wt, /*transposed=*/true).converted(WeightType::Int8, "h.0.mlp.c_fc.weight");
    FAIL() << "no error";
  } catch (const ved::WeightError& e) {
    EXPECT_NE(std::string(e.what()).find("h.0.mlp.c_fc.weight: element 7 is inf"),
              std::string::npos)
        << e.what();
  }
}

TEST(Matmul, ResultsDoNotDependOnThreadsOrOtherRows) {
  const Tensor<float> w = random_tensor({300, 96}, 7);
  const Tensor<float> x = random_tensor({5, 96}, 8);
  for (const WeightMatrix& m : {WeightMatrix(w), WeightMatrix(w).converted(WeightType::BF16),
                                WeightMatrix(w).converted(WeightType::Int8)}) {
    std::vector<float> all(5 * 300), one(300), serial(5 * 300);
    m.multiply(x.data(), 5, all.data());
    ved::set_num_threads(1);
    m.multiply(x.data(), 5, serial.data());
    ved::set_num_threads(0);
    EXPECT_EQ(all, serial);
    for (int64_t r = 0; r < 5; ++r) {
      m.multiply(x.data() + r * 96, 1, one.data());
      EXPECT_TRUE(std::equal(one.begin(), one.end(), all.begin() + r * 300)) << "row " << r;
    }
  }
}

// The promises batching relies on, for every kernel set and weight type: in a product of up to
// kSkinnyRows rows (the decoder's beams and batched requests), each row's result is the same bits
// as that row multiplied alone, and every product is the same bits on 1 and 2 threads. The shape
// is large enough to be split across threads and has tails at every vector width (K % 64 = 8).
TEST(Matmul, EveryKernelSetRowsIndependentOfBatchAndThreads) {
  const int64_t N = 1000, K = 520, kRows = ved::nn::kernels::kSkinnyRows;
  const Tensor<float> w = random_tensor({N, K}, 31);
  Tensor<float> wt({K, N});
  wt.matrix() = w.matrix().transpose();
  const WeightMatrix plain(w), transposed(wt, true);
  const Tensor<float> x = random_tensor({20, K}, 32);
  for (const WeightMatrix& m :
       {plain, transposed, plain.converted(WeightType::BF16), plain.converted(WeightType::Int8)}) {
    for (const auto* set : ved::nn::kernels::runnable_kernels()) {
      SCOPED_TRACE(std::string(set->name) + " type " + weight_type_name(m.type()) +
                   (m.view().transposed ? " transposed" : ""));
      const auto product = [&](int64_t row0, int64_t M, int threads) {
        ved::set_num_threads(threads);
        std::vector<float> y(static_cast<size_t>(M * N));
        set->multiply(m.view(), x.data() + row0 * K, M, y.data(), {});
        ved::set_num_threads(0);
        return y;
      };
      std::vector<std::vector<float>> alone;  // row r multiplied alone
      for (int64_t r = 0; r < kRows; ++r) alone.push_back(product(r, 1, 1));
      for (int64_t M = 1; M <= kRows; ++M) {
        const std::vector<float> one = product(0, M, 1), two = product(0, M, 2);
        EXPECT_EQ(one, two) << "M " << M << ": 1 vs 2 threads";
        for (int64_t r = 0; r < M; ++r)
          EXPECT_TRUE(
              std::equal(alone[size_t(r)].begin(), alone[size_t(r)].end(), one.begin() + r * N))
              << "M " << M << ": row " << r << " differs from the row alone";
      }
      EXPECT_EQ(product(0, 20, 1), product(0, 20, 2)) << "M 20 (GEMM): 1 vs 2 threads";
    }
  }
}

// A row of x holding inf or NaN cannot be rounded to int8 (the VNNI kernel computes it alone with
// f32 activations instead): its outputs are not finite, as in f32, and the other rows are
// unaffected, the same bits as alone.
TEST(Matmul, NonFiniteRowStaysNonFiniteOnEveryKernelSet) {
  const int64_t N = 40, K = 70;
  const WeightMatrix f(random_tensor({N, K}, 41));
  for (const float bad : {std::numeric_limits<float>::infinity(), std::nanf("")}) {
    Tensor<float> x = random_tensor({3, K}, 42);
    x.data()[K + 5] = bad;
    for (const WeightMatrix& m : {f, f.converted(WeightType::BF16), f.converted(WeightType::Int8)})
      for (const auto* set : ved::nn::kernels::runnable_kernels()) {
        SCOPED_TRACE(std::string(set->name) + " type " + weight_type_name(m.type()));
        std::vector<float> y(3 * N), alone(N);
        set->multiply(m.view(), x.data(), 3, y.data(), {});
        for (int64_t n = 0; n < N; ++n) EXPECT_FALSE(std::isfinite(y[size_t(N + n)])) << n;
        for (int64_t r : {0, 2}) {
          set->multiply(m.view(), x.data() + r * K, 1, alone.data(), {});
          EXPECT_TRUE(std::equal(alone.begin(), alone.end(), y.begin() + r * N)) << "row " << r;
        }
      }
  }
}

// The attention softmax: scale, both biases and softmax against double precision, at every
// length around the vector widths, with scores far apart (exp of large negative arguments
// underflows to 0, not to garbage).
TEST(Softmax, EveryKernelSetMatchesDoubleReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (const auto* set : ved::nn::kernels::runnable_kernels())
    for (int64_t n : {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 100, 197, 577})
      for (int biases = 0; biases < 3; ++biases) {
        SCOPED_TRACE(std::string(set->name) + " n " + std::to_string(n) + " biases " +
                     std::to_string(biases));
        std::vector<float> s(static_cast<size_t>(n) + 1), b1(s.size()), b2(s.size());
        for (size_t j = 0; j < s.size(); ++j) {
          s[j] = normal(rng);
          b1[j] = normal(rng);
          b2[j] = j % 3 == 0 ? -100.0f : 0.0f;  // a Swin mask
        }
        s[static_cast<size_t>(n) / 2] = -300.0f;  // far below the rest: exp underflows
        const float scale = 0.125f, guard = s[static_cast<size_t>(n)];
        std::vector<double> want(static_cast<size_t>(n));
        double top = -1e300, sum = 0;
        for (size_t j = 0; j < want.size(); ++j) {
          want[j] = static_cast<double>(s[j] * scale);
          if (biases >= 1) want[j] = static_cast<double>(static_cast<float>(want[j]) + b1[j]);
          if (biases >= 2) want[j] = static_cast<double>(static_cast<float>(want[j]) + b2[j]);
          top = std::max(top, want[j]);
        }
        // Float's own rounding bounds the error: of s − max (relative 2^-24, magnified by
        // |s − max| in the exponential), of exp (2 ulp), of the sum (n terms) and the division.
        std::vector<double> bound(want.size());
        for (size_t j = 0; j < want.size(); ++j) {
          bound[j] = (std::fabs(want[j] - top) + static_cast<double>(n) + 8) * 0x1p-24;
          sum += (want[j] = std::exp(want[j] - top));
        }
        set->softmax(s.data(), n, scale, biases >= 1 ? b1.data() : nullptr,
                     biases >= 2 ? b2.data() : nullptr);
        for (size_t j = 0; j < want.size(); ++j)
          ASSERT_NEAR(s[j], want[j] / sum, bound[j] * want[j] / sum + 1e-37) << "entry " << j;
        EXPECT_EQ(s[static_cast<size_t>(n)], guard) << "wrote past the row";
      }
}

TEST(Softmax, NanScoreStaysNanOnEveryKernelSet) {
  for (const auto* set : ved::nn::kernels::runnable_kernels()) {
    std::vector<float> s(20, 1.0f);
    s[3] = std::nanf("");
    set->softmax(s.data(), 20, 1.0f, nullptr, nullptr);
    EXPECT_TRUE(std::isnan(s[3])) << set->name;
    EXPECT_TRUE(std::isnan(s[0])) << set->name << ": the sum holds the NaN";
  }
}

// No probability is a denormal on any set (on Intel CPUs each instruction that reads or makes
// one takes a microcode assist, which made Swin's masked windows 10x slower): exp(-90) and
// exp(-100) are 0, exp(-80) (1.8e-35) is kept.
TEST(Softmax, NoProbabilityIsDenormalOnEveryKernelSet) {
  for (const auto* set : ved::nn::kernels::runnable_kernels())
    for (int64_t n : {6, 17, 40}) {
      SCOPED_TRACE(std::string(set->name) + " n " + std::to_string(n));
      std::vector<float> s(static_cast<size_t>(n), -200.0f);
      const float row[] = {0.0f, -80.0f, -87.5f, -90.0f, -100.0f, -103.0f};
      std::copy(std::begin(row), std::end(row), s.end() - 6);  // the tail lanes too
      set->softmax(s.data(), n, 1.0f, nullptr, nullptr);
      for (float p : s) EXPECT_NE(std::fpclassify(p), FP_SUBNORMAL) << p;
      EXPECT_NEAR(s[static_cast<size_t>(n) - 6], 1.0f, 1e-6f);
      EXPECT_NEAR(s[static_cast<size_t>(n) - 5], std::exp(-80.0), 1e-41);
      EXPECT_EQ(s[static_cast<size_t>(n) - 3], 0.0f);
    }
}

// x rounded to bf16 as the reduced kernels round their operands, back in double.
double bf16_rounded(float x) {
  return ved::detail::bf16_to_f32(ved::nn::kernel::f32_to_bf16(x));
}

// Whether `set` has attention of its own for reduced-precision models (AttentionArgs::reduced)
// of this shape: the AMX set for heads of whole 16-float rows and 16 queries or more.
bool attends_reduced(const ved::nn::kernels::KernelSet& set, int64_t tq, int64_t d) {
  return std::string(set.name).find("amx") != std::string::npos && d % 16 == 0 && tq >= 16;
}

// One head of attention, softmax(q kᵀ · scale + bias + bias2) v, from a packed [T, 3D]
// projection (rows 3D apart, head h at column h·d), against double precision: few queries
// (decoding) and many (encoders, the AVX2 and AVX-512 sets' own kernel), head sizes the kernels
// cover (multiples of 8 or 16, in passes of 1-3 vectors), the AVX-512 one does not (24, 40)
// and neither does (20), 6 and 7 queries (AVX2's block, under AVX-512's), keys past a multiple
// of 8 and 16, causal and not. Then the same head as a reduced-precision model asks for it: a
// set with a bf16 path (AMX) must give the attention of q, k and v rounded to bf16 (and of the
// probabilities, one more rounding each), every other set its f32 result, bit for bit.
TEST(Attention, EveryKernelSetMatchesDoubleReference) {
  struct Case {
    int64_t tq, tk, d;
    bool causal;
  };
  const Case cases[] = {{1, 1, 16, false},   {1, 37, 64, true},   {3, 20, 32, false},
                        {8, 8, 16, false},   {13, 13, 32, false}, {100, 100, 32, false},
                        {9, 33, 48, true},   {17, 17, 64, false}, {20, 45, 80, false},
                        {12, 12, 24, false}, {30, 50, 128, true}, {6, 11, 40, true},
                        {7, 9, 20, false},   {16, 16, 16, false}, {70, 70, 48, true}};
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Case& c : cases)
    for (int biases = 0; biases < 3; ++biases) {
      const int64_t heads = 2, D = heads * c.d;
      std::vector<float> q(static_cast<size_t>(c.tq * 3 * D)),
          kv(static_cast<size_t>(c.tk * 3 * D));
      for (float& v : q) v = normal(rng);
      for (float& v : kv) v = normal(rng);
      std::vector<float> b1(static_cast<size_t>(c.tq * c.tk)), b2(b1.size());
      for (size_t j = 0; j < b1.size(); ++j) {
        b1[j] = normal(rng);
        b2[j] = j % 3 == 0 ? -100.0f : 0.0f;  // a Swin mask
      }
      const float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
      const float* bias = biases >= 1 ? b1.data() : nullptr;
      const float* bias2 = biases >= 2 ? b2.data() : nullptr;
      const int64_t h = 1;  // the second head: offsets in the packed rows count
      const ved::nn::AttentionArgs a{
          q.data(), 3 * D, kv.data() + D, kv.data() + 2 * D, 3 * D, nullptr, D, c.tq, c.tk,
          heads,    c.d,   scale,         c.causal};
      // The reference, from operands rounded to bf16 or not; the probabilities stay exact and
      // their rounding (2^-8 relatively at most, each) goes into the tolerance.
      const auto check = [&](const std::vector<float>& out, bool rounded) {
        const auto operand = [&](float x) { return rounded ? bf16_rounded(x) : double(x); };
        for (int64_t i = 0; i < c.tq; ++i) {
          const int64_t visible = c.causal ? std::min(c.tk, c.tk - c.tq + i + 1) : c.tk;
          std::vector<double> p(static_cast<size_t>(visible));
          double top = -1e300, sum = 0, largest = 0;
          for (int64_t j = 0; j < visible; ++j) {
            double dot = 0, mag = 0;
            for (int64_t e = 0; e < c.d; ++e) {
              const double x = operand(q[size_t(i * 3 * D + h * c.d + e)]);
              const double y = operand(kv[size_t(j * 3 * D + D + h * c.d + e)]);
              dot += x * y;
              mag += std::fabs(x * y);
            }
            double l = dot * scale;
            if (bias) l += bias[i * c.tk + j];
            if (bias2) l += bias2[i * c.tk + j];
            p[size_t(j)] = l;
            top = std::max(top, l);
            largest = std::max(largest, (mag * scale + std::fabs(l)) * 0x1p-24 * double(c.d + 2));
          }
          for (double& v : p) sum += (v = std::exp(v - top));
          for (int64_t e = 0; e < c.d; ++e) {
            double want = 0, mass = 0;
            for (int64_t j = 0; j < visible; ++j) {
              const double v = operand(kv[size_t(j * 3 * D + 2 * D + h * c.d + e)]);
              want += p[size_t(j)] / sum * v;
              mass += p[size_t(j)] / sum * std::fabs(v);
            }
            // A logit off by δ moves the probabilities by up to 2δ relatively; then the
            // exponentials (2 ulp), the sums over keys and the last products.
            const double tol =
                (2 * largest + double(c.tk + c.d + 16) * 0x1p-24 + (rounded ? 0x1p-8 : 0.0)) *
                    mass +
                1e-30;
            ASSERT_NEAR(out[size_t(i * D + h * c.d + e)], want, tol)
                << "query " << i << " feature " << e;
          }
          for (int64_t e = 0; e < c.d; ++e)
            EXPECT_EQ(out[size_t(i * D + e)], 42.0f) << "wrote into head 0";
        }
        EXPECT_EQ(out.back(), 42.0f) << "wrote past the output";
      };
      for (const auto* set : ved::nn::kernels::runnable_kernels()) {
        SCOPED_TRACE(std::string(set->name) + " tq " + std::to_string(c.tq) + " tk " +
                     std::to_string(c.tk) + " d " + std::to_string(c.d) + " biases " +
                     std::to_string(biases));
        std::vector<float> out(static_cast<size_t>(c.tq * D) + 1, 42.0f), reduced(out);
        ved::nn::AttentionArgs args = a;
        args.out = out.data();
        set->attend(args, h, bias, bias2);
        check(out, false);
        args.out = reduced.data();
        args.reduced = true;
        set->attend(args, h, bias, bias2);
        if (attends_reduced(*set, c.tq, c.d)) {
          SCOPED_TRACE("reduced");
          check(reduced, true);
        } else {
          EXPECT_EQ(reduced, out) << "reduced precision asked of a set without it";
        }
      }
    }
}

// A query's output does not depend on which other queries a call holds (the kernels take them
// 8 or 6 at a time, AMX's reduced-precision one 32; the last block of a call repeats its last
// query or pads it with zeros), nor, in f32 on the AVX-512 sets, on whether they are few
// (decoding) or many.
TEST(Attention, QueriesAreIndependentOfTheirBlock) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t d = 32, D = d;
  std::vector<float> qkv(static_cast<size_t>(45 * 3 * D));
  for (float& v : qkv) v = normal(rng);
  for (const auto* set : ved::nn::kernels::runnable_kernels())
    for (const bool reduced : {false, true}) {
      // 21 queries, then 5..20 alone, blocked differently (AVX-512: [5, 13) and [13, 21), AVX2:
      // [5, 11), [11, 17) and [17, 21)); reduced, 45 queries and 5..44 (AMX: [5, 37) and
      // [37, 45)), where the set has a reduced-precision kernel of its own.
      const int64_t tq = reduced ? 45 : 21, tk = tq, first = 5;
      if (reduced && !attends_reduced(*set, tq - first, d)) continue;
      SCOPED_TRACE(std::string(set->name) + (reduced ? " reduced" : ""));
      std::vector<float> all(static_cast<size_t>(tq * D)), part(all.size());
      ved::nn::AttentionArgs a{
          qkv.data(), 3 * D, qkv.data() + D, qkv.data() + 2 * D, 3 * D, all.data(), D, tq, tk, 1, d,
          0.2f,       false, reduced};
      set->attend(a, 0, nullptr, nullptr);
      a.q = qkv.data() + first * 3 * D;
      a.out = part.data();
      a.tq = tq - first;
      set->attend(a, 0, nullptr, nullptr);
      for (int64_t i = first; i < tq; ++i)
        for (int64_t e = 0; e < d; ++e)
          ASSERT_EQ(all[size_t(i * D + e)], part[size_t((i - first) * D + e)]) << i << " " << e;
      // The vector sets' few queries (1 .. 7: decoding, one image's beams) over heads of up to
      // two vectors (32 floats: AVX-512's) take their own path, the same bits; the generic
      // set's products sum many rows (Eigen's GEMM) and few (plain loops) in different orders.
      if (reduced || std::string(set->name).rfind("avx512", 0) != 0) continue;
      for (int64_t few = 1; few < 8; ++few) {
        a.q = qkv.data() + 3 * 3 * D;
        a.tq = few;
        set->attend(a, 0, nullptr, nullptr);
        for (int64_t i = 0; i < few; ++i)
          for (int64_t e = 0; e < d; ++e)
            ASSERT_EQ(all[size_t((3 + i) * D + e)], part[size_t(i * D + e)])
                << few << " queries: " << i << " " << e;
      }
    }
}

// Decoding reads a row's heads in runs (attend_heads) from the decoder's caches, which keep the
// keys and values head by head ([heads, capacity, head_dim], capacity past tk): 1-7 queries (one
// image's beams, AVX2's and AVX-512's few-query blocks, and past them), heads the sets stream
// (64, 128 wide) and heads they leave to attend (16 to 48), a cache of 1 to 300 positions,
// causal or not. Every head must be the bits attend gives it from keys and values laid out
// position by position, through attend, a run of heads (whichever run it falls in, the columns of
// heads outside the run untouched) and the public entry.
TEST(Attention, HeadsAtOnceAreHeadByHeadBitForBitOnEveryKernelSet) {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const int64_t d : {16, 24, 32, 40, 48, 64, 128})
    for (const int64_t tq : {1, 2, 4, 5, 7})
      for (const int64_t tk : {1, 9, 300})
        for (const bool causal : {false, true}) {
          if (causal && tq > tk) continue;
          const int64_t heads = 5, D = heads * d;
          std::vector<float> q(static_cast<size_t>(tq * D)), k(static_cast<size_t>(tk * D)),
              v(k.size());
          for (auto* x : {&q, &k, &v})
            for (float& e : *x) e = normal(rng);
          const ved::nn::AttentionArgs a{q.data(), D,  k.data(), v.data(), D,    nullptr, D,
                                         tq,       tk, heads,    d,        0.3f, causal};
          const int64_t capacity = tk + 3;
          std::vector<float> kh(static_cast<size_t>(heads * capacity * d),
                                std::numeric_limits<float>::quiet_NaN()),
              vh(kh);
          for (int64_t t = 0; t < tk; ++t)
            for (int64_t e = 0; e < D; ++e) {
              const size_t at = static_cast<size_t>((e / d * capacity + t) * d + e % d);
              kh[at] = k[size_t(t * D + e)];
              vh[at] = v[size_t(t * D + e)];
            }
          ved::nn::AttentionArgs by_head = a;
          by_head.k = kh.data();
          by_head.v = vh.data();
          by_head.kv_stride = d;
          by_head.kv_head_stride = capacity * d;
          for (const auto* set : ved::nn::kernels::runnable_kernels()) {
            SCOPED_TRACE(std::string(set->name) + " d " + std::to_string(d) + " tq " +
                         std::to_string(tq) + " tk " + std::to_string(tk) +
                         (causal ? " causal" : ""));
            std::vector<float> want(static_cast<size_t>(tq * D), 42.0f);
            ved::nn::AttentionArgs args = a;
            args.out = want.data();
            for (int64_t h = 0; h < heads; ++h) set->attend(args, h, nullptr, nullptr);
            {
              SCOPED_TRACE("head by head");
              std::vector<float> got(want.size(), 42.0f);
              ved::nn::AttentionArgs args_h = by_head;
              args_h.out = got.data();
              for (int64_t h = 0; h < heads; ++h) set->attend(args_h, h, nullptr, nullptr);
              ASSERT_EQ(got, want);
              if (set->attend_heads) {
                // Heads 1..3 in one run, then heads 0 and 4 alone; the vector sets stream heads
                // of whole bands for fewer queries than their blocks hold (AVX-512 8, AVX2 6).
                const bool avx512 = std::string(set->name).rfind("avx512", 0) == 0;
                const bool streamed = d % 64 == 0 && tq < (avx512 ? 8 : 6);
                std::fill(got.begin(), got.end(), 42.0f);
                std::vector<char> done(static_cast<size_t>(heads), 0);
                for (const auto& [h0, h1] : {std::pair<int64_t, int64_t>{1, 4}, {0, 1}, {4, 5}}) {
                  const bool took = set->attend_heads(args_h, h0, h1);
                  EXPECT_EQ(took, streamed) << "heads " << h0 << ".." << h1;
                  if (took) std::fill(done.begin() + h0, done.begin() + h1, 1);
                  for (int64_t i = 0; i < tq; ++i)
                    for (int64_t e = 0; e < D; ++e)
                      ASSERT_EQ(got[size_t(i * D + e)],
                                done[size_t(e / d)] ? want[size_t(i * D + e)] : 42.0f)
                          << "heads " << h0 << ".." << h1 << ": query " << i << " column " << e;
                  for (int64_t h = h0; h < h1 && !took; ++h) {
                    set->attend(args_h, h, nullptr, nullptr);
                    done[size_t(h)] = 1;
                  }
                }
                EXPECT_EQ(got, want);
              }
            }
            // Positions side by side (the projections' layout) are attend's, head by head.
            if (!set->attend_heads) continue;
            std::vector<float> got(want.size(), 42.0f);
            args.out = got.data();
            EXPECT_FALSE(set->attend_heads(args, 1, 4));
            EXPECT_EQ(got, std::vector<float>(want.size(), 42.0f)) << "declined, yet wrote";
          }
          // The public entry: every row and head, whatever the thread count.
          for (const int threads : {1, 2, 3}) {
            ved::set_num_threads(threads);
            std::vector<float> all(static_cast<size_t>(tq * D)), each(all.size());
            ved::nn::AttentionArgs args = a;
            args.out = all.data();
            ved::nn::attend(args);
            args.out = each.data();
            for (int64_t h = 0; h < heads; ++h) ved::nn::attend_head(args, h);
            EXPECT_EQ(all, each) << threads << " threads";
            ved::nn::AttentionArgs args_h = by_head;
            args_h.out = each.data();
            ved::nn::attend(args_h);
            EXPECT_EQ(all, each) << threads << " threads, head by head";
          }
          ved::set_num_threads(0);
        }
}

// LayerNorm rows against the formula in double, at widths around the vector widths and at the
// models' own (384, 768, 1024), with a large common offset that a one-pass E[x²] - E[x]² would
// lose and a 1e-12 eps that must still count for a constant row.
TEST(LayerNormKernel, EveryKernelSetMatchesDoubleReference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const auto* set : ved::nn::kernels::runnable_kernels())
    for (int64_t d : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 384, 768, 1024})
      for (float offset : {0.0f, 1000.0f}) {
        SCOPED_TRACE(std::string(set->name) + " d " + std::to_string(d) + " offset " +
                     std::to_string(offset));
        std::vector<float> x(static_cast<size_t>(d)), g(x.size()), b(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
          x[i] = offset + normal(rng);
          g[i] = 1.0f + 0.1f * normal(rng);
          b[i] = 0.1f * normal(rng);
        }
        std::vector<float> y(x.size() + 1, 42.0f);
        set->layer_norm(x.data(), y.data(), d, g.data(), b.data(), 1e-12f);
        double mean = 0, var = 0;
        for (float v : x) mean += v;
        mean /= static_cast<double>(d);
        for (float v : x) var += (v - mean) * (v - mean);
        var /= static_cast<double>(d);
        for (size_t i = 0; i < x.size(); ++i) {
          const double z = (x[i] - mean) / std::sqrt(var + 1e-12);
          const double want = z * g[i] + b[i];
          // Three float roundings (z, the product, the sum) of values of order |z|·|g| + |b|.
          ASSERT_NEAR(y[i], want, (std::fabs(z * g[i]) + std::fabs(b[i]) + 1e-30) * 0x1p-22)
              << "feature " << i;
        }
        EXPECT_EQ(y[x.size()], 42.0f) << "wrote past the row";
      }
  for (const auto* set : ved::nn::kernels::runnable_kernels()) {
    const std::vector<float> x(16, 3.0f), g(16, 2.0f), b(16, 0.5f);
    std::vector<float> y(16);
    set->layer_norm(x.data(), y.data(), 16, g.data(), b.data(), 1e-12f);
    for (float v : y) EXPECT_EQ(v, 0.5f) << set->name << ": a constant row normalises to 0";
  }
}

// The erf GELU against 0.5 x (1 + erf(x / √2)) in double, over the range where erf bends and
// beyond its ±4 clamp, with the tails masked: a value is the same bits at any offset.
TEST(GeluKernel, EveryKernelSetMatchesErfAndIgnoresPosition) {
  std::vector<float> xs;
  for (int i = -1200; i <= 1200; ++i) xs.push_back(static_cast<float>(i) * 0.01f);
  xs.insert(xs.end(), {1e-7f, -1e-7f, 0.0f, -0.0f, 30.0f, -30.0f});
  for (const auto* set : ved::nn::kernels::runnable_kernels()) {
    SCOPED_TRACE(set->name);
    std::vector<float> y = xs;
    y.push_back(42.0f);
    set->gelu(y.data(), static_cast<int64_t>(xs.size()));
    for (size_t i = 0; i < xs.size(); ++i) {
      const double x = xs[i], want = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
      ASSERT_NEAR(y[i], want, 1e-6 + 2e-6 * std::fabs(want)) << "x = " << xs[i];
    }
    EXPECT_EQ(y.back(), 42.0f) << "wrote past the end";
    for (size_t start : {size_t{1}, size_t{5}, size_t{13}}) {
      std::vector<float> shifted(xs.begin() + static_cast<std::ptrdiff_t>(start), xs.end());
      set->gelu(shifted.data(), static_cast<int64_t>(shifted.size()));
      for (size_t i = 0; i < shifted.size(); ++i)
        ASSERT_EQ(shifted[i], y[start + i]) << "x = " << xs[start + i] << " at offset " << start;
    }
  }
}

// The tanh GELU (gelu_new) against 0.5 x (1 + tanh(β (x + 0.044715 x³))) in double, across the
// switch from tanh's series to its exponential form (|β (x + 0.044715 x³)| = 0.55 near |x| =
// 0.67), into the tails where 1 + tanh cancels, and at values no tensor should hold; tails masked.
TEST(GeluKernel, EveryKernelSetMatchesTanhGeluAndIgnoresPosition) {
  const float beta = static_cast<float>(std::sqrt(2.0 / std::acos(-1.0)));
  std::vector<float> xs;
  for (int i = -1200; i <= 1200; ++i) xs.push_back(static_cast<float>(i) * 0.01f);
  for (int i = -400; i <= 400; ++i) xs.push_back(0.67f + static_cast<float>(i) * 1e-4f);
  xs.insert(xs.end(), {1e-7f, -1e-7f, 1e-30f, 0.0f, -0.0f, 30.0f, -30.0f, 1e20f, -1e20f});
  for (const auto* set : ved::nn::kernels::runnable_kernels()) {
    SCOPED_TRACE(set->name);
    std::vector<float> y = xs;
    y.push_back(42.0f);
    set->gelu_tanh(y.data(), static_cast<int64_t>(xs.size()));
    for (size_t i = 0; i < xs.size(); ++i) {
      const double x = xs[i], u = static_cast<double>(beta) * (x + 0.044715 * x * x * x);
      const double want = 0.5 * x * (1.0 + std::tanh(u));
      // tanh within 1.5 ulp, and the float roundings of u and of 1 + tanh: each a few 1e-7 of
      // 0.5 |x| (where 1 + tanh cancels, PyTorch's float formula loses the same), then y's own.
      ASSERT_NEAR(y[i], want, 0.5 * std::fabs(x) * 6e-7 + std::fabs(want) * 0x1p-23)
          << "x = " << xs[i];
    }
    EXPECT_EQ(y.back(), 42.0f) << "wrote past the end";
    for (size_t start : {size_t{1}, size_t{5}, size_t{13}}) {
      std::vector<float> shifted(xs.begin() + static_cast<std::ptrdiff_t>(start), xs.end());
      set->gelu_tanh(shifted.data(), static_cast<int64_t>(shifted.size()));
      for (size_t i = 0; i < shifted.size(); ++i)
        ASSERT_EQ(shifted[i], y[start + i]) << "x = " << xs[start + i] << " at offset " << start;
    }
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> special = {std::nanf(""), inf, -inf};
    set->gelu_tanh(special.data(), 3);
    EXPECT_TRUE(std::isnan(special[0])) << "NaN stays NaN";
    EXPECT_EQ(special[1], inf);
    EXPECT_TRUE(std::isnan(special[2])) << "-inf · (1 + tanh(-inf)) is -inf · 0, as in PyTorch";
  }
}

TEST(Matmul, LinearStackConcatenatesOutputsAndBiases) {
  const Tensor<float> w1 = random_tensor({3, 8}, 1), w2 = random_tensor({2, 8}, 2);
  const Tensor<float> b1 = random_tensor({3}, 3);
  const ved::nn::Linear a{WeightMatrix(w1), b1}, b{WeightMatrix(w2), Tensor<float>()};
  const ved::nn::Linear ab = ved::nn::Linear::stack({a, b});
  const Tensor<float> x = random_tensor({2, 8}, 4);
  const Tensor<float> ya = a.forward(x), yb = b.forward(x), yab = ab.forward(x);
  ASSERT_EQ(yab.shape(), (ved::Shape{2, 5}));
  for (int64_t m = 0; m < 2; ++m) {
    for (int64_t n = 0; n < 3; ++n) EXPECT_EQ(yab.data()[m * 5 + n], ya.data()[m * 3 + n]);
    for (int64_t n = 0; n < 2; ++n) EXPECT_EQ(yab.data()[m * 5 + 3 + n], yb.data()[m * 2 + n]);
  }
}

TEST(Matmul, LinearRejectsInputOfTheWrongWidth) {
  const ved::nn::Linear l(WeightMatrix(random_tensor({3, 8}, 1)), Tensor<float>());
  EXPECT_THROW(l.forward(random_tensor({2, 7}, 2)), ved::InvalidArgument);
  EXPECT_THROW(ved::nn::Linear(WeightMatrix(random_tensor({3, 8}, 1)), random_tensor({4}, 1)),
               ved::InvalidArgument);
}

}  // namespace
