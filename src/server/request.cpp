#include "request.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace ved::server {

namespace {

// 0..63 for base64's alphabet, -1 for anything else.
constexpr std::array<int8_t, 256> base64_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The media type of a Content-Type header, without parameters ("; charset=...").
std::string media_type(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
  return lower(t);
}

RequestError bad(const std::string& message) {
  return RequestError(400, "validation", message);
}

std::string image_from_json(const detail::json& v, const std::string& field) {
  if (!v.is_string())
    throw bad(field + " must be a base64-encoded image (a string), got " +
              std::string(v.type_name()));
  const std::string& s = v.get_ref<const std::string&>();
  if (s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0)
    throw bad(field + ": the server does not fetch URLs; send the image's bytes (base64)");
  std::string bytes = base64_decode(s, field);
  if (bytes.empty()) throw bad(field + " is empty");
  return bytes;
}

bool flag(const detail::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) return false;
  if (!j[key].is_boolean())
    throw bad(where + "'" + key + "' must be true or false, got " + j[key].dump());
  return j[key].get<bool>();
}

}  // namespace

std::string base64_decode(std::string_view text, const std::string& field) {
  static constexpr std::array<int8_t, 256> table = base64_table();
  if (text.rfind("data:", 0) == 0) {
    const size_t comma = text.find(',');
    if (comma == std::string_view::npos ||
        text.substr(0, comma).find(";base64") == std::string_view::npos)
      throw bad(field + ": a data: URI must be base64 (data:<type>;base64,<data>)");
    text.remove_prefix(comma + 1);
  }
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0, position = 0;
  for (const char ch : text) {
    ++position;
    const auto c = static_cast<unsigned char>(ch);
    if (std::isspace(c)) continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int8_t v = table[c];
    if (v < 0 || padding)
      throw bad(field + " is not valid base64: " +
                (padding ? "data after '=' padding"
                         : "character " + std::to_string(static_cast<int>(c)) + " at offset " +
                               std::to_string(position - 1)));
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // A final group of one character carries only 6 bits: no byte, so not base64.
  if (bits == 6 || padding > 2) throw bad(field + " is not valid base64: truncated");
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<uint8_t>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

ParsedRequest parse_request(std::string_view content_type, const std::string& body) {
  const std::string type = media_type(content_type);
  ParsedRequest r;
  if (type.rfind("image/", 0) == 0 || type == "application/octet-stream") {
    if (body.empty()) throw bad("the request body is empty (expected an image's bytes)");
    r.images.emplace_back(body);
    return r;
  }
  if (type != "application/json")
    throw RequestError(415, "unsupported_media_type",
                       "Content-Type '" + std::string(content_type) +
                           "' is not supported: send the image's bytes as image/* or "
                           "application/octet-stream, or JSON {\"inputs\": \"<base64>\"} as "
                           "application/json");
  detail::json j;
  try {
    j = detail::parse_json(body, "the request body");  // depth-capped
  } catch (const Error& e) {
    throw bad(e.what());
  }
  if (!j.is_object()) throw bad("the JSON body must be an object with \"inputs\"");
  for (const auto& [key, value] : j.items()) {
    (void)value;
    if (key != "inputs" && key != "parameters" && key != "stream" && key != "details")
      throw bad("unknown field '" + key + "' (expected inputs, parameters, stream)");
  }
  if (!j.contains("inputs")) throw bad("the JSON body has no \"inputs\"");
  const detail::json& inputs = j["inputs"];
  if (inputs.is_array()) {
    if (inputs.empty()) throw bad("\"inputs\" is an empty list");
    r.batch_form = true;
    for (size_t i = 0; i < inputs.size(); ++i)
      r.images.push_back(image_from_json(inputs[i], "inputs[" + std::to_string(i) + "]"));
  } else {
    r.images.push_back(image_from_json(inputs, "inputs"));
  }
  r.stream = flag(j, "stream", "");
  r.details = flag(j, "details", "");
  if (j.contains("parameters")) {
    detail::json p = j["parameters"];
    if (p.is_null()) p = detail::json::object();
    if (!p.is_object()) throw bad("\"parameters\" must be a JSON object");
    r.details = flag(p, "details", "parameters: ") || r.details;
    r.stream = flag(p, "stream", "parameters: ") || r.stream;
    p.erase("details");
    p.erase("stream");
    r.parameters = std::move(p);
  }
  return r;
}

}  // namespace ved::server
