// libFuzzer target: ved's regex engine (detail/regex.hpp), which runs tokenizer.json Split
// patterns and Nougat's post-processing rules. The input is a pattern, a NUL byte and a text; the
// pattern is compiled with each flag set and run with every entry point. A malformed pattern and
// an exhausted step budget are ved::Errors; anything else (a crash, a hang, a stack overflow, an
// out-of-range match) is a bug.

#include <cstring>

#include "fuzz_common.hpp"
#include "ved/detail/regex.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ved_fuzz::set_fuzz_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  const void* nul = std::memchr(bytes, 0, size);
  const size_t split = nul ? static_cast<size_t>(static_cast<const char*>(nul) - bytes) : size;
  const std::string_view pattern(bytes, split);
  const std::string_view text = split < size ? std::string_view(bytes + split + 1, size - split - 1)
                                             : std::string_view();
  for (unsigned flags : {0u, 1u, 2u, 4u}) {
    try {
      const ved::detail::Regex re(pattern, flags);
      ved::detail::Regex::Match m;
      if (re.search(text, m) && (m.begin > m.end || m.end > text.size())) std::abort();
      for (const auto& f : re.find_all(text))
        if (f.begin > f.end || f.end > text.size()) std::abort();
      (void)re.sub(text, "<\\g<0>>");
      (void)re.split(text);
      (void)re.fullmatch(text);
    } catch (const ved::Error&) {
    }
  }
  return 0;
}
