// Image loading: fixture images, channel conversion, EXIF orientation, and hostile input.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/error.hpp"
#include "ved/io/image.hpp"

namespace {

using Bytes = std::vector<unsigned char>;

const std::string kInputs = std::string(VED_TEST_DATA) + "/fixtures/images/inputs";

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "ved_image_test_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    const char* p = ::mkdtemp(buf.data());
    EXPECT_NE(p, nullptr);
    path_ = p ? p : "";
  }
  ~TempDir() {
    for (const auto& f : files_) std::remove(f.c_str());
    ::rmdir(path_.c_str());
  }
  std::string write(const std::string& name, const Bytes& data) {
    const std::string p = path_ + "/" + name;
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    files_.push_back(p);
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// ---- a minimal PNG writer (stored deflate blocks) to craft test files ----

uint32_t crc32(const unsigned char* p, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
}

void put_chunk(Bytes& png, const char* type, const Bytes& data) {
  put_be32(png, static_cast<uint32_t>(data.size()));
  Bytes body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  put_be32(png, crc32(body.data(), body.size()));
}

Bytes zlib_stored(const Bytes& raw) {
  Bytes z = {0x78, 0x01};
  size_t i = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - i);
    const bool last = i + n == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(n & 0xFF);
    z.push_back(n >> 8);
    z.push_back(~n & 0xFF);
    z.push_back((~n >> 8) & 0xFF);
    z.insert(z.end(), raw.begin() + i, raw.begin() + i + n);
    i += n;
  } while (i < raw.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  put_be32(z, (b << 16) | a);
  return z;
}

// `pixels` holds rows of width * channels samples (bit_depth 8 or 16, big-endian for 16).
Bytes make_png(int w, int h, int color_type, int bit_depth, const Bytes& pixels,
               const std::vector<std::pair<std::string, Bytes>>& extra = {}) {
  const int channels = color_type == 0 ? 1 : color_type == 2 ? 3 : color_type == 4 ? 2 : color_type == 6 ? 4 : 1;
  const size_t row = static_cast<size_t>(w) * channels * (bit_depth / 8);
  Bytes raw;
  for (int y = 0; y < h; ++y) {
    raw.push_back(0);  // filter: none
    raw.insert(raw.end(), pixels.begin() + y * row, pixels.begin() + (y + 1) * row);
  }
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  put_be32(ihdr, static_cast<uint32_t>(w));
  put_be32(ihdr, static_cast<uint32_t>(h));
  ihdr.insert(ihdr.end(), {static_cast<unsigned char>(bit_depth), static_cast<unsigned char>(color_type), 0, 0, 0});
  put_chunk(png, "IHDR", ihdr);
  for (const auto& [type, data] : extra) put_chunk(png, type.c_str(), data);
  put_chunk(png, "IDAT", zlib_stored(raw));
  put_chunk(png, "IEND", {});
  return png;
}

// A TIFF block holding IFD0 with a single Orientation entry.
Bytes exif_tiff(int orientation, bool big_endian, bool with_prefix = true) {
  Bytes t;
  if (with_prefix) t = {'E', 'x', 'i', 'f', 0, 0};
  auto u16 = [&](unsigned v) {
    if (big_endian) {
      t.push_back(v >> 8), t.push_back(v & 0xFF);
    } else {
      t.push_back(v & 0xFF), t.push_back(v >> 8);
    }
  };
  auto u32 = [&](uint32_t v) {
    if (big_endian) {
      u16(v >> 16), u16(v & 0xFFFF);
    } else {
      u16(v & 0xFFFF), u16(v >> 16);
    }
  };
  t.push_back(big_endian ? 'M' : 'I');
  t.push_back(big_endian ? 'M' : 'I');
  u16(42);
  u32(8);  // IFD0 offset
  u16(2);  // two entries: an unrelated tag first
  u16(0x010F), u16(2), u32(4), u32(0);  // Make (ASCII), value ignored
  u16(0x0112), u16(3), u32(1), u16(static_cast<unsigned>(orientation)), u16(0);
  u32(0);  // no next IFD
  return t;
}

