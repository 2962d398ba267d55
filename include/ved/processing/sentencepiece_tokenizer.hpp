#pragma once

// SentencePiece tokenizers in fairseq's id layout, matching transformers' slow
// XLMRobertaTokenizer, MBartTokenizer and MBart50Tokenizer (Donut and TrOCR-small checkpoints
// use XLMRobertaTokenizer; Donut's task tokens such as <s_cord-v2> are added tokens).
//
// The SentencePiece model itself runs in libsentencepiece, kept behind detail::SentencePieceModel
// so that its headers stay out of ved's. Fairseq's layout puts <s> <pad> </s> <unk> at 0..3,
// every SentencePiece piece p at p + 1, then the language codes (MBart) and <mask>. A folder
// with only tokenizer.json gets a SentencePiece model rebuilt from its Unigram vocabulary, whose
// ids are already those of the fast tokenizer.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ved/detail/file.hpp"
#include "ved/detail/json.hpp"
#include "ved/detail/unicode.hpp"
#include "ved/error.hpp"
#include "ved/processing/tokenizer.hpp"
#include "ved/processing/tokenizer_json.hpp"

namespace ved {

namespace detail {

inline constexpr const char* kSentencePieceModelFile = "sentencepiece.bpe.model";
inline constexpr std::string_view kSentencePieceUnderline = "\xE2\x96\x81";  // U+2581 '▁'

// The parts of sentencepiece's ModelProto (sentencepiece_model.proto) that ved reads or writes,
// with a minimal protobuf wire-format codec: enough to rebuild a model from tokenizer.json and
// to inspect one, without libprotobuf's generated headers (Debian does not ship them).
struct SentencePieceModelProto {
  enum PieceType : int {
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
  };
  struct Piece {
    std::string piece;
    float score = 0.0f;
    int type = kNormal;
  };
  std::vector<Piece> pieces;
  int model_type = 1;  // TrainerSpec.ModelType: 1 UNIGRAM, 2 BPE, 3 WORD, 4 CHAR
  bool byte_fallback = false;
  std::string normalizer_name;
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;

  std::string serialize() const {
    std::string model;
    for (const Piece& p : pieces) {
      std::string m;
      put_bytes(m, 1, p.piece);
      put_fixed32(m, 2, p.score);
      put_varint_field(m, 3, static_cast<uint64_t>(p.type));
      put_bytes(model, 1, m);
    }
    std::string trainer;
    put_varint_field(trainer, 3, static_cast<uint64_t>(model_type));
    if (byte_fallback) put_varint_field(trainer, 35, 1);
    put_bytes(model, 2, trainer);
    std::string normalizer;
    if (!normalizer_name.empty()) put_bytes(normalizer, 1, normalizer_name);
    if (!precompiled_charsmap.empty()) put_bytes(normalizer, 2, precompiled_charsmap);
    put_varint_field(normalizer, 3, add_dummy_prefix);
    put_varint_field(normalizer, 4, remove_extra_whitespaces);
    put_varint_field(normalizer, 5, escape_whitespaces);
    put_bytes(model, 3, normalizer);
    return model;
  }

  // Reads the fields above and skips the others; malformed wire data is a FormatError naming
  // `where`.
  static SentencePieceModelProto parse(std::string_view bytes, const std::string& where) {
    SentencePieceModelProto proto;
    Reader r{bytes, where};
    while (!r.done()) {
      const auto [field, wire] = r.key();
      if (field == 1 && wire == 2) {
        Reader pr{r.bytes(), where};
        Piece p;
        while (!pr.done()) {
          const auto [f, w] = pr.key();
          if (f == 1 && w == 2) {
            p.piece = std::string(pr.bytes());
          } else if (f == 2 && w == 5) {
            p.score = pr.fixed32_float();
          } else if (f == 3 && w == 0) {
            p.type = static_cast<int>(pr.varint());
          } else {
            pr.skip(w);
          }
        }
        proto.pieces.push_back(std::move(p));
      } else if (field == 2 && wire == 2) {
        Reader tr{r.bytes(), where};
        while (!tr.done()) {
          const auto [f, w] = tr.key();
          if (f == 3 && w == 0) {
            proto.model_type = static_cast<int>(tr.varint());
          } else if (f == 35 && w == 0) {
            proto.byte_fallback = tr.varint() != 0;
          } else {
            tr.skip(w);
          }
        }
      } else if (field == 3 && wire == 2) {
        Reader nr{r.bytes(), where};
        while (!nr.done()) {
          const auto [f, w] = nr.key();
          if (f == 1 && w == 2) {
            proto.normalizer_name = std::string(nr.bytes());
          } else if (f == 2 && w == 2) {
            proto.precompiled_charsmap = std::string(nr.bytes());
          } else if (f >= 3 && f <= 5 && w == 0) {
            const bool v = nr.varint() != 0;
            (f == 3   ? proto.add_dummy_prefix
             : f == 4 ? proto.remove_extra_whitespaces
                      : proto.escape_whitespaces) = v;
          } else {
            nr.skip(w);
          }
        }
      } else {
        r.skip(wire);
      }
    }
    return proto;
  }

