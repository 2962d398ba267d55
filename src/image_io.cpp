// Image decoding with stb_image (Debian's libstb-dev), following transformers' load_image:
// PIL.Image.open -> ImageOps.exif_transpose -> .convert("RGB").

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "ved/io/image.hpp"
#include "ved/limits.hpp"

// ---- JPEG kernels matching libjpeg-turbo ----
//
// transformers decodes JPEG through PIL, i.e. libjpeg-turbo with its defaults (ISLOW integer IDCT,
// "fancy" triangular chroma upsampling, table-based YCbCr->RGB). stb_image's own kernels round
// differently (a few uint8 levels apart) and its 4:2:2 upsampler weights the last chroma column
// wrongly (errors of 100+ levels in the last two pixel columns). The four kernels below replace
// stb's and follow libjpeg-turbo's arithmetic exactly, so that the decoded pixels are the ones
// transformers sees. They are hooked in by name: stb assigns `stbi__idct_block` etc. to function
// pointers, and the function-like macros further down rename only stb's own definitions (which
// are followed by '('), so those assignments pick up these functions instead. If a future stb
// renamed its kernels these would be unused and the build would warn (-Wunused-function).

// Internal linkage: nothing here may collide with ved::detail helpers in headers.
namespace ved {
namespace {

// The ISLOW IDCT (Loeffler-Ligtenberg-Moschytz with 13-bit constants, two extra bits between
// passes); `coef` holds dequantized coefficients in natural order.
constexpr int kIdctConstBits = 13, kIdctPass1Bits = 2;
constexpr int64_t idct_fix(double x) {
  return static_cast<int64_t>(x * (1 << kIdctConstBits) + 0.5);
}

int64_t descale(int64_t x, int n) {
  return (x + (int64_t(1) << (n - 1))) >> n;
}

// libjpeg's post-IDCT range limit: values are centred on 0 and masked to 10 bits, so only
// hostile data ever reaches the wrap-around part.
unsigned char idct_range_limit(int64_t x) {
  const int v = static_cast<int>(x & 1023);
  if (v < 128) return static_cast<unsigned char>(v + 128);
  if (v < 512) return 255;
  if (v < 896) return 0;
  return static_cast<unsigned char>(v - 896);
}

// One 8-point 1-D IDCT; in[k] is frequency k. Writes the 8 outputs before descaling.
void idct_1d(const int64_t in[8], int64_t out[8]) {
  int64_t z2 = in[2], z3 = in[6];
  int64_t z1 = (z2 + z3) * idct_fix(0.541196100);
  const int64_t t2 = z1 + z3 * -idct_fix(1.847759065);
  const int64_t t3 = z1 + z2 * idct_fix(0.765366865);
  z2 = in[0], z3 = in[4];
  const int64_t t0 = (z2 + z3) * (int64_t(1) << kIdctConstBits);
  const int64_t t1 = (z2 - z3) * (int64_t(1) << kIdctConstBits);
  const int64_t t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;

  int64_t o0 = in[7], o1 = in[5], o2 = in[3], o3 = in[1];
  z1 = o0 + o3, z2 = o1 + o2, z3 = o0 + o2;
  int64_t z4 = o1 + o3;
  const int64_t z5 = (z3 + z4) * idct_fix(1.175875602);
  o0 *= idct_fix(0.298631336);
  o1 *= idct_fix(2.053119869);
  o2 *= idct_fix(3.072711026);
  o3 *= idct_fix(1.501321110);
  z1 *= -idct_fix(0.899976223);
  z2 *= -idct_fix(2.562915447);
  z3 = z3 * -idct_fix(1.961570560) + z5;
  z4 = z4 * -idct_fix(0.390180644) + z5;
  o0 += z1 + z3, o1 += z2 + z4, o2 += z2 + z3, o3 += z1 + z4;

  out[0] = t10 + o3, out[7] = t10 - o3;
  out[1] = t11 + o2, out[6] = t11 - o2;
  out[2] = t12 + o1, out[5] = t12 - o1;
  out[3] = t13 + o0, out[4] = t13 - o0;
}

void jpeg_idct_islow(unsigned char* out, int stride, const short* coef) {
  int64_t ws[64];
  for (int c = 0; c < 8; ++c) {  // columns
    int64_t in[8], res[8];
    bool ac_zero = true;
    for (int r = 0; r < 8; ++r) {
      in[r] = coef[r * 8 + c];
      if (r > 0 && in[r] != 0) ac_zero = false;
    }
    if (ac_zero) {
      for (int r = 0; r < 8; ++r) ws[r * 8 + c] = in[0] * (1 << kIdctPass1Bits);
      continue;
    }
    idct_1d(in, res);
    for (int r = 0; r < 8; ++r) ws[r * 8 + c] = descale(res[r], kIdctConstBits - kIdctPass1Bits);
  }
  for (int r = 0; r < 8; ++r) {  // rows
    int64_t res[8];
    idct_1d(ws + r * 8, res);
    unsigned char* o = out + r * stride;
    for (int c = 0; c < 8; ++c)
      o[c] = idct_range_limit(descale(res[c], kIdctConstBits + kIdctPass1Bits + 3));
  }
}

// libjpeg-turbo's YCbCr->RGB: 16-bit fixed point, R and B rounded per table entry, G rounded once.
struct YccTables {
  int cr_r[256], cb_b[256];
  int64_t cr_g[256], cb_g[256];
  YccTables() {
    auto fix = [](double x) { return static_cast<int64_t>(x * 65536 + 0.5); };
    const int64_t half = int64_t(1) << 15;
    for (int i = 0; i < 256; ++i) {
      const int64_t x = i - 128;
      cr_r[i] = static_cast<int>((fix(1.40200) * x + half) >> 16);
      cb_b[i] = static_cast<int>((fix(1.77200) * x + half) >> 16);
      cr_g[i] = -fix(0.71414) * x;
      cb_g[i] = -fix(0.34414) * x + half;
    }
  }
};

unsigned char clamp255(int64_t v) {
  return static_cast<unsigned char>(v < 0 ? 0 : v > 255 ? 255 : v);
}

void jpeg_ycc_to_rgb(unsigned char* out, const unsigned char* y, const unsigned char* cb,
                     const unsigned char* cr, int count, int step) {
  static const YccTables t;
  for (int i = 0; i < count; ++i, out += step) {
    out[0] = clamp255(y[i] + t.cr_r[cr[i]]);
    out[1] = clamp255(y[i] + ((t.cb_g[cb[i]] + t.cr_g[cr[i]]) >> 16));
    out[2] = clamp255(y[i] + t.cb_b[cb[i]]);
    if (step == 4) out[3] = 255;
  }
}

// Fancy (triangle) 2x horizontal upsampling of one chroma row of `w` samples; libjpeg-turbo
// alternates the rounding bias (+1 left, +2 right) and falls back to pixel replication when
// w <= 2.
unsigned char* jpeg_upsample_h2v1(unsigned char* out, const unsigned char* in, int w) {
  if (w <= 2) {
    for (int i = 0; i < w; ++i) out[2 * i] = out[2 * i + 1] = in[i];
    return out;
  }
  out[0] = in[0];
  out[1] = static_cast<unsigned char>((in[0] * 3 + in[1] + 2) >> 2);
  for (int i = 1; i < w - 1; ++i) {
    const int v = in[i] * 3;
    out[2 * i] = static_cast<unsigned char>((v + in[i - 1] + 1) >> 2);
    out[2 * i + 1] = static_cast<unsigned char>((v + in[i + 1] + 2) >> 2);
  }
  out[2 * w - 2] = static_cast<unsigned char>((in[w - 1] * 3 + in[w - 2] + 1) >> 2);
  out[2 * w - 1] = in[w - 1];
  return out;
}

// Fancy 2x2 upsampling: vertical 3:1 mix of the nearest and next-nearest chroma rows, then
// horizontal 3:1 with biases +8 / +7 (libjpeg-turbo's h2v2_fancy_upsample); replication when
// w <= 2.
unsigned char* jpeg_upsample_h2v2(unsigned char* out, const unsigned char* near,
                                  const unsigned char* far, int w) {
  if (w <= 2) {
    for (int i = 0; i < w; ++i) out[2 * i] = out[2 * i + 1] = near[i];
    return out;
  }
  int last = near[0] * 3 + far[0], cur = last;
  out[0] = static_cast<unsigned char>((cur * 4 + 8) >> 4);
  for (int i = 0; i < w; ++i) {
    const int next = i + 1 < w ? near[i + 1] * 3 + far[i + 1] : 0;
    if (i > 0) out[2 * i] = static_cast<unsigned char>((cur * 3 + last + 8) >> 4);
    out[2 * i + 1] =
        static_cast<unsigned char>(i + 1 < w ? (cur * 3 + next + 7) >> 4 : (cur * 4 + 7) >> 4);
    last = cur, cur = next;
  }
  return out;
}

}  // namespace
}  // namespace ved

