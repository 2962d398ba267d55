#pragma once

// Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
//   [u64 little-endian N][N bytes of JSON header][data buffer]
// The header maps tensor names to {dtype, shape, data_offsets}; offsets are relative to the data
// buffer. Files are memory-mapped; every header field is validated before any byte is read, so a
// truncated or hostile file is a FormatError naming the file and tensor, never an out-of-bounds
// read.

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ved/detail/half.hpp"
#include "ved/detail/json.hpp"
#include "ved/detail/mapped_file.hpp"
#include "ved/error.hpp"
#include "ved/limits.hpp"
#include "ved/tensor.hpp"

namespace ved {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::F64:
      return "F64";
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::I64:
      return "I64";
    case DType::I32:
      return "I32";
    case DType::I16:
      return "I16";
    case DType::I8:
      return "I8";
    case DType::U8:
      return "U8";
    case DType::BOOL:
      return "BOOL";
  }
  return "?";
}

inline size_t dtype_size(DType d) {
  switch (d) {
    case DType::F64:
    case DType::I64:
      return 8;
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16:
      return 2;
    case DType::I8:
    case DType::U8:
    case DType::BOOL:
      return 1;
  }
  return 0;
}

inline bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> table[] = {
      {"F64", DType::F64}, {"F32", DType::F32},  {"F16", DType::F16}, {"BF16", DType::BF16},
      {"I64", DType::I64}, {"I32", DType::I32},  {"I16", DType::I16}, {"I8", DType::I8},
      {"U8", DType::U8},   {"BOOL", DType::BOOL}};
  for (const auto& [name, d] : table) {
    if (s == name) {
      *out = d;
      return true;
    }
  }
  return false;
}

// One tensor's entry in a safetensors file, validated against the file's size.
struct TensorRecord {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  const unsigned char* bytes = nullptr;  // inside the mapping
  size_t nbytes = 0;
};

class SafetensorsFile {
 public:
  // The default largest header (Limits::max_header_bytes), as in the reference implementation.
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;

  static std::shared_ptr<const SafetensorsFile> open(const std::string& path) {
    return std::shared_ptr<const SafetensorsFile>(new SafetensorsFile(path));
  }