 private:
  static void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
      out += static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    out += static_cast<char>(v);
  }
  static void put_key(std::string& out, int field, int wire) {
    put_varint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire));
  }
  static void put_varint_field(std::string& out, int field, uint64_t v) {
    put_key(out, field, 0);
    put_varint(out, v);
  }
  static void put_bytes(std::string& out, int field, std::string_view bytes) {
    put_key(out, field, 2);
    put_varint(out, bytes.size());
    out.append(bytes);
  }
  static void put_fixed32(std::string& out, int field, float f) {
    put_key(out, field, 5);
    uint32_t bits = 0;
    std::memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }

  struct Reader {
    std::string_view data;
    const std::string& where;
    std::size_t pos = 0;

    bool done() const { return pos >= data.size(); }
    [[noreturn]] void fail(const std::string& what) const {
      throw FormatError(where + ": not a SentencePiece model (" + what + " at byte " +
                        std::to_string(pos) + ")");
    }
    uint64_t varint() {
      uint64_t v = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (done()) fail("truncated varint");
        const auto b = static_cast<unsigned char>(data[pos++]);
        v |= static_cast<uint64_t>(b & 0x7F) << shift;
        if (!(b & 0x80)) return v;
      }
      fail("overlong varint");
    }
    std::pair<uint64_t, int> key() {
      const uint64_t k = varint();
      if ((k >> 3) == 0) fail("field number 0");
      return {k >> 3, static_cast<int>(k & 7)};
    }
    std::string_view take(uint64_t n) {
      if (n > data.size() - pos) fail("truncated field");
      const std::string_view s = data.substr(pos, static_cast<std::size_t>(n));
      pos += static_cast<std::size_t>(n);
      return s;
    }
    std::string_view bytes() { return take(varint()); }
    float fixed32_float() {
      const std::string_view s = take(4);
      uint32_t bits = 0;
      for (int i = 0; i < 4; ++i)
        bits |= static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << (8 * i);
      float f = 0.0f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    void skip(int wire) {
      switch (wire) {
        case 0:
          varint();
          break;
        case 1:
          take(8);
          break;
        case 2:
          bytes();
          break;
        case 5:
          take(4);
          break;
        default:
          fail("unsupported wire type " + std::to_string(wire));
      }
    }
  };
};

// A loaded SentencePiece model (libsentencepiece's SentencePieceProcessor). Encoding is const
// and safe from several threads at once.
class SentencePieceModel {
 public:
  // A serialized ModelProto; a model libsentencepiece rejects is a FormatError naming `where`.
  SentencePieceModel(std::string_view serialized, const std::string& where);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  int size() const;
  int unk_id() const;
  // The piece's id, or unk_id() when the model does not have it.
  int piece_to_id(std::string_view piece) const;
  // Requires 0 <= id < size().
  std::string id_to_piece(int id) const;
  // `SentencePieceProcessor.encode(text, out_type=str)`: the pieces, with unknown stretches
  // as their (normalized) text.
  void encode(std::string_view text, std::vector<std::string>& pieces) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace detail

// The shared part of the fairseq-style SentencePiece tokenizers.
class SentencePieceTokenizer : public PreTrainedTokenizer {
 public:
  int64_t vocab_size() const override { return vocab_size_; }
  // Where the SentencePiece model came from: sentencepiece.bpe.model or tokenizer.json.
  const std::string& model_file() const { return model_file_; }
  int64_t sp_model_size() const { return sp_->size(); }

