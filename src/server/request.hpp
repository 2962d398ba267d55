#pragma once

// What a request to `ved serve` asks for, read from its body before any model work: the HTTP
// layer (server.cpp) and the fuzz target both call parse_request, so every byte a client can
// send reaches this code under the fuzzer too.

#include <string>
#include <string_view>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/error.hpp"

namespace ved::server {

// A request the server refuses: the HTTP status it is answered with, and error_type, the short
// name TGI-style clients switch on ("validation", "overloaded", ...).
class RequestError : public InvalidArgument {
 public:
  RequestError(int status, std::string type, const std::string& message)
      : InvalidArgument(message), status_(status), type_(std::move(type)) {}
  int status() const { return status_; }
  const std::string& type() const { return type_; }

 private:
  int status_;
  std::string type_;
};

struct ParsedRequest {
  std::vector<std::string> images;  // encoded image files (PNG, JPEG, ...), one per input
  bool batch_form = false;          // "inputs" was a list: answer a list per input
  detail::json parameters = detail::json::object();  // generate()'s keyword arguments
  bool details = false;  // add ved's per-result extras (tokens, logprobs, confidence)
  bool stream = false;   // answer with Server-Sent Events
};

// `content_type` is the request's Content-Type header ("" when absent). Raw image bytes come as
// image/* or application/octet-stream; JSON as application/json:
//   {"inputs": "<base64>" | ["<base64>", ...], "parameters": {...}, "stream": bool}
// with "details" (and "stream") also accepted inside "parameters", as TGI takes them.
// Throws RequestError: 415 for another media type, 400 for a malformed body.
ParsedRequest parse_request(std::string_view content_type, const std::string& body);

// Standard base64 (RFC 4648), padding optional, ASCII whitespace ignored; an optional
// "data:...;base64," prefix is dropped. Throws RequestError 400 naming `field`.
std::string base64_decode(std::string_view text, const std::string& field);

// Standard base64 with padding (for clients: bench-serve, tests).
std::string base64_encode(std::string_view bytes);

}  // namespace ved::server
