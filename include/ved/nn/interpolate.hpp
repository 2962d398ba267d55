#pragma once

// torch.nn.functional.interpolate(mode="bicubic" | "bilinear", align_corners=False) on a grid of
// feature vectors, as transformers uses it to resize learned position tables to another input
// size (ViT/DeiT interpolate_pos_encoding and BEiT's absolute positions: bicubic; BEiT's
// relative position bias table: bilinear).
//
// Grids are channels-last: [H, W, C] row-major, which is how position tables are stored
// ([1 + H*W, C] minus the prefix rows). The weights follow ATen's CPU kernels (torch 1.13,
// UpSampleKernel.cpp) in float32: source coordinate (dst + 0.5) * in/out - 0.5, Keys' cubic
// convolution with A = -0.75 and clamped border taps for bicubic, clamped linear weights for
// bilinear; rows (height) are the outer sum, columns the inner one.

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "ved/detail/parallel.hpp"
#include "ved/tensor.hpp"

namespace ved::detail {

struct InterpTaps {
  std::vector<std::array<int64_t, 4>> index;  // source index of each tap, clamped to [0, in)
  std::vector<std::array<float, 4>> weight;
};

// area_pixel_compute_scale / area_pixel_compute_source_index with align_corners=False and no
// explicit scale factor (transformers passes `size`).
inline float interp_source_index(int64_t in, int64_t out, int64_t dst) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  return scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
}

inline InterpTaps interp_cubic_taps(int64_t in, int64_t out) {
  constexpr float A = -0.75f;
  // Keys' kernel: |x| <= 1 and 1 < |x| < 2, written as ATen writes them.
  auto conv1 = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto conv2 = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  InterpTaps t;
  for (int64_t i = 0; i < out; ++i) {
    const float real = interp_source_index(in, out, i);
    const int64_t base = static_cast<int64_t>(std::floor(real));
    const float f = real - static_cast<float>(base);
    t.weight.push_back({conv2(f + 1.0f), conv1(f), conv1(1.0f - f), conv2((1.0f - f) + 1.0f)});
    std::array<int64_t, 4> idx{};
    for (int64_t j = 0; j < 4; ++j) idx[j] = std::clamp<int64_t>(base - 1 + j, 0, in - 1);
    t.index.push_back(idx);
  }
  return t;
}

inline InterpTaps interp_linear_taps(int64_t in, int64_t out) {
  InterpTaps t;
  for (int64_t i = 0; i < out; ++i) {
    if (in == out) {  // ATen copies when the sizes agree
      t.index.push_back({i, i, 0, 0});
      t.weight.push_back({1.0f, 0.0f, 0.0f, 0.0f});
      continue;
    }
    const float real = std::max(interp_source_index(in, out, i), 0.0f);
    const int64_t i0 = std::min(static_cast<int64_t>(real), in - 1);
    const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    const float l1 = std::min(std::max(real - static_cast<float>(i0), 0.0f), 1.0f);
    t.index.push_back({i0, i1, 0, 0});
    t.weight.push_back({1.0f - l1, l1, 0.0f, 0.0f});
  }
  return t;
}

// out[y][x] = sum_i wy[i] * (sum_j wx[j] * in[iy[i]][ix[j]]), accumulated in tap order.
template <int kTaps>
Tensor<float> interp_resample(const Tensor<float>& grid, int64_t out_h, int64_t out_w,
                              const InterpTaps& ty, const InterpTaps& tx) {
  const int64_t W = grid.dim(1), C = grid.dim(2);
  Tensor<float> out({out_h, out_w, C});
  const float* src = grid.data();
  float* dst = out.data();
  parallel_for(0, out_h * out_w, 16, [&](int64_t p) {
    const int64_t y = p / out_w, x = p % out_w;
    float* o = dst + p * C;
    for (int64_t c = 0; c < C; ++c) {
      float acc = 0.0f;
      for (int i = 0; i < kTaps; ++i) {
        const float* row = src + ty.index[y][i] * W * C + c;
        float t = row[tx.index[x][0] * C] * tx.weight[x][0];
        for (int j = 1; j < kTaps; ++j) t += row[tx.index[x][j] * C] * tx.weight[x][j];
        acc = i == 0 ? t * ty.weight[y][0] : acc + t * ty.weight[y][i];
      }
      o[c] = acc;
    }
  });
  return out;
}

}  // namespace ved::detail

namespace ved::nn {

// Bicubic resize of grid [H, W, C] to [out_h, out_w, C].
inline Tensor<float> interpolate_bicubic(const Tensor<float>& grid, int64_t out_h, int64_t out_w) {
  if (grid.dim(0) == out_h && grid.dim(1) == out_w) return grid.clone();
  return detail::interp_resample<4>(grid, out_h, out_w,
                                    detail::interp_cubic_taps(grid.dim(0), out_h),
                                    detail::interp_cubic_taps(grid.dim(1), out_w));
}

// Bilinear resize of grid [H, W, C] to [out_h, out_w, C].
inline Tensor<float> interpolate_bilinear(const Tensor<float>& grid, int64_t out_h, int64_t out_w) {
  if (grid.dim(0) == out_h && grid.dim(1) == out_w) return grid.clone();
  return detail::interp_resample<2>(grid, out_h, out_w,
                                    detail::interp_linear_taps(grid.dim(0), out_h),
                                    detail::interp_linear_taps(grid.dim(1), out_w));
}

}  // namespace ved::nn
