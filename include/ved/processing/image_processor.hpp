#pragma once

// ved::ImageProcessor: transformers' image processors for VisionEncoderDecoder encoders, driven by
// preprocessor_config.json. Supported `image_processor_type`s (legacy `feature_extractor_type`
// names and the `...Fast` variants map to the same slow, PIL-based behaviour that
// AutoImageProcessor gives by default in transformers 4.47):
//
//   ViTImageProcessor    resize to size.height x size.width, rescale, normalize
//   DeiTImageProcessor   ... then center crop to crop_size (zero padding where the crop is larger)
//   BeitImageProcessor   same as DeiT
//   DonutImageProcessor  align long axis, resize shorter side, thumbnail, centred zero pad, ...
//   NougatImageProcessor crop the page margins, then Donut's steps (own defaults)
//
// Every geometric step works on uint8 RGB through the PIL-exact resampler in resize.hpp, then
// pixels become float32 exactly as numpy computes them: float32(u * rescale_factor (in float64)),
// then (x - float32(mean)) / float32(std) in float32.

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/error.hpp"
#include "ved/io/image.hpp"
#include "ved/limits.hpp"
#include "ved/processing/resize.hpp"
#include "ved/tensor.hpp"

namespace ved {

struct ImageSize {
  int height = 0, width = 0;
  bool operator==(const ImageSize& o) const { return height == o.height && width == o.width; }
};

namespace detail {

// PIL-free helpers on uint8 RGB images, in transformers' conventions.

// image_transforms.center_crop: crop at ((H - ch) // 2, (W - cw) // 2); on an axis where the crop
// is larger than the image, the image is first zero-padded with ceil((crop - size) / 2) before it.
inline Image center_crop_rgb(const Image& in, int crop_h, int crop_w) {
  Image out(crop_w, crop_h);  // zero-filled
  auto axis = [](int size, int crop, int* src, int* dst, int* n) {
    if (crop <= size) {
      *src = (size - crop) / 2, *dst = 0, *n = crop;
    } else {
      *src = 0, *dst = (crop - size + 1) / 2, *n = size;
    }
  };
  int sy, dy, ny, sx, dx, nx;
  axis(in.height, crop_h, &sy, &dy, &ny);
  axis(in.width, crop_w, &sx, &dx, &nx);
  for (int y = 0; y < ny; ++y)
    std::memcpy(out.row(dy + y) + static_cast<size_t>(dx) * 3,
                in.row(sy + y) + static_cast<size_t>(sx) * 3, static_cast<size_t>(nx) * 3);
  return out;
}

// PIL's convert("L") of one RGB pixel (ITU-R 601-2 luma in 16-bit fixed point, Convert.c).
inline uint8_t pil_luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
}

// PIL's img.convert("L").convert("RGB"): the grey value in all three channels.
inline Image grayscale_rgb(const Image& in) {
  Image out(in.width, in.height);
  const size_t n = static_cast<size_t>(in.width) * in.height;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t g = pil_luma(&in.rgb[i * 3]);
    out.rgb[i * 3] = out.rgb[i * 3 + 1] = out.rgb[i * 3 + 2] = g;
  }
  return out;
}

