#pragma once

// The weights of a checkpoint folder, as transformers' save_pretrained writes them:
// `model.safetensors`, or shards listed by `model.safetensors.index.json`.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/io/safetensors.hpp"

namespace ved {

class WeightSource {
 public:
  static std::shared_ptr<const WeightSource> from_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    auto src = std::shared_ptr<WeightSource>(new WeightSource());
    const fs::path root(dir);
    const fs::path single = root / "model.safetensors";
    const fs::path index = root / "model.safetensors.index.json";
    if (fs::is_regular_file(single)) {
      src->add_file(single.string());
    } else if (fs::is_regular_file(index)) {
      src->add_index(root, index.string());
    } else {
      throw IoError(dir + ": no model.safetensors or model.safetensors.index.json in this folder");
    }
    return src;
  }

  static std::shared_ptr<const WeightSource> from_file(const std::string& path) {
    auto src = std::shared_ptr<WeightSource>(new WeightSource());
    src->add_file(path);
    return src;
  }

  bool contains(const std::string& name) const { return where_.count(name) != 0; }

  // The file holding `name`, or nullptr.
  const SafetensorsFile* file_of(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? nullptr : files_[it->second].get();
  }

  // Names of the files, for error messages.
  std::string describe() const {
    std::string s;
    for (size_t i = 0; i < files_.size() && i < 3; ++i) s += (i ? ", " : "") + files_[i]->path();
    if (files_.size() > 3) s += " and " + std::to_string(files_.size() - 3) + " more shards";
    return s;
  }

 private:
  WeightSource() = default;

  void add_file(const std::string& path) {
    files_.push_back(SafetensorsFile::open(path));
    const size_t idx = files_.size() - 1;
    for (const auto& [name, rec] : files_.back()->records()) {
      if (!where_.emplace(name, idx).second)
        throw FormatError(path + ": tensor '" + name + "' also appears in " +
                          files_[where_[name]]->path());
    }
  }

  void add_index(const std::filesystem::path& root, const std::string& index_path) {
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
      add_file((root / shard).string());
      for (const auto& n : names)
        if (!files_.back()->contains(n))
          throw FormatError(index_path + ": weight_map puts '" + n + "' in " + shard +
                            ", which does not contain it");
    }
  }

  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;
};

// A view of a WeightSource under a name prefix, so that model code names weights the way
// transformers' modules nest: loader.sub("attention").sub("query").get("weight", {d, d}).
class WeightLoader {
 public:
  WeightLoader(std::shared_ptr<const WeightSource> source, std::string prefix = "")
      : source_(std::move(source)), prefix_(std::move(prefix)) {}

  WeightLoader sub(const std::string& name) const {
    return WeightLoader(source_, prefix_ + name + ".");
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
    const std::string full = full_name(name);
    const SafetensorsFile* f = source_->file_of(full);
    if (!f) throw WeightError("tensor " + full + " not found in " + source_->describe());
    const TensorRecord& rec = f->record(full);
    if (rec.shape != shape)
      throw WeightError("tensor " + full + ": expected shape " + shape_str(shape) + ", got " +
                        shape_str(rec.shape) + " in " + f->path());
    return f->tensor<T>(full);
  }

 private:
  std::shared_ptr<const WeightSource> source_;
  std::string prefix_;
};

}  // namespace ved
