#pragma once

// config.json of a VisionEncoderDecoderModel checkpoint.
//
// The encoder and decoder sub-configs are kept as JSON plus the fields every family shares; each
// model family parses its own typed config (ViTConfig, GPT2Config, ...) from them with
// transformers' field names and defaults.

#include <optional>
#include <string>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/error.hpp"

namespace ved {

struct PretrainedConfig {
  std::string model_type;
  detail::json raw;    // the sub-config object exactly as in config.json
  std::string source;  // "path/config.json: encoder", for error messages

  bool has(const char* key) const { return raw.contains(key) && !raw[key].is_null(); }
  template <typename T>
  T get(const char* key, T fallback) const {
    return detail::get_or<T>(raw, key, fallback, source);
  }
  template <typename T>
  std::optional<T> get_optional(const char* key) const {
    if (!has(key)) return std::nullopt;
    return detail::get_or<T>(raw, key, T{}, source);
  }
};

// A token id field that transformers accepts as an int or a list of ints (eos_token_id).
inline std::vector<int64_t> token_id_list(const detail::json& j, const char* key,
                                          const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_number_integer()) return {it->get<int64_t>()};
  if (it->is_array()) {
    std::vector<int64_t> ids;
    for (const auto& v : *it) {
      if (!v.is_number_integer())
        throw ConfigError(where + ": field '" + key + "' must hold integers");
      ids.push_back(v.get<int64_t>());
    }
    return ids;
  }
  throw ConfigError(where + ": field '" + key + "' must be an integer or a list of integers, got " +
                    it->type_name());
}

struct VisionEncoderDecoderConfig {
  PretrainedConfig encoder;
  PretrainedConfig decoder;
  std::optional<int64_t> decoder_start_token_id, bos_token_id, pad_token_id;
  std::vector<int64_t> eos_token_id;
  std::string source;

  static VisionEncoderDecoderConfig from_file(const std::string& path) {
    return from_json(detail::read_json_file(path), path);
  }

  static VisionEncoderDecoderConfig from_json(const detail::json& j, const std::string& source) {
    if (!j.is_object()) throw ConfigError(source + ": top level is not a JSON object");
    VisionEncoderDecoderConfig c;
    c.source = source;
    const std::string type = detail::get_or<std::string>(j, "model_type", "", source);
    if (type != "vision-encoder-decoder")
      throw ConfigError(source + ": model_type is '" + type +
                        "', expected 'vision-encoder-decoder'");
    c.encoder = sub_config(j, "encoder", source);
    c.decoder = sub_config(j, "decoder", source);
    refuse_unsupported(j, source);
    refuse_unsupported(c.encoder.raw, c.encoder.source);
    refuse_unsupported(c.decoder.raw, c.decoder.source);
    c.decoder_start_token_id = optional_id(j, "decoder_start_token_id", source);
    c.bos_token_id = optional_id(j, "bos_token_id", source);
    c.pad_token_id = optional_id(j, "pad_token_id", source);
    c.eos_token_id = token_id_list(j, "eos_token_id", source);
    return c;
  }

 private:
  // Settings of transformers' PretrainedConfig that change what the weights compute and that
  // ved does not implement: loading such a checkpoint would give wrong text without a word.
  // (Family-specific ones, like BERT's position_embedding_type, are refused by each family.)
  static void refuse_unsupported(const detail::json& j, const std::string& where) {
    auto set = [&](const char* key) {
      auto it = j.find(key);
      return it != j.end() && !it->is_null() && *it != false && !(it->is_object() && it->empty());
    };
    auto refuse = [&](const char* key, const std::string& why) {
      throw ConfigError(where + ": field '" + key + "' = " + j[key].dump() + " " + why +
                        ", which ved does not implement");
    };
    if (set("tie_encoder_decoder"))
      refuse("tie_encoder_decoder", "shares the encoder's weights with the decoder");
    if (set("pruned_heads")) refuse("pruned_heads", "removes attention heads from layers");
    if (set("quantization_config"))
      refuse("quantization_config",
             "stores quantized weights (bitsandbytes, GPTQ, AWQ, ...); save the model unquantized");
  }

  static PretrainedConfig sub_config(const detail::json& j, const char* key,
                                     const std::string& source) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_object())
      throw ConfigError(source + ": missing '" + key + "' sub-config object");
    PretrainedConfig c;
    c.source = source + ": " + key;
    c.raw = *it;
    c.model_type = detail::get_or<std::string>(*it, "model_type", "", c.source);
    if (c.model_type.empty()) throw ConfigError(c.source + ": missing 'model_type'");
    return c;
  }

  static std::optional<int64_t> optional_id(const detail::json& j, const char* key,
                                            const std::string& source) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer())
      throw ConfigError(source + ": field '" + key + "' must be an integer");
    return it->get<int64_t>();
  }
};

}  // namespace ved
