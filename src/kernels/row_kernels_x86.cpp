// The row-wise kernels of the AVX2 and AVX-512 sets (kernels::softmax, kernels::layer_norm,
// kernels::gelu; see matmul_kernels.hpp), each a pass or three over one row, 8 or 16 floats at a
// time, tails masked.
//
// The attention softmax: the scores' scale and biases, max, exp, sum and division. Scalar, these
// loops and the library's expf were a quarter of trocr-small's encoder (577 tokens: 24 million
// exponentials per image) and a tenth of Donut's. exp(x) = 2^n · e^r with n = round(x / ln 2)
// and r = x − n·ln 2 (ln 2 in two parts, so r is exact to float precision), e^r by Cephes'
// degree-7 expf polynomial on |r| ≤ ln 2 / 2: within 2 ulp of the exact value, as PyTorch's own
// vectorised exp is (Sleef's 1-ulp expf). NaN stays NaN.
//
// No probability is a denormal: exp below −87.33 and a probability below FLT_MIN (1.2e-38) are
// 0. On an Intel Xeon every instruction that makes or reads a denormal takes a microcode assist:
// Swin's shifted-window masks (−100) gave their windows denormal probabilities, and those
// windows' attention ran 10x slower than the others (Donut's 2560 x 1920 encoder lost a tenth of
// its time there). A probability that small adds less than 1.2e-38 · |v| to an output.
//
// LayerNorm and the erf GELU: compiled for baseline x86-64 in the public headers, the
// LayerNorm's double-precision loops and the erf (4 floats at a time) were 3-4% each of a ViT
// encoder. LayerNorm keeps the generic set's arithmetic: mean and mean-subtracted variance summed
// in double (a 1e-12 eps stays meaningful), ((x - mean) · inv) rounded to float, then · weight +
// bias in float; only the order of the double sums differs. The GELU is x · 0.5 · (1 + erf(x /
// √2)) with the rational erf approximation that Eigen's erf uses (the generic set's), its
// polynomials with fused multiply-adds: within a couple of ulp of std::erf. Tails are masked,
// never scalar, so a value does not depend on its position in a tensor.
//
// The tanh GELU (GPT-2's gelu_new): in PyTorch's order, (0.5 · x) · (1 + tanh(β · (x +
// 0.044715 · x³))), with the library's tanhf a value at a time it was 2% of vit-gpt2's beam
// search. Here tanh(u) is u + u³ · P(u²), its Taylor series to u¹⁷ (the first term left out is
// below 6e-9 · |tanh u|), for |u| < 0.55, and 1 − 2 / (e^{2|u|} + 1) with the sign of u above,
// where nothing cancels: within 1.5 ulp of tanh over the floats up to 11 (PyTorch's own vectorised
// tanh is within 1).

#include <immintrin.h>

#include <cstdint>
#include <limits>

#include "kernels/matmul_kernels.hpp"

// GCC 12 reports the "undefined" source register of its own _mm512_reduce_add_ps as used
// uninitialized once the intrinsic is inlined under a target pragma (as in matmul_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace ved::nn::kernels {
namespace {

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kFloatMin = std::numeric_limits<float>::min();  // the least normal float
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                               4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

// erf(x) = x · P(x²) / Q(x²) on [-4, 4], ±1 beyond.
constexpr float kErfP[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f,  -2.10102402082508e-06f,
                            -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f,
                            -1.60960333262415e-02f};
constexpr float kErfQ[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
                            -7.37332916720468e-03f, -1.42647390514189e-02f};
constexpr float kSqrtHalf = 0.70710678118654752440f;

// tanh(u) = u + u³ · P(u²) for small u: the Taylor coefficients of u¹⁷, u¹⁵, ..., u³.
constexpr float kTanhTaylor[8] = {5.9002744095e-04f,  -1.4558343871e-03f, 3.5921280366e-03f,
                                  -8.8632355299e-03f, 2.1869488536e-02f,  -5.3968253968e-02f,
                                  1.3333333333e-01f,  -3.3333333333e-01f};
constexpr float kTanhSeriesEnd = 0.55f;  // |u| from which tanh is taken from e^{2|u|}
constexpr float kGeluCubic = 0.044715f;

}  // namespace
}  // namespace ved::nn::kernels

