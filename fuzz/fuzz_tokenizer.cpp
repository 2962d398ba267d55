// libFuzzer target: tokenizer files. The first byte picks a tokenizer folder and which of its
// files the rest of the input replaces (vocab.json, merges.txt, vocab.txt, tokenizer.json,
// tokenizer_config.json, special_tokens_map.json, added_tokens.json, sentencepiece.bpe.model);
// the other files are small valid ones. A tokenizer that loads then encodes and decodes.

#include <fstream>
#include <iterator>
#include <map>

#include "fuzz_common.hpp"
#include "ved/processing/auto_tokenizer.hpp"

namespace fs = std::filesystem;

namespace {

struct Slot {
  const char* folder;  // under the scratch directory
  const char* file;    // the file the input replaces
};

// Each folder holds the valid files written by make_folders(); a slot replaces one of them.
constexpr Slot kSlots[] = {
    {"gpt2", "vocab.json"},
    {"gpt2", "merges.txt"},
    {"gpt2", "tokenizer_config.json"},
    {"gpt2", "special_tokens_map.json"},
    {"gpt2", "added_tokens.json"},
    {"bert", "vocab.txt"},
    {"bert", "tokenizer_config.json"},
    {"json", "tokenizer.json"},
    {"spm", "sentencepiece.bpe.model"},
    {"spm", "tokenizer_config.json"},
};
constexpr size_t kNumSlots = sizeof kSlots / sizeof kSlots[0];

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz_tokenizer: cannot read %s\n", path.c_str());
    std::abort();
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put(const fs::path& path, const std::string& bytes) {
  ved_fuzz::write_bytes(path.string(), reinterpret_cast<const uint8_t*>(bytes.data()),
                        bytes.size());
}

// The valid files of each folder, by name, to restore after an input replaced one.
std::map<std::string, std::map<std::string, std::string>>& originals() {
  static std::map<std::string, std::map<std::string, std::string>> files;
  return files;
}

void make_folders() {
  const std::string src = VED_SOURCE_DIR;
  const std::string demo = src + "/examples/models/demo-vit-gpt2/";
  auto& o = originals();
  for (const char* f :
       {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"})
    o["gpt2"][f] = slurp(demo + f);
  o["gpt2"]["added_tokens.json"] = R"({"<extra>": 80})";
  o["bert"]["vocab.txt"] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n,\n.\n";
  o["bert"]["tokenizer_config.json"] =
      R"({"do_lower_case": true, "tokenizer_class": "BertTokenizer"})";
  o["json"]["tokenizer.json"] =
      R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1, "##b": 2}},
          "pre_tokenizer": {"type": "BertPreTokenizer"}})";
  const std::string spm = src + "/tests/data/fixtures/tokenizers/xlm-roberta/";
  o["spm"]["sentencepiece.bpe.model"] = slurp(spm + "sentencepiece.bpe.model");
  o["spm"]["tokenizer_config.json"] = slurp(spm + "tokenizer_config.json");
  for (const auto& [folder, files] : o) {
    fs::create_directories(ved_fuzz::scratch_dir() / folder);
    for (const auto& [name, bytes] : files) put(ved_fuzz::scratch_dir() / folder / name, bytes);
  }
}

void exercise(const ved::Tokenizer& tok) {
  static const char* texts[] = {"Hello world, hellos.", " a  b\tc\n",
                                "\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80", "<s>x</s><extra>",
                                "\xFF\xFE invalid \xC0\x80"};
  for (const char* text : texts) {
    const std::vector<int64_t> ids = tok.encode(text, true);
    (void)tok.tokenize(text);
    (void)tok.decode(ids, false);
    (void)tok.decode(ids, true, true);
  }
  const int64_t n = std::min<int64_t>(tok.total_vocab_size(), 4096);
  for (int64_t id = 0; id < n; ++id) {
    const auto token = tok.id_to_token(id);
    if (token) (void)tok.token_to_id(*token);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ved_fuzz::set_fuzz_limits();
  make_folders();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Slot& slot = kSlots[data[0] % kNumSlots];
  const fs::path folder = ved_fuzz::scratch_dir() / slot.folder;
  const fs::path file = folder / slot.file;
  ved_fuzz::write_bytes(file.string(), data + 1, size - 1);
  try {
    const auto tok = ved::Tokenizer::from_pretrained(folder.string());
    exercise(*tok);
  } catch (const ved::Error&) {
  }
  put(file, originals()[slot.folder][slot.file]);
  return 0;
}