// `jpeg` with an APP1 Exif segment inserted right after SOI.
Bytes jpeg_with_exif(const Bytes& jpeg, const Bytes& tiff) {
  Bytes out(jpeg.begin(), jpeg.begin() + 2);
  out.push_back(0xFF);
  out.push_back(0xE1);
  const size_t len = tiff.size() + 2;
  out.push_back(static_cast<unsigned char>(len >> 8));
  out.push_back(static_cast<unsigned char>(len & 0xFF));
  out.insert(out.end(), tiff.begin(), tiff.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

ved::Image decode(const Bytes& b, const std::string& name = "test") {
  return ved::decode_image(b.data(), b.size(), name);
}

template <typename E>
void expect_throw_naming(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an exception naming '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

// ---- fixtures ----

TEST(ImageLoad, FixtureSizesMatchInputsJson) {
  const auto meta = ved::detail::read_json_file(kInputs + "/inputs.json");
  int n = 0;
  for (const auto& [name, info] : meta.at("images").items()) {
    const ved::Image img = ved::load_image(kInputs + "/" + name);
    EXPECT_EQ(img.width, info.at("loaded_size_wh")[0].get<int>()) << name;
    EXPECT_EQ(img.height, info.at("loaded_size_wh")[1].get<int>()) << name;
    EXPECT_EQ(img.rgb.size(), static_cast<size_t>(img.width) * img.height * 3) << name;
    ++n;
  }
  EXPECT_EQ(n, 6);
}

TEST(ImageLoad, GreyIsReplicated) {
  const ved::Image img = ved::load_image(kInputs + "/gray_45x30.png");
  bool varied = false;
  for (size_t i = 0; i < img.rgb.size(); i += 3) {
    ASSERT_EQ(img.rgb[i], img.rgb[i + 1]);
    ASSERT_EQ(img.rgb[i], img.rgb[i + 2]);
    varied |= img.rgb[i] != img.rgb[0];
  }
  EXPECT_TRUE(varied);
}

TEST(ImageLoad, PngAndJpegOfTheSamePhotoAgree) {
  const ved::Image png = ved::load_image(kInputs + "/coco_000000039769.png");
  const ved::Image jpg = ved::load_image(kInputs + "/coco_000000039769_q90.jpg");
  ASSERT_EQ(png.rgb.size(), jpg.rgb.size());
  double sum = 0;
  for (size_t i = 0; i < png.rgb.size(); ++i) sum += std::abs(int(png.rgb[i]) - int(jpg.rgb[i]));
  EXPECT_LT(sum / png.rgb.size(), 6.0);  // quality-90 4:2:0 re-encoding error (measured 4.2)
}

// ---- channel conversion on crafted PNGs ----

TEST(ImageLoad, RgbaDropsAlphaWithoutCompositing) {
  const Bytes px = {10, 20, 30, 0, 200, 100, 50, 255, 1, 2, 3, 128};
  const ved::Image img = decode(make_png(3, 1, 6, 8, px));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{10, 20, 30, 200, 100, 50, 1, 2, 3}));
}

TEST(ImageLoad, GreyAlphaDropsAlpha) {
  const Bytes px = {7, 0, 250, 255};
  const ved::Image img = decode(make_png(2, 1, 4, 8, px));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{7, 7, 7, 250, 250, 250}));
}

TEST(ImageLoad, PaletteUsesPaletteColours) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  put_be32(ihdr, 2), put_be32(ihdr, 1);
  ihdr.insert(ihdr.end(), {8, 3, 0, 0, 0});
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "PLTE", {255, 0, 0, 0, 128, 255});
  put_chunk(png, "tRNS", {0});  // index 0 fully transparent: its colour is kept
  put_chunk(png, "IDAT", zlib_stored({0, 0, 1}));
  put_chunk(png, "IEND", {});
  EXPECT_EQ(decode(png).rgb, (std::vector<uint8_t>{255, 0, 0, 0, 128, 255}));
}

TEST(ImageLoad, SixteenBitGreyClipsLikePil) {
  // PIL: I;16 -> L clips at 255 (not the high byte).
  const Bytes px = {0x00, 0x10, 0x00, 0xFE, 0x01, 0x00, 0xAB, 0xCD};
  const ved::Image img = decode(make_png(4, 1, 0, 16, px));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{16, 16, 16, 254, 254, 254, 255, 255, 255, 255, 255, 255}));
}

TEST(ImageLoad, SixteenBitRgbKeepsHighByte) {
  const Bytes px = {0x12, 0x34, 0xAB, 0xCD, 0x00, 0xFF};
  const ved::Image img = decode(make_png(1, 1, 2, 16, px));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{0x12, 0xAB, 0x00}));
}

// ---- EXIF orientation ----

