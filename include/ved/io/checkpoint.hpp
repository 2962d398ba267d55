#pragma once

// The weights of a checkpoint folder, as transformers' save_pretrained writes them:
// `model.safetensors`, shards listed by `model.safetensors.index.json`, or the PyTorch pickle
// format (`pytorch_model.bin`, or shards listed by `pytorch_model.bin.index.json`), preferred in
// that order as transformers does. For benchmarks at real size without a download,
// `WeightSource::synthetic` makes up seeded random weights instead. `convert_to_safetensors`
// rewrites any checkpoint folder as a single model.safetensors.

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/io/safetensors.hpp"
#include "ved/io/torch_checkpoint.hpp"
#include "ved/limits.hpp"
#include "ved/model_options.hpp"

namespace ved {

class WeightSource {
 public:
  static std::shared_ptr<const WeightSource> from_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    auto src = std::shared_ptr<WeightSource>(new WeightSource());
    const fs::path root(dir);
    const fs::path single = root / "model.safetensors";
    const fs::path index = root / "model.safetensors.index.json";
    const fs::path bin = root / "pytorch_model.bin";
    const fs::path bin_index = root / "pytorch_model.bin.index.json";
    if (fs::is_regular_file(single)) {
      src->add_file(single.string(), Format::Safetensors);
    } else if (fs::is_regular_file(index)) {
      src->add_index(root, index.string(), Format::Safetensors);
    } else if (fs::is_regular_file(bin)) {
      src->add_file(bin.string(), Format::Torch);
    } else if (fs::is_regular_file(bin_index)) {
      src->add_index(root, bin_index.string(), Format::Torch);
    } else {
      throw IoError(dir +
                    ": no model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
                    "pytorch_model.bin.index.json in this folder" +
                    other_formats_note(root));
    }
    return src;
  }

  // One weights file: a PyTorch checkpoint when it looks like one (a zip archive, or a legacy
  // torch.save pickle or tar file, which gets its own error), else safetensors.
  static std::shared_ptr<const WeightSource> from_file(const std::string& path) {
    auto src = std::shared_ptr<WeightSource>(new WeightSource());
    src->add_file(path, sniff_format(path));
    return src;
  }

  // Every float tensor a model asks for, drawn from N(0, stddev²) with a generator seeded by
  // (seed, name), so the same model gets the same weights on every run.
  static std::shared_ptr<const WeightSource> synthetic(uint64_t seed, float stddev = 0.02f) {
    auto src = std::shared_ptr<WeightSource>(new WeightSource());
    src->synthetic_ = true;
    src->seed_ = seed;
    src->stddev_ = stddev;
    return src;
  }

  // Whether the checkpoint stores `name`. Synthetic weights store nothing: models skip optional
  // stored buffers (and recompute them) while every tensor they require is still made up.
  bool contains(const std::string& name) const { return where_.count(name) != 0; }

  // Tensor `name` as T, checked against `shape`.
  template <typename T>
  Tensor<T> tensor(const std::string& name, const Shape& shape) const {
    if (synthetic_) return synthesize<T>(name, shape);
    auto it = where_.find(name);
    if (it == where_.end()) throw WeightError("tensor " + name + " not found in " + describe());
    const File& f = files_[it->second];
    const Shape& stored = f.st ? f.st->record(name).shape : f.torch->record(name).shape;
    if (stored != shape)
      throw WeightError("tensor " + name + ": expected shape " + shape_str(shape) + ", got " +
                        shape_str(stored) + " in " + f.path);
    {
      std::lock_guard<std::mutex> lock(read_mutex_);
      read_.insert(name);
    }
    return f.st ? f.st->tensor<T>(name) : f.torch->tensor<T>(name);
  }

  // The safetensors file holding `name`, or nullptr (also when a .bin file holds it).
  const SafetensorsFile* file_of(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? nullptr : files_[it->second].st.get();
  }

  // The path of the file holding `name`, or "".
  std::string path_of(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? std::string() : files_[it->second].path;
  }

