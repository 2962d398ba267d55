#pragma once

// The weights of a checkpoint folder, as transformers' save_pretrained writes them:
// `model.safetensors`, or shards listed by `model.safetensors.index.json`. For benchmarks at real
// size without a download, `WeightSource::synthetic` makes up seeded random weights instead.

#include <filesystem>
#include <functional>
#include <map>
#include <random>
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

  // Every float tensor a model asks for, drawn from N(0, stddev²) with a generator seeded by
  // (seed, name), so the same model gets the same weights on every run.
  static std::shared_ptr<const WeightSource> synthetic(uint64_t seed, float stddev = 0.02f) {
    auto src = std::shared_ptr<WeightSource>(new WeightSource());
    src->synthetic_ = true;
    src->seed_ = seed;
    src->stddev_ = stddev;
    return src;
  }

  bool contains(const std::string& name) const { return synthetic_ || where_.count(name) != 0; }

  // Tensor `name` as T, checked against `shape`.
  template <typename T>
  Tensor<T> tensor(const std::string& name, const Shape& shape) const {
    if (synthetic_) return synthesize<T>(name, shape);
    const SafetensorsFile* f = file_of(name);
    if (!f) throw WeightError("tensor " + name + " not found in " + describe());
    const TensorRecord& rec = f->record(name);
    if (rec.shape != shape)
      throw WeightError("tensor " + name + ": expected shape " + shape_str(shape) + ", got " +
                        shape_str(rec.shape) + " in " + f->path());
    return f->tensor<T>(name);
  }

  // The file holding `name`, or nullptr.
  const SafetensorsFile* file_of(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? nullptr : files_[it->second].get();
  }

  // Names of the files, for error messages.
  std::string describe() const {
    if (synthetic_) return "synthetic weights (seed " + std::to_string(seed_) + ")";
    std::string s;
    for (size_t i = 0; i < files_.size() && i < 3; ++i) s += (i ? ", " : "") + files_[i]->path();
    if (files_.size() > 3) s += " and " + std::to_string(files_.size() - 3) + " more shards";
    return s;
  }

 private:
  WeightSource() = default;

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
  bool synthetic_ = false;
  uint64_t seed_ = 0;
  float stddev_ = 0.02f;
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
    return source_->tensor<T>(full_name(name), shape);
  }

 private:
  std::shared_ptr<const WeightSource> source_;
  std::string prefix_;
};

}  // namespace ved