// The replacements, under the names stb assigns to its kernel pointers (see above).
static void stbi__idct_block(unsigned char* out, int out_stride, short data[64]) {
  ved::jpeg_idct_islow(out, out_stride, data);
}
static void stbi__YCbCr_to_RGB_row(unsigned char* out, const unsigned char* y,
                                   const unsigned char* pcb, const unsigned char* pcr, int count,
                                   int step) {
  ved::jpeg_ycc_to_rgb(out, y, pcb, pcr, count, step);
}
static unsigned char* stbi__resample_row_h_2(unsigned char* out, unsigned char* in_near,
                                             unsigned char*, int w, int) {
  return ved::jpeg_upsample_h2v1(out, in_near, w);
}
static unsigned char* stbi__resample_row_hv_2(unsigned char* out, unsigned char* in_near,
                                              unsigned char* in_far, int w, int) {
  return ved::jpeg_upsample_h2v2(out, in_near, in_far, w);
}
#define stbi__idct_block(...) stbi__idct_block_replaced_by_ved(__VA_ARGS__)
#define stbi__YCbCr_to_RGB_row(...) stbi__YCbCr_to_RGB_row_replaced_by_ved(__VA_ARGS__)
#define stbi__resample_row_h_2(...) stbi__resample_row_h_2_replaced_by_ved(__VA_ARGS__)
#define stbi__resample_row_hv_2(...) stbi__resample_row_hv_2_replaced_by_ved(__VA_ARGS__)