 protected:
  SentencePieceTokenizer() = default;

  static void require_directory(const std::string& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw IoError(dir + ": not a directory (expected a tokenizer folder with " +
                    detail::kSentencePieceModelFile + " or tokenizer.json)");
  }

  // sentencepiece.bpe.model in fairseq's layout, with `extra_tokens` (language codes) after the
  // pieces and <mask> last; or, when that file is absent, tokenizer.json's Unigram model with
  // its own ids.
  void load_model(const std::string& dir, const std::vector<std::string>& extra_tokens) {
    const std::string model_path = detail::join_path(dir, detail::kSentencePieceModelFile);
    const std::string fast_path = detail::join_path(dir, detail::kTokenizerJsonFile);
    if (detail::is_regular_file(model_path)) {
      model_file_ = model_path;
      sp_ = std::make_unique<detail::SentencePieceModel>(detail::read_file(model_path), model_path);
      offset_ = 1;
      const int64_t n = sp_->size();
      const char* first[] = {"<s>", "<pad>", "</s>", "<unk>"};
      for (int64_t i = 0; i < 4; ++i) fixed_tokens_[first[i]] = i;
      for (std::size_t i = 0; i < extra_tokens.size(); ++i)
        fixed_tokens_[extra_tokens[i]] = n + offset_ + static_cast<int64_t>(i);
      fixed_tokens_["<mask>"] = n + offset_ + static_cast<int64_t>(extra_tokens.size());
      for (const auto& [token, id] : fixed_tokens_) fixed_ids_[id] = token;
      vocab_size_ = n + offset_ + static_cast<int64_t>(extra_tokens.size()) + 1;
    } else if (detail::is_regular_file(fast_path)) {
      model_file_ = fast_path;
      load_tokenizer_json(detail::TokenizerJson::load(fast_path));
    } else {
      throw IoError(dir + ": no tokenizer files (looked for " + detail::kSentencePieceModelFile +
                    " and tokenizer.json)");
    }
  }

  void read_common_config(const TokenizerInitArgs& args) {
    clean_up_tokenization_spaces_ =
        detail::get_or<bool>(args.config, "clean_up_tokenization_spaces", false, args.config_path);
    split_special_tokens_ =
        detail::get_or<bool>(args.config, "split_special_tokens", false, args.config_path);
  }

  void tokenize_model(const std::string& text, std::vector<std::string>& out) const override {
    sp_->encode(text, out);
  }

  std::optional<int64_t> model_token_to_id(const std::string& token) const override {
    auto fixed = fixed_tokens_.find(token);
    if (fixed != fixed_tokens_.end()) return fixed->second;
    const int id = sp_->piece_to_id(token);
    if (offset_ != 0) {
      // transformers: `spm_id + fairseq_offset if spm_id else unk_token_id`.
      if (id == 0) return std::nullopt;
    } else if (id == sp_->unk_id() && sp_->id_to_piece(id) != token) {
      return std::nullopt;
    }
    return id + offset_;
  }

  std::optional<std::string> model_id_to_token(int64_t id) const override {
    auto fixed = fixed_ids_.find(id);
    if (fixed != fixed_ids_.end()) return fixed->second;
    const int64_t sp_id = id - offset_;
    if (sp_id < 0 || sp_id >= sp_->size()) return std::nullopt;
    return sp_->id_to_piece(static_cast<int>(sp_id));
  }

  // "".join(tokens).replace("▁", " ").strip()
  std::string convert_tokens_to_string(const std::vector<std::string>& tokens) const override {
    std::string text;
    for (const std::string& t : tokens) text += t;
    detail::replace_all(text, detail::kSentencePieceUnderline, " ");
    return detail::python_rstrip(detail::python_lstrip(text));
  }

  // The special tokens of tokenizer.json's post-processor, when loaded from it.
  const std::optional<detail::SpecialTokensTemplate>& fast_template() const { return template_; }
  std::vector<int64_t> apply_template(std::vector<int64_t> ids) const {
    ids.insert(ids.begin(), template_->prefix.begin(), template_->prefix.end());
    ids.insert(ids.end(), template_->suffix.begin(), template_->suffix.end());
    return ids;
  }

