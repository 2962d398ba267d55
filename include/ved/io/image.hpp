#pragma once

// Image loading the way transformers' `load_image` does it: PIL.Image.open, then
// ImageOps.exif_transpose, then .convert("RGB").
//
// Decoding is stb_image (compiled in src/image_io.cpp) with its JPEG kernels replaced by ones
// that follow libjpeg-turbo's arithmetic, so PNG, JPEG (4:4:4, 4:2:2, 4:2:0, grey, progressive,
// CMYK), BMP, GIF and PNM files decode to the same pixels as PIL 9.4 (4:4:0 JPEGs may differ by
// one level). The EXIF orientation parser and the transposes live here so that they can be used
// and tested without stb.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "ved/error.hpp"

namespace ved {

// An 8-bit RGB image: interleaved R, G, B, row-major, `rgb.size() == width * height * 3`.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;

  Image() = default;
  // A zero-filled (black) w x h image.
  Image(int w, int h) : width(w), height(h), rgb(static_cast<size_t>(w) * h * 3) {}
  // Wraps existing pixels (the sizes are checked by the functions that use the image).
  Image(int w, int h, std::vector<uint8_t> pixels) : width(w), height(h), rgb(std::move(pixels)) {}

  bool empty() const { return width <= 0 || height <= 0; }
  uint8_t* row(int y) { return rgb.data() + static_cast<size_t>(y) * width * 3; }
  const uint8_t* row(int y) const { return rgb.data() + static_cast<size_t>(y) * width * 3; }
};

// Hard ceilings on image sizes (stb_image's and the resampler's). Files are checked against
// Limits::max_image_side / max_image_pixels (ved/limits.hpp; by default these same values, and
// never above them) before any pixel memory is allocated, so a 60-byte file claiming
// 65535 x 65535 pixels is a FormatError, not 12 GiB.
constexpr int kMaxImageSide = 65535;
constexpr int64_t kMaxImagePixels = int64_t(1) << 28;

// Reads and decodes an image file (PNG, JPEG, BMP, GIF (first frame), PSD, PNM) into RGB, applying
// the EXIF orientation of JPEG (APP1) and PNG (eXIf) files. Grey is replicated to three channels;
// alpha is dropped, not composited (PIL's convert("RGB")).
// Throws IoError when the file cannot be opened or read, FormatError when its contents are not a
// supported, complete image of acceptable size.
Image load_image(const std::string& path);

// The same from bytes in memory; `name` identifies the data in error messages.
Image decode_image(const unsigned char* data, size_t size, const std::string& name);

// PIL's Image.transpose operations, with PIL's names and numbering.
enum class Transpose {
  FlipLeftRight = 0,
  FlipTopBottom = 1,
  Rotate90 = 2,  // counter-clockwise
  Rotate180 = 3,
  Rotate270 = 4,  // counter-clockwise, i.e. 90 degrees clockwise
  Transpose = 5,  // mirror across the main diagonal
  Transverse = 6  // mirror across the anti-diagonal
};

inline Image transpose_image(const Image& in, Transpose op) {
  const int w = in.width, h = in.height;
  const bool swap = op == Transpose::Rotate90 || op == Transpose::Rotate270 ||
                    op == Transpose::Transpose || op == Transpose::Transverse;
  Image out(swap ? h : w, swap ? w : h);
  for (int r = 0; r < out.height; ++r) {
    uint8_t* dst = out.row(r);
    for (int c = 0; c < out.width; ++c) {
      int sy = 0, sx = 0;  // source pixel of output (r, c)
      switch (op) {
        case Transpose::FlipLeftRight:
          sy = r, sx = w - 1 - c;
          break;
        case Transpose::FlipTopBottom:
          sy = h - 1 - r, sx = c;
          break;
        case Transpose::Rotate90:
          sy = c, sx = w - 1 - r;
          break;
        case Transpose::Rotate180:
          sy = h - 1 - r, sx = w - 1 - c;
          break;
        case Transpose::Rotate270:
          sy = h - 1 - c, sx = r;
          break;
        case Transpose::Transpose:
          sy = c, sx = r;
          break;
        case Transpose::Transverse:
          sy = h - 1 - c, sx = w - 1 - r;
          break;
      }
      std::memcpy(dst + c * 3, in.row(sy) + sx * 3, 3);
    }
  }
  return out;
}

