#pragma once

// Reading Hugging Face fast-tokenizer files (tokenizer.json) for the slow tokenizers, and the
// special-token defaults every tokenizer class applies.
//
// A tokenizer.json normally runs on FastTokenizer (fast_tokenizer.hpp), which implements the
// Rust pipeline itself. The slow tokenizers can also read one by mapping its pipeline
// (normalizer, pre-tokenizer, model, post-processor, decoder) onto their own settings: a
// WordPiece model with BertNormalizer and BertPreTokenizer becomes a BertTokenizer, a Unigram
// model with Precompiled/Metaspace becomes a SentencePiece model. AutoTokenizer uses that for the
// folders listed in auto_tokenizer.hpp (SentencePiece pipelines above all, whose Precompiled
// normalizer the engine lacks). There, a component that has no slow equivalent is a
// ved::ConfigError naming its type rather than a silently different tokenization.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/error.hpp"

namespace ved::detail {

// ---- base64 (tokenizer.json stores binary blobs such as a precompiled charsmap this way) ----

inline std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// Standard base64 with optional padding; nullopt for anything else.
inline std::optional<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// ---- tokenizer.json ----

// This header deliberately does not include tokenizer.hpp: the tokenizer headers include it,
// and tokenizer.hpp includes them (see auto_tokenizer.hpp), so it must not depend on them.

// A parsed tokenizer.json with the checks every reader needs.
struct TokenizerJson {
  std::string path;
  json root;
  std::string model_type;  // "BPE", "WordPiece", "Unigram", "WordLevel", ...

  const json& model() const { return root.at("model"); }
  // A top-level component ("normalizer", "pre_tokenizer", "post_processor", "decoder"), or null.
  const json& component(const char* name) const {
    static const json kNull;
    auto it = root.find(name);
    return it == root.end() ? kNull : *it;
  }

  static TokenizerJson load(const std::string& path) {
    TokenizerJson t;
    t.path = path;
    t.root = read_json_file(path);
    if (!t.root.is_object()) throw FormatError(path + ": expected a JSON object");
    auto model = t.root.find("model");
    if (model == t.root.end() || !model->is_object())
      throw FormatError(path + ": missing object 'model'");
    auto type = model->find("type");
    if (type != model->end()) {
      if (!type->is_string()) throw FormatError(path + ": model.type must be a string");
      t.model_type = type->get<std::string>();
    } else if (model->contains("merges")) {
      // Files written by tokenizers before 0.10 do not name the model; its fields do.
      t.model_type = "BPE";
    } else if (model->contains("max_input_chars_per_word")) {
      t.model_type = "WordPiece";
    } else if (model->contains("vocab") && model->at("vocab").is_array()) {
      t.model_type = "Unigram";
    } else {
      throw FormatError(path + ": cannot tell the model type (no model.type)");
    }
    return t;
  }

  // The type of a component object, e.g. "BertNormalizer"; a FormatError when it has none.
  std::string type_of(const json& component, const std::string& what) const {
    auto type = component.is_object() ? component.find("type") : component.end();
    if (!component.is_object() || type == component.end() || !type->is_string())
      throw FormatError(path + ": " + what + " without a string 'type'");
    return type->get<std::string>();
  }

  // A component with its "Sequence" wrappers flattened (normalizers, pre_tokenizers,
  // processors, decoders nest lists under these keys).
  std::vector<const json*> flatten(const json& component, const std::string& what) const {
    std::vector<const json*> out;
    if (component.is_null()) return out;
    const std::string type = type_of(component, what);
    if (type != "Sequence") {
      out.push_back(&component);
      return out;
    }
    for (const char* key : {"normalizers", "pretokenizers", "processors", "decoders"}) {
      auto list = component.find(key);
      if (list == component.end()) continue;
      if (!list->is_array()) throw FormatError(path + ": " + what + "." + key + " must be a list");
      for (const json& item : *list)
        for (const json* leaf : flatten(item, what)) out.push_back(leaf);
      return out;
    }
    throw FormatError(path + ": " + what + " of type Sequence without a list");
  }