TEST(ImageTranspose, MatchesPilDefinitions) {
  // 3 wide x 2 high, pixel value = 10 * row + col in every channel.
  ved::Image img(3, 2);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = static_cast<uint8_t>(10 * y + x);
  auto grid = [](const ved::Image& im) {
    std::vector<std::vector<int>> g(im.height, std::vector<int>(im.width));
    for (int y = 0; y < im.height; ++y)
      for (int x = 0; x < im.width; ++x) g[y][x] = im.row(y)[x * 3];
    return g;
  };
  using G = std::vector<std::vector<int>>;
  using ved::Transpose;
  EXPECT_EQ(grid(ved::transpose_image(img, Transpose::FlipLeftRight)), (G{{2, 1, 0}, {12, 11, 10}}));
  EXPECT_EQ(grid(ved::transpose_image(img, Transpose::FlipTopBottom)), (G{{10, 11, 12}, {0, 1, 2}}));
  EXPECT_EQ(grid(ved::transpose_image(img, Transpose::Rotate180)), (G{{12, 11, 10}, {2, 1, 0}}));
  // PIL's ROTATE_90 is counter-clockwise: the right column becomes the top row.
  EXPECT_EQ(grid(ved::transpose_image(img, Transpose::Rotate90)), (G{{2, 12}, {1, 11}, {0, 10}}));
  EXPECT_EQ(grid(ved::transpose_image(img, Transpose::Rotate270)), (G{{10, 0}, {11, 1}, {12, 2}}));
  EXPECT_EQ(grid(ved::transpose_image(img, Transpose::Transpose)), (G{{0, 10}, {1, 11}, {2, 12}}));
  EXPECT_EQ(grid(ved::transpose_image(img, Transpose::Transverse)), (G{{12, 2}, {11, 1}, {10, 0}}));
}

TEST(ImageExif, AllEightJpegOrientations) {
  const Bytes jpeg = read_bytes(kInputs + "/coco_000000039769_q90.jpg");
  const ved::Image base = decode(jpeg);
  ASSERT_EQ(ved::detail::exif_orientation(jpeg.data(), jpeg.size()), 0);
  for (bool be : {false, true}) {
    for (int o = 1; o <= 8; ++o) {
      const Bytes tagged = jpeg_with_exif(jpeg, exif_tiff(o, be));
      EXPECT_EQ(ved::detail::exif_orientation(tagged.data(), tagged.size()), o);
      const ved::Image img = decode(tagged);
      const ved::Image want = ved::apply_exif_orientation(base, o);
      EXPECT_EQ(img.width, o >= 5 ? base.height : base.width) << o;
      EXPECT_EQ(img.width, want.width) << o;
      EXPECT_EQ(img.height, want.height) << o;
      EXPECT_TRUE(img.rgb == want.rgb) << "orientation " << o << (be ? " (big endian)" : "");
    }
  }
  // Orientation 6 (camera turned clockwise) shows the photo's left column as the top row.
  const ved::Image six = decode(jpeg_with_exif(jpeg, exif_tiff(6, false)));
  for (int x = 0; x < six.width; x += 37)
    for (int c = 0; c < 3; ++c)
      ASSERT_EQ(six.row(0)[x * 3 + c], base.row(base.height - 1 - x)[c]);
}

TEST(ImageExif, PngExifChunk) {
  const Bytes px = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};  // 3x2 RGB
  const ved::Image plain = decode(make_png(3, 2, 2, 8, px));
  const ved::Image rotated = decode(make_png(3, 2, 2, 8, px, {{"eXIf", exif_tiff(8, true, false)}}));
  EXPECT_EQ(rotated.width, 2);
  EXPECT_EQ(rotated.height, 3);
  EXPECT_TRUE(rotated.rgb == ved::transpose_image(plain, ved::Transpose::Rotate90).rgb);
}

TEST(ImageExif, MalformedExifIsIgnored) {
  const Bytes jpeg = read_bytes(kInputs + "/coco_000000039769_q90.jpg");
  const ved::Image base = decode(jpeg);
  Bytes tiff = exif_tiff(6, false);
  tiff[6 + 4] = 0xF0;  // IFD0 offset far past the end
  EXPECT_TRUE(decode(jpeg_with_exif(jpeg, tiff)).rgb == base.rgb);
  Bytes bad_magic = exif_tiff(6, false);
  bad_magic[6 + 2] = 41;
  EXPECT_TRUE(decode(jpeg_with_exif(jpeg, bad_magic)).rgb == base.rgb);
  EXPECT_TRUE(decode(jpeg_with_exif(jpeg, exif_tiff(9, false))).rgb == base.rgb);  // invalid value
  for (size_t cut = 0; cut < 40; ++cut) {  // every truncation of the EXIF block
    Bytes t = exif_tiff(6, false);
    t.resize(std::min(t.size(), cut));
    EXPECT_NO_THROW(decode(jpeg_with_exif(jpeg, t)));
  }
}

// ---- errors ----

TEST(ImageErrors, MissingFileIsIoError) {
  expect_throw_naming<ved::IoError>([] { ved::load_image("/nonexistent/dir/cat.png"); },
                                    "/nonexistent/dir/cat.png");
}

TEST(ImageErrors, DirectoryIsIoError) {
  TempDir dir;
  expect_throw_naming<ved::IoError>([&] { ved::load_image(dir.path()); }, dir.path());
}