  // Every tensor name, sorted (empty for synthetic weights).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(where_.size());
    for (const auto& [name, file] : where_) out.push_back(name);
    return out;
  }

  // The stored tensors no tensor() call has read so far, sorted: after a model is built, the
  // weights it never uses (transformers' "Some weights of the model checkpoint were not used").
  std::vector<std::string> unread() const {
    std::lock_guard<std::mutex> lock(read_mutex_);
    std::vector<std::string> out;
    for (const auto& [name, file] : where_)
      if (!read_.count(name)) out.push_back(name);
    return out;
  }

  // Tensor `name` exactly as stored -- its dtype, shape and bytes, made contiguous -- ready for
  // write_safetensors.
  TensorToWrite stored(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) throw WeightError("tensor " + name + " not found in " + describe());
    const File& f = files_[it->second];
    if (f.torch) {
      const TorchTensorRecord& r = f.torch->record(name);
      return {name, r.dtype, r.shape, f.torch->contiguous_bytes(name)};
    }
    const TensorRecord& r = f.st->record(name);
    return {name, r.dtype, r.shape, std::vector<unsigned char>(r.bytes, r.bytes + r.nbytes)};
  }

  // Names of the files, for error messages.
  std::string describe() const {
    if (synthetic_) return "synthetic weights (seed " + std::to_string(seed_) + ")";
    std::string s;
    for (size_t i = 0; i < files_.size() && i < 3; ++i) s += (i ? ", " : "") + files_[i].path;
    if (files_.size() > 3) s += " and " + std::to_string(files_.size() - 3) + " more shards";
    return s;
  }

 private:
  enum class Format { Safetensors, Torch };

  // One opened weights file: exactly one of `st` and `torch` is set.
  struct File {
    std::string path;
    std::shared_ptr<const SafetensorsFile> st;
    std::shared_ptr<const TorchCheckpoint> torch;
  };

  WeightSource() = default;

  // For a folder without PyTorch weights: the weight files of other frameworks it does hold
  // (ONNX exports such as pix2text-mfr's, also under onnx/; TensorFlow; Flax), named, so that the
  // error says why nothing loads instead of only what is missing.
  static std::string other_formats_note(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    std::vector<std::string> onnx, other;
    for (const fs::path& folder : {root, root / "onnx"}) {
      std::error_code ec;
      if (!fs::is_directory(folder, ec)) continue;
      for (const auto& entry : fs::directory_iterator(folder, ec)) {
        const std::string name = fs::relative(entry.path(), root, ec).generic_string();
        if (detail::ends_with(name, ".onnx"))
          onnx.push_back(name);
        else if (detail::ends_with(name, ".h5") || detail::ends_with(name, ".msgpack"))
          other.push_back(name);
      }
    }
    std::sort(onnx.begin(), onnx.end());
    std::sort(other.begin(), other.end());
    auto list = [](const std::vector<std::string>& names) {
      std::string s;
      for (size_t i = 0; i < names.size() && i < 6; ++i) s += (i ? ", " : "") + names[i];
      if (names.size() > 6) s += " and " + std::to_string(names.size() - 6) + " more";
      return s;
    };
    std::string note;
    if (!onnx.empty())
      note += "; it holds only ONNX files (" + list(onnx) +
              "), which ved does not run: ved reads the PyTorch weights (safetensors or .bin) "
              "that such an export was made from";
    if (!other.empty())
      note += "; it holds TensorFlow/Flax weights (" + list(other) +
              "), which ved does not read: save the model from PyTorch (save_pretrained)";
    return note;
  }

  static Format sniff_format(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(path + ": cannot open file");
    unsigned char head[512] = {};
    in.read(reinterpret_cast<char*>(head), sizeof head);
    const size_t n = static_cast<size_t>(in.gcount());
    if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4)
      return Format::Torch;
    // A safetensors header length is a small little-endian number followed by '{'; its low byte
    // can look like a pickle's PROTO opcode, so this is checked before the legacy formats.
    if (n >= 9 && head[8] == '{') return Format::Safetensors;
    return detail::is_legacy_torch_file(head, n) ? Format::Torch : Format::Safetensors;
  }

  template <typename T>
  Tensor<T> synthesize(const std::string& name, const Shape& shape) const {
    if constexpr (!std::is_floating_point_v<T>) {
      throw WeightError("tensor " + name + ": synthetic weights hold no integer tensors");
    } else {
      Tensor<T> t(shape);
      std::mt19937_64 rng(seed_ ^ std::hash<std::string>{}(name));
      std::normal_distribution<float> normal(0.0f, stddev_);
      for (T& v : t) v = static_cast<T>(normal(rng));
      return t;
    }
  }

  void add_file(const std::string& path, Format format) {
    // Checked before mapping: a checkpoint bigger than the machine is meant to hold is refused
    // by its size, not discovered by running out of memory while converting it.
    std::error_code ec;
    const uint64_t bytes = std::filesystem::file_size(path, ec);
    if (!ec) {
      const uint64_t max = limits().max_total_weight_bytes;
      if (bytes > max || total_bytes_ > max - bytes)
        throw WeightError(path + ": " +
                          detail::limit_message("total weight bytes", total_bytes_ + bytes,
                                                "max_total_weight_bytes", max));
      total_bytes_ += bytes;
    }
    File f;
    f.path = path;
    std::vector<std::string> names;
    if (format == Format::Torch) {
      f.torch = TorchCheckpoint::open(path);
      for (const auto& [name, rec] : f.torch->records()) names.push_back(name);
    } else {
      f.st = SafetensorsFile::open(path);
      for (const auto& [name, rec] : f.st->records()) names.push_back(name);
    }
    files_.push_back(std::move(f));
    const size_t idx = files_.size() - 1;
    for (const auto& name : names) {
      if (!where_.emplace(name, idx).second)
        throw FormatError(path + ": tensor '" + name + "' also appears in " +
                          files_[where_[name]].path);
    }
  }

  bool file_contains(const File& f, const std::string& name) const {
    return f.st ? f.st->contains(name) : f.torch->contains(name);
  }

  void add_index(const std::filesystem::path& root, const std::string& index_path, Format format) {
    const detail::json index = detail::read_json_file(index_path);
    auto wm = index.is_object() ? index.find("weight_map") : index.end();
    if (wm == index.end() || !wm->is_object())
      throw FormatError(index_path + ": missing object 'weight_map'");
    std::map<std::string, std::vector<std::string>> by_shard;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string())
        throw FormatError(index_path + ": weight_map entry '" + it.key() + "' is not a file name");
      const std::string shard = it.value().get<std::string>();
      // Shards are plain file names next to the index; anything else could read outside the folder.
      if (shard.empty() || shard.find('/') != std::string::npos ||
          shard.find('\\') != std::string::npos || shard == "." || shard == "..")
        throw FormatError(index_path + ": weight_map entry '" + it.key() +
                          "' names an invalid shard '" + shard + "'");
      by_shard[shard].push_back(it.key());
    }
    for (const auto& [shard, names] : by_shard) {
      add_file((root / shard).string(), format);
      for (const auto& n : names)
        if (!file_contains(files_.back(), n))
          throw FormatError(index_path + ": weight_map puts '" + n + "' in " + shard +
                            ", which does not contain it");
    }
  }

  std::vector<File> files_;
  std::map<std::string, size_t> where_;
  mutable std::mutex read_mutex_;
  mutable std::set<std::string> read_;  // names tensor() returned, for unread()
  uint64_t total_bytes_ = 0;  // of every file added, against Limits::max_total_weight_bytes
  bool synthetic_ = false;
  uint64_t seed_ = 0;
  float stddev_ = 0.02f;
};

