// PDF pages as images (include/ved/io/pdf.hpp), rendered by poppler's C++ interface. Only this
// file sees poppler; without it (VED_HAVE_POPPLER undefined) every entry point says that this
// build cannot read PDFs.

#include "ved/io/pdf.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>

#include "ved/error.hpp"
#include "ved/limits.hpp"

#ifdef VED_HAVE_POPPLER
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-image.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>
#endif

namespace ved {

bool is_pdf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[1024] = {};
  in.read(head, sizeof head);
  const std::string_view text(head, static_cast<size_t>(in.gcount()));
  return text.find("%PDF-") != std::string_view::npos;
}

#ifdef VED_HAVE_POPPLER

namespace {

// poppler reports syntax problems of damaged files on stderr by default; ved reports failures
// itself, as errors naming the file, so the chatter is dropped.
void quiet_poppler() {
  static std::once_flag once;
  std::call_once(
      once, [] { poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr); });
}

}  // namespace

struct PdfDocument::Impl {
  std::string path;
  std::unique_ptr<poppler::document> doc;
};

bool PdfDocument::supported() {
  return poppler::page_renderer::can_render();
}

PdfDocument PdfDocument::open(const std::string& path) {
  quiet_poppler();
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw IoError(path + ": cannot open the PDF file");
  }
  if (!is_pdf_file(path)) throw FormatError(path + ": not a PDF file (no %PDF- header)");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->doc.reset(poppler::document::load_from_file(path));
  if (!impl->doc) throw FormatError(path + ": not a readable PDF (damaged, or not a PDF at all)");
  if (impl->doc->is_locked())
    throw FormatError(path + ": the PDF is encrypted and needs a password to open");
  if (impl->doc->pages() <= 0) throw FormatError(path + ": the PDF has no pages");
  return PdfDocument(std::move(impl));
}

int PdfDocument::num_pages() const {
  return impl_->doc->pages();
}

Image PdfDocument::render_page(int index, double dpi) const {
  const std::string where = impl_->path + ": page " + std::to_string(index + 1);
  if (index < 0 || index >= num_pages())
    throw InvalidArgument(impl_->path + ": no page " + std::to_string(index + 1) + " (it has " +
                          std::to_string(num_pages()) + ")");
  if (!(dpi > 0 && dpi <= 2400))
    throw InvalidArgument("PDF resolution " + std::to_string(dpi) + " dpi is not in (0, 2400]");
  std::unique_ptr<poppler::page> page(impl_->doc->create_page(index));
  if (!page) throw FormatError(where + " cannot be read");
  // The rendered size, checked before poppler allocates it: a hostile MediaBox can ask for
  // gigapixels. page_rect is in points (1/72 inch) and already accounts for the page's rotation.
  const poppler::rectf box = page->page_rect(poppler::media_box);
  const double w = std::ceil(std::abs(box.width()) * dpi / 72),
               h = std::ceil(std::abs(box.height()) * dpi / 72);
  const Limits limits = ved::limits();
  if (!(w >= 1 && h >= 1) || w > static_cast<double>(limits.max_image_side) ||
      h > static_cast<double>(limits.max_image_side) ||
      w * h > static_cast<double>(limits.max_image_pixels))
    throw FormatError(where + " would be " + std::to_string(static_cast<long long>(w)) + "x" +
                      std::to_string(static_cast<long long>(h)) + " pixels at " +
                      std::to_string(static_cast<int>(dpi)) +
                      " dpi, outside ved::Limits (max side " +
                      std::to_string(limits.max_image_side) + ", max pixels " +
                      std::to_string(limits.max_image_pixels) + ")");
  poppler::page_renderer renderer;
  renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
  renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
  renderer.set_image_format(poppler::image::format_argb32);
  renderer.set_paper_color(0xffffffff);
  const poppler::image img = renderer.render_page(page.get(), dpi, dpi);
  if (!img.is_valid() || img.width() <= 0 || img.height() <= 0 ||
      img.format() != poppler::image::format_argb32)
    throw FormatError(where + " could not be rendered");
  // ARGB32 is stored as native-endian 32-bit words: B, G, R, A in memory on little-endian
  // machines. The paper is opaque white, so alpha is always 255.
  Image out(img.width(), img.height());
  for (int y = 0; y < img.height(); ++y) {
    const auto* src = reinterpret_cast<const uint8_t*>(img.const_data()) +
                      static_cast<size_t>(y) * static_cast<size_t>(img.bytes_per_row());
    uint8_t* dst = out.row(y);
    for (int x = 0; x < img.width(); ++x) {
      uint32_t px;
      std::memcpy(&px, src + 4 * x, 4);
      dst[3 * x] = static_cast<uint8_t>(px >> 16);
      dst[3 * x + 1] = static_cast<uint8_t>(px >> 8);
      dst[3 * x + 2] = static_cast<uint8_t>(px);
    }
  }
  return out;
}

#else  // no poppler

struct PdfDocument::Impl {
  std::string path;
};

bool PdfDocument::supported() {
  return false;
}

PdfDocument PdfDocument::open(const std::string& path) {
  throw InvalidArgument(path +
                        ": this build of ved cannot read PDF files (it was built without "
                        "poppler; install libpoppler-cpp-dev and rebuild ved)");
}

int PdfDocument::num_pages() const {
  return 0;
}

Image PdfDocument::render_page(int, double) const {
  throw InvalidArgument(impl_->path + ": this build of ved cannot read PDF files");
}

#endif

PdfDocument::PdfDocument(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PdfDocument::PdfDocument(PdfDocument&&) noexcept = default;
PdfDocument& PdfDocument::operator=(PdfDocument&&) noexcept = default;
PdfDocument::~PdfDocument() = default;

const std::string& PdfDocument::path() const {
  return impl_->path;
}

}  // namespace ved
