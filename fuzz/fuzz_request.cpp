// libFuzzer target: the body of a request to `ved serve` (src/server/request.cpp), as the HTTP
// layer hands it over. The first byte picks the Content-Type; the rest is the body. A parsed
// request's parameters then go through GenerationConfig as the server's plan() does.

#include "fuzz_common.hpp"
#include "server/request.hpp"
#include "ved/generation/generation_config.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ved_fuzz::set_fuzz_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kTypes[] = {"application/json", "image/png",
                                       "application/json; charset=utf-8", "text/plain", ""};
  const char* type = kTypes[data[0] % (sizeof kTypes / sizeof kTypes[0])];
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const ved::server::ParsedRequest r = ved::server::parse_request(type, body);
    ved::GenerationConfig g;
    g.update(r.parameters, "parameters");
    g.validate();
  } catch (const ved::Error&) {
  }
  try {
    (void)ved::server::base64_decode(body, "inputs");
  } catch (const ved::Error&) {
  }
  return 0;
}