// A view of a WeightSource under a name prefix, so that model code names weights the way
// transformers' modules nest: loader.sub("attention").sub("query").get("weight", {d, d}).
class WeightLoader {
 public:
  WeightLoader(std::shared_ptr<const WeightSource> source, std::string prefix = "",
               WeightType linear_weight_type = WeightType::F32)
      : source_(std::move(source)),
        prefix_(std::move(prefix)),
        linear_weight_type_(linear_weight_type) {}

  WeightLoader sub(const std::string& name) const {
    return WeightLoader(source_, prefix_ + name + ".", linear_weight_type_);
  }
  WeightLoader sub(int64_t index) const { return sub(std::to_string(index)); }

  std::string full_name(const std::string& name) const { return prefix_ + name; }
  bool has(const std::string& name) const { return source_->contains(full_name(name)); }

  // The float tensor `name`, checked against `shape`.
  Tensor<float> get(const std::string& name, const Shape& shape) const {
    return get_as<float>(name, shape);
  }

  template <typename T>
  Tensor<T> get_as(const std::string& name, const Shape& shape) const {
    return source_->tensor<T>(full_name(name), shape);
  }

  // What nn::Linear keeps its matrix in (ModelOptions::weight_type).
  WeightType linear_weight_type() const { return linear_weight_type_; }