#define VED_TARGET "avx512f,avx512bw,avx512vl,avx512dq,fma"
#include "kernels/target_begin.inc"

namespace ved::nn::kernels {
namespace avx512 {
namespace {

__m512 exp16(__m512 x) {
  // Below −87.33 exp is a denormal: 0 instead (NLT: a NaN x stays, as max's 2nd operand).
  const __mmask16 normal = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33f), _CMP_NLT_UQ);
  x = _mm512_max_ps(_mm512_set1_ps(-87.33f), x);
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[i]));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_scalef_ps(normal, p, n);  // p · 2^n, to inf as needed
}

__mmask16 tail(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
}

__m512 erf16(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(4.0f)), _mm512_set1_ps(-4.0f));
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(kErfP[0]);
  for (int i = 1; i < 7; ++i) p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(kErfP[i]));
  __m512 q = _mm512_set1_ps(kErfQ[0]);
  for (int i = 1; i < 5; ++i) q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(kErfQ[i]));
  return _mm512_div_ps(_mm512_mul_ps(x, p), q);
}

__m512 tanh16(__m512 u) {
  const __m512 a = _mm512_abs_ps(u), u2 = _mm512_mul_ps(u, u), one = _mm512_set1_ps(1.0f);
  __m512 p = _mm512_set1_ps(kTanhTaylor[0]);
  for (int i = 1; i < 8; ++i) p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(kTanhTaylor[i]));
  const __m512 series = _mm512_fmadd_ps(_mm512_mul_ps(u, u2), p, u);
  // A NaN u fails the comparison and stays NaN through exp16.
  const __m512 e = exp16(_mm512_add_ps(a, a));
  const __m512 big = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
  const __m512 sign = _mm512_and_ps(u, _mm512_set1_ps(-0.0f));
  const __mmask16 small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(kTanhSeriesEnd), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(small, _mm512_or_ps(big, sign), series);
}

// Lanes [0, left) of 8.
__mmask8 tail8(int64_t left) {
  return left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1u);
}

// The sum of v's lanes. The masked extract with every lane set: GCC 12's unmasked one (and so
// _mm512_reduce_add_pd) starts from an "undefined" register that -Wuninitialized reports.
double hsum(__m512d v) {
  const __m256d h = _mm256_add_pd(_mm512_maskz_extractf64x4_pd(0xFF, v, 0),
                                  _mm512_maskz_extractf64x4_pd(0xFF, v, 1));
  const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
  return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

}  // namespace

void softmax(float* s, int64_t n, float scale, const float* bias, const float* bias2) {
  const __m512 vscale = _mm512_set1_ps(scale);
  __m512 vmax = _mm512_set1_ps(-__builtin_inff());
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail(n - j);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), vscale);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j));
    if (bias2) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias2 + j));
    _mm512_mask_storeu_ps(s + j, m, v);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, v);
  }
  const __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail(n - j);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), top));
    _mm512_mask_storeu_ps(s + j, m, e);
    vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
  }
  const float sum = _mm512_reduce_add_ps(vsum);
  // e / sum below FLT_MIN is 0 (e < FLT_MIN · sum, unordered for a NaN e or sum: kept).
  const __m512 inv = _mm512_set1_ps(1.0f / sum), least = _mm512_set1_ps(kFloatMin * sum);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail(n - j);
    const __m512 e = _mm512_maskz_loadu_ps(m, s + j);
    const __mmask16 keep = _mm512_cmp_ps_mask(e, least, _CMP_NLT_UQ);
    _mm512_mask_storeu_ps(s + j, m, _mm512_maskz_mul_ps(keep, e, inv));
  }
}

void gelu(float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(m, p + i);
    const __m512 e = erf16(_mm512_mul_ps(x, _mm512_set1_ps(kSqrtHalf)));
    _mm512_mask_storeu_ps(p + i, m,
                          _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)),
                                        _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
  }
}

void gelu_tanh(float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(m, p + i);
    const __m512 cube = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    const __m512 inner = _mm512_add_ps(x, _mm512_mul_ps(_mm512_set1_ps(kGeluCubic), cube));
    const __m512 t = tanh16(_mm512_mul_ps(_mm512_set1_ps(kGeluTanhBeta), inner));
    _mm512_mask_storeu_ps(p + i, m,
                          _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)),
                                        _mm512_add_ps(_mm512_set1_ps(1.0f), t)));
  }
}

