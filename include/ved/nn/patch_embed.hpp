#pragma once

// nn.Conv2d(C, out, kernel_size=patch, stride=patch): the patch embedding of ViT, DeiT, BEiT and
// Swin. Patches never overlap, so the convolution is one GEMM over unfolded patches.

#include <algorithm>

#include "ved/detail/parallel.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/nn/linear.hpp"
#include "ved/tensor.hpp"

namespace ved::nn {

struct PatchConv2d {
  Linear projection;  // weight [out, C, ph, pw] kept as [out, C*ph*pw], bias [out]
  int64_t channels = 3, patch_h = 16, patch_w = 16;

  // Loads <prefix>.weight [out, C, ph, pw] and <prefix>.bias [out].
  static PatchConv2d load(const WeightLoader& w, int64_t channels, int64_t patch_h, int64_t patch_w,
                          int64_t out) {
    PatchConv2d c;
    c.channels = channels;
    c.patch_h = patch_h;
    c.patch_w = patch_w;
    // Always f32: the patch projection is a sliver of the arithmetic and sees raw pixels.
    c.projection = Linear(WeightMatrix(w.get("weight", {out, channels, patch_h, patch_w})
                                           .reshape({out, channels * patch_h * patch_w})),
                          w.get("bias", {out}));
    return c;
  }

  struct Output {
    Tensor<float> tokens;  // [B, grid_h * grid_w, out], patches in row-major order
    int64_t grid_h = 0, grid_w = 0;
  };

  // pixel_values [B, C, H, W]. Without `pad`, trailing rows/columns that do not fill a patch are
  // dropped, as Conv2d does; with `pad`, the image is first zero-padded on the right and bottom
  // to a multiple of the patch (Swin's maybe_pad), so they land in a last, partial patch.
  Output forward(const Tensor<float>& pixel_values, bool pad) const {
    const int64_t B = pixel_values.dim(0), H = pixel_values.dim(2), W = pixel_values.dim(3);
    const int64_t ph = patch_h, pw = patch_w;
    Output o;
    o.grid_h = pad ? (H + ph - 1) / ph : H / ph;
    o.grid_w = pad ? (W + pw - 1) / pw : W / pw;
    const int64_t gh = o.grid_h, gw = o.grid_w, k = channels * ph * pw;
    Tensor<float> cols({B, gh * gw, k});  // zero-filled: padding needs no explicit writes
    const float* src = pixel_values.data();
    float* dst = cols.data();
    parallel_for(0, B * gh, 1, [&](int64_t bi) {
      const int64_t b = bi / gh, i = bi % gh;
      for (int64_t j = 0; j < gw; ++j) {
        float* out = dst + ((b * gh + i) * gw + j) * k;
        const int64_t x0 = j * pw, n = std::min(pw, W - x0);
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t y = 0; y < ph && i * ph + y < H; ++y) {
            const float* row = src + ((b * channels + c) * H + i * ph + y) * W + x0;
            std::copy(row, row + n, out + (c * ph + y) * pw);
          }
      }
    });
    o.tokens = projection.forward(cols);
    return o;
  }
};

}  // namespace ved::nn