// Formats PIL does not open (HDR, PIC) are left out so that ved does not accept files HF rejects;
// TGA has no magic number, so with it random bytes occasionally "decode" as an image: it is
// only tried for files named *.tga (see has_known_signature).
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
// The SIMD kernels would bypass the replacements above.
#define STBI_NO_SIMD
#define STBI_MAX_DIMENSIONS 65535
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
// stb_image copies a PNG's IDAT chunks with memcpy(idata + offset, ..., length), and for an empty
// first chunk idata is still NULL: memcpy(NULL, p, 0), which the C library declares undefined
// (UBSan: nonnull-attribute). Its calls go through these instead, which copy nothing for n == 0.
namespace {
void* stb_memcpy(void* dst, const void* src, size_t n) {
  return n ? std::memcpy(dst, src, n) : dst;
}
void* stb_memset(void* dst, int c, size_t n) {
  return n ? std::memset(dst, c, n) : dst;
}
}  // namespace
#define memcpy stb_memcpy
#define memset stb_memset
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wconversion"
#include <stb_image.h>
#pragma GCC diagnostic pop
#undef memcpy
#undef memset

namespace ved {
namespace {

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

std::string failure_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown error";
}

// Checks a JPEG's marker structure before stb_image sees it:
//  * the EOI marker must be reached: stb_image pads a short scan with zeros and reports success,
//    whereas PIL raises "image file is truncated";
//  * every Huffman table must have at most 256 symbols: stb_image 2.27 writes one byte per
//    symbol into a 257-byte array without checking (a heap overflow on hostile files).
// DHT tables are read exactly the way stb reads them (table after table while the segment length
// lasts, even past a lying length), so every table stb builds is checked. Scan data is walked
// byte by byte: inside it 0xFF is followed by 0x00 (stuffing), a restart marker or fill bytes.
void validate_jpeg(const unsigned char* p, size_t n, size_t after_soi, const std::string& name) {
  auto byte = [&](size_t i) -> int { return i < n ? p[i] : 0; };  // stb reads 0 past the end
  size_t i = after_soi;
  while (i + 1 < n) {
    if (p[i] != 0xFF) {
      ++i;  // inside entropy-coded data
      continue;
    }
    const unsigned char m = p[i + 1];
    if (m == 0xD9) return;
    if (m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01 || m == 0xD8) {
      i += (m == 0xFF) ? 1 : 2;
      continue;
    }
    if (i + 3 >= n) break;
    const size_t len = (size_t(p[i + 2]) << 8) | p[i + 3];
    if (len < 2)
      throw FormatError(name + ": corrupt JPEG (marker segment length " + std::to_string(len) +
                        ")");
    if (m == 0xC4) {
      size_t t = i + 4;
      long remaining = static_cast<long>(len) - 2;
      while (remaining > 0) {
        int symbols = 0;
        for (int k = 1; k <= 16; ++k) symbols += byte(t + k);
        if (symbols > 256)
          throw FormatError(name + ": corrupt JPEG (Huffman table with " + std::to_string(symbols) +
                            " symbols)");
        t += 17 + symbols;
        remaining -= 17 + symbols;
      }
    }
    i += 2 + len;  // marker segment; for SOS the scan data follows and is walked byte by byte
  }
  throw FormatError(name + ": truncated JPEG (no end-of-image marker)");
}

// Where the SOI marker ends if stb_image would decode the bytes as a JPEG, else 0. stb skips any
// run of 0xFF fill bytes before SOI, so "FF FF D8" is a JPEG to it although no signature check
// (ours, PIL's) calls it one; under a *.tga name such bytes still reach stb's JPEG decoder
// (found by fuzzing: a Huffman overflow behind a fill byte).
size_t stb_jpeg_soi_end(const unsigned char* p, size_t n) {
  size_t i = 0;
  while (i < n && p[i] == 0xFF) ++i;
  return (i >= 1 && i < n && p[i] == 0xD8) ? i + 1 : 0;
}

// Checks the numbers of a PGM/PPM header (width, height, maximum value) before stb_image reads
// them: stb accumulates the digits in an int without an overflow check (undefined behaviour on
// a hostile header, found by fuzzing). The header is walked exactly as stb walks it (whitespace
// and '#' comments between the numbers; reading stops at the first non-digit).
// The pixel data must be complete too: stb_image fills a short file's missing pixels with
// zeros and reports success, where PIL raises "image file is truncated".
void validate_pnm(const unsigned char* p, size_t n, const std::string& name) {
  size_t i = 2;  // after "P5" / "P6"
  int64_t values[3] = {0, 0, 0};
  int field_index = 0;
  auto space = [](unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  };
  static const char* fields[] = {"width", "height", "maximum value"};
  for (const char* field : fields) {
    for (;;) {  // whitespace and comments
      while (i < n && space(p[i])) ++i;
      if (i >= n || p[i] != '#') break;
      while (i < n && p[i] != '\n' && p[i] != '\r') ++i;
    }
    int64_t value = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; ++i) {
      value = value * 10 + (p[i] - '0');
      if (value > INT_MAX)
        throw FormatError(name + ": corrupt PNM header (the " + field + " has too many digits)");
    }
    values[field_index++] = value;
  }
  // stb reads one byte past the maximum value (the single whitespace before the pixels).
  const uint64_t header = i + 1;
  const uint64_t channels = p[1] == '6' ? 3 : 1, sample = values[2] > 255 ? 2 : 1;
  const uint64_t need = static_cast<uint64_t>(values[0]) * static_cast<uint64_t>(values[1]) *
                        channels * sample;  // each value < 2^31: no overflow
  if (values[2] <= 65535 && values[0] > 0 && values[1] > 0 && (header > n || n - header < need))
    throw FormatError(name + ": truncated PNM image (" + std::to_string(need) +
                      " bytes of pixels expected, " + std::to_string(header > n ? 0 : n - header) +
                      " present)");
}