// NougatImageProcessor.crop_margin: crop to the bounding box of the "ink" of the page. Ink is
// decided on PIL's grey image after a min-max stretch, g = (v - min) / (max - min) * 255 in
// float64, and g < `threshold`; the stretch is what lets a light mark on an off-white page count.
// A one-colour image has no contrast to stretch and is returned unchanged (transformers does the
// same rather than divide by zero). Otherwise the darkest value stretches to 0, so there is always
// at least one ink pixel and the box is never empty.
inline Image crop_margin_rgb(const Image& in, int threshold = 200) {
  const size_t n = static_cast<size_t>(in.width) * in.height;
  std::vector<uint8_t> gray(n);
  uint8_t lo = 255, hi = 0;
  for (size_t i = 0; i < n; ++i) {
    gray[i] = pil_luma(&in.rgb[i * 3]);
    lo = std::min(lo, gray[i]);
    hi = std::max(hi, gray[i]);
  }
  if (lo == hi) return in;
  // Whether each grey value is ink, with numpy's float64 arithmetic (divide, then multiply).
  std::array<bool, 256> ink{};
  for (int v = lo; v <= hi; ++v)
    ink[v] = static_cast<double>(v - lo) / static_cast<double>(hi - lo) * 255.0 < threshold;
  int x0 = in.width, y0 = in.height, x1 = -1, y1 = -1;
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* g = &gray[static_cast<size_t>(y) * in.width];
    for (int x = 0; x < in.width; ++x)
      if (ink[g[x]]) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = y;
  }
  const int w = x1 - x0 + 1, h = y1 - y0 + 1;
  Image out(w, h);
  for (int y = 0; y < h; ++y)
    std::memcpy(out.row(y), in.row(y0 + y) + static_cast<size_t>(x0) * 3,
                static_cast<size_t>(w) * 3);
  return out;
}

// Zero padding to out_h x out_w with the image at (top, left).
inline Image pad_rgb(const Image& in, int out_h, int out_w, int top, int left) {
  Image out(out_w, out_h);
  for (int y = 0; y < in.height; ++y)
    std::memcpy(out.row(top + y) + static_cast<size_t>(left) * 3, in.row(y),
                static_cast<size_t>(in.width) * 3);
  return out;
}

}  // namespace detail

class ImageProcessor {
 public:
  enum class Kind { ViT, DeiT, Beit, Donut, Nougat };

  // Reads `dir`/preprocessor_config.json (or `dir` itself when it is a file).
  static ImageProcessor from_pretrained(const std::string& dir) {
    struct stat st {};
    std::string path = dir;
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      path = dir + "/preprocessor_config.json";
    return from_json(detail::read_json_file(path), path);
  }

