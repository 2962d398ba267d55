#pragma once

// PDF pages as images, for document models such as Nougat that read rendered pages.
//
//   ved::PdfDocument doc = ved::PdfDocument::open("paper.pdf");
//   for (int i = 0; i < doc.num_pages(); ++i) {
//     ved::Image page = doc.render_page(i);  // 96 dpi, as Nougat's own rasteriser
//     ...
//   }
//
// Rendering is done by poppler (Debian: libpoppler-cpp-dev), which ved links only when it was
// found at build time; this header does not include it. Without it, open() throws a ved::Error
// that says so. A document is not thread-safe: render its pages from one thread at a time.

#include <memory>
#include <string>

#include "ved/io/image.hpp"

namespace ved {

class PdfDocument {
 public:
  // The resolution Nougat's training pages were rendered at (facebookresearch/nougat rasterises
  // with dpi=96), which maps a Letter/A4 page to about the 672x896 its processor wants.
  static constexpr double kDefaultDpi = 96;

  // Whether this build of ved can read PDF files.
  static bool supported();

  // Opens a PDF; throws IoError if it cannot be read, FormatError if it is not a readable PDF
  // (corrupt, or encrypted with a password).
  static PdfDocument open(const std::string& path);

  PdfDocument(PdfDocument&&) noexcept;
  PdfDocument& operator=(PdfDocument&&) noexcept;
  ~PdfDocument();

  int num_pages() const;
  // Page `index` (0-based) as RGB on white at `dpi`; the pixel size is checked against
  // ved::Limits before anything is rendered.
  Image render_page(int index, double dpi = kDefaultDpi) const;
  const std::string& path() const;

 private:
  struct Impl;
  explicit PdfDocument(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True if the file starts like a PDF ("%PDF-" within its first 1024 bytes, as readers accept).
bool is_pdf_file(const std::string& path);

}  // namespace ved
