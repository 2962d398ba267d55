// Image decoding with stb_image (Debian's libstb-dev), following transformers' load_image:
// PIL.Image.open -> ImageOps.exif_transpose -> .convert("RGB").

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "ved/io/image.hpp"

// Formats PIL does not open (HDR, PIC) are left out so that ved does not accept files HF rejects;
// TGA has no magic number, so with it random bytes occasionally "decode" as an image.
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_TGA
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_MAX_DIMENSIONS 65535
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
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

namespace ved {
namespace {

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

std::string failure_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown error";
}

// A JPEG whose entropy-coded data ends before the EOI marker is truncated. stb_image pads a short
// scan with zeros and reports success, whereas PIL raises "image file is truncated", so walk the
// marker structure to find EOI. Restart markers and stuffed 0xFF00 bytes belong to the scan data.
bool jpeg_has_eoi(const unsigned char* p, size_t n) {
  size_t i = 2;  // after SOI
  while (i + 1 < n) {
    if (p[i] != 0xFF) {
      ++i;  // inside entropy-coded data
      continue;
    }
    const unsigned char m = p[i + 1];
    if (m == 0xD9) return true;
    if (m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01 || m == 0xD8) {
      i += (m == 0xFF) ? 1 : 2;
      continue;
    }
    if (i + 3 >= n) return false;
    const size_t len = (size_t(p[i + 2]) << 8) | p[i + 3];
    if (len < 2) return false;
    i += 2 + len;  // marker segment; for SOS the scan data follows and is skipped byte by byte
  }
  return false;
}

}  // namespace

Image decode_image(const unsigned char* data, size_t size, const std::string& name) {
  if (data == nullptr || size == 0) throw FormatError(name + ": empty file, not an image");
  if (size > static_cast<size_t>(INT_MAX))
    throw FormatError(name + ": file of " + std::to_string(size) + " bytes is too large to decode");
  const int len = static_cast<int>(size);

  // Header first: the pixel limits are enforced before stb allocates anything.
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp))
    throw FormatError(name + ": not a supported image (PNG, JPEG, BMP, GIF, PSD, PNM) or corrupt: " +
                      failure_reason());
  if (w <= 0 || h <= 0 || w > kMaxImageSide || h > kMaxImageSide ||
      static_cast<int64_t>(w) * h > kMaxImagePixels)
    throw FormatError(name + ": image dimensions " + std::to_string(w) + "x" + std::to_string(h) +
                      " exceed the limit (" + std::to_string(kMaxImageSide) + " per side, " +
                      std::to_string(kMaxImagePixels) + " pixels)");
  const bool is_jpeg = size >= 2 && data[0] == 0xFF && data[1] == 0xD8;
  if (is_jpeg && !jpeg_has_eoi(data, size))
    throw FormatError(name + ": truncated JPEG (no end-of-image marker)");

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
      case 3: std::memcpy(d, s, count * 3); break;
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