  // `source` names the configuration in error messages.
  static ImageProcessor from_json(const detail::json& j, const std::string& source) {
    if (!j.is_object()) throw ConfigError(source + ": expected a JSON object");
    ImageProcessor p;
    p.source_ = source;
    p.type_name_ = processor_type(j, source);
    if (p.type_name_ == "ViTImageProcessor") {
      p.kind_ = Kind::ViT;
    } else if (p.type_name_ == "DeiTImageProcessor") {
      p.kind_ = Kind::DeiT;
    } else if (p.type_name_ == "BeitImageProcessor") {
      p.kind_ = Kind::Beit;
    } else if (p.type_name_ == "DonutImageProcessor") {
      p.kind_ = Kind::Donut;
    } else if (p.type_name_ == "NougatImageProcessor") {
      // transformers has no NougatFeatureExtractor class; a legacy `feature_extractor_type`
      // "NougatFeatureExtractor" still maps here, as AutoImageProcessor renames it.
      p.kind_ = Kind::Nougat;
    } else {
      throw ConfigError(source + ": unsupported image_processor_type '" + p.type_name_ +
                        "' (supported: ViTImageProcessor, DeiTImageProcessor, BeitImageProcessor, "
                        "DonutImageProcessor, NougatImageProcessor)");
    }

    // Defaults are those of each class's __init__ in transformers.
    const bool nougat = p.kind_ == Kind::Nougat;
    const bool donut = p.kind_ == Kind::Donut || nougat;  // Nougat runs Donut's steps
    const bool crops = p.kind_ == Kind::DeiT || p.kind_ == Kind::Beit;
    ImageSize default_size{224, 224};
    Resample default_resample = Resample::Bilinear;
    std::array<double, 3> default_mean{0.5, 0.5, 0.5}, default_std{0.5, 0.5, 0.5};
    if (crops) default_size = {256, 256}, default_resample = Resample::Bicubic;
    if (donut) default_size = {2560, 1920};
    if (nougat) {
      default_size = {896, 672};
      default_mean = {0.485, 0.456, 0.406};  // IMAGENET_DEFAULT_MEAN / _STD
      default_std = {0.229, 0.224, 0.225};
    }

    p.do_resize_ = detail::get_or<bool>(j, "do_resize", true, source);
    // Only Donut keeps its feature extractor's [width, height] list; Nougat's get_size_dict reads
    // a list as [height, width].
    p.size_ = parse_size(j, "size", default_size, p.kind_ == Kind::Donut, source);
    p.resample_ = parse_resample(j, default_resample, source);
    p.do_rescale_ = detail::get_or<bool>(j, "do_rescale", true, source);
    p.rescale_factor_ = detail::get_or<double>(j, "rescale_factor", 1.0 / 255.0, source);
    p.do_normalize_ = detail::get_or<bool>(j, "do_normalize", true, source);
    p.image_mean_ = parse_channels(j, "image_mean", default_mean, source);
    p.image_std_ = parse_channels(j, "image_std", default_std, source);
    if (crops) {
      p.do_center_crop_ = detail::get_or<bool>(j, "do_center_crop", true, source);
      p.crop_size_ = parse_size(j, "crop_size", {224, 224}, false, source);
    }
    if (donut) {
      p.do_thumbnail_ = detail::get_or<bool>(j, "do_thumbnail", true, source);
      p.do_align_long_axis_ = detail::get_or<bool>(j, "do_align_long_axis", false, source);
      p.do_pad_ = detail::get_or<bool>(j, "do_pad", true, source);
    }
    if (nougat) p.do_crop_margin_ = detail::get_or<bool>(j, "do_crop_margin", true, source);
    // Every image is resized to `size` (or padded to it): a hostile config asking for 65535 x
    // 65535 would make each preprocess() allocate 51 GB of floats.
    const int64_t max_pixels = std::min<int64_t>(limits().max_image_pixels, kMaxImagePixels);
    auto check_pixels = [&](const ImageSize& s, const char* key) {
      const int64_t n = static_cast<int64_t>(s.height) * s.width;
      if (n > max_pixels)
        throw ConfigError(source + ": field '" + key + "' " + std::to_string(s.height) + "x" +
                          std::to_string(s.width) + ": " +
                          detail::limit_message("pixel count", static_cast<uint64_t>(n),
                                                "max_image_pixels",
                                                static_cast<uint64_t>(max_pixels)));
    };
    check_pixels(p.size_, "size");
    if (crops) check_pixels(p.crop_size_, "crop_size");
    if (p.do_normalize_) {
      for (int c = 0; c < 3; ++c)
        if (!(static_cast<float>(p.image_std_[c]) != 0.0f))
          throw ConfigError(source + ": field 'image_std' has a zero entry (division by zero)");
    }
    return p;
  }

  // Converts every image to grey (PIL's convert("L").convert("RGB")) before the processor's
  // steps, as manga-ocr does before calling its ViTImageProcessor.
  ImageProcessor& set_grayscale(bool on) {
    grayscale_ = on;
    return *this;
  }
  bool grayscale() const { return grayscale_; }

  // The channels of pixel_values: 3, or 1 for an encoder built for grey images (TexTeller's
  // num_channels 1), which then gets the grey image (as set_grayscale) normalised with the first
  // entries of image_mean and image_std. ImageToText sets it from the encoder's config.
  ImageProcessor& set_num_channels(int64_t n) {
    if (n != 1 && n != 3)
      throw InvalidArgument(source_ + ": images can be prepared with 1 or 3 channels, not " +
                            std::to_string(n));
    num_channels_ = static_cast<int>(n);
    return *this;
  }
  int num_channels() const { return num_channels_; }