  // The id of a token that must exist (a language code) for encoding with special tokens.
  int64_t required_token_id(const std::string& token) const {
    if (auto id = token_to_id(token)) return *id;
    throw ConfigError(source_ + ": token '" + token + "' is not in the vocabulary");
  }

 private:
  // Rebuilds a SentencePiece model from tokenizer.json's Unigram model and the normalizer and
  // pre-tokenizer settings that have a SentencePiece equivalent.
  void load_tokenizer_json(const detail::TokenizerJson& t) {
    using detail::json;
    using Proto = detail::SentencePieceModelProto;
    if (t.model_type != "Unigram")
      throw ConfigError(t.path + ": model.type is '" + t.model_type +
                        "', expected 'Unigram' for a SentencePiece tokenizer");
    const json& model = t.model();
    Proto proto;
    proto.byte_fallback = detail::get_or<bool>(model, "byte_fallback", false, t.path + ": model");
    auto unk = model.find("unk_id");
    if (unk == model.end() || !unk->is_number_integer())
      throw ConfigError(t.path + ": a Unigram model without an integer 'unk_id' is not supported");
    const int64_t unk_id = unk->get<int64_t>();
    auto vocab = model.find("vocab");
    if (vocab == model.end() || !vocab->is_array() || vocab->empty())
      throw FormatError(t.path + ": missing list 'model.vocab'");
    if (unk_id < 0 || unk_id >= static_cast<int64_t>(vocab->size()))
      throw FormatError(t.path + ": model.unk_id " + std::to_string(unk_id) +
                        " is outside the vocabulary");
    // Special added tokens are cut out of the text before the model sees it; CONTROL pieces are
    // what SentencePiece never produces from text.
    std::unordered_map<std::string, bool> special_added;
    auto added = t.root.find("added_tokens");
    if (added != t.root.end() && added->is_array())
      for (const json& a : *added)
        if (a.is_object() && a.contains("content") && a["content"].is_string())
          special_added[a["content"].get<std::string>()] = a.value("special", false);
    for (std::size_t i = 0; i < vocab->size(); ++i) {
      const json& entry = (*vocab)[i];
      if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number())
        throw FormatError(t.path + ": model.vocab[" + std::to_string(i) +
                          "] must be [piece, score], got " + entry.dump());
      Proto::Piece p;
      p.piece = entry[0].get<std::string>();
      p.score = entry[1].get<float>();
      auto sa = special_added.find(p.piece);
      if (static_cast<int64_t>(i) == unk_id) {
        p.type = Proto::kUnknown;
      } else if (sa != special_added.end() && sa->second) {
        p.type = Proto::kControl;
      } else if (proto.byte_fallback && p.piece.size() == 6 && p.piece.compare(0, 3, "<0x") == 0 &&
                 p.piece.back() == '>') {
        p.type = Proto::kByte;
      }
      proto.pieces.push_back(std::move(p));
    }