  const std::string& path() const { return file_->path(); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::map<std::string, TensorRecord>& records() const { return records_; }
  bool contains(const std::string& name) const { return records_.count(name) != 0; }

  const TensorRecord& record(const std::string& name) const {
    auto it = records_.find(name);
    if (it == records_.end()) throw WeightError(path() + ": no tensor named '" + name + "'");
    return it->second;
  }

  // The tensor converted to T. F32 data that is suitably aligned is used in place; other dtypes
  // are converted (F16/BF16/F64 -> float, integer types -> integer T).
  template <typename T>
  Tensor<T> tensor(const std::string& name) const;

 private:
  explicit SafetensorsFile(const std::string& path)
      : file_(std::make_shared<detail::MappedFile>(path)) {
    parse_header();
  }

  void parse_header() {
    const std::string& p = file_->path();
    const size_t size = file_->size();
    if (size < 8)
      throw FormatError(p + ": truncated safetensors file (" + std::to_string(size) +
                        " bytes, need at least 8)");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | file_->data()[i];
    const uint64_t max_header = limits().max_header_bytes;
    if (n > max_header)
      throw FormatError(
          p + ": " +
          detail::limit_message("safetensors header length", n, "max_header_bytes", max_header));
    if (n > size - 8)
      throw FormatError(p + ": safetensors header length " + std::to_string(n) +
                        " runs past the end of the file (" + std::to_string(size) + " bytes)");
    const std::string text(reinterpret_cast<const char*>(file_->data()) + 8,
                           static_cast<size_t>(n));
    const detail::json header = detail::parse_json(text, p + " (safetensors header)");
    if (!header.is_object()) throw FormatError(p + ": safetensors header is not a JSON object");

    const unsigned char* data = file_->data() + 8 + n;
    const uint64_t data_size = size - 8 - n;
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& name = it.key();
      const detail::json& e = it.value();
      if (name == "__metadata__") {
        if (!e.is_object()) throw FormatError(p + ": __metadata__ is not an object");
        for (auto m = e.begin(); m != e.end(); ++m) {
          if (!m.value().is_string())
            throw FormatError(p + ": __metadata__ value '" + m.key() + "' is not a string");
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      const std::string where = p + ": tensor '" + name + "'";
      if (!e.is_object()) throw FormatError(where + ": entry is not an object");
      auto dt = e.find("dtype");
      auto sh = e.find("shape");
      auto off = e.find("data_offsets");
      if (dt == e.end() || !dt->is_string())
        throw FormatError(where + ": missing or non-string 'dtype'");
      if (sh == e.end() || !sh->is_array())
        throw FormatError(where + ": missing or non-array 'shape'");
      if (off == e.end() || !off->is_array() || off->size() != 2)
        throw FormatError(where + ": 'data_offsets' must be an array of two integers");
      TensorRecord r;
      r.name = name;
      if (!parse_dtype(dt->get<std::string>(), &r.dtype))
        throw FormatError(where + ": unknown dtype '" + dt->get<std::string>() + "'");
      for (const auto& d : *sh) {
        if (!d.is_number_unsigned())
          throw FormatError(where + ": shape entries must be non-negative integers");
        const uint64_t v = d.get<uint64_t>();
        if (v > static_cast<uint64_t>(INT64_MAX))
          throw FormatError(where + ": shape dimension too large");
        r.shape.push_back(static_cast<int64_t>(v));
      }
      for (const auto& o : *off)
        if (!o.is_number_unsigned())
          throw FormatError(where + ": data_offsets must be non-negative integers");
      const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
      if (begin > end || end > data_size)
        throw FormatError(where + ": data_offsets [" + std::to_string(begin) + ", " +
                          std::to_string(end) + ") lie outside the data buffer of " +
                          std::to_string(data_size) + " bytes");
      int64_t numel;
      try {
        numel = shape_numel(r.shape);
      } catch (const Error&) {
        throw FormatError(where + ": shape " + shape_str(r.shape) + " overflows");
      }
      const uint64_t esize = dtype_size(r.dtype);
      if (static_cast<uint64_t>(numel) > UINT64_MAX / esize ||
          static_cast<uint64_t>(numel) * esize != end - begin)
        throw FormatError(where + ": shape " + shape_str(r.shape) + " of " + dtype_name(r.dtype) +
                          " needs " + std::to_string(static_cast<uint64_t>(numel) * esize) +
                          " bytes but data_offsets span " + std::to_string(end - begin));
      r.bytes = data + begin;
      r.nbytes = static_cast<size_t>(end - begin);
      spans.emplace_back(begin, end);
      records_.emplace(name, std::move(r));
    }
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i) {
      if (spans[i].first < spans[i - 1].second)
        throw FormatError(p + ": tensors overlap in the data buffer (offsets " +
                          std::to_string(spans[i - 1].first) + ".." +
                          std::to_string(spans[i - 1].second) + " and " +
                          std::to_string(spans[i].first) + ".." + std::to_string(spans[i].second) +
                          ")");
    }
  }

  std::shared_ptr<detail::MappedFile> file_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorRecord> records_;
};

namespace detail {

template <typename Raw, typename T, typename Convert>
void convert_elements(const unsigned char* src, T* dst, int64_t n, Convert&& convert) {
  for (int64_t i = 0; i < n; ++i) {
    Raw raw;
    std::memcpy(&raw, src + static_cast<size_t>(i) * sizeof(Raw), sizeof(Raw));
    dst[i] = convert(raw);
  }
}

}  // namespace detail

template <typename T>
Tensor<T> SafetensorsFile::tensor(const std::string& name) const {
  const TensorRecord& r = record(name);
  const int64_t n = shape_numel(r.shape);
  auto unsupported = [&] {
    return WeightError(
        path() + ": tensor '" + name + "' has dtype " + dtype_name(r.dtype) +
        ", which cannot be read as " +
        (std::is_floating_point_v<T> ? "floating point (F32, F16, BF16, F64)" : "integer"));
  };
  if constexpr (std::is_same_v<T, float>) {
    if (r.dtype == DType::F32 && r.nbytes >= detail::kMinAliasedBytes &&
        reinterpret_cast<uintptr_t>(r.bytes) % alignof(float) == 0) {
      // Alias the mapping: the shared_ptr keeps the whole file mapped while the tensor lives.
      auto keep = file_;
      return Tensor<float>(
          r.shape, std::shared_ptr<float>(
                       keep, reinterpret_cast<float*>(const_cast<unsigned char*>(r.bytes))));
    }
  }
  Tensor<T> t(r.shape);
  T* out = t.data();
  if constexpr (std::is_floating_point_v<T>) {
    switch (r.dtype) {
      case DType::F32:
        detail::convert_elements<float>(r.bytes, out, n, [](float v) { return static_cast<T>(v); });
        break;
      case DType::F64:
        detail::convert_elements<double>(r.bytes, out, n,
                                         [](double v) { return static_cast<T>(v); });
        break;
      case DType::F16:
        detail::convert_elements<uint16_t>(
            r.bytes, out, n, [](uint16_t v) { return static_cast<T>(detail::f16_to_f32(v)); });
        break;
      case DType::BF16:
        detail::convert_elements<uint16_t>(
            r.bytes, out, n, [](uint16_t v) { return static_cast<T>(detail::bf16_to_f32(v)); });
        break;
      default:
        throw unsupported();
    }
  } else {
    switch (r.dtype) {
      case DType::I64:
        detail::convert_elements<int64_t>(r.bytes, out, n,
                                          [](int64_t v) { return static_cast<T>(v); });
        break;
      case DType::I32:
        detail::convert_elements<int32_t>(r.bytes, out, n,
                                          [](int32_t v) { return static_cast<T>(v); });
        break;
      case DType::I16:
        detail::convert_elements<int16_t>(r.bytes, out, n,
                                          [](int16_t v) { return static_cast<T>(v); });
        break;
      case DType::I8:
        detail::convert_elements<int8_t>(r.bytes, out, n,
                                         [](int8_t v) { return static_cast<T>(v); });
        break;
      case DType::U8:
      case DType::BOOL:
        detail::convert_elements<uint8_t>(r.bytes, out, n,
                                          [](uint8_t v) { return static_cast<T>(v); });
        break;
      default:
        throw unsupported();
    }
  }
  return t;
}

// Tensors to write: F32 or I64 (the two dtypes ved produces).
struct TensorToWrite {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<unsigned char> bytes;
};

inline TensorToWrite to_write(const std::string& name, const Tensor<float>& t) {
  TensorToWrite w{name, DType::F32, t.shape(),
                  std::vector<unsigned char>(static_cast<size_t>(t.numel()) * 4)};
  if (t.numel()) std::memcpy(w.bytes.data(), t.data(), w.bytes.size());
  return w;
}

inline TensorToWrite to_write(const std::string& name, const Tensor<int64_t>& t) {
  TensorToWrite w{name, DType::I64, t.shape(),
                  std::vector<unsigned char>(static_cast<size_t>(t.numel()) * 8)};
  if (t.numel()) std::memcpy(w.bytes.data(), t.data(), w.bytes.size());
  return w;
}

inline void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  detail::json header = detail::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data buffer 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError(path + ": cannot open for writing");
  unsigned char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<unsigned char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& t : tensors)
    out.write(reinterpret_cast<const char*>(t.bytes.data()),
              static_cast<std::streamsize>(t.bytes.size()));
  if (!out) throw IoError(path + ": write failed");
}

}  // namespace ved