  // pixel_values [B, num_channels, H, W] for a batch. All images must come out the same size
  // (always the case with resizing/cropping/padding enabled), as transformers' stacking requires.
  Tensor<float> preprocess(const std::vector<Image>& images) const {
    if (images.empty()) throw InvalidArgument("ImageProcessor::preprocess: empty batch");
    std::vector<Image> prepared;
    prepared.reserve(images.size());
    for (const Image& img : images) {
      prepared.push_back(prepare(img));
      const Image& a = prepared.front();
      const Image& b = prepared.back();
      if (a.width != b.width || a.height != b.height)
        throw InvalidArgument("ImageProcessor::preprocess: images come out with different sizes (" +
                              std::to_string(a.width) + "x" + std::to_string(a.height) + " and " +
                              std::to_string(b.width) + "x" + std::to_string(b.height) +
                              ") and cannot be batched; enable resizing in " + source_);
    }
    const int64_t h = prepared[0].height, w = prepared[0].width;
    const int channels = num_channels_;
    Tensor<float> out({static_cast<int64_t>(prepared.size()), channels, h, w});

    // Every output value depends only on (channel, uint8 value): tabulate it.
    std::array<std::array<float, 256>, 3> lut{};
    for (int c = 0; c < 3; ++c) {
      const float mean = static_cast<float>(image_mean_[c]);
      const float stdv = static_cast<float>(image_std_[c]);
      for (int u = 0; u < 256; ++u) {
        float x = do_rescale_ ? static_cast<float>(static_cast<double>(u) * rescale_factor_)
                              : static_cast<float>(u);
        if (do_normalize_) x = (x - mean) / stdv;
        lut[c][u] = x;
      }
    }
    const int64_t plane = h * w;
    for (size_t b = 0; b < prepared.size(); ++b) {
      const uint8_t* src = prepared[b].rgb.data();
      float* dst = out.data() + static_cast<int64_t>(b) * channels * plane;
      for (int64_t i = 0; i < plane; ++i)
        for (int c = 0; c < channels; ++c) dst[c * plane + i] = lut[c][src[i * 3 + c]];
    }
    return out;
  }

  Tensor<float> preprocess(const Image& image) const {
    return preprocess(std::vector<Image>{image});
  }

  // The uint8 image after the geometric steps (crop margin, align, resize, thumbnail, crop, pad),
  // i.e. right before rescale and normalize.
  Image prepare(const Image& image) const {
    detail::check_rgb_image(image, "ImageProcessor::prepare");
    Image img = grayscale_ || num_channels_ == 1 ? detail::grayscale_rgb(image) : image;
    if (kind_ == Kind::Donut || kind_ == Kind::Nougat) return prepare_document(std::move(img));
    if (do_resize_) img = resize_image(img, size_.width, size_.height, resample_);
    if (do_center_crop_) img = detail::center_crop_rgb(img, crop_size_.height, crop_size_.width);
    return img;
  }

  // Height x width of pixel_values when it does not depend on the input, else {0, 0}.
  ImageSize output_size() const {
    if (kind_ == Kind::Donut || kind_ == Kind::Nougat) return do_pad_ ? size_ : ImageSize{};
    if (do_center_crop_) return crop_size_;
    return do_resize_ ? size_ : ImageSize{};
  }

  Kind kind() const { return kind_; }
  const std::string& type_name() const { return type_name_; }
  const std::string& source() const { return source_; }
  bool do_resize() const { return do_resize_; }
  ImageSize size() const { return size_; }
  Resample resample() const { return resample_; }
  bool do_rescale() const { return do_rescale_; }
  double rescale_factor() const { return rescale_factor_; }
  bool do_normalize() const { return do_normalize_; }
  const std::array<double, 3>& image_mean() const { return image_mean_; }
  const std::array<double, 3>& image_std() const { return image_std_; }
  bool do_center_crop() const { return do_center_crop_; }
  ImageSize crop_size() const { return crop_size_; }
  bool do_thumbnail() const { return do_thumbnail_; }
  bool do_align_long_axis() const { return do_align_long_axis_; }
  bool do_pad() const { return do_pad_; }
  bool do_crop_margin() const { return do_crop_margin_; }

 private:
  ImageProcessor() = default;

