#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ved/detail/file.hpp"
#include "ved/error.hpp"

namespace ved::detail {

using json = nlohmann::json;

inline json parse_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
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
