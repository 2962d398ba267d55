#pragma once

// A minimal PDF writer for tests: pages of a given size with a content stream (vector
// drawing) and optionally one RGB image filling the page, and a cross-reference table with
// exact offsets, so that poppler reads the file without repairing it. `encrypt` adds a Standard
// security handler whose user password is not empty, so the file needs a password to open.

#include <cstdio>
#include <string>
#include <vector>

#include "ved/io/image.hpp"

namespace ved::test {

struct PdfPage {
  double width_pt = 612, height_pt = 792;  // US Letter
  std::string content;                     // PDF drawing operators
  const Image* image = nullptr;            // drawn over the whole page, under `content`
};

inline std::string make_pdf(const std::vector<PdfPage>& pages, bool encrypt = false) {
  std::vector<std::string> objects;  // objects[i] is object number i + 1
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push_back("");  // the page tree, once the pages' numbers are known
  std::string kids;
  char buf[256];
  for (const auto& p : pages) {
    const size_t page_no = objects.size() + 1;
    kids += std::to_string(page_no) + " 0 R ";
    std::string content = p.content;
    std::string resources = "<< >>";
    const size_t content_no = page_no + 1;
    if (p.image) {
      std::snprintf(buf, sizeof buf, "q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q\n", p.width_pt, p.height_pt);
      content = buf + content;
      resources = "<< /XObject << /Im0 " + std::to_string(page_no + 2) + " 0 R >> >>";
    }
    std::snprintf(buf, sizeof buf, "[0 0 %.4f %.4f]", p.width_pt, p.height_pt);
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox " + std::string(buf) +
                      " /Resources " + resources + " /Contents " + std::to_string(content_no) +
                      " 0 R >>");
    objects.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content +
                      "\nendstream");
    if (p.image) {
      const std::string pixels(p.image->rgb.begin(), p.image->rgb.end());
      objects.push_back("<< /Type /XObject /Subtype /Image /Width " +
                        std::to_string(p.image->width) + " /Height " +
                        std::to_string(p.image->height) +
                        " /ColorSpace /DeviceRGB /BitsPerComponent 8 /Length " +
                        std::to_string(pixels.size()) + " >>\nstream\n" + pixels + "\nendstream");
    }
  }
  objects[1] =
      "<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) + " >>";
  std::string trailer_extra;
  if (encrypt) {
    objects.push_back(
        "<< /Filter /Standard /V 1 /R 2 /P -4 "
        "/O <7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b> "
        "/U <0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef> >>");
    trailer_extra =
        " /Encrypt " + std::to_string(objects.size()) +
        " 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]";
  }
  std::string pdf = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    std::snprintf(buf, sizeof buf, "%010zu 00000 n \n", off);
    pdf += buf;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R" +
         trailer_extra + " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

}  // namespace ved::test
