#pragma once

// Config helpers shared by the vision encoders (ViT, DeiT, BEiT, Swin, DonutSwin).

#include <string>
#include <vector>

#include "ved/config.hpp"

namespace ved::detail {

// A (height, width) size that transformers accepts as an int or a [height, width] pair
// (image_size, patch_size: `x if isinstance(x, Iterable) else (x, x)`).
struct SizeHW {
  int64_t h = 0, w = 0;
  bool operator==(const SizeHW& o) const { return h == o.h && w == o.w; }
  std::string str() const { return std::to_string(h) + "x" + std::to_string(w); }
};

inline SizeHW size_hw(const PretrainedConfig& c, const char* key, int64_t fallback) {
  if (!c.has(key)) return {fallback, fallback};
  const json& v = c.raw[key];
  if (v.is_number_integer()) return {v.get<int64_t>(), v.get<int64_t>()};
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer())
    return {v[0].get<int64_t>(), v[1].get<int64_t>()};
  throw ConfigError(c.source + ": field '" + key +
                    "' must be an integer or a [height, width] pair of integers, got " + v.dump());
}

// A list of integers (Swin's depths / num_heads).
inline std::vector<int64_t> int_list(const PretrainedConfig& c, const char* key,
                                     std::vector<int64_t> fallback) {
  if (!c.has(key)) return fallback;
  const json& v = c.raw[key];
  std::vector<int64_t> out;
  if (v.is_array())
    for (const auto& e : v) {
      if (!e.is_number_integer()) {
        out.clear();
        break;
      }
      out.push_back(e.get<int64_t>());
    }
  if (!v.is_array() || out.size() != v.size())
    throw ConfigError(c.source + ": field '" + key + "' must be a list of integers, got " +
                      v.dump());
  return out;
}

// ConfigError "<source>: <field> must be positive, got <value>" unless value > 0.
inline void require_positive(const PretrainedConfig& c, const char* field, int64_t value) {
  if (value <= 0)
    throw ConfigError(c.source + ": " + field + " must be positive, got " + std::to_string(value));
}
inline void require_positive(const PretrainedConfig& c, const char* field, double value) {
  if (!(value > 0))
    throw ConfigError(c.source + ": " + field + " must be positive, got " + json(value).dump());
}

}  // namespace ved::detail