    bool remove_extra_whitespaces = false;
    for (const json* n : t.flatten(t.component("normalizer"), "normalizer")) {
      const std::string type = t.type_of(*n, "normalizer");
      if (type == "Precompiled") {
        auto blob = n->find("precompiled_charsmap");
        if (blob != n->end() && !blob->is_null()) {
          if (!blob->is_string())
            throw FormatError(t.path + ": normalizer.precompiled_charsmap must be a string");
          auto bytes = detail::base64_decode(blob->get<std::string>());
          if (!bytes) throw FormatError(t.path + ": normalizer.precompiled_charsmap is not base64");
          proto.precompiled_charsmap = std::move(*bytes);
        }
      } else if (type == "Replace") {
        // SentencePiece's remove_extra_whitespaces, as transformers' converter spells it.
        const json pattern = n->value("pattern", json());
        if (!(pattern.is_object() && pattern.value("Regex", "") == " {2,}"))
          t.unsupported("normalizer", "Replace of " + pattern.dump(),
                        "Precompiled, Strip and Replace of Regex \" {2,}\"");
        remove_extra_whitespaces = true;
      } else if (type == "Strip") {
        remove_extra_whitespaces = true;
      } else {
        t.unsupported("normalizer", type, "Precompiled, Strip and Replace of Regex \" {2,}\"");
      }
    }
    bool metaspace = false;
    for (const json* p : t.flatten(t.component("pre_tokenizer"), "pre_tokenizer")) {
      const std::string type = t.type_of(*p, "pre_tokenizer");
      if (type == "WhitespaceSplit") {
        remove_extra_whitespaces = true;
      } else if (type == "Metaspace") {
        const std::string where = t.path + ": pre_tokenizer";
        if (detail::get_or<std::string>(*p, "replacement", "\xE2\x96\x81", where) !=
            detail::kSentencePieceUnderline)
          t.unsupported("pre_tokenizer", "Metaspace with another replacement than U+2581",
                        "Metaspace with U+2581");
        metaspace = true;
        const std::string scheme = detail::get_or<std::string>(
            *p, "prepend_scheme",
            detail::get_or<bool>(*p, "add_prefix_space", true, where) ? "always" : "never", where);
        proto.add_dummy_prefix = scheme != "never";
      } else {
        t.unsupported("pre_tokenizer", type, "Metaspace and WhitespaceSplit");
      }
    }
    if (!metaspace) proto.add_dummy_prefix = proto.escape_whitespaces = false;
    proto.remove_extra_whitespaces = remove_extra_whitespaces;
    for (const json* d : t.flatten(t.component("decoder"), "decoder")) {
      const std::string type = t.type_of(*d, "decoder");
      if (type != "Metaspace") t.unsupported("decoder", type, "Metaspace");
    }
    template_ = detail::parse_post_processor(t);

    sp_ = std::make_unique<detail::SentencePieceModel>(proto.serialize(), t.path);
    offset_ = 0;
    vocab_size_ = sp_->size();
  }

  std::unique_ptr<detail::SentencePieceModel> sp_;
  std::string model_file_;
  int64_t offset_ = 1;  // fairseq_offset
  std::unordered_map<std::string, int64_t> fixed_tokens_;
  std::unordered_map<int64_t, std::string> fixed_ids_;
  int64_t vocab_size_ = 0;
  std::optional<detail::SpecialTokensTemplate> template_;
};

// XLMRobertaTokenizer: <s> X </s>, and a <mask> that swallows the space before it.
class XLMRobertaTokenizer : public SentencePieceTokenizer {
 public:
  explicit XLMRobertaTokenizer(const std::string& dir) {
    require_directory(dir);
    TokenizerInitArgs args = TokenizerInitArgs::load(dir);
    load_model(dir, {});
    read_common_config(args);
    auto plain = [](const char* s) { return detail::SpecialTokenDefault{s, false, false, true}; };
    const std::array<detail::SpecialTokenDefault, kNumSpecialTokenRoles> defaults = {
        plain("<s>"),
        plain("</s>"),
        plain("<unk>"),
        plain("</s>"),
        plain("<pad>"),
        plain("<s>"),
        detail::SpecialTokenDefault{"<mask>", true, true, false}};
    init_added_tokens(dir, std::move(args.added_tokens_decoder),
                      detail::apply_special_token_defaults(args.special, defaults),
                      std::move(args.additional_special_tokens));
  }

 protected:
  std::vector<int64_t> build_inputs_with_special_tokens(std::vector<int64_t> ids) const override {
    if (fast_template()) return apply_template(std::move(ids));
    ids.insert(ids.begin(), required_special_token_id(SpecialTokenRole::kCls));
    ids.push_back(required_special_token_id(SpecialTokenRole::kSep));
    return ids;
  }
};

namespace detail {

// fairseq's language codes of mBART (cc25) and mBART-50, in their id order.
inline const std::vector<std::string>& mbart_language_codes() {
  static const std::vector<std::string> codes = {
      "ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN",
      "hi_IN", "it_IT", "ja_XX", "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP",
      "nl_XX", "ro_RO", "ru_RU", "si_LK", "tr_TR", "vi_VN", "zh_CN"};
  return codes;
}

inline const std::vector<std::string>& mbart50_language_codes() {
  static const std::vector<std::string> codes = [] {
    std::vector<std::string> c = mbart_language_codes();
    for (const char* s :
         {"af_ZA", "az_AZ", "bn_IN", "fa_IR", "he_IL", "hr_HR", "id_ID", "ka_GE", "km_KH",
          "mk_MK", "ml_IN", "mn_MN", "mr_IN", "pl_PL", "ps_AF", "pt_XX", "sv_SE", "sw_KE",
          "ta_IN", "te_IN", "th_TH", "tl_XX", "uk_UA", "ur_PK", "xh_ZA", "gl_ES", "sl_SI"})
      c.emplace_back(s);
    return c;
  }();
  return codes;
}

}  // namespace detail