  // The class name, with the names transformers resolves to the same processing mapped to it.
  static std::string processor_type(const detail::json& j, const std::string& source) {
    // Configs written by the older feature extractors (TrOCR, Donut and vit-gpt2 on the Hub) name
    // only `feature_extractor_type`, which AutoImageProcessor maps to the image processor; those
    // saved by the deprecated ViTFeatureExtractor / DonutFeatureExtractor classes (distilvit and
    // many fine-tunes) put that name under `image_processor_type`, and transformers instantiates
    // the FeatureExtractor class, a subclass of the image processor with identical results.
    std::string type = detail::get_or<std::string>(j, "image_processor_type", "", source);
    if (type.empty()) type = detail::get_or<std::string>(j, "feature_extractor_type", "", source);
    const std::string fe = "FeatureExtractor";
    if (detail::ends_with(type, fe))
      type = type.substr(0, type.size() - fe.size()) + "ImageProcessor";
    if (type.empty())
      throw ConfigError(source +
                        ": missing field 'image_processor_type' (and no "
                        "'feature_extractor_type')");
    const std::string fast = "Fast";
    if (type.size() > fast.size() &&
        type.compare(type.size() - fast.size(), fast.size(), fast) == 0)
      type.resize(type.size() - fast.size());
    return type;
  }

