#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ved/detail/file.hpp"
#include "ved/error.hpp"
#include "ved/limits.hpp"

namespace ved::detail {

using json = nlohmann::json;

// Deepest nesting of arrays and objects in JSON text (brackets inside strings do not count).
// nlohmann's parser is iterative, but copying, comparing and dumping a document recurse once per
// level: a few kilobytes of '[' would overflow the stack later, far from the file that caused it.
inline int64_t json_nesting_depth(const std::string& text) {
  int64_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

inline void check_json_depth(const std::string& text, const std::string& source) {
  const int64_t max = limits().max_json_depth;
  const int64_t depth = json_nesting_depth(text);
  if (depth > max)
    throw FormatError(source + ": " +
                      limit_message("JSON nesting depth", static_cast<uint64_t>(depth),
                                    "max_json_depth", static_cast<uint64_t>(max)));
}

inline json parse_json(const std::string& text, const std::string& source) {
  check_json_depth(text, source);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    // Not only parse_error: a number beyond double's range (1e999) is an out_of_range.
    throw FormatError(source + ": malformed JSON: " + e.what());
  }
}

inline json read_json_file(const std::string& path) {
  return parse_json(read_file(path), path);
}

// Reads j[key] as T, or returns `fallback` when the key is absent or null. A present value of
// the wrong type is an error naming `where` and the key: silently taking the default would run
// a different model than the user configured.
template <typename T>
T get_or(const json& j, const char* key, T fallback, const std::string& where) {
  if (!j.is_object()) throw ConfigError(where + ": expected a JSON object");
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  const json& v = *it;
  bool ok;
  if constexpr (std::is_same_v<T, bool>) {
    ok = v.is_boolean();
  } else if constexpr (std::is_integral_v<T>) {
    ok = v.is_number_integer();
  } else if constexpr (std::is_floating_point_v<T>) {
    ok = v.is_number();
  } else if constexpr (std::is_same_v<T, std::string>) {
    ok = v.is_string();
  } else {
    ok = true;
  }
  if (!ok)
    throw ConfigError(where + ": field '" + key + "' has type " + v.type_name() + ", expected " +
                      json(fallback).type_name());
  if constexpr (std::is_floating_point_v<T>) {
    // JSON has no NaN or Infinity, but 1e999 parses as infinity: no setting ved reads means
    // anything infinite, and it would silently turn every probability or pixel into inf/NaN.
    if (!std::isfinite(v.get<double>()))
      throw ConfigError(where + ": field '" + key + "' is not a finite number: " + v.dump());
  }
  try {
    return v.get<T>();
  } catch (const json::exception& e) {
    throw ConfigError(where + ": field '" + key + "': " + e.what());
  }
}

template <typename T>
T get_required(const json& j, const char* key, const std::string& where) {
  if (!j.is_object()) throw ConfigError(where + ": expected a JSON object");
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    throw ConfigError(where + ": missing required field '" + key + "'");
  return get_or<T>(j, key, T{}, where);
}

}  // namespace ved::detail