// ImageOps.exif_transpose: orientation 1 (or anything not in 2..8) leaves the image unchanged.
inline Image apply_exif_orientation(Image img, int orientation) {
  switch (orientation) {
    case 2:
      return transpose_image(img, Transpose::FlipLeftRight);
    case 3:
      return transpose_image(img, Transpose::Rotate180);
    case 4:
      return transpose_image(img, Transpose::FlipTopBottom);
    case 5:
      return transpose_image(img, Transpose::Transpose);
    case 6:
      return transpose_image(img, Transpose::Rotate270);
    case 7:
      return transpose_image(img, Transpose::Transverse);
    case 8:
      return transpose_image(img, Transpose::Rotate90);
    default:
      return img;
  }
}

namespace detail {

// The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block (optionally prefixed by
// "Exif\0\0"), or 0 when absent or unreadable. Every offset is bounds-checked: the block comes
// straight from the file.
inline int exif_orientation_from_tiff(const unsigned char* p, size_t n) {
  if (n >= 6 && std::memcmp(p, "Exif\0\0", 6) == 0) p += 6, n -= 6;
  if (n < 8) return 0;
  bool le;
  if (p[0] == 'I' && p[1] == 'I') {
    le = true;
  } else if (p[0] == 'M' && p[1] == 'M') {
    le = false;
  } else {
    return 0;
  }
  auto u16 = [&](size_t off) -> uint32_t {
    return le ? (p[off] | (p[off + 1] << 8)) : ((p[off] << 8) | p[off + 1]);
  };
  auto u32 = [&](size_t off) -> uint32_t {
    return le ? (uint32_t(p[off]) | uint32_t(p[off + 1]) << 8 | uint32_t(p[off + 2]) << 16 |
                 uint32_t(p[off + 3]) << 24)
              : (uint32_t(p[off]) << 24 | uint32_t(p[off + 1]) << 16 | uint32_t(p[off + 2]) << 8 |
                 uint32_t(p[off + 3]));
  };
  if (u16(2) != 42) return 0;
  const size_t ifd = u32(4);
  if (ifd > n || n - ifd < 2) return 0;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + i * 12;
    if (e > n || n - e < 12) return 0;
    if (u16(e) != 0x0112) continue;
    const uint32_t type = u16(e + 2), num = u32(e + 4);
    if (num != 1) return 0;  // PIL reads a tuple, which matches no orientation
    switch (type) {
      case 1:
      case 6:
        return p[e + 8];  // BYTE, SBYTE
      case 3:
      case 8:
        return static_cast<int>(u16(e + 8));  // SHORT, SSHORT
      case 4:
      case 9:
        return static_cast<int>(u32(e + 8) & 0xffff);  // LONG, SLONG
      default:
        return 0;
    }
  }
  return 0;
}

// Orientation from the first "Exif" APP1 segment before the first scan of a JPEG (PIL keeps the
// first one it sees).
inline int jpeg_exif_orientation(const unsigned char* p, size_t n) {
  if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) return 0;
  size_t i = 2;
  while (i + 4 <= n) {
    if (p[i] != 0xFF) return 0;
    const unsigned char m = p[i + 1];
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // markers without a length
      i += 2;
      continue;
    }
    if (m == 0xDA || m == 0xD9) return 0;  // start of scan / end of image: headers are over
    const size_t len = (size_t(p[i + 2]) << 8) | p[i + 3];
    if (len < 2 || len > n - i - 2) return 0;
    const unsigned char* seg = p + i + 4;
    const size_t seg_len = len - 2;
    if (m == 0xE1 && seg_len >= 5 && std::memcmp(seg, "Exif\0", 5) == 0)
      return exif_orientation_from_tiff(seg, seg_len);
    i += 2 + len;
  }
  return 0;
}

// Orientation from a PNG eXIf chunk.
inline int png_exif_orientation(const unsigned char* p, size_t n) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n < 8 || std::memcmp(p, sig, 8) != 0) return 0;
  size_t i = 8;
  while (i + 12 <= n) {
    const size_t len =
        (size_t(p[i]) << 24) | (size_t(p[i + 1]) << 16) | (size_t(p[i + 2]) << 8) | p[i + 3];
    const unsigned char* type = p + i + 4;
    if (len > n - i - 12) return 0;
    if (std::memcmp(type, "eXIf", 4) == 0) return exif_orientation_from_tiff(p + i + 8, len);
    if (std::memcmp(type, "IEND", 4) == 0) return 0;
    i += 12 + len;
  }
  return 0;
}

inline int exif_orientation(const unsigned char* p, size_t n) {
  if (n >= 2 && p[0] == 0xFF && p[1] == 0xD8) return jpeg_exif_orientation(p, n);
  if (n >= 8 && p[0] == 0x89 && p[1] == 'P') return png_exif_orientation(p, n);
  return 0;
}

}  // namespace detail
}  // namespace ved