 private:
  std::shared_ptr<const WeightSource> source_;
  std::string prefix_;
  WeightType linear_weight_type_;
};

// What convert_to_safetensors wrote.
struct ConversionSummary {
  std::string weights;              // path of the model.safetensors written
  size_t tensors = 0;               // tensors in it
  std::vector<std::string> copied;  // names of the other files copied
};

// Writes `out_dir`/model.safetensors with every tensor of the checkpoint folder `dir` (any layout
// WeightSource::from_dir reads), each in its stored dtype (F32 stays F32, F16/BF16 stay F16/BF16),
// and copies the folder's other regular files: config, generation config, tokenizer and processor
// files. Weight files of any framework and subfolders are not copied. Tensors the checkpoint
// omits because they are tied stay omitted; the model's config still ties them.
inline ConversionSummary convert_to_safetensors(const std::string& dir,
                                                const std::string& out_dir) {
  namespace fs = std::filesystem;
  const auto src = WeightSource::from_dir(dir);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw IoError(out_dir + ": cannot create folder: " + ec.message());
  if (fs::equivalent(dir, out_dir, ec))
    throw InvalidArgument("convert: the output folder " + out_dir + " is the model folder itself");

  ConversionSummary summary;
  const fs::path target = fs::path(out_dir) / "model.safetensors";
  const fs::path partial = fs::path(out_dir) / "model.safetensors.partial";
  {
    std::vector<TensorToWrite> tensors;
    for (const auto& name : src->names()) tensors.push_back(src->stored(name));
    summary.tensors = tensors.size();
    // Written under another name first so that a failed conversion never leaves a truncated
    // model.safetensors that from_dir would prefer over everything else.
    write_safetensors(partial.string(), tensors, {{"format", "pt"}});
  }
  fs::rename(partial, target, ec);
  if (ec) throw IoError(target.string() + ": cannot write: " + ec.message());
  summary.weights = target.string();

  auto is_weights = [](const std::string& name) {
    static const char* suffixes[] = {".bin", ".safetensors", ".index.json", ".h5",     ".msgpack",
                                     ".pt",  ".pth",         ".ckpt",       ".partial"};
    for (const char* s : suffixes) {
      const size_t n = std::strlen(s);
      if (name.size() >= n && name.compare(name.size() - n, n, s) == 0) return true;
    }
    return false;
  };
  std::vector<fs::path> others;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && !is_weights(name)) others.push_back(entry.path());
  }
  std::sort(others.begin(), others.end());
  for (const auto& from : others) {
    const fs::path to = fs::path(out_dir) / from.filename();
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec) throw IoError(to.string() + ": cannot copy " + from.string() + ": " + ec.message());
    summary.copied.push_back(from.filename().string());
  }
  return summary;
}

}  // namespace ved
