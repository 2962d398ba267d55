// Batch captioning to JSON Lines, built to be interrupted: every batch's lines are written with
// one write and flushed, so a killed run loses at most the batch in flight (and leaves at most
// one partial last line). On start the output is read back, a partial last line is cut off, and
// every input (image, or PDF page) that already has a line (a caption or an error) is skipped.

#include "caption_batch.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>

#include "ved/detail/file.hpp"
#include "ved/detail/parallel.hpp"
#include "ved/io/image.hpp"

namespace ved::cli {

namespace fs = std::filesystem;

namespace {

std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

bool is_input_name(const fs::path& p) {
  static const std::set<std::string> kExtensions = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm",
                                                    ".ppm", ".pnm", ".pbm",  ".tga", ".pdf"};
  return kExtensions.count(lower_extension(p)) > 0;
}

bool looks_like_pdf(const std::string& path) {
  return lower_extension(path) == ".pdf" || is_pdf_file(path);
}

using Key = std::pair<std::string, int>;  // (path, 0-based page or -1)

Key key_of(const Input& in) {
  return {in.path, in.page};
}

detail::json head(const Input& in) {
  detail::json j = {{"image", in.path}};
  if (in.page >= 0) j["page"] = in.page + 1;
  return j;
}

std::string dump_line(const detail::json& j) {
  // Paths and messages may hold bytes that are not UTF-8; replace them rather than fail.
  return j.dump(-1, ' ', false, detail::json::error_handler_t::replace) + "\n";
}

// Reads what an earlier run finished (each line's input and text, "" for an error), cutting
// off a partial last line.
std::map<Key, std::optional<std::string>> finished_inputs(const std::string& output) {
  std::map<Key, std::optional<std::string>> done;
  std::error_code ec;
  if (!fs::exists(output, ec)) return done;
  const std::string text = detail::read_file(output);
  const size_t complete = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
  if (complete < text.size()) fs::resize_file(output, complete);
  size_t line_no = 0;
  for (size_t pos = 0; pos < complete;) {
    const size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const detail::json j = detail::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("image") || !j["image"].is_string())
      throw FormatError(output + ": line " + std::to_string(line_no) +
                        " is not a result line {\"image\": ...}; refusing to append to it");
    int page = -1;
    if (j.contains("page")) {
      if (!j["page"].is_number_integer() || j["page"].get<int64_t>() < 1 ||
          j["page"].get<int64_t>() > (int64_t(1) << 30))
        throw FormatError(output + ": line " + std::to_string(line_no) +
                          " has a \"page\" that is not a page number; refusing to append to it");
      page = static_cast<int>(j["page"].get<int64_t>()) - 1;
    }
    std::optional<std::string> text;
    if (j.contains("text") && j["text"].is_string()) text = j["text"].get<std::string>();
    done[{j["image"].get<std::string>(), page}] = text;
  }
  return done;
}

class ProgressBar {
 public:
  ProgressBar(bool enabled, size_t total) : enabled_(enabled), total_(total) {}

  void update(size_t done) {
    if (!enabled_) return;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
    constexpr int kWidth = 30;
    const int filled = total_ ? static_cast<int>(kWidth * done / total_) : kWidth;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    char eta[32] = "--:--";
    if (rate > 0) {
      const auto left = static_cast<long>(static_cast<double>(total_ - done) / rate);
      std::snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", left / 3600, left / 60 % 60, left % 60);
    }
    std::fprintf(stderr, "\r[%s] %zu/%zu  %.1f img/s  ETA %s ", bar.c_str(), done, total_, rate,
                 eta);
    std::fflush(stderr);
  }
  void finish() {
    if (enabled_) std::fputc('\n', stderr);
  }

 private:
  bool enabled_;
  size_t total_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

struct Loaded {
  std::optional<Tensor<float>> pixels;  // [1, 3, H, W]
  std::string error;
};

Tensor<float> stack(const std::vector<const Tensor<float>*>& rows) {
  Shape shape = rows.front()->shape();
  shape[0] = static_cast<int64_t>(rows.size());
  Tensor<float> out(shape);
  const int64_t each = rows.front()->numel();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i]->shape() != rows.front()->shape())
      throw InvalidArgument("the image processor produced pixel_values of different shapes (" +
                            shape_str(rows.front()->shape()) + " and " +
                            shape_str(rows[i]->shape()) +
                            "); enable resizing in preprocessor_config.json");
    std::copy(rows[i]->begin(), rows[i]->end(), out.data() + static_cast<int64_t>(i) * each);
  }
  return out;
}

}  // namespace

std::vector<std::string> list_images(const std::string& dir_or_list) {
  std::error_code ec;
  std::vector<std::string> images;
  if (fs::is_directory(dir_or_list, ec)) {
    for (fs::recursive_directory_iterator it(dir_or_list, ec), end; !ec && it != end;
         it.increment(ec))
      if (it->is_regular_file(ec) && is_input_name(it->path()))
        images.push_back(it->path().string());
    if (ec) throw IoError(dir_or_list + ": cannot list the directory: " + ec.message());
    std::sort(images.begin(), images.end());
    return images;
  }
  std::ifstream in(dir_or_list);
  if (!in) throw IoError(dir_or_list + ": no such directory or list file");
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != '#') images.push_back(line);
  }
  return images;
}

