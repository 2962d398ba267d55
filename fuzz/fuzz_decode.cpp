// libFuzzer target: encode and decode of arbitrary input with real tokenizers (the GPT-2, BERT,
// RoBERTa and XLM-R fixtures). The first byte picks the tokenizer and decode's flags; the rest
// is both the text to encode and, read as little-endian int32s, the ids to decode -- unknown,
// negative and out-of-range ids included.

#include <cstring>
#include <memory>

#include "fuzz_common.hpp"
#include "ved/processing/auto_tokenizer.hpp"

namespace {

const std::vector<std::unique_ptr<ved::Tokenizer>>& tokenizers() {
  static const std::vector<std::unique_ptr<ved::Tokenizer>> all = [] {
    const std::string fixtures = std::string(VED_SOURCE_DIR) + "/tests/data/fixtures/tokenizers/";
    std::vector<std::unique_ptr<ved::Tokenizer>> v;
    for (const char* name : {"gpt2", "bert-uncased", "roberta", "xlm-roberta"})
      v.push_back(ved::Tokenizer::from_pretrained(fixtures + name));
    return v;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ved_fuzz::set_fuzz_limits();
  (void)tokenizers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  const ved::Tokenizer& tok = *tokenizers()[selector % tokenizers().size()];
  const bool skip_special = selector & 0x10, clean_up = selector & 0x20;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const std::vector<int64_t> ids = tok.encode(text, selector & 0x40);
    (void)tok.tokenize(text);
    (void)tok.decode(ids, skip_special, clean_up);
  } catch (const ved::Error&) {
  }
  // Ids: mostly folded into the vocabulary (so that decoding does real work), raw when the
  // top bit asks for it (unknown ids must be an InvalidArgument, not a crash).
  std::vector<int64_t> ids;
  const int64_t vocab = tok.total_vocab_size();
  for (size_t i = 1; i + 4 <= size; i += 4) {
    int32_t raw;
    std::memcpy(&raw, data + i, 4);
    if (raw < 0 && (selector & 0x80))
      ids.push_back(raw);
    else
      ids.push_back(
          static_cast<int64_t>(static_cast<uint32_t>(raw) % static_cast<uint64_t>(vocab + 3)));
  }
  try {
    (void)tok.decode(ids, skip_special, clean_up);
  } catch (const ved::Error&) {
  }
  try {
    (void)tok.decode(ids);
  } catch (const ved::Error&) {
  }
  for (int64_t id : ids) (void)tok.id_to_token(id);
  return 0;
}