  static int positive_int(const detail::json& v, const std::string& where) {
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxImageSide)
      throw ConfigError(where + " must be an integer in 1.." + std::to_string(kMaxImageSide) +
                        ", got " + v.dump());
    return static_cast<int>(v.get<int64_t>());
  }

  // get_size_dict(size, default_to_square=True): an int is a square, a [h, w] list a size (Donut
  // keeps its feature extractor's [w, h] order), a dict must be one of HF's valid key sets; these
  // processors then need height and width.
  static ImageSize parse_size(const detail::json& j, const char* key, ImageSize fallback,
                              bool list_is_wh, const std::string& source) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    const std::string where = source + ": field '" + key + "'";
    const detail::json& v = *it;
    if (v.is_number_integer()) {
      const int s = positive_int(v, where);
      return {s, s};
    }
    if (v.is_array()) {
      if (v.size() != 2)
        throw ConfigError(where + " must be a list of 2 integers, got " + v.dump());
      const int a = positive_int(v[0], where + "[0]"), b = positive_int(v[1], where + "[1]");
      return list_is_wh ? ImageSize{b, a} : ImageSize{a, b};
    }
    if (!v.is_object())
      throw ConfigError(where + " has type " + v.type_name() +
                        ", expected an integer, a list or an object");
    if (v.contains("height") && v.contains("width") && v.size() == 2)
      return {positive_int(v["height"], where + ".height"),
              positive_int(v["width"], where + ".width")};
    throw ConfigError(where + " must be {\"height\": h, \"width\": w} for this processor, got " +
                      v.dump());
  }

  static Resample parse_resample(const detail::json& j, Resample fallback,
                                 const std::string& source) {
    auto it = j.find("resample");
    if (it == j.end() || it->is_null()) return fallback;
    Resample r;
    if (!it->is_number_integer() || !resample_from_int(it->get<int64_t>(), &r))
      throw ConfigError(source + ": field 'resample' must be a PIL resampling filter 0..5, got " +
                        it->dump());
    return r;
  }

  // A number or a list of 3 numbers (one per channel), as in HF's normalize.
  static std::array<double, 3> parse_channels(const detail::json& j, const char* key,
                                              const std::array<double, 3>& fallback,
                                              const std::string& source) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    const std::string where = source + ": field '" + key + "'";
    auto finite = [&](const detail::json& x, const std::string& at) {
      if (!std::isfinite(x.get<double>()))
        throw ConfigError(at + " is not a finite number: " + x.dump());
    };
    if (it->is_number()) {
      finite(*it, where);
      const double v = it->get<double>();
      return {v, v, v};
    }
    // One entry serves every channel (a config written for a 1-channel model).
    if (!it->is_array() || (it->size() != 3 && it->size() != 1))
      throw ConfigError(where + " must be a number or a list of 1 or 3 numbers, got " + it->dump());
    std::array<double, 3> out{};
    for (size_t c = 0; c < 3; ++c) {
      if (it->size() == 1 && c > 0) {
        out[c] = out[0];
        continue;
      }
      if (!(*it)[c].is_number())
        throw ConfigError(where + "[" + std::to_string(c) +
                          "] is not a number: " + (*it)[c].dump());
      finite((*it)[c], where + "[" + std::to_string(c) + "]");
      out[c] = (*it)[c].get<double>();
    }
    return out;
  }

  // Donut's steps, which Nougat shares after its crop_margin (both classes implement align,
  // resize, thumbnail and pad identically).
  Image prepare_document(Image img) const {
    const int H = size_.height, W = size_.width;
    if (do_crop_margin_) img = detail::crop_margin_rgb(img);
    if (do_align_long_axis_ &&
        ((W < H && img.width > img.height) || (W > H && img.width < img.height)))
      img = transpose_image(img, Transpose::Rotate270);  // np.rot90(img, 3): 90 deg clockwise
    if (do_resize_) {
      // get_resize_output_image_size(size=min(H, W), default_to_square=False)
      const int64_t s = std::min(H, W);
      const int64_t shorter = std::min(img.width, img.height),
                    longer = std::max(img.width, img.height);
      const int64_t new_long = static_cast<int64_t>(static_cast<double>(s * longer) / shorter);
      if (new_long > kMaxImageSide)
        throw InvalidArgument(source_ + ": resizing a " + std::to_string(img.width) + "x" +
                              std::to_string(img.height) + " image gives a side of " +
                              std::to_string(new_long) + " pixels, over the limit");
      if (img.width <= img.height)
        img = resize_image(img, static_cast<int>(s), static_cast<int>(new_long), resample_);
      else
        img = resize_image(img, static_cast<int>(new_long), static_cast<int>(s), resample_);
    }
    if (do_thumbnail_) {
      // DonutImageProcessor.thumbnail: always BICUBIC with reducing_gap 2.
      int h = std::min(img.height, H), w = std::min(img.width, W);
      if (h != img.height || w != img.width) {
        if (img.height > img.width)
          w = static_cast<int>(static_cast<double>(int64_t(img.width) * h) / img.height);
        else if (img.width > img.height)
          h = static_cast<int>(static_cast<double>(int64_t(img.height) * w) / img.width);
        if (w < 1 || h < 1)
          throw InvalidArgument(source_ + ": thumbnail of a " + std::to_string(img.width) + "x" +
                                std::to_string(img.height) + " image to at most " +
                                std::to_string(W) + "x" + std::to_string(H) + " has an empty side");
        img = resize_image(img, w, h, Resample::Bicubic, 2.0);
      }
    }
    if (do_pad_) {
      if (img.width > W || img.height > H)
        throw InvalidArgument(source_ + ": cannot pad a " + std::to_string(img.width) + "x" +
                              std::to_string(img.height) + " image to " + std::to_string(W) + "x" +
                              std::to_string(H) + " (it is larger; enable do_thumbnail)");
      img = detail::pad_rgb(img, H, W, (H - img.height) / 2, (W - img.width) / 2);
    }
    return img;
  }

  Kind kind_ = Kind::ViT;
  std::string type_name_;
  std::string source_;
  bool do_resize_ = true;
  ImageSize size_{224, 224};
  Resample resample_ = Resample::Bilinear;
  bool do_rescale_ = true;
  double rescale_factor_ = 1.0 / 255.0;
  bool do_normalize_ = true;
  std::array<double, 3> image_mean_{0.5, 0.5, 0.5};
  std::array<double, 3> image_std_{0.5, 0.5, 0.5};
  bool do_center_crop_ = false;
  ImageSize crop_size_{224, 224};
  bool do_thumbnail_ = false;
  bool do_align_long_axis_ = false;
  bool do_pad_ = false;
  bool do_crop_margin_ = false;
  bool grayscale_ = false;
  int num_channels_ = 3;
};

}  // namespace ved