TEST(ImageErrors, EmptyFileIsFormatError) {
  TempDir dir;
  const std::string p = dir.write("empty.png", {});
  expect_throw_naming<ved::FormatError>([&] { ved::load_image(p); }, p);
  EXPECT_THROW(ved::decode_image(nullptr, 0, "null"), ved::FormatError);
}

TEST(ImageErrors, RandomBytesAreFormatError) {
  TempDir dir;
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 50; ++trial) {
    Bytes b(1 + rng() % 4096);
    for (auto& c : b) c = static_cast<unsigned char>(rng());
    const std::string p = dir.write("random" + std::to_string(trial) + ".bin", b);
    expect_throw_naming<ved::FormatError>([&] { ved::load_image(p); }, p);
  }
}

TEST(ImageErrors, TruncatedPngIsFormatError) {
  const Bytes png = read_bytes(kInputs + "/coco_000000039769.png");
  ASSERT_GT(png.size(), 1000u);
  for (size_t n : {size_t(1), size_t(8), size_t(20), size_t(33), size_t(100), png.size() / 3,
                   png.size() / 2, png.size() - 100, png.size() - 13}) {
    const Bytes cut(png.begin(), png.begin() + n);
    EXPECT_THROW(decode(cut, "cut.png"), ved::FormatError) << n << " bytes";
  }
}

TEST(ImageErrors, TruncatedJpegIsFormatError) {
  const Bytes jpg = read_bytes(kInputs + "/coco_000000039769_q90.jpg");
  ASSERT_GT(jpg.size(), 1000u);
  for (size_t n : {size_t(1), size_t(2), size_t(10), size_t(200), size_t(600), jpg.size() / 4,
                   jpg.size() / 2, jpg.size() - 100, jpg.size() - 2}) {
    const Bytes cut(jpg.begin(), jpg.begin() + n);
    EXPECT_THROW(decode(cut, "cut.jpg"), ved::FormatError) << n << " bytes";
  }
  EXPECT_NO_THROW(decode(jpg));
}

TEST(ImageErrors, HugePngHeaderIsRejectedBeforeAllocating) {
  for (auto [w, h] : {std::pair<uint32_t, uint32_t>{65535, 65535}, {100000, 10}, {20000, 20000},
                      {0x7FFFFFFF, 1}}) {
    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    Bytes ihdr;
    put_be32(ihdr, w), put_be32(ihdr, h);
    ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
    put_chunk(png, "IHDR", ihdr);
    put_chunk(png, "IDAT", zlib_stored({0, 1, 2, 3}));
    put_chunk(png, "IEND", {});
    EXPECT_THROW(decode(png, "huge.png"), ved::FormatError) << w << "x" << h;
  }
}

TEST(ImageErrors, HugeJpegHeaderIsRejectedBeforeAllocating) {
  // SOI, then a baseline SOF0 claiming 65535 x 65535 with three components, then EOI.
  const Bytes jpg = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x03,
                     0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xFF, 0xD9};
  expect_throw_naming<ved::FormatError>([&] { decode(jpg, "huge.jpg"); }, "huge.jpg");
  try {
    decode(jpg, "huge.jpg");
  } catch (const ved::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("65535x65535"), std::string::npos) << e.what();
  }
}

TEST(ImageErrors, CorruptedPngDataIsFormatError) {
  Bytes png = read_bytes(kInputs + "/gradient_37x23.png");
  std::mt19937 rng(7);
  int rejected = 0;
  for (int trial = 0; trial < 200; ++trial) {
    Bytes b = png;
    for (int k = 0; k < 4; ++k) b[33 + rng() % (b.size() - 33)] ^= static_cast<unsigned char>(1 + rng() % 255);
    try {
      const ved::Image img = decode(b, "flipped.png");
      EXPECT_EQ(img.rgb.size(), static_cast<size_t>(img.width) * img.height * 3);
    } catch (const ved::FormatError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);  // CRCs are not checked by stb, but most damage breaks the zlib stream
}

TEST(ImageErrors, CorruptedJpegNeverCrashes) {
  const Bytes jpg = read_bytes(kInputs + "/coco_000000039769_q90.jpg");
  std::mt19937 rng(11);
  for (int trial = 0; trial < 60; ++trial) {
    Bytes b = jpg;
    for (int k = 0; k < 8; ++k) b[2 + rng() % 700] = static_cast<unsigned char>(rng());
    try {
      const ved::Image img = decode(b, "mangled.jpg");
      EXPECT_EQ(img.rgb.size(), static_cast<size_t>(img.width) * img.height * 3);
    } catch (const ved::FormatError&) {
    }
  }
}

}  // namespace