std::vector<Input> expand_inputs(const std::vector<std::string>& paths) {
  std::vector<Input> out;
  for (const auto& path : paths) {
    if (!looks_like_pdf(path)) {
      out.push_back({path, -1});
      continue;
    }
    int pages = 0;
    try {
      pages = PdfDocument::open(path).num_pages();
    } catch (const Error&) {
      // Reported when the input is loaded, as that input's error.
    }
    if (pages == 0) out.push_back({path, -1});
    for (int i = 0; i < pages; ++i) out.push_back({path, i});
  }
  return out;
}

Image InputLoader::load(const Input& in) {
  if (in.page < 0 && !looks_like_pdf(in.path)) return load_image(in.path);
  auto it = open_.find(in.path);
  if (it == open_.end())
    it = open_.emplace(in.path, std::make_shared<PdfDocument>(PdfDocument::open(in.path))).first;
  if (in.page < 0)  // a PDF that opened now but not when the inputs were listed
    throw FormatError(in.path + ": could not list the PDF's pages");
  return it->second->render_page(in.page, dpi_);
}

namespace {

// The .mmd / .md output: every page's text in input order, separated by blank lines; inputs
// that failed are left out (their errors stay in the JSON Lines file).
void write_markdown(const std::string& path, const std::vector<Input>& inputs,
                    const std::map<Key, std::optional<std::string>>& done) {
  std::string text;
  for (const auto& in : inputs) {
    auto it = done.find(key_of(in));
    if (it == done.end() || !it->second) continue;
    if (!text.empty()) text += "\n\n";
    text += *it->second;
  }
  text += "\n";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out.good()) throw IoError(path + ": write failed");
}

}  // namespace

BatchSummary caption_to_jsonl(const ImageToText& pipeline, const BatchJob& job) {
  if (job.batch_size < 1)
    throw InvalidArgument("--batch-size must be at least 1, got " + std::to_string(job.batch_size));
  const std::string ext = lower_extension(job.output);
  const bool markdown = ext == ".mmd" || ext == ".md";
  const std::string jsonl = markdown ? job.output + ".jsonl" : job.output;
  BatchSummary summary;
  std::map<Key, std::optional<std::string>> done = finished_inputs(jsonl);
  std::vector<Input> todo;
  std::set<Key> queued;
  for (const auto& in : job.inputs) {
    if (done.count(key_of(in)))
      ++summary.skipped;
    else if (queued.insert(key_of(in)).second)
      todo.push_back(in);
  }
  std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(jsonl.c_str(), "ab"), std::fclose);
  if (!out) throw IoError(jsonl + ": cannot open for appending");

  InputLoader loader(job.dpi);
  ProgressBar progress(job.progress, todo.size());
  progress.update(0);
  for (size_t first = 0; first < todo.size(); first += static_cast<size_t>(job.batch_size)) {
    const size_t n = std::min(todo.size() - first, static_cast<size_t>(job.batch_size));
    std::vector<Loaded> loaded(n);
    // PDF pages are rendered here, one at a time (a poppler document is not thread-safe);
    // image files are decoded in the parallel loop below.
    std::vector<std::optional<Image>> pages(n);
    for (size_t i = 0; i < n; ++i) {
      if (todo[first + i].page < 0 && !looks_like_pdf(todo[first + i].path)) continue;
      try {
        pages[i] = loader.load(todo[first + i]);
      } catch (const std::exception& e) {
        loaded[i].error = e.what();
      }
    }
    parallel_for(0, static_cast<int64_t>(n), 1, [&](int64_t i) {
      auto& slot = loaded[static_cast<size_t>(i)];
      const Input& in = todo[first + i];
      if (!slot.error.empty()) return;
      try {
        const auto& page = pages[static_cast<size_t>(i)];
        slot.pixels = pipeline.processor().preprocess(page ? *page : load_image(in.path));
      } catch (const std::exception& e) {  // never let an exception leave an OpenMP region
        slot.error = e.what();
      }
    });
    std::vector<const Tensor<float>*> good;
    for (const auto& l : loaded)
      if (l.pixels) good.push_back(&*l.pixels);
    std::vector<TextResult> results;
    if (!good.empty()) results = pipeline.run(stack(good), job.kwargs);
    const size_t per_image = good.empty() ? 1 : results.size() / good.size();
    std::string lines;
    size_t next = 0;
    for (size_t i = 0; i < n; ++i) {
      const Input& in = todo[first + i];
      detail::json line = head(in);
      if (!loaded[i].pixels) {
        line["error"] = loaded[i].error;
        lines += dump_line(line);
        done[key_of(in)] = std::nullopt;
        ++summary.failed;
        continue;
      }
      const TextResult& r = results[next++ * per_image];
      line["text"] = r.text;
      line["tokens"] = r.tokens;
      line["score"] = r.score;
      line["confidence"] = r.confidence;
      line["token_logprobs"] = r.token_logprobs;
      lines += dump_line(line);
      done[key_of(in)] = r.text;
      ++summary.captioned;
    }
    if (std::fwrite(lines.data(), 1, lines.size(), out.get()) != lines.size() ||
        std::fflush(out.get()) != 0)
      throw IoError(jsonl + ": write failed");
    progress.update(first + n);
  }
  progress.finish();
  if (markdown) write_markdown(job.output, job.inputs, done);
  return summary;
}

}  // namespace ved::cli