// Whether the bytes start like a format stb_image recognises by its magic number.
bool has_known_signature(const unsigned char* d, size_t n) {
  auto starts = [&](const char* magic, size_t len) {
    return n >= len && std::memcmp(d, magic, len) == 0;
  };
  return starts("\x89PNG", 4) || starts("\xFF\xD8", 2) || starts("BM", 2) || starts("GIF8", 4) ||
         starts("8BPS", 4) || (n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6'));
}

bool named_tga(const std::string& name) {
  if (name.size() < 4) return false;
  std::string ext = name.substr(name.size() - 4);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".tga";
}

}  // namespace

Image decode_image(const unsigned char* data, size_t size, const std::string& name) {
  if (data == nullptr || size == 0) throw FormatError(name + ": empty file, not an image");
  if (size > static_cast<size_t>(INT_MAX))
    throw FormatError(name + ": file of " + std::to_string(size) + " bytes is too large to decode");
  const int len = static_cast<int>(size);

  // stb parses Huffman tables already while reading the header, so JPEG structure comes first.
  if (const size_t soi_end = stb_jpeg_soi_end(data, size)) validate_jpeg(data, size, soi_end, name);
  if (size >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '6'))
    validate_pnm(data, size, name);

  if (!has_known_signature(data, size) && !named_tga(name))
    throw FormatError(
        name + ": not a supported image (PNG, JPEG, BMP, GIF, PSD, PNM, or TGA named *.tga)");

  // Header first: the pixel limits are enforced before stb allocates anything.
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp))
    throw FormatError(name +
                      ": not a supported image (PNG, JPEG, BMP, GIF, PSD, PNM, TGA) or corrupt: " +
                      failure_reason());
  if (w <= 0 || h <= 0)
    throw FormatError(name + ": image has zero size (" + std::to_string(w) + "x" +
                      std::to_string(h) + ")");
  // The caps in force, never above what stb_image and the resampler are built for.
  const Limits lim = limits();
  const int64_t max_side = std::min<int64_t>(lim.max_image_side, kMaxImageSide);
  if (w > max_side || h > max_side)
    throw FormatError(name + ": image dimensions " + std::to_string(w) + "x" + std::to_string(h) +
                      ": " +
                      detail::limit_message("side", static_cast<uint64_t>(std::max(w, h)),
                                            "max_image_side", static_cast<uint64_t>(max_side)));
  const int64_t max_pixels = std::min<int64_t>(lim.max_image_pixels, kMaxImagePixels);
  if (static_cast<int64_t>(w) * h > max_pixels)
    throw FormatError(name + ": image dimensions " + std::to_string(w) + "x" + std::to_string(h) +
                      ": " +
                      detail::limit_message("pixel count", static_cast<uint64_t>(w) * h,
                                            "max_image_pixels", static_cast<uint64_t>(max_pixels)));

  Image img(w, h);
  int lw = 0, lh = 0, n = 0;
  // IHDR: bit depth at byte 24, colour type at byte 25.
  const bool png_grey16 = size >= 26 && data[0] == 0x89 && data[1] == 'P' && data[24] == 16 &&
                          data[25] == 0 && stbi_is_16_bit_from_memory(data, len);
  if (png_grey16) {
    // PIL opens 16-bit grey as mode I;16 and converts it to RGB through L, which clips at 255
    // rather than keeping the high byte (what stb's 8-bit path would do).
    // (A tRNS chunk does not change that: PIL keeps the mode and only records the transparency.)
    std::unique_ptr<stbi_us, StbFree> px(stbi_load_16_from_memory(data, len, &lw, &lh, &n, 1));
    if (!px) throw FormatError(name + ": cannot decode image: " + failure_reason());
    if (lw != w || lh != h) throw FormatError(name + ": image size changed while decoding");
    const size_t count = static_cast<size_t>(w) * h;
    for (size_t i = 0; i < count; ++i) {
      const uint8_t v = static_cast<uint8_t>(std::min<unsigned>(px.get()[i], 255u));
      img.rgb[i * 3] = img.rgb[i * 3 + 1] = img.rgb[i * 3 + 2] = v;
    }
  } else {
    std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(data, len, &lw, &lh, &n, 0));
    if (!px) throw FormatError(name + ": cannot decode image: " + failure_reason());
    if (lw != w || lh != h || n < 1 || n > 4)
      throw FormatError(name + ": image size changed while decoding");
    const size_t count = static_cast<size_t>(w) * h;
    const stbi_uc* s = px.get();
    uint8_t* d = img.rgb.data();
    switch (n) {
      case 1:  // grey: replicated
      case 2:  // grey + alpha: alpha dropped, not composited
        for (size_t i = 0; i < count; ++i) d[i * 3] = d[i * 3 + 1] = d[i * 3 + 2] = s[i * n];
        break;
      case 3:
        std::memcpy(d, s, count * 3);
        break;
      case 4:  // RGBA: alpha dropped; fully transparent pixels keep their stored colour
        for (size_t i = 0; i < count; ++i) std::memcpy(d + i * 3, s + i * 4, 3);
        break;
    }
  }
  return apply_exif_orientation(std::move(img), detail::exif_orientation(data, size));
}

Image load_image(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw IoError(path + ": cannot open image file: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw IoError(path + ": cannot open image file: not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open image file");
  std::vector<unsigned char> bytes(static_cast<size_t>(st.st_size));
  if (!bytes.empty()) {
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (in.gcount() != static_cast<std::streamsize>(bytes.size()))
      throw IoError(path + ": read error (" + std::to_string(in.gcount()) + " of " +
                    std::to_string(bytes.size()) + " bytes)");
  }
  return decode_image(bytes.data(), bytes.size(), path);
}

}  // namespace ved