void layer_norm(const float* x, float* y, int64_t d, const float* weight, const float* bias,
                float eps) {
  __m512d sum = _mm512_setzero_pd();
  for (int64_t i = 0; i < d; i += 8)
    sum = _mm512_add_pd(sum, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(tail8(d - i), x + i)));
  const double mean = hsum(sum) / static_cast<double>(d);
  const __m512d vmean = _mm512_set1_pd(mean);
  __m512d sq = _mm512_setzero_pd();
  for (int64_t i = 0; i < d; i += 8) {
    const __mmask8 m = tail8(d - i);
    const __m512d c =
        _mm512_maskz_sub_pd(m, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i)), vmean);
    sq = _mm512_fmadd_pd(c, c, sq);
  }
  const double var = hsum(sq) / static_cast<double>(d);
  const __m512d inv = _mm512_set1_pd(1.0 / __builtin_sqrt(var + static_cast<double>(eps)));
  for (int64_t i = 0; i < d; i += 8) {
    const __mmask8 m = tail8(d - i);
    const __m256 t = _mm512_cvtpd_ps(
        _mm512_mul_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i)), vmean), inv));
    _mm256_mask_storeu_ps(y + i, m,
                          _mm256_add_ps(_mm256_mul_ps(t, _mm256_maskz_loadu_ps(m, weight + i)),
                                        _mm256_maskz_loadu_ps(m, bias + i)));
  }
}

}  // namespace avx512
}  // namespace ved::nn::kernels

#include "kernels/target_end.inc"

#undef VED_TARGET
#define VED_TARGET "avx2,fma"
#include "kernels/target_begin.inc"

namespace ved::nn::kernels {
namespace avx2 {
namespace {

__m256 exp8(__m256 x) {
  // 2^n is built in the exponent bits, so it must be a normal float: below −87.33 (where exp is
  // a denormal, < 1.2e-38) the result is 0.
  const __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33f), _CMP_LT_OQ);
  x = _mm256_max_ps(_mm256_set1_ps(-87.33f), x);
  x = _mm256_min_ps(_mm256_set1_ps(88.5f), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

__m256i tail_mask(int64_t left) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left < 8 ? left : 8)), lanes);
}

float hmax(__m256 v) {
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
}

float hsum(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

__m256 erf8(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(4.0f)), _mm256_set1_ps(-4.0f));
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(kErfP[0]);
  for (int i = 1; i < 7; ++i) p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(kErfP[i]));
  __m256 q = _mm256_set1_ps(kErfQ[0]);
  for (int i = 1; i < 5; ++i) q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(kErfQ[i]));
  return _mm256_div_ps(_mm256_mul_ps(x, p), q);
}

__m256 tanh8(__m256 u) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
  const __m256 a = _mm256_andnot_ps(sign_bit, u), u2 = _mm256_mul_ps(u, u);
  __m256 p = _mm256_set1_ps(kTanhTaylor[0]);
  for (int i = 1; i < 8; ++i) p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(kTanhTaylor[i]));
  const __m256 series = _mm256_fmadd_ps(_mm256_mul_ps(u, u2), p, u);
  // exp8 clamps a NaN to a number: NaN fails `small` and is put back below.
  const __m256 e = exp8(_mm256_add_ps(a, a));
  const __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  const __m256 small = _mm256_cmp_ps(a, _mm256_set1_ps(kTanhSeriesEnd), _CMP_LT_OQ);
  const __m256 nan = _mm256_cmp_ps(u, u, _CMP_UNORD_Q);
  const __m256 t = _mm256_blendv_ps(_mm256_or_ps(big, _mm256_and_ps(u, sign_bit)), series, small);
  return _mm256_blendv_ps(t, u, nan);
}

// Up to four floats, [0, left), widened to doubles (zero past left): tail_mask's low half
// is what a 128-bit maskload reads.
__m256d load4(const float* p, int64_t left) {
  return _mm256_cvtps_pd(_mm_maskload_ps(p, _mm256_castsi256_si128(tail_mask(left))));
}

double hsum(__m256d v) {
  const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

}  // namespace