  [[noreturn]] void unsupported(const std::string& what, const std::string& type,
                                const std::string& supported) const {
    throw ConfigError(path + ": " + what + " type '" + type + "' is not supported (ved reads " +
                      supported + ")");
  }
};

// The special tokens a fast tokenizer's post-processor puts around one sequence.
struct SpecialTokensTemplate {
  std::vector<int64_t> prefix;
  std::vector<int64_t> suffix;
};

inline SpecialTokensTemplate parse_post_processor(const TokenizerJson& t) {
  SpecialTokensTemplate out;
  const std::string what = "post_processor";
  for (const json* p : t.flatten(t.component("post_processor"), what)) {
    const std::string type = t.type_of(*p, what);
    SpecialTokensTemplate step;
    if (type == "ByteLevel") {
      continue;  // only adjusts offsets
    } else if (type == "BertProcessing" || type == "RobertaProcessing") {
      auto id_of = [&](const char* key) -> int64_t {
        auto it = p->find(key);
        if (it == p->end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer())
          throw FormatError(t.path + ": " + what + "." + key + " must be [token, id]");
        return (*it)[1].get<int64_t>();
      };
      step.prefix.push_back(id_of("cls"));
      step.suffix.push_back(id_of("sep"));
    } else if (type == "TemplateProcessing") {
      auto single = p->find("single");
      auto specials = p->find("special_tokens");
      if (single == p->end() || !single->is_array())
        throw FormatError(t.path + ": " + what + ".single must be a list");
      bool seen_sequence = false;
      for (const json& piece : *single) {
        if (piece.is_object() && piece.contains("Sequence")) {
          seen_sequence = true;
          continue;
        }
        auto special = piece.is_object() ? piece.find("SpecialToken") : piece.end();
        if (!piece.is_object() || special == piece.end() || !special->is_object() ||
            !special->contains("id") || !special->at("id").is_string())
          throw FormatError(t.path + ": " + what + ".single has an entry that is neither " +
                            "Sequence nor SpecialToken: " + piece.dump());
        const std::string name = special->at("id").get<std::string>();
        const json* ids = nullptr;
        if (specials != p->end() && specials->is_object()) {
          auto entry = specials->find(name);
          if (entry != specials->end() && entry->is_object()) {
            auto it = entry->find("ids");
            if (it != entry->end() && it->is_array()) ids = &*it;
          }
        }
        if (!ids)
          throw FormatError(t.path + ": " + what + ".special_tokens has no ids for '" + name + "'");
        for (const json& id : *ids) {
          if (!id.is_number_integer())
            throw FormatError(t.path + ": " + what + ".special_tokens['" + name +
                              "'].ids must be integers");
          (seen_sequence ? step.suffix : step.prefix).push_back(id.get<int64_t>());
        }
      }
      if (!seen_sequence) throw FormatError(t.path + ": " + what + ".single has no Sequence entry");
    } else {
      t.unsupported(what, type,
                    "BertProcessing, RobertaProcessing, TemplateProcessing and ByteLevel");
    }
    // A later processor wraps what the earlier ones produced.
    step.prefix.insert(step.prefix.end(), out.prefix.begin(), out.prefix.end());
    step.suffix.insert(step.suffix.begin(), out.suffix.begin(), out.suffix.end());
    out = std::move(step);
  }
  return out;
}

// ---- special-token defaults of a tokenizer class ----

// How a tokenizer class's __init__ treats one special token: its default when the files do
// not name it, and whether it turns a plain string into an AddedToken with its own flags (as
// RoBERTa and XLM-R do for <mask>, which swallows the space before it).
struct SpecialTokenDefault {
  const char* content = nullptr;  // nullptr: None
  bool wraps_string = false;
  bool lstrip = false;
  bool normalized = true;
};

// Resolves the special-token arguments of TokenizerInitArgs (a std::array of SpecialTokenArg,
// one per role) against a class's defaults. A template only so that this header need not
// include tokenizer.hpp.
template <typename SpecialArgs, std::size_t N>
SpecialArgs apply_special_token_defaults(SpecialArgs special,
                                         const std::array<SpecialTokenDefault, N>& defaults) {
  using Arg = typename SpecialArgs::value_type;
  static_assert(std::tuple_size<SpecialArgs>::value == N, "one default per special token");
  for (std::size_t r = 0; r < N; ++r) {
    Arg& arg = special[r];
    const SpecialTokenDefault& d = defaults[r];
    if (arg.kind == Arg::Kind::kDefault) arg = d.content ? Arg::string(d.content) : Arg::none();
    if (arg.kind == Arg::Kind::kString && d.wraps_string) {
      auto token = arg.token;  // a plain string: only its content is set
      token.lstrip = d.lstrip;
      token.normalized = d.normalized;
      arg = Arg::added(std::move(token));
    }
  }
  return special;
}

}  // namespace ved::detail