// MBartTokenizer (mBART-cc25): X </s> src_lang_code for a source text. The language codes are
// special tokens between the pieces and <mask>.
class MBartTokenizer : public SentencePieceTokenizer {
 public:
  explicit MBartTokenizer(const std::string& dir)
      : MBartTokenizer(dir, detail::mbart_language_codes(), /*codes_first=*/true, false) {}

  const std::string& src_lang() const { return src_lang_; }

 protected:
  // `codes_first`: MBart lists the codes before the configured additional special tokens,
  // MBart-50 after them. `mask_normalized`: the flag each class gives its default <mask>.
  MBartTokenizer(const std::string& dir, const std::vector<std::string>& codes, bool codes_first,
                 bool mask_normalized) {
    require_directory(dir);
    TokenizerInitArgs args = TokenizerInitArgs::load(dir);
    load_model(dir, codes);
    read_common_config(args);
    src_lang_ = detail::get_or<std::string>(args.config, "src_lang", "en_XX", args.config_path);
    if (std::find(codes.begin(), codes.end(), src_lang_) == codes.end())
      throw ConfigError(args.config_path + ": src_lang '" + src_lang_ +
                        "' is not one of the tokenizer's language codes");

    std::vector<SpecialTokenArg> additional;
    auto listed = [&](const std::string& s) {
      for (const auto& a : additional)
        if (a.token.content == s) return true;
      return false;
    };
    if (!codes_first) additional = args.additional_special_tokens;
    for (const std::string& code : codes)
      if (!listed(code)) additional.push_back(SpecialTokenArg::string(code));
    if (codes_first)
      for (const auto& a : args.additional_special_tokens)
        if (!listed(a.token.content)) additional.push_back(a);

    auto plain = [](const char* s) { return detail::SpecialTokenDefault{s, false, false, true}; };
    const std::array<detail::SpecialTokenDefault, kNumSpecialTokenRoles> defaults = {
        codes_first ? plain("<s>") : detail::SpecialTokenDefault{},
        plain("</s>"),
        plain("<unk>"),
        plain("</s>"),
        plain("<pad>"),
        plain("<s>"),
        detail::SpecialTokenDefault{"<mask>", true, true, mask_normalized}};
    init_added_tokens(dir, std::move(args.added_tokens_decoder),
                      detail::apply_special_token_defaults(args.special, defaults),
                      std::move(additional));
  }

  std::vector<int64_t> build_inputs_with_special_tokens(std::vector<int64_t> ids) const override {
    if (fast_template()) return apply_template(std::move(ids));
    ids.push_back(required_special_token_id(SpecialTokenRole::kEos));
    ids.push_back(required_token_id(src_lang_));
    return ids;
  }

  std::string src_lang_;
};

// MBart50Tokenizer (mBART-50): src_lang_code X </s> for a source text, 52 language codes.
class MBart50Tokenizer : public MBartTokenizer {
 public:
  explicit MBart50Tokenizer(const std::string& dir)
      : MBartTokenizer(dir, detail::mbart50_language_codes(), /*codes_first=*/false, true) {}

 protected:
  std::vector<int64_t> build_inputs_with_special_tokens(std::vector<int64_t> ids) const override {
    if (fast_template()) return apply_template(std::move(ids));
    ids.insert(ids.begin(), required_token_id(src_lang_));
    ids.push_back(required_special_token_id(SpecialTokenRole::kEos));
    return ids;
  }
};

}  // namespace ved

// Tokenizer::from_pretrained is defined once every tokenizer is (see auto_tokenizer.hpp).
#define VED_SENTENCEPIECE_TOKENIZER_COMPLETE
#include "ved/processing/auto_tokenizer.hpp"
