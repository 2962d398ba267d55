// libFuzzer target: image decoding (stb_image behind ved's JPEG checks, EXIF orientation) and
// preprocessing of whatever decodes. The first byte picks the name the bytes are decoded under
// (TGA is only tried for *.tga names) and the processor.

#include "fuzz_common.hpp"
#include "ved/detail/json.hpp"
#include "ved/io/image.hpp"
#include "ved/processing/image_processor.hpp"

namespace {

const ved::ImageProcessor& processor(int which) {
  using ved::detail::json;
  static const ved::ImageProcessor vit = ved::ImageProcessor::from_json(
      json::parse(R"({"image_processor_type": "ViTImageProcessor", "size": 32, "resample": 2})"),
      "vit");
  static const ved::ImageProcessor deit = ved::ImageProcessor::from_json(
      json::parse(R"({"image_processor_type": "DeiTImageProcessor", "size": 40,
                      "crop_size": 32, "resample": 3})"),
      "deit");
  static const ved::ImageProcessor donut = ved::ImageProcessor::from_json(
      json::parse(R"({"image_processor_type": "DonutImageProcessor", "size": [48, 64],
                      "do_align_long_axis": true, "do_thumbnail": true, "do_pad": true})"),
      "donut");
  switch (which % 3) {
    case 0:
      return vit;
    case 1:
      return deit;
    default:
      return donut;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ved_fuzz::set_fuzz_limits();
  // Decoding and resampling millions of pixels per input would leave time for few inputs; the
  // decoders' paths do not depend on the size beyond this.
  ved::Limits l = ved::limits();
  l.max_image_pixels = int64_t(1) << 18;
  ved::set_limits(l);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  const char* name = (selector & 1) ? "fuzz.tga" : "fuzz.img";
  try {
    const ved::Image img = ved::decode_image(data + 1, size - 1, name);
    if (img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3) __builtin_trap();
    ved_fuzz::consume(img.rgb.data(), static_cast<int64_t>(img.rgb.size()));
    const ved::Tensor<float> t = processor(selector >> 1).preprocess(img);
    ved_fuzz::consume(t.data(), t.numel());
  } catch (const ved::Error&) {
  }
  return 0;
}
