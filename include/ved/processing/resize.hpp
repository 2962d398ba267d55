#pragma once

// Bit-exact reimplementation of PIL's resampling of 8-bit RGB images (Pillow's
// libImaging/Resample.c, Reduce.c and the nearest-neighbour affine scaler, plus the Python-level
// logic of Image.resize / Image.reduce), because transformers' image processors resize with PIL
// and the models see the rounded uint8 result.
//
// What has to match PIL for bit-exactness:
//  * filters are evaluated in double, with the support scaled by the downscale factor
//    (antialiasing), windows clipped to the image and weights normalised to sum 1;
//  * weights become fixed point with 22 fractional bits (round half away from zero), each output
//    is `(2^21 + sum(pixel * weight)) >> 22` clamped to 0..255, per pass;
//  * the horizontal pass runs first, only on the rows the vertical pass will read, and a pass is
//    skipped when its axis keeps its size;
//  * PIL is built without FMA, so no product below may be fused with an addition (see rounded()).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ved/error.hpp"
#include "ved/io/image.hpp"

namespace ved {

// PIL's resampling filters, numbered as PIL.Image.Resampling (the values of `resample` in
// preprocessor_config.json).
enum class Resample { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };

inline const char* resample_name(Resample r) {
  switch (r) {
    case Resample::Nearest:
      return "NEAREST";
    case Resample::Lanczos:
      return "LANCZOS";
    case Resample::Bilinear:
      return "BILINEAR";
    case Resample::Bicubic:
      return "BICUBIC";
    case Resample::Box:
      return "BOX";
    case Resample::Hamming:
      return "HAMMING";
  }
  return "?";
}

inline bool resample_from_int(int64_t v, Resample* out) {
  if (v < 0 || v > 5) return false;
  *out = static_cast<Resample>(v);
  return true;
}

namespace detail {

inline void check_rgb_image(const Image& img, const char* what) {
  if (img.width <= 0 || img.height <= 0 ||
      img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3)
    throw InvalidArgument(std::string(what) + ": invalid image (" + std::to_string(img.width) +
                          "x" + std::to_string(img.height) + " with " +
                          std::to_string(img.rgb.size()) + " bytes)");
}

inline void check_resize_target(int width, int height, const char* what) {
  if (width < 1 || height < 1 || width > kMaxImageSide || height > kMaxImageSide ||
      static_cast<int64_t>(width) * height > kMaxImagePixels)
    throw InvalidArgument(std::string(what) + ": output size " + std::to_string(width) + "x" +
                          std::to_string(height) + " is empty or exceeds the image limits");
}

}  // namespace detail

// Internals of PIL's resampler (libImaging/Resample.c and Geometry.c).
namespace detail::pil {

constexpr int kResamplePrecisionBits = 32 - 8 - 2;

// Forces `x` to be rounded to a double before it is used, so that the compiler cannot contract
// it with a following addition into an FMA (GCC does so by default under -march with FMA). PIL's
// wheels are built without FMA, and a one-ulp change in a window centre can move a window edge.
inline double rounded(double x) {
  volatile double v = x;
  return v;
}

inline double filter_support(Resample f) {
  switch (f) {
    case Resample::Box:
      return 0.5;
    case Resample::Bilinear:
      return 1.0;
    case Resample::Hamming:
      return 1.0;
    case Resample::Bicubic:
      return 2.0;
    case Resample::Lanczos:
      return 3.0;
    case Resample::Nearest:
      break;
  }
  return 0.0;
}

inline double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * 3.14159265358979323846;
  return std::sin(x) / x;
}

// The filter kernels, with PIL's exact expressions (including its float constants in HAMMING).
inline double filter_value(Resample f, double x) {
  switch (f) {
    case Resample::Box:
      return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
    case Resample::Bilinear:
      if (x < 0.0) x = -x;
      return x < 1.0 ? 1.0 - x : 0.0;
    case Resample::Hamming:
      if (x < 0.0) x = -x;
      if (x == 0.0) return 1.0;
      if (x >= 1.0) return 0.0;
      x = x * 3.14159265358979323846;
      return std::sin(x) / x *
             (static_cast<double>(0.54f) + rounded(static_cast<double>(0.46f) * std::cos(x)));
    case Resample::Bicubic: {
      const double a = -0.5;
      if (x < 0.0) x = -x;
      if (x < 1.0) {
        const double t = rounded((a + 2.0) * x) - (a + 3.0);
        return rounded(t * x * x) + 1;
      }
      if (x < 2.0) {
        double t = rounded((x - 5) * x) + 8;
        t = rounded(t * x) - 4;
        return t * a;
      }
      return 0.0;
    }
    case Resample::Lanczos:
      return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
    case Resample::Nearest:
      break;
  }
  return 0.0;
}

// Fixed-point weights of one resampling pass: output i reads `count[i]` input samples starting at
// `start[i]` with weights `k[i * ksize ...]`.
struct ResampleWeights {
  int ksize = 0;
  std::vector<int> start, count;
  std::vector<int32_t> k;
};

// PIL's precompute_coeffs + normalize_coeffs_8bpc for the input span [in0, in1) (PIL passes the
// box as C floats) mapped onto `out_size` samples.
inline ResampleWeights resample_weights(int in_size, float in0, float in1, int out_size,
                                        Resample f) {
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = rounded(filter_support(f) * filterscale);
  ResampleWeights w;
  w.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  w.start.resize(out_size);
  w.count.resize(out_size);
  w.k.assign(static_cast<size_t>(out_size) * w.ksize, 0);
  std::vector<double> kd(w.ksize);
  const double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + rounded((xx + 0.5) * scale);
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double v = rounded(filter_value(f, rounded((x + xmin - center + 0.5) * ss)));
      kd[x] = v;
      ww += v;
    }
    int32_t* k = &w.k[static_cast<size_t>(xx) * w.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? kd[x] / ww : kd[x];
      const double scaled = v * (1 << kResamplePrecisionBits);
      k[x] = static_cast<int32_t>(v < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    w.start[xx] = xmin;
    w.count[xx] = std::max(xmax, 0);
  }
  return w;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kResamplePrecisionBits;  // arithmetic shift, as in PIL
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Horizontal pass over input rows [row0, row0 + out.height).
inline void resample_horizontal(const Image& in, Image& out, int row0, const ResampleWeights& w) {
  const int32_t half = 1 << (kResamplePrecisionBits - 1);
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src = in.row(y + row0);
    uint8_t* dst = out.row(y);
    for (int xx = 0; xx < out.width; ++xx) {
      const int32_t* k = &w.k[static_cast<size_t>(xx) * w.ksize];
      const uint8_t* p = src + static_cast<size_t>(w.start[xx]) * 3;
      int32_t s0 = half, s1 = half, s2 = half;
      for (int x = 0; x < w.count[xx]; ++x, p += 3) {
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      dst[xx * 3 + 0] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
}

// Vertical pass; `w.start` is relative to the first row of `in`.
inline void resample_vertical(const Image& in, Image& out, const ResampleWeights& w) {
  const int32_t half = 1 << (kResamplePrecisionBits - 1);
  const size_t stride = static_cast<size_t>(in.width) * 3;
  std::vector<int32_t> acc(stride);
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &w.k[static_cast<size_t>(yy) * w.ksize];
    std::fill(acc.begin(), acc.end(), half);
    // Row-wise accumulation: the same integer sums as PIL's column loop, in cache order.
    for (int y = 0; y < w.count[yy]; ++y) {
      const uint8_t* src = in.row(w.start[yy] + y);
      const int32_t ky = k[y];
      for (size_t i = 0; i < stride; ++i) acc[i] += src[i] * ky;
    }
    uint8_t* dst = out.row(yy);
    for (size_t i = 0; i < stride; ++i) dst[i] = clip8(acc[i]);
  }
}

// PIL's ImagingScaleAffine for NEAREST: sample positions accumulate in double, as in PIL.
inline Image resample_nearest(const Image& in, int width, int height, const float box[4]) {
  Image out(width, height);  // zero-filled, as PIL's `fill`
  const double a0 = static_cast<double>(box[2] - box[0]) / width;
  const double a4 = static_cast<double>(box[3] - box[1]) / height;
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };
  std::vector<int> xin(width, -1);
  double xo = box[0] + a0 * 0.5;
  for (int x = 0; x < width; ++x, xo += a0) {
    const int xi = coord(xo);
    if (xi >= 0 && xi < in.width) xin[x] = xi;
  }
  double yo = box[1] + a4 * 0.5;
  for (int y = 0; y < height; ++y, yo += a4) {
    const int yi = coord(yo);
    if (yi < 0 || yi >= in.height) continue;
    const uint8_t* src = in.row(yi);
    uint8_t* dst = out.row(y);
    for (int x = 0; x < width; ++x)
      if (xin[x] >= 0) std::memcpy(dst + x * 3, src + xin[x] * 3, 3);
  }
  return out;
}

// PIL's C-level resize (`Image.im.resize(size, resample, box)`): `box` is the source region as
// C floats.
inline Image resample_box(const Image& in, int width, int height, Resample f, const float box[4]) {
  // An integer box of exactly the requested size is a crop.
  if (box[0] - static_cast<int>(box[0]) == 0 && box[2] - box[0] == width &&
      box[1] - static_cast<int>(box[1]) == 0 && box[3] - box[1] == height) {
    Image out(width, height);
    const int x0 = static_cast<int>(box[0]), y0 = static_cast<int>(box[1]);
    for (int y = 0; y < height; ++y)
      std::memcpy(out.row(y), in.row(y + y0) + static_cast<size_t>(x0) * 3,
                  static_cast<size_t>(width) * 3);
    return out;
  }
  if (f == Resample::Nearest) return resample_nearest(in, width, height, box);

  const bool need_h = width != in.width || box[0] != 0 || box[2] != width;
  const bool need_v = height != in.height || box[1] != 0 || box[3] != height;
  ResampleWeights wv = resample_weights(in.height, box[1], box[3], height, f);
  const int ybox_first = wv.start[0];
  const int ybox_last = wv.start[height - 1] + wv.count[height - 1];

  Image temp;
  const Image* src = &in;
  if (need_h) {
    const ResampleWeights wh = resample_weights(in.width, box[0], box[2], width, f);
    for (int& s : wv.start) s -= ybox_first;
    temp = Image(width, ybox_last - ybox_first);
    resample_horizontal(in, temp, ybox_first, wh);
    src = &temp;
  }
  if (need_v) {
    Image out(src->width, height);
    resample_vertical(*src, out, wv);
    return out;
  }
  return need_h ? temp : in;
}

}  // namespace detail::pil

// PIL's Image.reduce((factor_x, factor_y)): each output pixel is the rounded mean of a
// factor_x x factor_y block (partial blocks at the right and bottom edges average what exists).
// PIL divides with a float-derived reciprocal, reproduced here.
inline Image reduce_image(const Image& in, int factor_x, int factor_y) {
  detail::check_rgb_image(in, "reduce_image");
  if (factor_x < 1 || factor_y < 1)
    throw InvalidArgument("reduce_image: factors must be >= 1, got " + std::to_string(factor_x) +
                          "x" + std::to_string(factor_y));
  if (factor_x == 1 && factor_y == 1) return in;
  const int ow = (in.width + factor_x - 1) / factor_x;
  const int oh = (in.height + factor_y - 1) / factor_y;
  Image out(ow, oh);
  for (int oy = 0; oy < oh; ++oy) {
    const int y0 = oy * factor_y, y1 = std::min(in.height, y0 + factor_y);
    for (int ox = 0; ox < ow; ++ox) {
      const int x0 = ox * factor_x, x1 = std::min(in.width, x0 + factor_x);
      const uint32_t n = static_cast<uint32_t>((x1 - x0) * (y1 - y0));
      const uint32_t multiplier =
          static_cast<uint32_t>(4294967296.0f / static_cast<float>(256u * n));
      uint32_t s[3] = {n / 2, n / 2, n / 2};
      for (int y = y0; y < y1; ++y) {
        const uint8_t* p = in.row(y) + static_cast<size_t>(x0) * 3;
        for (int x = x0; x < x1; ++x, p += 3) s[0] += p[0], s[1] += p[1], s[2] += p[2];
      }
      uint8_t* d = out.row(oy) + static_cast<size_t>(ox) * 3;
      for (int c = 0; c < 3; ++c) d[c] = static_cast<uint8_t>((s[c] * multiplier) >> 24);
    }
  }
  return out;
}

// PIL's Image.resize((width, height), resample, reducing_gap=...) on an RGB image.
// `reducing_gap` <= 0 means None. With a gap, an axis shrinking by at least 2 * gap is first
// box-reduced by the integer factor int(in / out / gap) and then resampled from the fractional
// box that maps onto the original extent (this is what thumbnail() does with gap 2).
inline Image resize_image(const Image& in, int width, int height, Resample f,
                          double reducing_gap = 0.0) {
  detail::check_rgb_image(in, "resize_image");
  detail::check_resize_target(width, height, "resize_image");
  if (reducing_gap > 0.0 && reducing_gap < 1.0)
    throw InvalidArgument("resize_image: reducing_gap must be 1.0 or greater, got " +
                          std::to_string(reducing_gap));
  if (width == in.width && height == in.height) return in;
  float box[4] = {0.0f, 0.0f, static_cast<float>(in.width), static_cast<float>(in.height)};
  if (reducing_gap > 0.0 && f != Resample::Nearest) {
    int fx = static_cast<int>(static_cast<double>(in.width) / width / reducing_gap);
    int fy = static_cast<int>(static_cast<double>(in.height) / height / reducing_gap);
    if (fx < 1) fx = 1;
    if (fy < 1) fy = 1;
    if (fx > 1 || fy > 1) {
      // PIL widens the reduce box by the filter support (_get_safe_box); for a full-image box
      // that is the whole image again.
      const Image reduced = reduce_image(in, fx, fy);
      const float rbox[4] = {0.0f, 0.0f, static_cast<float>(static_cast<double>(in.width) / fx),
                             static_cast<float>(static_cast<double>(in.height) / fy)};
      return detail::pil::resample_box(reduced, width, height, f, rbox);
    }
  }
  return detail::pil::resample_box(in, width, height, f, box);
}

}  // namespace ved