void softmax(float* s, int64_t n, float scale, const float* bias, const float* bias2) {
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256 lowest = _mm256_set1_ps(-__builtin_inff());
  __m256 vmax = lowest;
  for (int64_t j = 0; j < n; j += 8) {
    const __m256i m = tail_mask(n - j);
    __m256 v = _mm256_mul_ps(_mm256_maskload_ps(s + j, m), vscale);
    if (bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias + j, m));
    if (bias2) v = _mm256_add_ps(v, _mm256_maskload_ps(bias2 + j, m));
    _mm256_maskstore_ps(s + j, m, v);
    vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(lowest, v, _mm256_castsi256_ps(m)));
  }
  const __m256 top = _mm256_set1_ps(hmax(vmax));
  __m256 vsum = _mm256_setzero_ps();
  for (int64_t j = 0; j < n; j += 8) {
    const __m256i m = tail_mask(n - j);
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(s + j, m), top)),
                                   _mm256_castsi256_ps(m));
    _mm256_maskstore_ps(s + j, m, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  const float sum = hsum(vsum);
  // e / sum below FLT_MIN is 0 (e < FLT_MIN · sum, unordered for a NaN e or sum: kept).
  const __m256 inv = _mm256_set1_ps(1.0f / sum), least = _mm256_set1_ps(kFloatMin * sum);
  for (int64_t j = 0; j < n; j += 8) {
    const __m256i m = tail_mask(n - j);
    const __m256 e = _mm256_maskload_ps(s + j, m);
    const __m256 keep = _mm256_cmp_ps(e, least, _CMP_NLT_UQ);
    _mm256_maskstore_ps(s + j, m, _mm256_mul_ps(_mm256_and_ps(keep, e), inv));
  }
}

void gelu(float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask(n - i);
    const __m256 x = _mm256_maskload_ps(p + i, m);
    const __m256 e = erf8(_mm256_mul_ps(x, _mm256_set1_ps(kSqrtHalf)));
    _mm256_maskstore_ps(p + i, m,
                        _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)),
                                      _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
  }
}

void gelu_tanh(float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask(n - i);
    const __m256 x = _mm256_maskload_ps(p + i, m);
    const __m256 cube = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    const __m256 inner = _mm256_add_ps(x, _mm256_mul_ps(_mm256_set1_ps(kGeluCubic), cube));
    const __m256 t = tanh8(_mm256_mul_ps(_mm256_set1_ps(kGeluTanhBeta), inner));
    _mm256_maskstore_ps(p + i, m,
                        _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)),
                                      _mm256_add_ps(_mm256_set1_ps(1.0f), t)));
  }
}

void layer_norm(const float* x, float* y, int64_t d, const float* weight, const float* bias,
                float eps) {
  __m256d sum = _mm256_setzero_pd();
  for (int64_t i = 0; i < d; i += 4) sum = _mm256_add_pd(sum, load4(x + i, d - i));
  const double mean = hsum(sum) / static_cast<double>(d);
  const __m256d vmean = _mm256_set1_pd(mean);
  __m256d sq = _mm256_setzero_pd();
  for (int64_t i = 0; i < d; i += 4) {
    const __m256d c = _mm256_sub_pd(load4(x + i, d - i), vmean);
    // Lanes past d loaded 0, so they contribute mean² each: masked out below.
    const __m256d keep = _mm256_castsi256_pd(
        _mm256_cmpgt_epi64(_mm256_set1_epi64x(d - i), _mm256_setr_epi64x(0, 1, 2, 3)));
    sq = _mm256_fmadd_pd(_mm256_and_pd(c, keep), _mm256_and_pd(c, keep), sq);
  }
  const double var = hsum(sq) / static_cast<double>(d);
  const __m256d inv = _mm256_set1_pd(1.0 / __builtin_sqrt(var + static_cast<double>(eps)));
  for (int64_t i = 0; i < d; i += 4) {
    const __m128i m = _mm256_castsi256_si128(tail_mask(d - i));
    const __m128 t = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(load4(x + i, d - i), vmean), inv));
    _mm_maskstore_ps(
        y + i, m,
        _mm_add_ps(_mm_mul_ps(t, _mm_maskload_ps(weight + i, m)), _mm_maskload_ps(bias + i, m)));
  }
}

}  // namespace avx2
}  // namespace ved::nn::kernels

#include "kernels/target_end.inc"
